"""Normalisation and regularisation: BatchNorm, LayerNorm, Dropout, and a stand-alone Activation. All keep the
shape."""

from __future__ import annotations

from hybrid_studio.graph.diagnostics import FixSpec

from .base import ACTIVATIONS, PER_STEP, Block, ModuleSpec, activation_line, arrived, per_step, register
from .dense import _last_axis_steps
from .params import Param

CATEGORY = "Normalisation & regularisation"

#: input axes -> (normalised axis, BatchNorm module, per-sample rank of what the module takes)
_BN = {"CHW": ("C", "BatchNorm2d", 3), "TCHW": ("C", "BatchNorm2d", 3), "CL": ("C", "BatchNorm1d", 2),
       "TCL": ("C", "BatchNorm1d", 2), "TF": ("F", "BatchNorm1d", 2), "F": ("F", "BatchNorm1d", 1)}


def _eps_param(default=1e-5):
    return Param("eps", "float", default, "Added to the variance for numerical stability.", min=1e-12, max=1.0)


@register
class BatchNorm(Block):
    type_name = "BatchNorm"
    category = CATEGORY
    id_prefix = "bn"
    help = ("Batch normalisation: normalises each channel C of images (N, C, H, W) and 1-D signals (N, C, L), or "
            "each feature F of sequences (N, T, F) and vectors (N, F), over the batch (and the other axes), then "
            "scales and shifts it with learned weights. With a time axis in front of images or signals it applies "
            "per step. Shape kept.")
    params = (
        _eps_param(),
        Param("momentum", "float", 0.1, "How fast the running mean and variance follow each batch (0..1).",
              min=0.0, max=1.0),
    )

    def infer(self, p, ins):
        spec = ins[0]
        rule = _BN.get(spec.axes)
        if rule is None:
            self.fail(f"BatchNorm expects images (N, C, H, W), signals (N, C, L), sequences (N, T, F) or vectors "
                      f"(N, F), optionally with a time axis in front of images or signals, but received "
                      f"{arrived(spec)}", code="norm-input")
        axis = rule[0]
        if spec.size(axis) is None:
            self.fail(f"BatchNorm learns one weight per {'channel' if axis == 'C' else 'feature'} ({axis}), whose "
                      f"size is unknown in {spec.describe_axes()}; give the Input a fixed size", code="unknown-size")
        return spec

    def count(self, p, ins, out):
        spec = ins[0]
        n = out.numel()
        # a weight and a bias per normalised channel; one multiply-add per element at inference
        return 2 * spec.size(_BN[spec.axes][0]), n

    def module(self, p, ins, out):
        spec = ins[0]
        axis, cls, _ = _BN[spec.axes]
        kw = {}
        if p["eps"] != 1e-5:
            kw["eps"] = p["eps"]
        if p["momentum"] != 0.1:
            kw["momentum"] = p["momentum"]
        return ModuleSpec(cls, (spec.size(axis),), kw)

    def forward(self, p, ins, out, m, xs, y):
        spec = ins[0]
        if spec.axes == "TF":
            # BatchNorm1d wants the features as channels: (N, F, T)
            return [f"{y} = {m}({xs[0]}.transpose(1, 2)).transpose(1, 2)"]
        return per_step(xs[0], spec, _BN[spec.axes][2], y, lambda x: f"{m}({x})")

    def steps(self, p, ins, out):
        # in evaluation each step is normalised with the running statistics alone; while training, a padded batch's
        # statistics include the zeroed steps (as any batch's include its other samples)
        return PER_STEP

    def summary(self, p):
        # never empty: a blank face read as "-" on the canvas; the momentum is the setting a user tunes
        eps = _eps_summary(p)
        return f"momentum {p['momentum']:g}" + (f" · {eps}" if eps else "")


def _eps_summary(p) -> str:
    """Canvas text for the normalisation blocks: the epsilon, when it is not the default."""
    return "" if p["eps"] == 1e-5 else f"eps {p['eps']:g}"


@register
class LayerNorm(Block):
    type_name = "LayerNorm"
    category = CATEGORY
    id_prefix = "ln"
    help = ("Layer normalisation over the last axis (F for sequences and vectors), per sample and per step, with a "
            "learned weight and bias per element of that axis. Shape kept.")
    params = (_eps_param(),)

    def infer(self, p, ins):
        spec = ins[0]
        if spec.rank == 0:
            self.fail(f"LayerNorm needs at least one per-sample axis, but received {spec.describe_axes()}",
                      code="norm-input")
        if spec.shape[-1] is None:
            ax = spec.axes[-1]
            self.fail(f"LayerNorm normalises the last axis ({ax}), whose size is unknown in {spec.describe_axes()}; "
                      f"give the Input a fixed size", code="unknown-size")
        return spec

    def count(self, p, ins, out):
        return 2 * ins[0].shape[-1], out.numel()

    def module(self, p, ins, out):
        kw = {} if p["eps"] == 1e-5 else {"eps": p["eps"]}
        return ModuleSpec("LayerNorm", (ins[0].shape[-1],), kw)

    def steps(self, p, ins, out):
        return _last_axis_steps(self, ins[0])

    def forward(self, p, ins, out, m, xs, y):
        return [f"{y} = {m}({xs[0]})"]

    def summary(self, p):
        return f"eps {p['eps']:g}"  # never empty: a blank face read as "-" on the canvas


@register
class Dropout(Block):
    type_name = "Dropout"
    category = CATEGORY
    id_prefix = "drop"
    help = ("During training, zeroes each element with probability p and scales the rest by 1/(1-p); does nothing "
            "in evaluation. Shape kept.")
    params = (Param("p", "float", 0.5, "Probability of zeroing an element (0..1).", min=0.0, max=1.0),)

    def infer(self, p, ins):
        if ins[0].rank == 0:
            self.fail(f"Dropout needs at least one per-sample axis, but received {ins[0].describe_axes()}",
                      code="norm-input")
        return ins[0]

    def module(self, p, ins, out):
        return ModuleSpec("Dropout", (), {} if p["p"] == 0.5 else {"p": p["p"]})

    def forward(self, p, ins, out, m, xs, y):
        return [f"{y} = {m}({xs[0]})"]

    def steps(self, p, ins, out):
        return PER_STEP

    def summary(self, p):
        return f"p={p['p']:g}"


@register
class Activation(Block):
    type_name = "Activation"
    category = CATEGORY
    id_prefix = "act"
    help = ("Applies a function element-wise (softmax: over the channels C of images and signals, else over the "
            "last axis). Shape kept.")
    params = (Param("function", "choice", "relu", "The activation function.", choices=tuple(ACTIVATIONS)),)

    def infer(self, p, ins):
        spec = ins[0]
        if p["function"] == "softmax" and spec.rank == 0:
            self.fail(f"softmax needs an axis to normalise over, but received {spec.describe_axes()}",
                      FixSpec.set_param("function", "relu"), code="norm-input")
        return spec

    def forward(self, p, ins, out, m, xs, y):
        return [f"{y} = {activation_line(p['function'], xs[0], ins[0])}"]

    def steps(self, p, ins, out):
        spec = ins[0]
        if p["function"] == "softmax" and "C" not in spec.axes:
            return _last_axis_steps(self, spec)  # softmax over the last axis: not over T
        return PER_STEP

    def summary(self, p):
        return p["function"]
