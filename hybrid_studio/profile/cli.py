"""``hybrid-studio profile`` and ``hybrid-studio quantize`` (standard library only at import: building the parser
imports this module, and ``check`` never imports torch).

    hybrid-studio profile PROJECT_OR_RUN_DIR [--device cpu|cuda|cuda:I] [--batch-size B] [--json]
    hybrid-studio quantize RUN_DIR [-o FILE] [--format torchscript|onnx] [--json]

Exit status: 0 done; 1 the graph has errors, the batch does not fit in memory, or the work failed; 2 bad input (an
unreadable file, a device that is not there, bad usage).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hybrid_studio.argtypes import positive_int

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_parsers(sub) -> None:
    """Add the ``profile`` and ``quantize`` subparsers."""
    p = sub.add_parser("profile", help="measure each block's time and memory on a device",
                       description="Measure each block's forward time and output memory, and the whole model's "
                                   "forward and train-step time and peak memory, on a device at a batch size. "
                                   "Exit 0: done; 1: the graph has errors or the batch does not fit; 2: bad input.")
    p.add_argument("target", metavar="PROJECT_OR_RUN_DIR", help="a project file or a run folder")
    p.add_argument("--device", default="cpu", type=_device, help="cpu (default), cuda or cuda:I")
    p.add_argument("--batch-size", type=positive_int, default=32, help="batch size to profile (default 32)")
    p.add_argument("--no-onnx", action="store_true", help="skip the onnxruntime latency (needs the onnx extra)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(run=run_profile)

    p = sub.add_parser("quantize", help="int8-quantise a run's best checkpoint and compare before/after",
                       description="Quantise the best checkpoint of a run to int8 (dynamic for LSTM, GRU and "
                                   "Linear, static for convolutions) and report file size, CPU latency and the "
                                   "validation metric before and after. The file loads with torch.jit.load (or "
                                   "onnxruntime for --format onnx).")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("-o", "--output", metavar="FILE", default=None,
                   help="where to write the quantised model (default RUN_DIR/model-int8.pt or .onnx)")
    p.add_argument("--format", choices=("torchscript", "onnx"), default=None,
                   help="torchscript (default) or onnx (default: from the output file's extension)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(run=run_quantize)


def _device(text: str) -> str:
    if text == "cpu" or text == "cuda" or (text.startswith("cuda:") and text[5:].isdigit()):
        return text
    raise argparse.ArgumentTypeError(f"expected cpu, cuda or cuda:I, got {text!r}")


def _error(message: str, as_json: bool = False) -> None:
    print(f"hybrid-studio: error: {message}", file=sys.stderr)
    if as_json:
        print(json.dumps({"error": message}))


def load_target(target):
    """The graph of a project file or of a run folder (its ``project.json``); raises ProjectError."""
    from hybrid_studio.project import ProjectError, load_project

    path = Path(target)
    if path.is_dir():
        if not (path / "project.json").is_file():
            raise ProjectError(str(path), None, "a folder but not a run folder (it has no project.json)")
        path = path / "project.json"
    return load_project(path)


def run_profile(args) -> int:
    """``profile``: print the report (a table, or the contract's JSON)."""
    from hybrid_studio.project import ProjectError

    try:
        graph = load_target(args.target)
    except ProjectError as e:
        _error(str(e), args.json)
        return EXIT_USAGE
    from hybrid_studio.profile.engine import ProfileError, profile_graph

    try:
        report = profile_graph(graph, args.device, args.batch_size, onnx=not args.no_onnx)
    except ProfileError as e:
        _error(str(e), args.json)
        return EXIT_USAGE if e.kind == "input" else EXIT_FAILED
    except Exception as e:  # noqa: BLE001 - a runtime failure in the model: say which block, never a traceback
        _error(f"profiling failed: {_located(graph, e)}", args.json)
        return EXIT_FAILED
    if args.json:
        print(json.dumps(report))
    else:
        print(profile_text(args.target, report))
    return EXIT_OK


def _located(graph, e) -> str:
    """``e`` as text, naming the block where it happened when the compiled model can tell."""
    from hybrid_studio.compile import BlockRuntimeError

    if isinstance(e, BlockRuntimeError):
        return str(e)
    return f"{type(e).__name__}: {e}"


def _mib(n) -> str:
    return "-" if n is None else f"{n / 2**20:.2f} MiB"


def profile_text(target, report: dict) -> str:
    """The report as a table, slowest block first."""
    total = report["total"]
    head = ("block", "forward ms", "share", "output", "params", "MACs")
    rows = [(bid, f"{b['forward_ms']:.3f}", f"{100 * b['share']:.1f}%", _mib(b["output_bytes"]),
             f"{b['params']:,}", f"{b['macs']:,}")
            for bid, b in sorted(report["blocks"].items(), key=lambda kv: -kv[1]["forward_ms"])]
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    lines = [f"{target}: {report['device']}, batch {report['batch_size']}",
             f"  forward {total['forward_ms']:.3f} ms (blocks sum to {report.get('block_sum_ms', 0):.3f} ms), "
             f"train step {total['train_step_ms']:.3f} ms, weights {_mib(total['param_bytes'])}, "
             f"peak {_mib(total['peak_bytes'])}"]
    ort = report.get("onnxruntime")
    if ort:
        lines.append(f"  onnxruntime (cpu) forward {ort['forward_ms']:.3f} ms vs torch (cpu) "
                     f"{ort['torch_cpu_forward_ms']:.3f} ms; {ort['exporter']} exporter, max |diff| "
                     f"{ort['max_abs_diff']:.2g}")
    for r in [head] + rows:
        lines.append("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(lines)


def run_quantize(args) -> int:
    """``quantize``: write the int8 model and print the before/after report."""
    fmt = args.format
    if fmt is None:
        fmt = "onnx" if args.output and args.output.lower().endswith(".onnx") else "torchscript"
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        _error(f"{run_dir} is not a run folder", args.json)
        return EXIT_USAGE
    if fmt == "onnx":
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            _error("ONNX quantisation needs the onnx extras: pip install 'hybrid-studio[onnx]'", args.json)
            return EXIT_USAGE
    from hybrid_studio.profile.quantize import QuantizeError, quantize_run

    try:
        report = quantize_run(run_dir, args.output, fmt=fmt)
    except QuantizeError as e:
        _error(str(e), args.json)
        return EXIT_USAGE
    except Exception as e:  # noqa: BLE001 - e.g. a block torch cannot quantise: a message, not a traceback
        _error(f"quantisation failed: {type(e).__name__}: {e}", args.json)
        return EXIT_FAILED
    if args.json:
        print(json.dumps(report))
    else:
        print(quantize_text(report))
    return EXIT_OK


def quantize_text(report: dict) -> str:
    """The before/after report as text."""
    b, a = report["before"], report["after"]
    metric = b["metric"]["name"]
    paths = ", ".join(f"{k} {v}" for k, v in report["blocks"].items() if v != "float32") or "none"
    return "\n".join([
        f"wrote {report['output']} ({report['format']})",
        f"  size     {b['size_bytes']:,} -> {a['size_bytes']:,} bytes ({report['size_ratio']:.2f}x)",
        f"  latency  {b['latency_ms']:.3f} -> {a['latency_ms']:.3f} ms (cpu, batch {report['latency_batch']})",
        f"  {metric:8} {b['metric']['value']:.4f} -> {a['metric']['value']:.4f} "
        f"({report['validation_samples']} validation samples)",
        f"  quantised: {paths}"])
