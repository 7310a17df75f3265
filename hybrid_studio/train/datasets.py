"""Datasets: built-in ones and the user's own files, as plain numpy arrays (no torch).

A ``Dataset`` says, per input, the per-sample shape, axes and dtype; its task; its classes or targets; and holds
train and validation splits. ``get_dataset`` takes a built-in name or a path:

- ``.npz``: array ``x`` (one input) or ``x0``, ``x1``, ... (several), and ``y``; optional ``x_val``/``x0_val``...
  with ``y_val`` (else a random split); optional ``axes`` / ``axes0``... (strings such as ``"CHW"``; by default
  from the per-sample rank: 1 -> F, 2 -> TF, 3 -> CHW, 4 -> TCHW), ``class_names`` and ``task``. Integer ``y``
  means classes 0..K-1 (or ``(N, T)`` per-time-step classes), float ``y`` means regression targets. ``uint8``
  inputs are scaled to [0, 1]; other integer inputs with one axis are token ids (int64, axes ``T``).
- ``.csv``: one sample per row, comma separated, an optional header row. The label is the column named ``label``,
  ``y``, ``target`` or ``class`` (else the last column); every other column is a numeric feature (one input with
  axes ``F``). Text labels are class names; integer labels are classes; other numbers make a regression.
- ``.ts``: the UCR/UEA time-series format (``@data`` lines of ``dim:dim:...:label``) -> one input with axes ``TF``.
- a folder with one subfolder per class of images (PNG/PGM/PPM built in; JPEG and others with Pillow), resized
  to the Input's size when one is known (``shape_hint``), else to the first image's size.
"""

from __future__ import annotations

import csv
import functools
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import builtin
from .imageio import BUILTIN_SUFFIXES, PILLOW_SUFFIXES, ImageReadError, read_image, resize, to_channels

DEFAULT_AXES = {1: "F", 2: "TF", 3: "CHW", 4: "TCHW"}
LABEL_COLUMNS = ("label", "y", "target", "class")


class DatasetError(ValueError):
    """A dataset that cannot be used, naming the file (or dataset) and the problem."""


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    description: str
    #: False when the data needs an optional package that is not installed.
    available: bool = True


@dataclass(frozen=True)
class InputInfo:
    """One model input as the dataset serves it: per-sample ``shape``, ``axes`` letters and ``dtype``."""

    shape: tuple
    axes: str
    dtype: str = "float32"
    #: A suggested Input block id (``image``, ``series``...); graphs whose Input ids match are paired by name.
    name: str = ""


@dataclass
class Split:
    """Per-input arrays ``x`` (each with the samples first) and targets ``y``."""

    x: list
    y: np.ndarray

    def __len__(self):
        return int(len(self.y))


@dataclass
class Dataset:
    name: str
    inputs: list
    task: str
    train: Split
    val: Split
    num_classes: int | None = None
    num_targets: int | None = None
    class_names: list = field(default_factory=list)
    title: str = ""
    description: str = ""
    #: Where the data came from: "built-in" or a path.
    source: str = "built-in"

    @property
    def x_train(self):
        return self.train.x

    @property
    def y_train(self):
        return self.train.y

    @property
    def x_val(self):
        return self.val.x

    @property
    def y_val(self):
        return self.val.y

    @property
    def per_step_labels(self) -> bool:
        """True when each sample has one class per time step (``y`` shaped (N, T))."""
        return self.task == "classification" and self.train.y.ndim == 2

    def preview(self, n: int = 8, split: str = "val") -> list:
        """The first ``n`` samples of a split (``val``, or ``train`` when val is empty) as
        ``(list of per-input arrays, label)`` pairs."""
        s = self.val if (split == "val" and len(self.val)) else self.train
        out = []
        for i in range(min(n, len(s))):
            label = s.y[i]
            label = int(label) if np.ndim(label) == 0 and self.task == "classification" else np.array(label)
            out.append(([x[i] for x in s.x], label))
        return out

    def describe(self) -> str:
        """One line: inputs, task, sizes."""
        ins = ", ".join(f"{i.name or 'input'} {i.axes} {'x'.join(str(s) for s in i.shape)}"
                        + ("" if i.dtype == "float32" else f" {i.dtype}") for i in self.inputs)
        what = (f"{self.num_classes} classes" if self.task == "classification"
                else f"regression, {self.num_targets} target(s)")
        return f"{self.name}: {ins}; {what}; {len(self.train)} train / {len(self.val)} validation samples"


