"""Fusion: blocks that join several branches. Inputs are ports ``in0``, ``in1``, ... (``inputs`` of them), and their
order is the concatenation order.

A size of None (unknown) matches any size; the output keeps the known one.
"""

from __future__ import annotations

from hybrid_studio.graph.diagnostics import FixSpec
from hybrid_studio.graph.tensor import AXIS_NAMES, TensorSpec

from .base import PER_STEP, Block, fix_output, register
from .params import Param


def _axis(ax: str) -> str:
    return f"{AXIS_NAMES[ax]} ({ax})"


def _show(size) -> str:
    return "?" if size is None else str(size)


#: Axes -> the form's name in a hint, for the forms a branch can be reduced to.
_FORMS = {"F": "feature vectors (N, F)", "TF": "sequences (N, T, F)"}


def _reduce_fixes(port: str, spec: TensorSpec, target: str) -> list:
    """Fixes that turn the branch into ``port`` (now ``spec``) into a tensor with axes ``target``, best first."""
    fixes = []
    if spec.axes == "TF" and target == "F":
        # bound only when the block feeding the port is recurrent (the binder checks it has the param)
        fixes.append(FixSpec.set_upstream_param(port, "return_sequences", False))
    for type_name in ("GlobalAvgPool", "Flatten"):
        got = fix_output(type_name, {}, spec)
        if got is not None and got.axes == target:
            fixes.append(FixSpec.insert_before(port, type_name))
            break  # a pool keeps fewer features than a flatten; offer the flatten only where no pool fits
    return fixes


class FusionBase(Block):
    def steps(self, p, ins, out):
        # the branches must carry the same per-sample lengths (they come from the same variable-length Input);
        # a branch of fixed length would be joined to padding
        if not all(s.lengths for s in ins):
            self.fail(f"{self.type_name} joins a variable-length sequence with one of fixed length: every input must "
                      f"come from the same variable-length Input (or none)", code="lengths")
        if getattr(self, "_joins_time", lambda p: False)(p):
            self.fail(f"{self.type_name} along time would put one sequence after the other's padding: join "
                      f"variable-length sequences along the features", FixSpec.set_param("axis", "features"),
                      code="lengths")
        return PER_STEP


    category = "Fusion"
    params = (
        Param("inputs", "int", 2, "Number of input ports (in0, in1, ...).", min=2, max=16),
    )

    def inputs(self, p):
        return [f"in{i}" for i in range(p["inputs"])]

    # ---- shared checks -------------------------------------------------------------------------------------------
    def _same_kind(self, ports: list[str], ins: list[TensorSpec], what: str):
        """Fail unless every input has the same axes, saying which kind arrived on which port.

        The fixes bring the odd branches to one common form, the simplest that every branch can reach with one
        edit: a feature vector (GlobalAvgPool, or return_sequences=false on a recurrent block), or a sequence
        (N, T, F) for video next to a sequence.
        """
        if all(s.axes == ins[0].axes for s in ins):
            return
        arrived = "; ".join(f"{port} got {s.kind} {s.describe_axes()}" for port, s in zip(ports, ins))
        fixes, hint = [], ""
        for target in sorted({s.axes for s in ins} | {"F"}, key=lambda axes: (len(axes), axes)):
            per_port = [(port, _reduce_fixes(port, s, target)) for port, s in zip(ports, ins) if s.axes != target]
            if all(found for _, found in per_port):
                fixes = [f for _, found in per_port for f in found]
                hint = f"; bring every branch to {_FORMS.get(target, target)} first"
                break
        self.fail(f"{self.type_name} {what} inputs of the same kind, with the same axes, but {arrived}{hint}",
                  *fixes, code="fusion-kinds")

    @staticmethod
    def _merge_axis(ax: str, ports: list[str], ins: list[TensorSpec]):
        """(the common size of axis ``ax``, or None; the ports whose known size differs from the first known one)."""
        i = ins[0].axes.index(ax)
        ref = next((s.shape[i] for s in ins if s.shape[i] is not None), None)
        bad = [port for port, s in zip(ports, ins) if s.shape[i] is not None and s.shape[i] != ref]
        return ref, bad

    @staticmethod
    def _sizes_text(ax: str, ports: list[str], ins: list[TensorSpec]) -> str:
        i = ins[0].axes.index(ax)
        return ", ".join(f"{port} has {ax}={_show(s.shape[i])}" for port, s in zip(ports, ins))

    def _project_fixes(self, ax: str, ref, bad: list[str]) -> list:
        """For a differing last feature axis: project the odd branches with a Linear to the first branch's F."""
        if ax != "F" or ref is None:
            return []
        return [FixSpec.insert_before(port, "Linear", {"out_features": ref}) for port in bad]

    def summary(self, p):
        return "" if p["inputs"] == 2 else f"{p['inputs']} inputs"


