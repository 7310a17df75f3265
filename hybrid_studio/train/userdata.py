"""Reading the user's own data files into ``builtin.Raw`` arrays, and the checks every file must pass.

Each reader raises ``DatasetError`` naming the file and the problem; ``get_dataset`` (in ``datasets``) picks the
reader and assembles the result. The formats:

- ``.npz``: array ``x`` (one input) or ``x0``, ``x1``, ... (several), and ``y``; optional ``x_val``/``x0_val``...
  with ``y_val`` (else a random split); optional ``axes`` / ``axes0``... (strings such as ``"CHW"``; by default
  from the per-sample rank: 1 -> F, 2 -> TF, 3 -> CHW, 4 -> TCHW), ``class_names`` and ``task``. Integer ``y``
  means classes 0..K-1 (or ``(N, T)`` per-time-step classes), float ``y`` means regression targets. ``uint8``
  inputs are scaled to [0, 1]; other integer inputs with one axis are token ids (int64, axes ``T``). ``task``
  ``ctc``: ``y`` int (N, S_max), labels 1..K-1 padded with 0. Padded variable-length sequences give their lengths
  as ``x_lengths`` (``x0_lengths``...; ``x_lengths_val`` for ``x_val``): int (N,), each 1..T (T first in the axes).
- ``.csv``: one sample per row, comma separated, an optional header row. The label is the column named ``label``,
  ``y``, ``target`` or ``class`` (else the last column); every other column is a numeric feature (one input with
  axes ``F``). Text labels are class names; integer labels are classes; other numbers make a regression.
- ``.ts``: the UCR/UEA time-series format (``@data`` lines of ``dim:dim:...:label``) -> one input with axes ``TF``.
- a folder with one subfolder per class of images (PNG/PGM/PPM built in; JPEG and others with Pillow), resized
  to the Input's size when one is known (``shape_hint``), else to the first image's size.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from . import builtin
from .imageio import BUILTIN_SUFFIXES, PILLOW_SUFFIXES, ImageReadError, read_image, resize, to_channels

DEFAULT_AXES = {1: "F", 2: "TF", 3: "CHW", 4: "TCHW"}
LABEL_COLUMNS = ("label", "y", "target", "class")


class DatasetError(ValueError):
    """A dataset that cannot be used, naming the file (or dataset) and the problem."""



# ---- checks ----------------------------------------------------------------------------------------------------------

def check(raw: builtin.Raw, where: str) -> None:
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
    if raw.task == "ctc":
        from .ctc import LabelError, check_labels
        try:
            top = check_labels(raw.y, where)
            if raw.val is not None:
                top = max(top, check_labels(raw.val[1], where, "y_val"))
        except LabelError as e:
            raise DatasetError(str(e)) from None
        if raw.class_names and top > len(raw.class_names):
            raise DatasetError(f"{where}: a label is {top} but class_names names {len(raw.class_names)} symbols "
                               f"(labels 1..{len(raw.class_names)}; 0 is the blank)")


# ---- .npz ----------------------------------------------------------------------------------------------------------

def zipfile_magic(path: Path) -> bool | None:
    """Whether the file starts like a zip archive (None when it cannot be read)."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"PK\x03\x04"
    except OSError:
        return None


#: The most memory a dataset's arrays may take once loaded (as float32), estimated before anything is
#: decompressed; HYBRID_STUDIO_MAX_DATASET_GB raises it.
MAX_DATASET_GB = 8.0


def max_dataset_bytes() -> int:
    import os
    try:
        gb = float(os.environ.get("HYBRID_STUDIO_MAX_DATASET_GB") or MAX_DATASET_GB)
    except ValueError:
        gb = MAX_DATASET_GB
    return int(gb * (1 << 30))


def npz_loaded_bytes(path: Path) -> int | None:
    """What the arrays of an .npz take in memory as float32 (at least their own size), read from each member's .npy
    header without decompressing any data; None when the file is not a readable zip of .npy arrays."""
    import zipfile
    try:
        with zipfile.ZipFile(path) as zf:
            total = 0
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with zf.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                        np.lib.format.read_array_header_2_0
                    shape, _, dtype = read(f)
                numel = int(np.prod(shape, dtype=object)) if shape else 1
                total += numel * max(4, dtype.itemsize)
            return total
    except Exception:  # noqa: BLE001 - np.load below names what is wrong with the file
        return None