# ---- built-ins ------------------------------------------------------------------------------------------------------

_BUILTINS = {
    "digits": (DatasetInfo("digits", "Digits (images)",
                           "scikit-learn's 1,797 handwritten 8x8 digits, upscaled to 1x28x28 like MNIST; 10 classes."),
               builtin.digits),
    "digits-seq": (DatasetInfo("digits-seq", "Digits (sequences)",
                               "The same digits read row by row: 8 time steps x 8 features; 10 classes."),
                   builtin.digits_seq),
    "moving-shapes": (DatasetInfo("moving-shapes", "Moving shapes (video)",
                                  "1,200 clips of 12 frames of 1x32x32: a shape moving up, down, left or right "
                                  "(4 classes). No single frame tells the direction: a CNN->RNN task."),
                      builtin.moving_shapes),
    "waveforms": (DatasetInfo("waveforms", "Waveforms (sequences)",
                              "1,200 noisy sequences (T=128, F=1): sine, square, triangle or sawtooth; 4 classes."),
                  builtin.waveforms),
    "image+series": (DatasetInfo("image+series", "Image + series (two inputs)",
                                 "1,500 samples of two inputs, image 1x28x28 and series 8x8, whose 10 classes "
                                 "need both: 5 stroke patterns in the image x slow/fast oscillation in the series."),
                     builtin.image_series),
    "basic-motions": (DatasetInfo("basic-motions", "BasicMotions (real sensor data)",
                                  "UEA BasicMotions: 80 recordings of 6-axis motion sensors (T=100, F=6), 4 "
                                  "activities; official 40/40 split. Ships with sktime (optional extra)."),
                      builtin.basic_motions),
}


def list_datasets() -> list[DatasetInfo]:
    """The built-in datasets, in menu order; ``available`` is False where an optional package is missing."""
    out = []
    for name, (info, _) in _BUILTINS.items():
        if name == "basic-motions" and builtin.sktime_data_dir() is None:
            info = DatasetInfo(info.name, info.title, info.description + " Not installed: pip install sktime.",
                               False)
        out.append(info)
    return out


@functools.lru_cache(maxsize=8)
def _built(name: str, seed: int) -> builtin.Raw:
    raw = _BUILTINS[name][1](seed)
    for a in raw.x:
        a.setflags(write=False)
    raw.y.setflags(write=False)
    return raw


def get_dataset(name_or_path, seed: int = 0, val_split: float = 0.2, shape_hint=None) -> Dataset:
    """A built-in dataset by name, or the user's data from a ``.npz``/``.csv``/``.ts`` file or an image folder.

    ``seed`` fixes generated data and the train/validation split; ``val_split`` is the validation fraction (a
    dataset's own validation set wins); ``shape_hint`` is a list of per-input shapes wanted (image folders are
    resized to the first). Raises DatasetError naming the file and the problem.
    """
    if not (0 <= val_split < 1):
        raise DatasetError(f"the validation split must be in [0, 1), got {val_split}")
    key = str(name_or_path)
    if key in _BUILTINS:
        info = _BUILTINS[key][0]
        raw = _built(key, int(seed))
        return _assemble(key, raw, seed, val_split, title=info.title, description=info.description)
    path = Path(key).expanduser()
    if not path.exists():
        names = ", ".join(_BUILTINS)
        raise DatasetError(f"unknown dataset '{key}': give a built-in name ({names}) or the path of a .npz, .csv "
                           f"or .ts file or of an image folder with one subfolder per class")
    if path.is_dir():
        raw = _read_image_folder(path, shape_hint)
    else:
        suffix = path.suffix.lower()
        readers = {".npz": _read_npz, ".csv": _read_csv, ".ts": _read_ts_file}
        if suffix not in readers:
            raise DatasetError(f"{path}: unsupported file type '{suffix}'; use .npz, .csv, .ts or an image folder")
        raw = readers[suffix](path)
    _check(raw, str(path))
    return _assemble(path.stem if path.is_file() else path.name, raw, seed, val_split, source=str(path),
                     title=path.name, description=f"user data from {path}")


