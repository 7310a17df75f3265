"""Dense layers."""

from __future__ import annotations

from .base import ACTIVATION_CHOICES, PER_STEP, Block, ModuleSpec, activation_line, register
from .params import Param


@register
class Linear(Block):
    type_name = "Linear"
    category = "Dense"
    id_prefix = "fc"
    help = "A fully connected layer on the last axis: (..., F) -> (..., out_features)."
    params = (
        Param("out_features", "int", 10, "Size of each output vector.", min=1),
        Param("bias", "bool", True, "Learn an additive bias."),
        Param("activation", "choice", None, "Activation applied after the layer.", choices=ACTIVATION_CHOICES),
    )

    def infer(self, p, ins):
        spec = ins[0]
        if spec.rank == 0:
            self.fail("Linear needs at least one per-sample axis")
        if spec.shape[-1] is None:
            self.fail(f"Linear acts on the last axis ({spec.axes[-1]}), whose size is unknown in "
                      f"{spec.describe_axes()}; give the Input a fixed size", code="unknown-size")
        return spec.replace(shape=spec.shape[:-1] + (p["out_features"],))

    def count(self, p, ins, out):
        f_in = ins[0].shape[-1]
        params = f_in * p["out_features"] + (p["out_features"] if p["bias"] else 0)
        n = out.numel()
        return params, None if n is None else n * f_in

    def module(self, p, ins, out):
        kw = {} if p["bias"] else {"bias": False}
        return ModuleSpec("Linear", (ins[0].shape[-1], p["out_features"]), kw)

    def forward(self, p, ins, out, m, xs, y):
        lines = [f"{y} = {m}({xs[0]})"]
        if p["activation"]:
            lines.append(f"{y} = {activation_line(p['activation'], y, out)}")
        return lines

    def steps(self, p, ins, out):
        return _last_axis_steps(self, ins[0])

    def summary(self, p):
        return f"{p['out_features']}" + (f", {p['activation']}" if p["activation"] else "")


def _last_axis_steps(block: Block, spec):
    """A block acting on the last axis alone works per time step, unless that axis is T itself."""
    if spec.axes[-1] == "T":
        block.fail(f"{block.type_name} acts on the last axis, which is the variable-length time axis T of "
                   f"{spec.describe_axes()}: it would mix the padding into every sample", code="lengths")
    return PER_STEP
