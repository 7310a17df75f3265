"""int8 quantisation of a trained run, with size, latency and the validation metric before and after. No Qt.

Which path each block takes (PyTorch file, ``model-int8.pt``):

- ``LSTM``, ``GRU``, ``Linear``: dynamic int8 (weights stored as int8, activations quantised on the fly per batch)
  with ``torch.ao.quantization.quantize_dynamic``.
- ``Conv1d``, ``Conv2d``, ``Conv3d``: static int8 (weights and activations int8, activation ranges calibrated on
  validation batches): each convolution is wrapped in ``QuantWrapper`` (quantise in, dequantise out) and converted
  with ``torch.ao.quantization.prepare``/``convert`` using the x86 (fbgemm) backend's default qconfig.
- Every other block (pools, BatchNorm, ConvLSTM2d, attention, shape blocks) stays float32.

Why ``torch.ao`` although it warns that it is deprecated: torchao (0.18, installable here with torch 2.13) has no
quantisation for ``nn.LSTM``/``nn.GRU``, which hold most of a hybrid's weights, and its int8 Linear is a tensor
subclass that only loads where torchao is installed, while the file must load in plain PyTorch. The quantised model
is traced and saved with TorchScript, so ``torch.jit.load("model-int8.pt")`` runs it with nothing but torch
(inputs as for the exported Python file: one tensor per Input block, in file order).

ONNX file (``--format onnx``, ``model-int8.onnx``): the model is exported (``compile/onnx_export.py``, checked in
onnxruntime) and quantised with onnxruntime's ``quantize_dynamic`` (int8 weights of MatMul/Gemm, LSTM, GRU and
Conv ops, QOperator format), which covers the LSTM and GRU ops too.
"""

from __future__ import annotations

import copy
import io
import json
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

DYNAMIC_TYPES = ("LSTM", "GRU", "Linear")
STATIC_TYPES = ("Conv1d", "Conv2d", "Conv3d")
MAX_SAMPLES = 2000  # validation samples evaluated (bounded so large sets stay quick)
CALIBRATION_BATCHES = 8
LATENCY_BATCH = 32


class QuantizeError(Exception):
    """Quantisation cannot run (no checkpoint, an unreadable run, a dataset that is missing); the message says why."""


def block_paths(graph) -> dict:
    """``{block id: "dynamic int8" | "static int8" | "float32"}``: what quantisation does to each block."""
    out = {}
    for node in graph.nodes:
        # a GRU with reset_after false is the studio's own loop (GRUResetBefore), not nn.GRU: torch leaves it float
        if node.type in DYNAMIC_TYPES and not (node.type == "GRU" and node.params.get("reset_after") is False):
            out[node.id] = "dynamic int8"
        elif node.type in STATIC_TYPES:
            out[node.id] = "static int8"
        else:
            out[node.id] = "float32"
    return out


def load_run(run_dir):
    """(graph, model with the best weights, dataset, input order) of a run folder; QuantizeError when unreadable."""
    from hybrid_studio.compile import compile_graph
    from hybrid_studio.project import ProjectError, loads_project
    from hybrid_studio.train.checkpoints import load_checkpoint
    from hybrid_studio.train.datasets import get_dataset
    from hybrid_studio.train.matching import input_order, input_shape_hints
    from hybrid_studio.train.runs import load_run_config, load_run_graph, read_status

    run_dir = Path(run_dir)
    if not (run_dir / "project.json").is_file():
        raise QuantizeError(f"{run_dir} is not a run folder (it has no project.json)")
    ckpt = run_dir / "checkpoints" / "best.pt"
    if not ckpt.is_file():
        ckpt = run_dir / "checkpoints" / "last.pt"
    if not ckpt.is_file():
        raise QuantizeError(f"{run_dir} has no checkpoint (checkpoints/best.pt) to quantise")
    try:
        config = load_run_config(run_dir)
        graph = loads_project(json.dumps(load_run_graph(run_dir)), str(run_dir / "project.json"))
    except (OSError, ValueError, ProjectError) as e:
        raise QuantizeError(f"cannot read the run {run_dir}: {e}") from e
    name = config.get("dataset") or read_status(run_dir).get("dataset")
    try:
        ds = get_dataset(name, seed=int(config.get("seed") or 0), val_split=float(config.get("val_split") or 0.2),
                         shape_hint=input_shape_hints(graph))
    except Exception as e:  # noqa: BLE001 - a dataset that moved or a missing optional package
        raise QuantizeError(f"cannot load the run's dataset {name!r}: {e}") from e
    model = compile_graph(graph)
    try:
        model.load_state_dict(load_checkpoint(ckpt)["model"])
    except (ValueError, KeyError, RuntimeError) as e:
        raise QuantizeError(f"cannot load {ckpt}: {e}") from e
    order = input_order(graph, ds, model.hs_generated.input_ids)
    return graph, model.eval(), ds, order