def _assemble(name, raw: builtin.Raw, seed, val_split, source="built-in", title="", description="") -> Dataset:
    n = len(raw.y)
    if raw.val is not None:
        train, val = Split(list(raw.x), raw.y), Split(list(raw.val[0]), raw.val[1])
    else:
        tr, va = split_indices(raw.y if raw.task == "classification" and raw.y.ndim == 1 else None, n, val_split,
                               seed)
        train = Split([x[tr] for x in raw.x], raw.y[tr])
        val = Split([x[va] for x in raw.x], raw.y[va])
    names = raw.input_names or []
    inputs = [InputInfo(tuple(int(s) for s in x.shape[1:]), axes, "int64" if x.dtype == np.int64 else "float32",
                        names[i] if i < len(names) else "")
              for i, (x, axes) in enumerate(zip(raw.x, raw.axes))]
    ds = Dataset(name, inputs, raw.task, train, val, title=title or name, description=description, source=source)
    if raw.task == "classification":
        k = int(max(raw.y.max(), raw.val[1].max() if raw.val is not None else 0)) + 1
        ds.num_classes = max(k, len(raw.class_names))
        ds.class_names = list(raw.class_names) or [str(i) for i in range(ds.num_classes)]
    else:
        ds.num_targets = 1 if raw.y.ndim == 1 else int(np.prod(raw.y.shape[1:]))
    return ds


def split_indices(y, n: int, val_split: float, seed: int):
    """(train, val) index arrays: stratified by class when ``y`` is given, shuffled by ``seed``."""
    rng = np.random.default_rng([int(seed), 7919])
    if val_split <= 0 or n < 2:
        return np.arange(n), np.arange(0)
    if y is None:
        perm = rng.permutation(n)
        k = min(n - 1, max(1, int(round(n * val_split))))
        return np.sort(perm[k:]), np.sort(perm[:k])
    classes, counts = np.unique(y, return_counts=True)
    # Per-class quotas that add up to round(n * val_split): floors first, then the largest remainders.
    exact = counts * val_split
    quota = np.floor(exact).astype(int)
    extra = int(round(n * val_split)) - int(quota.sum())
    for i in np.argsort(-(exact - quota), kind="stable")[:max(extra, 0)]:
        quota[i] += 1
    quota = np.minimum(quota, counts - 1)  # keep at least one training sample per class
    val = []
    for c, k in zip(classes, quota):
        idx = np.flatnonzero(y == c)
        val.append(idx[rng.permutation(len(idx))][:k])
    val = np.sort(np.concatenate(val)) if val else np.arange(0)
    mask = np.ones(n, bool)
    mask[val] = False
    return np.flatnonzero(mask), val


# ---- checks ----------------------------------------------------------------------------------------------------------

