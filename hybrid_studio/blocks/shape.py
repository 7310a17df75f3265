"""Shape blocks: Flatten (to features), Reshape (to any per-sample shape), ToSequence (image columns, rows or
positions become time steps). None of them has weights; they only rearrange elements."""

from __future__ import annotations

from hybrid_studio.graph.diagnostics import FixSpec
from hybrid_studio.graph.tensor import TensorSpec, prod

from .base import PER_STEP, Block, arrived, lit, per_step, register
from .params import Param


@register
class Flatten(Block):
    type_name = "Flatten"
    category = "Shape"
    id_prefix = "flatten"
    help = ("Merges every axis except the batch N and the time T into one feature axis F, row-major in the order "
            "shown: (N, C, H, W) -> (N, F=C*H*W); (N, T, C, H, W) -> (N, T, F=C*H*W). Sequences (N, T, F) and "
            "vectors (N, F) pass through unchanged.")

    def infer(self, p, ins):
        spec = ins[0]
        if spec.rank == 0:
            self.fail(f"Flatten received a scalar per sample {spec.describe_axes()}: there is nothing to flatten",
                      FixSpec.remove(), code="flatten-input")
        if "T" in spec.axes[1:]:
            self.fail(f"Flatten keeps a time axis T only in front of the others, but received {arrived(spec)} with T "
                      f"at position {spec.axes.index('T') + 1}; Reshape it so T comes first",
                      code="flatten-input")
        keep_t = spec.axes[0] == "T"
        rest = spec.shape[1:] if keep_t else spec.shape
        f = prod(rest)
        return TensorSpec("TF", (spec.shape[0], f), spec.dtype) if keep_t else TensorSpec("F", (f,), spec.dtype)

    def forward(self, p, ins, out, m, xs, y):
        spec = ins[0]
        keep_t = spec.axes[0] == "T"
        merged = spec.rank - (1 if keep_t else 0)
        if merged == 0:  # (T) alone: every step becomes a one-feature vector
            return [f"{y} = {xs[0]}.unsqueeze(2)"]
        if merged == 1:  # already one axis: only its name changes
            return [f"{y} = {xs[0]}"]
        return [f"{y} = {xs[0]}.flatten({2 if keep_t else 1})"]

    def steps(self, p, ins, out):
        return PER_STEP  # T stays in front (a variable-length input has it first): each step is flattened alone

    def summary(self, p):
        return "to features F"  # never blank on the canvas