def read_npz(path: Path) -> builtin.Raw:
    """The arrays of a ``.npz`` file (layout in the module docstring), converted and typed."""
    need, limit = npz_loaded_bytes(path), max_dataset_bytes()
    if need is not None and need > limit:
        raise DatasetError(f"{path}: its arrays take {need / (1 << 30):.1f} GiB once loaded (as float32), more "
                           f"than the {limit / (1 << 30):g} GiB limit; use a smaller file, or set "
                           f"HYBRID_STUDIO_MAX_DATASET_GB to a larger size if this machine has the memory")
    try:
        z = np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - any reader failure is the file's problem
        # numpy's own text for a file that is not an archive suggests loading it with pickle: never do that with a
        # file one did not write, and here it is usually just not an .npz file at all
        why = "it holds Python objects, which are not loaded" if "allow_pickle" in str(e) else str(e)
        if zipfile_magic(path) is False:
            why = "it is not a zip archive of .npy arrays (numpy.savez writes one)"
        raise DatasetError(f"{path}: not a readable .npz file: {why}") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise DatasetError(f"{path}: this is a single .npy array, not an .npz archive of named arrays "
                           f"(write one with numpy.savez(path, x=..., y=...))")
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
        orphans = sorted(k for k in keys if k.endswith("_val") and k != "y_val")
        if orphans and "y_val" not in keys:  # a validation set without labels was silently ignored
            raise DatasetError(f"{path}: {', '.join(orphans)} is given but y_val (its labels) is missing: add "
                               f"y_val, or leave the _val arrays out to split the training data")
        if "y_val" in keys:
            missing = [k + "_val" for k in xnames if k + "_val" not in keys]
            if missing:
                raise DatasetError(f"{path}: y_val is given but {', '.join(missing)} is missing")
            val = ([get(k + "_val") for k in xnames], get("y_val"))
        axes = []
        for i, k in enumerate(xnames):
            akey = "axes" if k == "x" else f"axes{i}"
            axes.append(_one_text(path, akey, get(akey)) if akey in keys else None)
        class_names = [str(c) for c in get("class_names").reshape(-1)] if "class_names" in keys else []
        z_lengths = {k: get(k) for k in keys if k.endswith("_lengths") or k.endswith("_lengths_val")}
        task = _one_text(path, "task", get("task")) if "task" in keys else None
    for name, a in [*zip(xnames, xs), ("y", y)]:
        if a.dtype.kind not in "biuf":
            raise DatasetError(f"{path}: array '{name}' must be numeric, got dtype {a.dtype}")
    conv = [_input_array(path, name, x, ax) for name, x, ax in zip(xnames, xs, axes)]
    xs, axes = [c[0] for c in conv], [c[1] for c in conv]
    if val is not None:
        val = ([_input_array(path, n + "_val", x, a)[0] for n, x, a in zip(xnames, val[0], axes)], val[1])
    if task is None:
        task = "classification" if y.dtype.kind in "biu" else "regression"
    if task not in ("classification", "regression", "ctc"):
        raise DatasetError(f"{path}: task must be 'classification', 'regression' or 'ctc', got '{task}'")
    lengths, val_lengths = [], []
    for i, k in enumerate(xnames):
        lengths.append(_lengths(path, f"{k}_lengths", z_lengths.get(f"{k}_lengths"), k, xs[i], axes[i]))
        if val is not None:
            if f"{k}_lengths" in z_lengths and f"{k}_lengths_val" not in z_lengths:
                raise DatasetError(f"{path}: {k}_lengths is given but {k}_lengths_val (the lengths of {k}_val) is "
                                   f"missing")
            val_lengths.append(_lengths(path, f"{k}_lengths_val", z_lengths.get(f"{k}_lengths_val"), f"{k}_val",
                                        val[0][i], axes[i]))
    stray = sorted(set(z_lengths) - {f"{k}_lengths{s}" for k in xnames for s in ("", "_val")})
    if stray:
        raise DatasetError(f"{path}: {', '.join(stray)} names no input array (lengths are '<input>_lengths', e.g. "
                           f"x_lengths for x)")
    if not any(ln is not None for ln in lengths + val_lengths):
        lengths, val_lengths = [], []
    y, val = _targets(path, y, val, task)
    return builtin.Raw(xs, y, axes, task, class_names, [], val, lengths=lengths, val_lengths=val_lengths)