def quantize_run(run_dir, output=None, fmt: str = "torchscript", progress=None) -> dict:
    """Quantise the run's best checkpoint to int8 and write it to ``output`` (default ``RUN_DIR/model-int8.pt``, or
    ``.onnx`` for ``fmt="onnx"``); returns the report (sizes, CPU latencies and the validation metric before and
    after, and the path each block took). The file is written atomically."""
    import numpy as np
    import torch

    say = progress or (lambda f, m: None)
    say(0.02, "loading the run")
    graph, model, ds, order = load_run(run_dir)
    xs_val = [np.asarray(ds.x_val[k][:MAX_SAMPLES]) for k in order]
    y_val = np.asarray(ds.y_val[:MAX_SAMPLES])
    if len(y_val) == 0:
        raise QuantizeError("the run's dataset has no validation samples to measure the quantised model on")
    suffix = ".onnx" if fmt == "onnx" else ".pt"
    output = Path(output) if output else Path(run_dir) / f"model-int8{suffix}"
    batch = [torch.as_tensor(x[:LATENCY_BATCH]) for x in xs_val]
    if fmt == "onnx":
        return _quantize_onnx(run_dir, graph, model, ds, xs_val, y_val, batch, output, say)

    say(0.1, "measuring the float model")
    float_ts = _script(torch, model, batch)
    float_bytes = len(_saved(torch, float_ts))
    before = {"size_bytes": float_bytes, "latency_ms": _latency(lambda: float_ts(*batch)),
              "metric": _metric(ds, lambda xs: float_ts(*xs), xs_val, y_val)}
    say(0.4, "quantising")
    qmodel, paths = quantize_model(model, graph, xs_val)
    q_ts = _script(torch, qmodel, batch)
    data = _saved(torch, q_ts)
    from hybrid_studio.project.atomic import atomic_write_bytes

    atomic_write_bytes(output, data)
    say(0.7, "measuring the quantised model")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation notice
        loaded = torch.jit.load(str(output))  # what a user gets: the file, loaded by plain PyTorch
    after = {"size_bytes": len(data), "latency_ms": _latency(lambda: loaded(*batch)),
             "metric": _metric(ds, lambda xs: loaded(*xs), xs_val, y_val)}
    say(1.0, "done")
    return _report(run_dir, output, "torchscript", paths, before, after, len(y_val))


def _report(run_dir, output, fmt, paths, before, after, n) -> dict:
    return {"run": str(run_dir), "output": str(output), "format": fmt, "blocks": paths,
            "before": before, "after": after, "size_ratio": round(after["size_bytes"] / before["size_bytes"], 4),
            "validation_samples": n, "latency_batch": LATENCY_BATCH, "device": "cpu"}