@register
class Reshape(Block):
    type_name = "Reshape"
    category = "Shape"
    id_prefix = "reshape"
    help = ("Reshapes each sample to `shape` (row-major, like torch.reshape; the batch N is kept) and names the new "
            "axes with `axes`, one letter per entry. One entry may be -1: it takes whatever size makes the element "
            "count match. The element count must not change.")
    params = (
        Param("shape", "shape", [-1], "Per-sample sizes of the result; one entry may be -1 (inferred)."),
        Param("axes", "axes", "F", "One axis letter per shape entry, e.g. CHW (image), TF (sequence), F (vector)."),
    )

    def infer(self, p, ins):
        spec = ins[0]
        shape, axes = list(p["shape"]), p["axes"]
        if not shape:
            self.fail("Reshape needs at least one size in shape", FixSpec.set_param("shape", [-1]),
                      FixSpec.set_param("axes", "F"), code="reshape-shape")
        if len(shape) != len(axes):
            self.fail(f"shape {shape} has {len(shape)} entries but axes '{axes}' names {len(axes)}: give one axis "
                      f"letter per size", code="reshape-axes")
        if any(s is None for s in shape):
            self.fail(f"shape {shape} has an empty (null) size; write -1 for the one size Reshape should infer",
                      FixSpec.set_param("shape", [-1 if s is None else s for s in shape]) if shape.count(None) == 1
                      else FixSpec.remove(), code="reshape-shape")
        bad = [s for s in shape if s == 0 or s < -1]
        if bad:
            self.fail(f"shape {shape} has the size {bad[0]}: sizes must be positive, or -1 for one inferred size",
                      code="reshape-shape")
        if shape.count(-1) > 1:
            self.fail(f"shape {shape} has {shape.count(-1)} entries of -1; only one size can be inferred",
                      code="reshape-shape")
        target = "(" + ", ".join(f"{a}={s}" for a, s in zip(axes, shape)) + ")"
        n = spec.numel()
        known = prod(s for s in shape if s != -1)
        if -1 in shape:
            if n is None:
                return TensorSpec(axes, [None if s == -1 else s for s in shape], spec.dtype)
            if n % known:
                self.fail(f"Reshape to {target} needs a multiple of {known} elements per sample, but received "
                          f"{arrived(spec)} with {n}", *self._fixes(shape, n), code="reshape-count")
            return TensorSpec(axes, [n // known if s == -1 else s for s in shape], spec.dtype)
        if n is not None and n != known:
            self.fail(f"Reshape to {target} needs {known} elements per sample, but received {arrived(spec)} with {n}",
                      *self._fixes(shape, n), code="reshape-count")
        return TensorSpec(axes, shape, spec.dtype)

    @staticmethod
    def _fixes(shape, n):
        """Offer -1 for the first size that would make the count match (only when no size is inferred yet)."""
        if -1 in shape:
            return []
        for i in range(len(shape)):
            if n % prod(s for j, s in enumerate(shape) if j != i) == 0:
                return [FixSpec.set_param("shape", [-1 if j == i else s for j, s in enumerate(shape)])]
        return []

    def forward(self, p, ins, out, m, xs, y):
        sizes = ", ".join(lit(s) for s in p["shape"])
        return [f"{y} = {xs[0]}.reshape({xs[0]}.shape[0], {sizes})"]

    def summary(self, p):
        return f"{p['axes']} " + " x ".join(str(s) for s in p["shape"])


@register
class ToSequence(Block):
    type_name = "ToSequence"
    category = "Shape"
    id_prefix = "toseq"
    help = ("Turns an image (N, C, H, W) into a sequence for recurrent layers. axis=width: each column is a step, "
            "(N, T=W, F=C*H); height: each row is a step, (N, T=H, F=C*W); spatial: each position is a step, "
            "(N, T=H*W, F=C). A 1-D signal (N, C, L) becomes (N, T=L, F=C) whatever the axis. On video "
            "(N, T, C, H, W) it works per frame: each frame's sequence runs along L, giving (N, T, L, F).")
    params = (
        Param("axis", "choice", "width", "Which image axis becomes time: width (columns), height (rows) or spatial "
              "(every position, row by row).", choices=("width", "height", "spatial")),
    )

    @staticmethod
    def _steps(p, frame: TensorSpec) -> tuple:
        """(steps, features) of one image (C, H, W) or signal (C, L)."""
        if frame.axes == "CL":
            return frame.size("L"), frame.size("C")
        c, h, w = frame.shape
        if p["axis"] == "width":
            return w, prod((c, h))
        if p["axis"] == "height":
            return h, prod((c, w))
        return prod((h, w)), c

    def infer(self, p, ins):
        spec = ins[0]
        if spec.axes in ("CHW", "CL"):
            return TensorSpec("TF", self._steps(p, spec), spec.dtype)
        if spec.axes in ("TCHW", "TCL"):
            # per time step; the frame's own sequence axis cannot also be T, so it is the length L
            frame = TensorSpec(spec.axes[1:], spec.shape[1:], spec.dtype)
            return TensorSpec("TLF", (spec.size("T"), *self._steps(p, frame)), spec.dtype)
        fixes = []
        if spec.axes == "TF":
            hint = ": it is already a sequence"
            fixes.append(FixSpec.remove())
        elif spec.axes == "F":
            hint = "; a feature vector has no width or height to walk along"
        else:
            hint = ""
        self.fail(f"ToSequence expects an image (N, C, H, W), a 1-D signal (N, C, L) or video of either but "
                  f"received {arrived(spec)}{hint}", *fixes, code="toseq-input")

    def forward(self, p, ins, out, m, xs, y):
        spec = ins[0]
        frame_axes = spec.axes[1:] if spec.axes[0] == "T" else spec.axes
        if frame_axes == "CL":
            body = "{}.transpose(1, 2)"
        elif p["axis"] == "width":     # (N, C, H, W) -> (N, W, C, H) -> (N, W, C*H)
            body = "{}.permute(0, 3, 1, 2).flatten(2)"
        elif p["axis"] == "height":    # (N, C, H, W) -> (N, H, C, W) -> (N, H, C*W)
            body = "{}.permute(0, 2, 1, 3).flatten(2)"
        else:                          # (N, C, H*W) -> (N, H*W, C)
            body = "{}.flatten(2).transpose(1, 2)"
        return per_step(xs[0], spec, len(frame_axes), y, body.format)

    def summary(self, p):
        return p["axis"]


@register
class Permute(Block):
    type_name = "Permute"
    category = "Shape"
    id_prefix = "permute"
    help = ("Reorders the per-sample axes; the batch N stays first. `axes` is the new order of the input's axis "
            "letters, e.g. HWC turns an image (N, C, H, W) channels-last, (N, H, W, C); TF on (N, F, T) swaps them "
            "back. Nothing is copied or learnt: the axis names travel with their sizes.")
    onnx = "one ONNX Transpose."
    params = (
        Param("axes", "axes", "HWC", "The input's axis letters in their new order, e.g. HWC for (C, H, W)."),
    )

    def infer(self, p, ins):
        spec, axes = ins[0], p["axes"]
        if sorted(axes) != sorted(spec.axes):
            # keep the letters the input has, in the order given, then the ones left out, in the input's order
            kept = [a for a in axes if a in spec.axes]
            fixed = "".join(kept + [a for a in spec.axes if a not in kept])
            missing = [a for a in spec.axes if a not in axes]
            extra = [a for a in axes if a not in spec.axes]
            why = "; ".join(x for x in (f"it leaves out {''.join(missing)}" if missing else "",
                                        f"the input has no {''.join(extra)}" if extra else "") if x)
            self.fail(f"Permute axes '{axes}' must reorder the input's axes {spec.axes} (one letter each), but "
                      f"{why}; received {arrived(spec)}", FixSpec.set_param("axes", fixed), code="permute-axes")
        return TensorSpec(axes, tuple(spec.size(a) for a in axes), spec.dtype)

    def forward(self, p, ins, out, m, xs, y):
        order = [ins[0].dim(a) for a in p["axes"]]
        if order == sorted(order):
            return [f"{y} = {xs[0]}"]
        return [f"{y} = {xs[0]}.permute(0, {', '.join(map(str, order))})"]

    def summary(self, p):
        return p["axes"]
