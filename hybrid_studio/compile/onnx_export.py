"""Export a graph to ONNX, with the batch and every unknown (``null``) size as dynamic axes, checked in onnxruntime.

Exporter choice, per graph (measured with torch 2.13, onnxruntime 1.32). The TorchScript-based exporter
(``dynamo=False`` with ``dynamic_axes``) is 20-30x faster (the CRNN in about 1 s against 4-9 s), but for some graphs
it bakes the example's batch size into the model: per-frame models (the reshape that folds time into the batch, as
in the LRCN template) then fail in onnxruntime at any other batch size. The torch.export-based exporter
(``dynamo=True`` with ``dynamic_shapes``) runs every template at other batch sizes and a variable-length ``T`` at
other lengths; it declares some output sizes with the example's values, which ``_mark_dynamic_outputs`` corrects.

``exporter="auto"`` (the default) therefore exports with TorchScript first and *verifies* the result: onnxruntime
runs it at a batch size and at unknown sizes other than the example's, and its outputs must match torch's within
1e-4. Only a model that fails that check is exported again with torch.export (and checked the same way). Every
export is verified before it is written; ``report`` receives the exporter used, the largest difference from torch
and the time taken. Templates today: crnn, seed-cnn-lstm, parallel-cnn-lstm and rnn-cnn take the TorchScript path,
lrcn-video (time folded into the batch) the torch.export path.
"""

from __future__ import annotations

import contextlib
import io
import json
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


#: The TorchScript exporter's opset (its newest well-tested one; LSTM and GRU map to the ONNX ops of the same name).
TORCHSCRIPT_OPSET = 17
#: Largest difference from torch's outputs an export may show in onnxruntime.
TOLERANCE = 1e-4
EXPORTERS = ("auto", "torchscript", "dynamo")
#: Metadata key of the exported model: JSON {output id: task} of its Output blocks, so that importing the file back
#: gives the same tasks (ONNX itself cannot tell logits for classification from a regression output).
OUTPUT_TASKS_KEY = "hybrid_studio.output_tasks"
#: Metadata key: JSON list, one entry per block that ONNX spells as many ops (attention, ConvLSTM2d): its id, type,
#: params, the node-name scope of its ops (the TorchScript exporter names nodes after module paths: ``/mha/...``)
#: and its weights' names and shapes, so that importing the studio's own file gives the block back (read as data).
RECORDED_BLOCKS_KEY = "hybrid_studio.blocks"
#: Block types recorded under ``RECORDED_BLOCKS_KEY``.
RECORDED_TYPES = ("MultiheadAttention", "ConvLSTM2d", "AttentionPool")


class ExportCheckError(RuntimeError):
    """The exported model does not compute what torch computes (or does not run) in onnxruntime."""


def export_onnx(graph: Graph, path, model=None, opset: int | None = None, exporter: str = "auto",
                verify: bool = True, report: dict | None = None) -> dict:
    """Write ``graph`` as an ONNX model to ``path`` (atomically); returns the dynamic axes that were exported.

    ``model``: a module compiled from this graph (e.g. trained) whose weights are exported; by default a freshly
    initialised one. Inputs and outputs are named after their blocks (``image``, ``out``); each dynamic axis is
    named ``batch`` or ``<block id>_<axis letter>``. ``exporter``: ``auto`` (TorchScript when its export passes the
    check, else torch.export; see the module docstring), ``torchscript`` or ``dynamo``. With ``verify`` (and
    onnxruntime installed) the model is run in onnxruntime at other sizes and compared with torch before it is
    written; ``report`` (a dict) receives ``exporter``, ``max_abs_diff``, ``checked_sizes`` and ``seconds``.
    Raises CompileError for an invalid graph, ExportCheckError when no exporter gives a model that checks out.
    """
    import time

    import torch

    from .fx import load_model_class

    if exporter not in EXPORTERS:
        raise ValueError(f"exporter must be one of {', '.join(EXPORTERS)}, got {exporter!r}")
    t0 = time.perf_counter()
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
    examples = _inputs(torch, in_specs, EXAMPLE_BATCH, size, seed=0)
    dynamic_axes = {}
    for name, spec in zip(gen.input_ids + gen.output_ids, in_specs + out_specs):
        axes = {0: "batch"}
        for i, (ax, s) in enumerate(zip(spec.axes, spec.shape)):
            if s is None:
                axes[i + 1] = f"{name}_{ax}"
        dynamic_axes[name] = axes
    if verify:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            verify = False
    # the sizes the check runs at: another batch size and, for unknown sizes, other lengths than the example's
    checks = [(1, size), (EXAMPLE_BATCH + 3, other_size(graph, gen.input_ids, size))] if verify else []

    from hybrid_studio.project.atomic import atomic_write_bytes

    order = ["torchscript", "dynamo"] if exporter == "auto" else [exporter]
    problems = []
    for name in order:
        try:
            proto = _export_with(name, torch, model, examples, gen, in_specs, dynamic_axes, opset)
            diff = _check(torch, proto, model, in_specs, checks) if checks else None
        except CompileError:
            raise
        except Exception as e:  # noqa: BLE001 - a failed try means the next exporter; all failures are reported
            problems.append(f"{name}: {type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}")
            continue
        entry = proto.metadata_props.add()
        entry.key, entry.value = OUTPUT_TASKS_KEY, json.dumps(gen.tasks)
        recorded = _recorded_blocks(graph, model, proto, checker)
        if recorded:
            entry = proto.metadata_props.add()
            entry.key, entry.value = RECORDED_BLOCKS_KEY, json.dumps(recorded)
        atomic_write_bytes(Path(path), proto.SerializeToString())
        if report is not None:
            report.update(exporter=name, max_abs_diff=diff, checked_sizes=[list(c) for c in checks],
                          seconds=time.perf_counter() - t0, dynamic_axes=dynamic_axes)
        return dynamic_axes
    raise ExportCheckError("ONNX export failed; " + "; ".join(problems))


