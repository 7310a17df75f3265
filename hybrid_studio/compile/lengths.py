"""Per-sample lengths through a graph with variable-length Inputs, in plain Python (no torch).

A variable-length Input (``variable_length``) feeds padded batches with a vector of per-sample lengths of its
time axis T. Each block on the way says how it maps them (``Block.steps``, a ``StepMap``): per-step blocks keep
them, a convolution or pooling over T shortens them by its size rule, a recurrent layer packs by them. The
generated model (``codegen.py``) writes these very StepMaps as source; ``LengthPlan.lengths`` applies them to
numbers (ints, numpy arrays or tensors alike), so the training engine gives CTC the same output lengths the model
computes, and the data check can compare each label with its own sample's output length before training.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hybrid_studio.blocks import CATALOG
from hybrid_studio.graph import Graph, ShapeChecker


@dataclass
class LengthStep:
    """One block whose input carries lengths: ``source`` is the block the lengths come from."""

    node: str
    source: str
    steps: object  # a blocks.base.StepMap
    #: Whether the block's output still has the time axis (and so lengths of its own).
    carries: bool


@dataclass
class LengthPlan:
    """The variable-length Inputs (in forward() order) and, in graph order, every block their lengths reach."""

    inputs: list = field(default_factory=list)
    chain: list = field(default_factory=list)

    def __bool__(self):
        return bool(self.inputs)

    def lengths(self, input_lengths: dict) -> dict:
        """Node id -> per-sample lengths of its output's time axis, from Input id -> lengths."""
        out = {nid: input_lengths[nid] for nid in self.inputs}
        for step in self.chain:
            if step.carries:
                out[step.node] = step.steps.apply(out[step.source])
        return out

    def output_lengths(self, input_lengths: dict, output_ids) -> dict:
        """Output id -> per-sample lengths of its time axis, or None when no lengths reach it."""
        lens = self.lengths(input_lengths)
        return {o: lens.get(o) for o in output_ids}


def length_plan(graph: Graph, checker: ShapeChecker) -> LengthPlan:
    """The LengthPlan of a valid graph (checked by ``checker``)."""
    plan = LengthPlan()
    carrying: set = set()
    for nid in graph.topological_order():
        node = graph.node(nid)
        res = checker.result(nid)
        block = CATALOG.get(node.type)
        p = block.resolve(node.params)[0]
        if node.type == "Input":
            if res.output is not None and res.output.lengths:
                plan.inputs.append(nid)
                carrying.add(nid)
            continue
        ports = block.inputs(p)
        ins = [res.inputs[port] for port in ports]
        sources = [graph.edge_into(nid, port).source for port in ports]
        src = next((s for s, spec in zip(sources, ins) if spec is not None and spec.lengths), None)
        if src is None:
            continue
        carries = bool(res.output is not None and res.output.lengths)
        plan.chain.append(LengthStep(nid, src, block.steps(p, ins, res.output), carries))
        if carries:
            carrying.add(nid)
    return plan


__all__ = ["LengthPlan", "LengthStep", "length_plan"]