def _check(raw: builtin.Raw, where: str) -> None:
    """Refuse mismatched counts, NaN/inf, bad labels and empty classes, with the file and the problem."""
    parts = [("", raw.x, raw.y)] + ([("_val", raw.val[0], raw.val[1])] if raw.val is not None else [])
    for suffix, xs, y in parts:
        if len(y) == 0:
            raise DatasetError(f"{where}: y{suffix} has no samples")
        for i, x in enumerate(xs):
            name = (f"x{i}" if len(xs) > 1 else "x") + suffix
            if x.ndim < 2:
                raise DatasetError(f"{where}: {name} must have the samples first and at least one more axis, "
                                   f"got shape {x.shape}")
            if len(x) != len(y):
                raise DatasetError(f"{where}: {name} has {len(x)} samples but y{suffix} has {len(y)} labels")
            if x.dtype.kind == "f":
                bad = ~np.isfinite(x)
                if bad.any():
                    first = int(np.flatnonzero(bad.reshape(len(x), -1).any(1))[0])
                    raise DatasetError(f"{where}: {name} holds {int(bad.sum())} NaN or infinite value(s) "
                                       f"(first in sample {first})")
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            first = int(np.flatnonzero(~np.isfinite(y.reshape(len(y), -1)).all(1))[0])
            raise DatasetError(f"{where}: y{suffix} holds NaN or infinite values (first in sample {first})")
    if raw.val is not None:
        for i, (a, b) in enumerate(zip(raw.x, raw.val[0])):
            if a.shape[1:] != b.shape[1:]:
                raise DatasetError(f"{where}: training and validation inputs differ in shape: {a.shape[1:]} "
                                   f"vs {b.shape[1:]} (input {i})")
    if raw.task == "classification":
        y_all = raw.y if raw.val is None else np.concatenate([raw.y.reshape(-1), raw.val[1].reshape(-1)])
        if y_all.dtype.kind not in "iub":
            raise DatasetError(f"{where}: class labels must be integers, got {y_all.dtype}")
        if y_all.min() < 0:
            raise DatasetError(f"{where}: class labels must be 0 or more, found {int(y_all.min())}")
        k = max(int(y_all.max()) + 1, len(raw.class_names))
        counts = np.bincount(raw.y.reshape(-1).astype(np.int64), minlength=k)
        empty = [i for i in range(k) if counts[i] == 0]
        if empty:
            names = [raw.class_names[i] if i < len(raw.class_names) else str(i) for i in empty]
            raise DatasetError(f"{where}: class(es) {', '.join(names)} have no training samples (labels run "
                               f"0..{k - 1}); renumber the classes or add samples")
        if k < 2:
            raise DatasetError(f"{where}: a classification needs at least 2 classes, found {k}")


# ---- .npz ----------------------------------------------------------------------------------------------------------

def _read_npz(path: Path) -> builtin.Raw:
    try:
        z = np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - any reader failure is the file's problem
        raise DatasetError(f"{path}: not a readable .npz file ({e})") from None
    with z:
        keys = set(z.files)

        def get(k):
            try:
                return z[k]
            except ValueError:
                raise DatasetError(f"{path}: array '{k}' is ragged or holds Python objects; store equal-length "
                                   f"numeric arrays (pad sequences to one length)") from None

        if "x" in keys:
            xnames = ["x"]
        else:
            xnames, i = [], 0
            while f"x{i}" in keys:
                xnames.append(f"x{i}")
                i += 1
        if not xnames:
            raise DatasetError(f"{path}: no input array: name it 'x' (or 'x0', 'x1', ... for several inputs); "
                               f"found {', '.join(sorted(keys)) or 'nothing'}")
        if "y" not in keys:
            raise DatasetError(f"{path}: no label array 'y'")
        xs, y = [get(k) for k in xnames], get("y")
        val = None
        if "y_val" in keys:
            missing = [k + "_val" for k in xnames if k + "_val" not in keys]
            if missing:
                raise DatasetError(f"{path}: y_val is given but {', '.join(missing)} is missing")
            val = ([get(k + "_val") for k in xnames], get("y_val"))
        axes = []
        for i, k in enumerate(xnames):
            akey = "axes" if k == "x" else f"axes{i}"
            axes.append(str(get(akey).reshape(-1)[0]) if akey in keys else None)
        class_names = [str(c) for c in get("class_names").reshape(-1)] if "class_names" in keys else []
        task = str(get("task").reshape(-1)[0]) if "task" in keys else None
    for name, a in [*zip(xnames, xs), ("y", y)]:
        if a.dtype.kind not in "biuf":
            raise DatasetError(f"{path}: array '{name}' must be numeric, got dtype {a.dtype}")
    conv = [_input_array(path, name, x, ax) for name, x, ax in zip(xnames, xs, axes)]
    xs, axes = [c[0] for c in conv], [c[1] for c in conv]
    if val is not None:
        val = ([_input_array(path, n + "_val", x, a)[0] for n, x, a in zip(xnames, val[0], axes)], val[1])
    if task is None:
        task = "classification" if y.dtype.kind in "biu" else "regression"
    if task not in ("classification", "regression"):
        raise DatasetError(f"{path}: task must be 'classification' or 'regression', got '{task}'")
    y, val = _targets(path, y, val, task)
    return builtin.Raw(xs, y, axes, task, class_names, [], val)