def _lengths(path, name, lengths, xname, x, axes):
    """Validated per-sample lengths ``name`` of input ``xname`` (int (N,), each 1..T), or None when absent."""
    if lengths is None:
        return None
    if lengths.dtype.kind not in "iu":
        raise DatasetError(f"{path}: '{name}' must hold integers (the length of each sample's time axis), got "
                           f"{lengths.dtype}")
    if lengths.shape != (len(x),):
        raise DatasetError(f"{path}: '{name}' must be shaped (N,) = ({len(x)},), one length per sample of "
                           f"'{xname}', got {lengths.shape}")
    if not axes.startswith("T"):
        raise DatasetError(f"{path}: '{name}' gives lengths of a time axis T, but '{xname}' has axes '{axes}' "
                           f"(T must come first)")
    steps = x.shape[1]
    if len(lengths) and lengths.max() > steps:
        i = int(np.argmax(lengths))
        raise DatasetError(f"{path}: '{name}' is longer than '{xname}': sample {i} has length {int(lengths[i])} "
                           f"but '{xname}' holds {steps} time steps per sample")
    if len(lengths) and lengths.min() < 1:
        i = int(np.argmin(lengths))
        raise DatasetError(f"{path}: '{name}' must be 1..{steps}: sample {i} has length {int(lengths[i])}")
    return lengths.astype(np.int64)


def _one_text(path, name, a) -> str:
    """The one string an array such as 'axes' or 'task' holds (an empty array was an IndexError)."""
    flat = a.reshape(-1)
    if flat.size != 1:
        raise DatasetError(f"{path}: '{name}' must hold one string, got an array of {flat.size} values")
    return str(flat[0])


def _input_array(path, name, x, axes):
    if x.ndim < 2:
        raise DatasetError(f"{path}: '{name}' must have the samples first and at least one more axis, got shape "
                           f"{x.shape}")
    rank = x.ndim - 1
    # no copies beyond the one a conversion needs: the loaded array is ours (astype copied a float32 array too,
    # and "/ 255.0" made a second float copy, which doubled the peak memory of a large file)
    if x.dtype == np.uint8:
        x = x.astype(np.float32)
        x /= np.float32(255.0)  # into the fresh array astype gave, same float32 values as "/ 255.0"
    elif x.dtype.kind in "iu" and rank == 1 and axes in (None, "T"):
        return x.astype(np.int64, copy=False), "T"
    else:
        x = x.astype(np.float32, copy=False)
    if axes is None:
        if rank not in DEFAULT_AXES:
            raise DatasetError(f"{path}: '{name}' has {rank} axes per sample; store an 'axes' string for it")
        axes = DEFAULT_AXES[rank]
    if len(axes) != rank or any(a not in "TCHWLF" for a in axes) or len(set(axes)) != len(axes):
        raise DatasetError(f"{path}: axes '{axes}' for '{name}' must give one distinct letter of TCHWLF per sample "
                           f"axis (shape per sample {x.shape[1:]})")
    return x, axes


def _targets(path, y, val, task):
    if task == "ctc":
        for label, arr in (("y", y), ("y_val", None if val is None else val[1])):
            if arr is not None and arr.dtype.kind not in "iu":
                raise DatasetError(f"{path}: ctc labels '{label}' must be integers, got {arr.dtype}")
        return y.astype(np.int64), (None if val is None else (val[0], val[1].astype(np.int64)))
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


def read_csv(path: Path) -> builtin.Raw:
    """One input with axes ``F`` and the labels of a ``.csv`` file (layout in the module docstring)."""
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
    if header and len(header) != width:  # found by the fuzz test: a label column past the rows' end
        raise DatasetError(f"{path}: the header names {len(header)} columns but the data rows have {width}")
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
        big = next((i for i, v in enumerate(nums) if abs(v) > 2 ** 31), None)
        if big is not None:  # a class number no dataset has (it overflowed numpy's int64 with no file named)
            line = big + 1 + (header is not None)
            raise DatasetError(f"{path}: column '{names[label_col]}' in row {line} holds the class label "
                               f"{labels[big]}, larger than any class number can be; labels are class numbers "
                               f"(0, 1, ...) or class names")
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


def read_ts_file(path: Path) -> builtin.Raw:
    """A UCR/UEA ``.ts`` file as one input with axes ``TF`` and its classes (sorted label names)."""
    x, labels = read_ts(path)
    names = sorted(set(labels))
    index = {c: i for i, c in enumerate(names)}
    return builtin.Raw([x.transpose(0, 2, 1).copy()], np.array([index[c] for c in labels], np.int64), ["TF"],
                       "classification", names)


# ---- image folders ---------------------------------------------------------------------------------------------------

def read_image_folder(path: Path, shape_hint) -> builtin.Raw:
    """A folder of class subfolders of images, resized to ``shape_hint[0]`` (C, H, W) or the first image."""
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