def quantize_model(model, graph, xs_val):
    """(quantised copy of ``model``, ``{block id: path taken}``): dynamic int8 for LSTM/GRU/Linear, static int8
    for convolutions calibrated on validation batches (float32 where a convolution cannot be converted)."""
    import torch
    from torch.ao import quantization as tq

    paths = block_paths(graph)
    model = copy.deepcopy(model).cpu().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notice (see the module docstring)
        convs = [nid for nid, p in paths.items() if p == "static int8" and hasattr(model, nid)]
        engines = torch.backends.quantized.supported_engines
        engine = "x86" if "x86" in engines else "fbgemm" if "fbgemm" in engines else None
        if convs and engine is not None:
            torch.backends.quantized.engine = engine
            for nid in convs:
                wrapped = tq.QuantWrapper(getattr(model, nid))
                wrapped.qconfig = tq.get_default_qconfig(engine)
                setattr(model, nid, wrapped)
            tq.prepare(model, inplace=True)
            with torch.no_grad():
                n = len(xs_val[0]) if xs_val else 0
                step = max(1, min(LATENCY_BATCH, n))
                for i in range(0, min(n, step * CALIBRATION_BATCHES), step):
                    model(*[torch.as_tensor(x[i:i + step]) for x in xs_val])
            tq.convert(model, inplace=True)
        else:
            for nid in convs:
                paths[nid] = "float32"
        kinds = {torch.nn.LSTM, torch.nn.GRU, torch.nn.Linear}
        model = tq.quantize_dynamic(model, kinds, dtype=torch.qint8)
    return model, paths


def _script(torch, model, batch):
    """The model as TorchScript (traced on a validation batch), so that ``torch.jit.load`` alone runs the file."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TracerWarnings about shapes, torch.jit's deprecation notice
        return torch.jit.trace(model, tuple(batch), check_trace=False)


def _saved(torch, ts) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(ts, buf)
    return buf.getvalue()


def _latency(fn, runs: int = 7, warmup: int = 3) -> float:
    """Median CPU time of ``fn()`` in ms after ``warmup`` runs (TorchScript's profiling executor optimises the
    graph over the first runs)."""
    import torch

    with torch.no_grad():
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1000.0)
    return round(statistics.median(times), 4)


def _metric(ds, forward, xs_val, y_val, batch: int = 256) -> dict:
    """The validation metric of the run's task: ``accuracy`` (classification) or ``mse`` (regression)."""
    import numpy as np
    import torch

    outs = []
    with torch.no_grad():
        for i in range(0, len(y_val), batch):
            out = forward([torch.as_tensor(x[i:i + batch]) for x in xs_val])
            out = out[0] if isinstance(out, (tuple, list)) else out
            outs.append(np.asarray(out.float().numpy() if hasattr(out, "numpy") else out))
    out = np.concatenate(outs)
    if ds.task == "classification":
        return {"name": "accuracy", "value": round(float(np.mean(out.argmax(-1) == y_val)), 6)}
    return {"name": "mse", "value": round(float(np.mean((out.reshape(y_val.shape) - y_val) ** 2)), 6)}


def _quantize_onnx(run_dir, graph, model, ds, xs_val, y_val, batch, output, say) -> dict:
    import numpy as np
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from hybrid_studio.compile.onnx_export import export_onnx
    from hybrid_studio.project.atomic import atomic_write_bytes

    with tempfile.TemporaryDirectory(prefix="hybrid-studio-quant-") as tmp:
        fp32, int8 = Path(tmp) / "model.onnx", Path(tmp) / "model-int8.onnx"
        say(0.1, "exporting to ONNX")
        info: dict = {}
        export_onnx(graph, fp32, model=model, report=info)
        say(0.4, "quantising with onnxruntime")
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
        sizes = os.path.getsize(fp32), os.path.getsize(int8)
        results = []
        for path in (fp32, int8):
            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            names = [i.name for i in session.get_inputs()]

            def run(xs, session=session, names=names):
                return session.run(None, {n: np.asarray(x) for n, x in zip(names, xs)})[0]

            results.append({"size_bytes": 0, "latency_ms": _latency(lambda run=run: run(batch)),
                            "metric": _metric(ds, lambda xs, run=run: _as_tensor(run(xs)), xs_val, y_val)})
        results[0]["size_bytes"], results[1]["size_bytes"] = sizes
        atomic_write_bytes(output, int8.read_bytes())
    paths = {nid: ("dynamic int8 (onnxruntime)" if p != "float32" else "float32")
             for nid, p in block_paths(graph).items()}
    say(1.0, "done")
    report = _report(run_dir, output, "onnx", paths, results[0], results[1], len(y_val))
    report["exporter"] = info.get("exporter")
    return report


def _as_tensor(a):
    import torch

    return torch.as_tensor(a)