def _input_array(path, name, x, axes):
    if x.ndim < 2:
        raise DatasetError(f"{path}: '{name}' must have the samples first and at least one more axis, got shape "
                           f"{x.shape}")
    rank = x.ndim - 1
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    elif x.dtype.kind in "iu" and rank == 1 and axes in (None, "T"):
        return x.astype(np.int64), "T"
    else:
        x = x.astype(np.float32)
    if axes is None:
        if rank not in DEFAULT_AXES:
            raise DatasetError(f"{path}: '{name}' has {rank} axes per sample; store an 'axes' string for it")
        axes = DEFAULT_AXES[rank]
    if len(axes) != rank or any(a not in "TCHWLF" for a in axes) or len(set(axes)) != len(axes):
        raise DatasetError(f"{path}: axes '{axes}' for '{name}' must give one distinct letter of TCHWLF per sample "
                           f"axis (shape per sample {x.shape[1:]})")
    return x, axes


def _targets(path, y, val, task):
    if task == "classification":
        for label, arr in (("y", y), ("y_val", None if val is None else val[1])):
            if arr is not None and arr.dtype.kind == "f":
                if not np.isfinite(arr).all() or not np.equal(np.mod(arr, 1), 0).all():
                    raise DatasetError(f"{path}: '{label}' holds non-integer values but the task is classification")
        y = y.astype(np.int64)
        if val is not None:
            val = (val[0], val[1].astype(np.int64))
        if y.ndim > 2:
            raise DatasetError(f"{path}: class labels must be shaped (N,) or (N, T), got {y.shape}")
    else:
        y = y.astype(np.float32)
        if val is not None:
            val = (val[0], val[1].astype(np.float32))
    return y, val


# ---- .csv ----------------------------------------------------------------------------------------------------------

def _number(s: str):
    try:
        v = float(s)
    except ValueError:
        return None
    return v