@register
class Concat(FusionBase):
    type_name = "Concat"
    id_prefix = "cat"
    help = ("Joins its inputs along the feature axis (C for images, video and signals, else F) or along time T, in "
            "port order (in0 first). Every other axis must match.")
    params = FusionBase.params + (
        Param("axis", "choice", "features", "Join along the features (C or F) or along time (T).",
              choices=("features", "time")),
    )

    def _cat_axis(self, p, spec: TensorSpec) -> str:
        if p["axis"] == "time":
            if "T" not in spec.axes:
                self.fail(f"Concat along time needs a time axis T, but its inputs are {spec.kind} "
                          f"{spec.describe_axes()}; join them along the features instead",
                          FixSpec.set_param("axis", "features"), code="fusion-axis")
            return "T"
        for ax in ("C", "F"):
            if ax in spec.axes:
                return ax
        self.fail(f"Concat along features needs a channel axis C or a feature axis F, but its inputs are "
                  f"{spec.describe_axes()}", code="fusion-axis")

    def infer(self, p, ins):
        ports = self.inputs(p)
        self._same_kind(ports, ins, "joins")
        spec = ins[0]
        cat = self._cat_axis(p, spec)
        shape = []
        for i, ax in enumerate(spec.axes):
            if ax == cat:
                sizes = [s.shape[i] for s in ins]
                shape.append(None if None in sizes else sum(sizes))
                continue
            ref, bad = self._merge_axis(ax, ports, ins)
            if bad:
                fixes = self._project_fixes(ax, ref, bad) if cat == "T" else []
                alt = self._other_axis(cat, spec)
                if alt == ax and all(not self._merge_axis(a, ports, ins)[1] for a in spec.axes if a != ax):
                    # only the other join axis differs: joining along it works
                    fixes.append(FixSpec.set_param("axis", "time" if alt == "T" else "features"))
                if not fixes:
                    # nothing lines the axis up: reduce the odd branches to feature vectors (the diagnostic that
                    # follows offers the same for the others)
                    fixes = [f for port in bad for f in _reduce_fixes(port, ins[ports.index(port)], "F")]
                self.fail(f"Concat joins along {_axis(cat)}, so every other axis must match, but {_axis(ax)} "
                          f"differs: {self._sizes_text(ax, ports, ins)}", *fixes, code="fusion-mismatch")
            shape.append(ref)
        return TensorSpec(spec.axes, tuple(shape))

    @staticmethod
    def _joins_time(p) -> bool:
        return p["axis"] == "time"

    @staticmethod
    def _other_axis(cat: str, spec: TensorSpec) -> str | None:
        """The axis the other ``axis`` choice would join along, if the inputs have it."""
        if cat != "T":
            return "T" if "T" in spec.axes else None
        return next((ax for ax in ("C", "F") if ax in spec.axes), None)

    def forward(self, p, ins, out, m, xs, y):
        dim = out.dim(self._cat_axis(p, out))
        return [f"{y} = torch.cat(({', '.join(xs)}), {dim})"]

    def summary(self, p):
        s = "time" if p["axis"] == "time" else "features"
        return s + (f", {p['inputs']} inputs" if p["inputs"] != 2 else "")


class ElementwiseBase(FusionBase):
    op = "+"
    verb = "adds"
    result = "sum"

    def infer(self, p, ins):
        ports = self.inputs(p)
        self._same_kind(ports, ins, f"{self.verb}")
        shape = []
        for ax in ins[0].axes:
            ref, bad = self._merge_axis(ax, ports, ins)
            if bad:
                last = ax == ins[0].axes[-1]
                self.fail(f"{self.type_name} {self.verb} inputs of equal shape, but {_axis(ax)} differs: "
                          f"{self._sizes_text(ax, ports, ins)}",
                          *(self._project_fixes(ax, ref, bad) if last else []), code="fusion-mismatch")
            shape.append(ref)
        return TensorSpec(ins[0].axes, tuple(shape))

    def forward(self, p, ins, out, m, xs, y):
        return [f"{y} = {f' {self.op} '.join(xs)}"]

    def summary(self, p):
        return f"{self.result} of {p['inputs']} inputs"  # never blank: an empty face read as "-" on the canvas


@register
class Add(ElementwiseBase):
    type_name = "Add"
    id_prefix = "add"
    op = "+"
    verb = "adds"
    help = "Adds its inputs element by element (a residual connection); all inputs have the same shape."


@register
class Multiply(ElementwiseBase):
    type_name = "Multiply"
    id_prefix = "mul"
    op = "*"
    verb = "multiplies"
    result = "product"
    help = "Multiplies its inputs element by element (gating); all inputs have the same shape."
