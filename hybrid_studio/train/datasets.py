"""Datasets: built-in ones and the user's own files, as plain numpy arrays (no torch).

A ``Dataset`` says, per input, the per-sample shape, axes and dtype; its task; its classes or targets; and holds
train and validation splits. ``get_dataset`` takes a built-in name or a path: a ``.npz``, ``.csv`` or ``.ts`` file
or an image folder with one subfolder per class, read by ``userdata`` (which describes each format).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import builtin
# Re-exported: callers import the error, the constants and read_ts from here.
from .userdata import (DEFAULT_AXES, LABEL_COLUMNS, DatasetError, check, read_csv, read_image_folder, read_npz,
                       read_ts, read_ts_file)

__all__ = ["DEFAULT_AXES", "LABEL_COLUMNS", "Dataset", "DatasetError", "DatasetInfo", "InputInfo", "Split",
           "get_dataset", "list_datasets", "read_ts", "split_indices"]


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
    #: Per input, int (N,) lengths of its padded time axis T, or None (full length); empty: no lengths at all.
    lengths: list = field(default_factory=list)

    def input_lengths(self, i: int):
        """The lengths of input ``i`` (int (N,)), or None when its samples are all full length."""
        return self.lengths[i] if i < len(self.lengths) else None

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
    #: The axes of a tensor-shaped regression target (``CHW`` for a predicted frame); empty for a vector.
    target_axes: str = ""
    #: A trivial predictor to beat, by name (``copy-last-frame``), or empty; ``baseline_loss`` scores it.
    baseline: str = ""

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

    def baseline_loss(self, split: str = "val") -> float | None:
        """The loss (MSE) of the dataset's ``baseline`` predictor on a split, the figure a model must beat; None
        when the dataset has no baseline or the split is empty. ``copy-last-frame`` predicts the last input frame."""
        s = self.val if split == "val" else self.train
        if self.baseline != "copy-last-frame" or not len(s):
            return None
        last = np.asarray(s.x[0][:, -1], np.float64)
        return float(np.mean((last - np.asarray(s.y, np.float64).reshape(last.shape)) ** 2))

    def describe(self) -> str:
        """One line: inputs, task, sizes."""
        ins = ", ".join(f"{i.name or 'input'} {i.axes} {'x'.join(str(s) for s in i.shape)}"
                        + ("" if i.dtype == "float32" else f" {i.dtype}") for i in self.inputs)
        what = (f"{self.num_classes} classes" if self.task == "classification"
                else f"sequence labels (ctc) over {self.num_classes} symbols" if self.task == "ctc"
                else f"regression, {self.num_targets} target(s)")
        if self.target_axes:
            what = f"regression to {self.target_axes} {'x'.join(str(s) for s in self.train.y.shape[1:])}"
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
    "moving-shapes-next": (DatasetInfo("moving-shapes-next", "Moving shapes, next frame (video prediction)",
                                       "1,000 clips of 6 noisy frames of 1x20x20, a shape moving in one of 8 "
                                       "directions; the target is the clean 7th frame (regression, 1x20x20). "
                                       "Beat copying the last frame."),
                           builtin.moving_shapes_next),
    "digit-strings": (DatasetInfo("digit-strings", "Digit strings (text lines, CTC)",
                                  "4,000 text lines of 1x24x160 holding 3-8 handwritten digits (scikit-learn's "
                                  "glyphs, jittered, spaced and noisy); labels are the digit sequences, read with "
                                  "CTC (an Output with task ctc, 11 classes: blank + 10 digits)."),
                      builtin.digit_strings),
    "digit-waves": (DatasetInfo("digit-waves", "Digit waves (speech-like sequences, CTC)",
                                "3,000 speech-like sequences (T=80 frames, F=16 spectrum features) of 3-6 'spoken' "
                                "digits, each a burst of its own two-tone sound between short silences, in noise; "
                                "labels are the digit sequences, read with CTC (11 classes: blank + 10 digits)."),
                    builtin.digit_waves),
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
    for a in [*raw.lengths, *raw.val_lengths]:
        if a is not None:
            a.setflags(write=False)
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
        raw = read_image_folder(path, shape_hint)
    else:
        suffix = path.suffix.lower()
        readers = {".npz": read_npz, ".csv": read_csv, ".ts": read_ts_file}
        if suffix not in readers:
            raise DatasetError(f"{path}: unsupported file type '{suffix}'; use .npz, .csv, .ts or an image folder")
        raw = readers[suffix](path)
    check(raw, str(path))
    return _assemble(path.stem if path.is_file() else path.name, raw, seed, val_split, source=str(path),
                     title=path.name, description=f"user data from {path}")


def _assemble(name, raw: builtin.Raw, seed, val_split, source="built-in", title="", description="") -> Dataset:
    n = len(raw.y)
    if raw.val is not None:
        train = Split(list(raw.x), raw.y, list(raw.lengths))
        val = Split(list(raw.val[0]), raw.val[1], list(raw.val_lengths))
    else:
        tr, va = split_indices(raw.y if raw.task == "classification" and raw.y.ndim == 1 else None, n, val_split,
                               seed)
        parts = [_split_rows(x, tr, va) for x in raw.x]
        train = Split([p[0] for p in parts], raw.y[tr], [None if ln is None else ln[tr] for ln in raw.lengths])
        val = Split([p[1] for p in parts], raw.y[va], [None if ln is None else ln[va] for ln in raw.lengths])
    names = raw.input_names or []
    inputs = [InputInfo(tuple(int(s) for s in x.shape[1:]), axes, "int64" if x.dtype == np.int64 else "float32",
                        names[i] if i < len(names) else "")
              for i, (x, axes) in enumerate(zip(raw.x, raw.axes))]
    ds = Dataset(name, inputs, raw.task, train, val, title=title or name, description=description, source=source,
                 target_axes=raw.target_axes, baseline=raw.baseline)
    if raw.task == "classification":
        k = int(max(raw.y.max(), raw.val[1].max() if raw.val is not None else 0)) + 1
        ds.num_classes = max(k, len(raw.class_names))
        ds.class_names = list(raw.class_names) or [str(i) for i in range(ds.num_classes)]
    elif raw.task == "ctc":
        # labels 1..K-1: K-1 symbols, the model's K scores add the blank
        top = int(max(raw.y.max(), raw.val[1].max() if raw.val is not None else 0))
        ds.num_classes = max(top, len(raw.class_names))
        ds.class_names = list(raw.class_names) or [str(i) for i in range(1, ds.num_classes + 1)]
    else:
        ds.num_targets = 1 if raw.y.ndim == 1 else int(np.prod(raw.y.shape[1:]))
    return ds


def _split_rows(a: np.ndarray, tr: np.ndarray, va: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(a[tr], a[va]) for the sorted, disjoint index arrays of ``split_indices``. An array of the user's own file
    (writable: freshly read; built-in data is read-only) is split in place: the validation rows are copied out,
    then the training rows moved to the front in chunks, so the split costs the data plus its validation part instead of twice the data
    (a 300k-sample .npz peaked at 2.1 GB). Built-in data is shared read-only and copied as before."""
    if not (a.flags.writeable and a.flags.c_contiguous and a.ndim >= 1) \
            or len(tr) + len(va) != len(a):
        return a[tr], a[va]
    val = a[va]
    rows = max(1, (4 << 20) // max(1, a[:1].nbytes))  # 4 MiB per move
    for start in range(0, len(tr), rows):
        end = min(start + rows, len(tr))
        # tr is sorted and tr[i] >= i: the rows a chunk reads lie at or after the rows it writes, and no later
        # chunk reads a row before its own start, so nothing is overwritten before it is moved
        a[start:end] = a[tr[start:end]]
    return a[:len(tr)], val


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