def _read_csv(path: Path) -> builtin.Raw:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [r for r in csv.reader(f) if any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(f"{path}: cannot read the CSV file ({e})") from None
    if not rows:
        raise DatasetError(f"{path}: the file is empty")
    header = None
    if any(_number(c) is None for c in rows[0][:-1]) or rows[0][-1].strip().lower() in LABEL_COLUMNS:
        header, rows = [c.strip() for c in rows[0]], rows[1:]
    if not rows:
        raise DatasetError(f"{path}: there are no data rows under the header")
    width = len(rows[0])
    for i, r in enumerate(rows):
        if len(r) != width:
            line = i + 1 + (header is not None)
            raise DatasetError(f"{path}: row {line} has {len(r)} columns but the first data row has {width}")
    if width < 2:
        raise DatasetError(f"{path}: need at least one feature column and a label column")
    names = header or [f"column {i + 1}" for i in range(width)]
    label_col = width - 1
    if header:
        for i, h in enumerate(header):
            if h.lower() in LABEL_COLUMNS:
                label_col = i
                break
    feats = np.empty((len(rows), width - 1), np.float32)
    cols = [i for i in range(width) if i != label_col]
    for r, row in enumerate(rows):
        for j, c in enumerate(cols):
            v = _number(row[c].strip())
            if v is None:
                line = r + 1 + (header is not None)
                raise DatasetError(f"{path}: column '{names[c]}' in row {line} holds {row[c]!r}, which is not a "
                                   f"number (only the label column may hold text)")
            feats[r, j] = v
    labels = [row[label_col].strip() for row in rows]
    nums = [_number(v) for v in labels]
    class_names = []
    if any(v is None for v in nums):
        if any(v == "" for v in labels):
            line = labels.index("") + 1 + (header is not None)
            raise DatasetError(f"{path}: row {line} has no label")
        class_names = sorted(set(labels))
        index = {c: i for i, c in enumerate(class_names)}
        y, task = np.array([index[v] for v in labels], np.int64), "classification"
    elif all(math.isfinite(v) and float(v).is_integer() for v in nums):
        y, task = np.array(nums, np.int64), "classification"
    else:
        y, task = np.array(nums, np.float32), "regression"
    return builtin.Raw([feats], y, ["F"], task, class_names)


# ---- .ts (UCR/UEA) ---------------------------------------------------------------------------------------------------

def read_ts(path) -> tuple[np.ndarray, list]:
    """(x shaped (N, channels, length), labels as strings) from a UCR/UEA ``.ts`` file of equal-length series."""
    path = Path(path)
    xs, ys = [], []
    in_data = False
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise DatasetError(f"{path}: cannot read the file ({e})") from None
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if line.lower().startswith("@data"):
                in_data = True
            continue
        *dims, label = line.split(":")
        if not dims:
            raise DatasetError(f"{path}: line {lineno} has no 'values:label' layout")
        try:
            series = [[float(v) if v.strip() not in ("?", "NaN", "nan") else math.nan for v in d.split(",")]
                      for d in dims]
        except ValueError:
            raise DatasetError(f"{path}: line {lineno} holds a value that is not a number") from None
        if len({len(s) for s in series}) != 1 or (xs and (len(series) != len(xs[0]) or
                                                          len(series[0]) != len(xs[0][0]))):
            raise DatasetError(f"{path}: line {lineno}: series of different lengths or channel counts are not "
                               f"supported (pad them to one length)")
        xs.append(series)
        ys.append(label.strip())
    if not xs:
        raise DatasetError(f"{path}: no '@data' section with samples")
    return np.array(xs, np.float32), ys


def _read_ts_file(path: Path) -> builtin.Raw:
    x, labels = read_ts(path)
    names = sorted(set(labels))
    index = {c: i for i, c in enumerate(names)}
    return builtin.Raw([x.transpose(0, 2, 1).copy()], np.array([index[c] for c in labels], np.int64), ["TF"],
                       "classification", names)


# ---- image folders ---------------------------------------------------------------------------------------------------

def _read_image_folder(path: Path, shape_hint) -> builtin.Raw:
    suffixes = BUILTIN_SUFFIXES + PILLOW_SUFFIXES
    classes = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DatasetError(f"{path}: an image folder needs one subfolder per class (e.g. {path}/cat/*.png)")
    target = None
    if shape_hint:
        s = tuple(shape_hint[0])
        if len(s) != 3 or any(v is None for v in s):
            raise DatasetError(f"{path}: images feed an Input shaped (C, H, W); the model's first Input has "
                               f"shape {list(s)}")
        target = s
    images, labels = [], []
    for k, folder in enumerate(classes):
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
        if not files:
            raise DatasetError(f"{folder}: class '{folder.name}' has no images ({', '.join(suffixes)})")
        for f in files:
            try:
                img = read_image(f)
            except ImageReadError as e:
                raise DatasetError(str(e)) from None
            if target is None:
                target = (img.shape[0], img.shape[1], img.shape[2])
            try:
                img = to_channels(img, target[0])
            except ImageReadError as e:
                raise DatasetError(f"{f}: {e}") from None
            images.append(resize(img, target[1], target[2]))
            labels.append(k)
    return builtin.Raw([np.stack(images).astype(np.float32)], np.array(labels, np.int64), ["CHW"],
                       "classification", [c.name for c in classes])
