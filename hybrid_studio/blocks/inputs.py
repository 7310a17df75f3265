"""Inputs and outputs: where tensors enter and leave the model."""

from __future__ import annotations

from hybrid_studio.graph.diagnostics import FixSpec
from hybrid_studio.graph.tensor import AXIS_NAMES, TensorSpec

from .base import PER_STEP, Block, register
from .params import Param


@register
class Input(Block):
    type_name = "Input"
    category = "Inputs"
    id_prefix = "input"
    help = ("A model input. `shape` is per sample (the batch is implicit), one axis letter per entry in `axes`: "
            "T time, C channels, H height, W width, L length, F features. A size may be null (unknown).")
    params = (
        Param("shape", "shape", [1, 28, 28], "Per-sample sizes; null for an unknown size (e.g. variable T)."),
        Param("axes", "axes", "CHW", "One axis letter per shape entry, e.g. CHW (image), TF (sequence)."),
        Param("dtype", "choice", "float32", "float32 for signals and images, int64 for token ids.",
              choices=("float32", "int64")),
        Param("variable_length", "bool", False, "The time axis T varies per sample: batches are padded to T and each "
              "sample's length (x_lengths in the data) travels with it through the blocks, so the padding never "
              "changes a result. forward() then also takes <id>_lengths (default: every sample full length)."),
    )

    def inputs(self, p):
        return []

    def infer(self, p, ins):
        shape, axes = p["shape"], p["axes"]
        if len(shape) != len(axes):
            self.fail(f"shape {shape} has {len(shape)} entries but axes '{axes}' names {len(axes)}: give one axis "
                      f"letter per size", code="input-axes")
        for ax, s in zip(axes, shape):
            if s is not None and s <= 0:
                self.fail(f"the {AXIS_NAMES[ax]} size ({ax}) must be positive, got {s}",
                          FixSpec.set_param("shape", [1 if (a == ax and x is not None and x <= 0) else x
                                                      for a, x in zip(axes, shape)]), code="input-size")
        if p["dtype"] == "int64" and axes not in ("T", "F", "L"):
            self.fail(f"int64 (token) inputs hold one axis of token ids, e.g. axes 'T' with shape [length]; got "
                      f"axes '{axes}'",
                      FixSpec.set_param("dtype", "float32"), code="input-dtype")
        if p["variable_length"] and not axes.startswith("T"):
            self.fail(f"variable_length needs the time axis T first in axes (e.g. 'TF' for a sequence), got axes "
                      f"'{axes}'", FixSpec.set_param("variable_length", False), code="input-lengths")
        return TensorSpec(axes, tuple(shape), p["dtype"], lengths=bool(p["variable_length"]))

    def forward(self, p, ins, out, m, xs, y):
        return []  # inputs are forward()'s arguments

    def summary(self, p):
        dims = " x ".join("?" if s is None else str(s) for s in p["shape"])
        return (f"{p['axes']} {dims}" + (" int64" if p["dtype"] == "int64" else "")
                + (", variable T" if p["variable_length"] else ""))


@register
class Output(Block):
    type_name = "Output"
    category = "Outputs"
    id_prefix = "out"
    help = ("Marks a model output; the tensor passes through unchanged. `classification` outputs are logits trained "
            "with cross-entropy (per time step for sequences); `regression` outputs are trained with MSE; `ctc` "
            "outputs are per-step class scores (T, K), class 0 the blank, trained with CTC loss for sequence labels "
            "(text lines, speech) and read by greedy decoding.")
    params = (
        Param("task", "choice", "classification", "classification (logits), regression, or ctc (per-step class "
              "scores for sequence labels; class 0 is the blank).", choices=("classification", "regression", "ctc")),
    )

    def outputs(self, p):
        return []

    def infer(self, p, ins):
        spec = ins[0]
        if p["task"] == "ctc" and spec.axes != "TF":
            fixes = []
            if spec.axes == "F":
                fixes.append(FixSpec.set_upstream_param("in", "return_sequences", True))
            self.fail(f"a ctc output reads per-step class scores (T, K) but received {spec.describe_axes()}: keep "
                      f"the time axis (return_sequences on the recurrent layer, ToSequence after a CNN) and end with "
                      f"a Linear of K = classes + 1 (the blank)", *fixes, code="ctc-shape")
        return spec

    def steps(self, p, ins, out):
        if p["task"] != "ctc":
            # the loss would count the padded steps; CTC reads each sample's own output length instead
            self.fail(f"a {p['task']} output per time step of a variable-length input would train on the padding: "
                      f"use task ctc for sequence labels, or end the time axis before the Output (a recurrent "
                      f"layer's final state)", FixSpec.set_upstream_param("in", "return_sequences", False),
                      code="lengths")
        return PER_STEP

    def summary(self, p):
        return p["task"]