def _recorded_blocks(graph: Graph, model, proto, checker) -> list:
    """The ``RECORDED_BLOCKS_KEY`` entries: blocks of ``RECORDED_TYPES`` whose ops carry their scope in their names
    (the TorchScript exporter's; torch.export's names do not, and those blocks are then not recorded)."""
    state = model.state_dict()
    names = [n.name for n in proto.graph.node]
    out = []
    for n in graph.nodes:
        scope = f"/{n.id}/"
        if n.type not in RECORDED_TYPES or not any(x.startswith(scope) for x in names):
            continue
        weights = {k[len(n.id) + 1:]: list(v.shape) for k, v in state.items() if k.startswith(n.id + ".")}
        spec = checker.result(n.id).output  # its output's axes and sizes (ONNX shape inference may not reach it)
        out.append({"id": n.id, "type": n.type, "params": dict(n.params), "scope": scope, "weights": weights,
                    "output": {"axes": "".join(spec.axes), "shape": list(spec.shape)}})
    return out


def _inputs(torch, in_specs, batch: int, size: int, seed: int) -> list:
    gen = torch.Generator().manual_seed(seed)
    xs = []
    for spec in in_specs:
        shape = [batch] + [size if s is None else s for s in spec.shape]
        if spec.dtype == "int64":
            xs.append(torch.zeros(shape, dtype=torch.long))  # index 0 is valid for any Embedding
        else:
            xs.append(torch.randn(shape, generator=gen))
    return xs


def _export_with(name, torch, model, examples, gen, in_specs, dynamic_axes, opset):
    """The ONNX ModelProto of ``model`` from one exporter, with the dynamic sizes named as documented."""
    import onnx

    workdir = tempfile.TemporaryDirectory(prefix="hybrid-studio-onnx-")
    tmp = os.path.join(workdir.name, "model.onnx")
    try:
        with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), _quiet_logs():
            # the exporters print progress lines, warnings and log records that mean nothing to the user of
            # `export` (e.g. that torchvision's operators are skipped, or TorchScript's tracer warnings).
            warnings.simplefilter("ignore")
            if name == "torchscript":
                torch.onnx.export(model, tuple(examples), tmp, dynamo=False, opset_version=opset or TORCHSCRIPT_OPSET,
                                  input_names=gen.input_ids, output_names=gen.output_ids, dynamic_axes=dynamic_axes)
            else:
                # Dynamo caches traces of shared code (nn.LSTM.forward) from earlier exports in this process; a
                # cached static-length trace would make a later model's variable T look static, so start clean.
                torch._dynamo.reset()
                program = torch.onnx.export(model, tuple(examples), dynamo=True, opset_version=opset or OPSET,
                                            verbose=False, input_names=gen.input_ids, output_names=gen.output_ids,
                                            dynamic_shapes=_dynamic_shapes(torch, in_specs))
                program.save(tmp)
        proto = onnx.load(tmp)
    finally:
        workdir.cleanup()
    _check_inputs_dynamic(proto, dynamic_axes)
    _mark_dynamic_outputs(proto, dynamic_axes)
    return proto


def _check(torch, proto, model, in_specs, checks) -> float:
    """Run ``proto`` in onnxruntime at each (batch, unknown size) of ``checks``; the largest difference from torch.

    Raises ExportCheckError when it does not run, gives other shapes, or differs by more than TOLERANCE.
    """
    import numpy as np
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 4  # a failing run is reported by the exception, not printed to the terminal
    session = ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    worst = 0.0
    for k, (batch, size) in enumerate(checks):
        xs = _inputs(torch, in_specs, batch, size, seed=k + 1)
        try:
            got = session.run(None, {n: x.numpy() for n, x in zip(names, xs)})
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise ExportCheckError(f"onnxruntime cannot run the model at batch {batch}, size {size}: "
                                   f"{str(e).splitlines()[0][:300]}") from e
        with torch.no_grad():
            want = model(*xs)
        want = want if isinstance(want, tuple) else (want,)
        for g, w in zip(got, want):
            w = w.numpy()
            if g.shape != w.shape:
                raise ExportCheckError(f"onnxruntime gives shape {list(g.shape)} where torch gives {list(w.shape)} "
                                       f"(batch {batch}, size {size})")
            diff = float(np.max(np.abs(g.astype(np.float64) - w))) if w.size else 0.0
            if not diff <= TOLERANCE * max(1.0, float(np.max(np.abs(w))) if w.size else 1.0):
                raise ExportCheckError(f"onnxruntime differs from torch by {diff:.3g} (batch {batch}, size {size})")
            worst = max(worst, diff)
    return worst


def other_size(graph: Graph, input_ids, size: int) -> int:
    """An unknown-size value other than ``size`` that gives a valid graph (for checking that sizes stay dynamic)."""
    unknown = [i for i in input_ids if None in (graph.node(i).params.get("shape") or [])]
    if not unknown:
        return size
    for trial_size in (size + size // 2, size * 2, size + 1):
        if _valid_at(graph, unknown, trial_size):
            return trial_size
    return size


def _valid_at(graph: Graph, unknown, size: int) -> bool:
    from hybrid_studio.graph import SetParams

    trial = graph.copy()
    for i in unknown:
        shape = [size if s is None else s for s in trial.node(i).params["shape"]]
        SetParams(i, {"shape": shape}).apply(trial)
    return not checker_for(trial).errors()


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
