"""Tensor specs with named axes.

The batch axis ``N`` is implicit and always first; a spec lists only the per-sample axes, one letter each:
``T`` (time), ``C`` (channels), ``H``, ``W`` (image height, width), ``L`` (1-D length), ``F`` (features).
A size of ``None`` is unknown (a variable-length ``T``, say).
"""

from __future__ import annotations

from dataclasses import dataclass

AXIS_LETTERS = "TCHWLF"
AXIS_NAMES = {"N": "batch", "T": "time", "C": "channels", "H": "height", "W": "width", "L": "length", "F": "features"}
DTYPES = ("float32", "int64")

Size = "int | None"


@dataclass(frozen=True)
class TensorSpec:
    """The per-sample shape of a tensor, with one axis letter per entry."""

    axes: str
    shape: tuple
    dtype: str = "float32"
    #: True when the time axis T varies per sample (a padded batch of a variable-length Input): a vector of
    #: per-sample lengths travels beside the tensor, and every block on the way must honour it.
    lengths: bool = False

    def __post_init__(self):
        if len(self.axes) != len(self.shape):
            raise ValueError(f"axes {self.axes!r} and shape {self.shape} differ in length")
        object.__setattr__(self, "shape", tuple(self.shape))

    # ---- views -------------------------------------------------------------------------------------------------
    @property
    def rank(self) -> int:
        return len(self.axes)

    @property
    def full_shape(self) -> list:
        """The shape with the batch: ``[None, *shape]`` (JSON-friendly list)."""
        return [None, *self.shape]

    @property
    def full_axes(self) -> str:
        return "N" + self.axes

    def size(self, axis: str):
        return self.shape[self.axes.index(axis)]

    def has(self, axis: str) -> bool:
        return axis in self.axes

    def dim(self, axis: str) -> int:
        """The torch dimension of ``axis`` in the batched tensor."""
        return self.axes.index(axis) + 1

    def replace(self, axes: str | None = None, shape=None, dtype: str | None = None) -> "TensorSpec":
        return TensorSpec(self.axes if axes is None else axes, self.shape if shape is None else tuple(shape),
                          self.dtype if dtype is None else dtype, self.lengths)

    def with_size(self, axis: str, size) -> "TensorSpec":
        shape = list(self.shape)
        shape[self.axes.index(axis)] = size
        return self.replace(shape=shape)

    # ---- kinds -------------------------------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        """A word for what the tensor holds: image, video, signal, signal sequence, sequence, vector, tokens, other."""
        a = self.axes
        if self.dtype == "int64":
            return "tokens"
        return {"CHW": "image", "TCHW": "video", "CL": "signal", "TCL": "signal sequence",
                "TF": "sequence", "F": "vector"}.get(a, "other")

    def describe(self) -> str:
        """Axis terms for people: ``N x 32 x 13 x 13``; an unknown size shows its axis letter."""
        parts = ["N"] + [str(s) if s is not None else ax for ax, s in zip(self.axes, self.shape)]
        return " x ".join(parts)

    def describe_axes(self) -> str:
        """``(N, C=32, H=13, W=13)``."""
        parts = ["N"] + [f"{ax}={s if s is not None else '?'}" for ax, s in zip(self.axes, self.shape)]
        return "(" + ", ".join(parts) + ")"

    def numel(self):
        """Elements per sample, or None when a size is unknown."""
        n = 1
        for s in self.shape:
            if s is None:
                return None
            n *= s
        return n


def prod(sizes):
    """Product of sizes; None if any is unknown."""
    n = 1
    for s in sizes:
        if s is None:
            return None
        n *= s
    return n
