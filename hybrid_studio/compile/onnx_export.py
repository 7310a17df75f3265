"""Export a graph to ONNX, with the batch and every unknown (``null``) size as dynamic axes.

Exporter choice (measured with torch 2.13, onnxruntime 1.32). The TorchScript-based exporter (``dynamo=False`` with
``dynamic_axes``) is fast, but it bakes the example's batch size into per-frame models (the reshape that folds time
into the batch) and into LSTM initial states, so the LRCN template fails in onnxruntime at any other batch size.
The torch.export-based exporter (``dynamo=True`` with ``dynamic_shapes``) runs every template at other batch sizes
and a variable-length ``T`` at other lengths, with the same numbers as torch; it takes a few seconds per model and
declares some output sizes with the example's values, which ``_mark_dynamic_outputs`` corrects. We use it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
import warnings
from pathlib import Path

from hybrid_studio.blocks import checker_for
from hybrid_studio.graph import Graph

from .codegen import CompileError, generate

#: Example size used for an unknown (dynamic) axis while tracing; large enough for a few convolutions and pools
#: (``example_size`` doubles it where the graph needs more).
EXAMPLE_SIZE = 64
EXAMPLE_BATCH = 2
#: The torch.export-based exporter's own opset (a lower one goes through a version converter that logs noise).
OPSET = 18


def export_onnx(graph: Graph, path, model=None, opset: int = OPSET) -> dict:
    """Write ``graph`` as an ONNX model to ``path`` (atomically); returns the dynamic axes that were exported.

    ``model``: a module compiled from this graph (e.g. trained) whose weights are exported; by default a freshly
    initialised one. Inputs and outputs are named after their blocks (``image``, ``out``); each dynamic axis is
    named ``batch`` or ``<block id>_<axis letter>``. Raises CompileError for an invalid graph.
    """
    import torch

    from .fx import load_model_class

    checker = checker_for(graph)
    gen = generate(graph, checker)
    _check_exportable(graph, checker)
    fresh = load_model_class(gen)()
    if model is not None:
        fresh.load_state_dict(model.state_dict())
    model = fresh.eval()
    in_specs = [checker.result(i).output for i in gen.input_ids]
    out_specs = [checker.result(o).output for o in gen.output_ids]
    if not gen.output_ids:
        raise CompileError("the graph has no Output block to export")

    size = example_size(graph, gen.input_ids)
    examples = []
    for spec in in_specs:
        shape = [EXAMPLE_BATCH] + [size if s is None else s for s in spec.shape]
        if spec.dtype == "int64":
            examples.append(torch.zeros(shape, dtype=torch.long))  # index 0 is valid for any Embedding
        else:
            examples.append(torch.randn(shape))
    dynamic_axes = {}
    for name, spec in zip(gen.input_ids + gen.output_ids, in_specs + out_specs):
        axes = {0: "batch"}
        for i, (ax, s) in enumerate(zip(spec.axes, spec.shape)):
            if s is None:
                axes[i + 1] = f"{name}_{ax}"
        dynamic_axes[name] = axes

    from hybrid_studio.project.atomic import atomic_write_bytes

    workdir = tempfile.TemporaryDirectory(prefix="hybrid-studio-onnx-")
    tmp = os.path.join(workdir.name, "model.onnx")
    try:
        with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), _quiet_logs():
            # torch.export prints progress lines, warnings and log records that mean nothing to the user of
            # `export` (e.g. that torchvision's operators are skipped).
            warnings.simplefilter("ignore")
            # Dynamo caches traces of shared code (nn.LSTM.forward) from earlier exports in this process; a cached
            # static-length trace would make a later model's variable T look static, so start clean.
            torch._dynamo.reset()
            program = torch.onnx.export(model, tuple(examples), dynamo=True, opset_version=opset, verbose=False,
                                        input_names=gen.input_ids, output_names=gen.output_ids,
                                        dynamic_shapes=_dynamic_shapes(torch, in_specs))
            program.save(tmp)
        import onnx

        proto = onnx.load(tmp)
        _check_inputs_dynamic(proto, dynamic_axes)
        _mark_dynamic_outputs(proto, dynamic_axes)
        # the same atomic write as every other file (temporary file beside the target, fsync, rename)
        atomic_write_bytes(Path(path), proto.SerializeToString())
    finally:
        workdir.cleanup()
    return dynamic_axes


def _check_exportable(graph: Graph, checker) -> None:
    """Refuse a graph with a block that says it cannot be exported as it is (e.g. a ConvLSTM2d over a variable T,
    whose loop over time the exporter would unroll at the example's length)."""
    from hybrid_studio.blocks import CATALOG

    for node in graph.nodes:
        block = CATALOG.get(node.type)
        p = block.resolve(node.params)[0]
        res = checker.result(node.id)
        problem = block.onnx_problem(p, [res.inputs[port] for port in block.inputs(p)])
        if problem:
            raise CompileError(f"cannot export to ONNX: block '{node.id}' ({node.type}) {problem}")


def example_size(graph: Graph, input_ids) -> int:
    """The size given to the unknown (``null``) input sizes while tracing: EXAMPLE_SIZE, or a larger power of two
    when the graph needs more (e.g. a kernel 80 wide); raises CompileError when none up to 4096 fits."""
    from hybrid_studio.graph import SetParams

    unknown = [i for i in input_ids if None in (graph.node(i).params.get("shape") or [])]
    if not unknown:
        return EXAMPLE_SIZE
    size = EXAMPLE_SIZE
    while size <= 4096:
        trial = graph.copy()
        for i in unknown:
            shape = [size if s is None else s for s in trial.node(i).params["shape"]]
            SetParams(i, {"shape": shape}).apply(trial)
        if not checker_for(trial).errors():
            return size
        size *= 2
    raise CompileError(f"cannot export to ONNX: no example size up to 4096 for the unknown sizes of "
                       f"{', '.join(unknown)} gives a valid graph")


@contextlib.contextmanager
def _quiet_logs():
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "torch.fx",
                                               "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _dynamic_shapes(torch, in_specs) -> tuple:
    # Dim.AUTO, not Dim.DYNAMIC: with DYNAMIC, torch.export's own guard on nn.LSTM marks a variable T as
    # specialised and the export fails (or, after one export in the process, keeps failing), although the ONNX
    # LSTM it emits is length-agnostic. AUTO exports it dynamic; _check_inputs_dynamic then refuses any input
    # size that did get fixed, so a model that only works at the example's size is never written.
    auto = torch.export.Dim.AUTO
    shapes = []
    for spec in in_specs:
        dims = {0: auto}
        for i, s in enumerate(spec.shape):
            if s is None:
                dims[i + 1] = auto
        shapes.append(dims)
    return tuple(shapes)


def _check_inputs_dynamic(proto, dynamic_axes: dict) -> None:
    for value in proto.graph.input:
        dims = value.type.tensor_type.shape.dim
        for i, name in dynamic_axes.get(value.name, {}).items():
            if i < len(dims) and dims[i].HasField("dim_value"):
                what = "the batch size" if i == 0 else f"size {name}"
                raise RuntimeError(f"ONNX export fixed {what} of input '{value.name}' to {dims[i].dim_value}; "
                                   f"the exported model would only run at that size")


def _mark_dynamic_outputs(proto, dynamic_axes: dict) -> None:
    """Name the dynamic sizes as documented (``batch``, ``<id>_<axis>``) and drop stale size declarations.

    torch.export names sizes ``s77`` and declares some intermediate and output sizes with the example's values (an
    LSTM's output length, say) although the graph computes them; onnxruntime then warns at every other size. The
    computation is right, only the declarations change: input sizes are renamed (and the same symbols in the
    outputs), a fixed size on a dynamic output axis becomes symbolic, and the optional intermediate declarations
    (``value_info``) are dropped for onnxruntime to infer.
    """
    rename = {}
    for value in proto.graph.input:
        dims = value.type.tensor_type.shape.dim
        for i, name in dynamic_axes.get(value.name, {}).items():
            if i < len(dims) and dims[i].dim_param:
                rename.setdefault(dims[i].dim_param, name)
    for value in list(proto.graph.input) + list(proto.graph.output):
        if not value.type.HasField("tensor_type"):
            continue
        dims = value.type.tensor_type.shape.dim
        for dim in dims:
            if dim.dim_param in rename:
                dim.dim_param = rename[dim.dim_param]
        for i, name in dynamic_axes.get(value.name, {}).items():
            if i < len(dims) and dims[i].HasField("dim_value"):
                dims[i].Clear()
                dims[i].dim_param = name
    proto.graph.ClearField("value_info")
