"""The ``hybrid-studio`` command (also ``python -m hybrid_studio``).

    hybrid-studio [PROJECT]                      open the desktop app
    hybrid-studio gui [--screenshot PNG] [PROJECT]
    hybrid-studio check PROJECT [--json]         validate without importing torch (exit 0 valid, 1 invalid, 2 bad file)
    hybrid-studio export PROJECT --format python|onnx -o FILE
    hybrid-studio train PROJECT --dataset NAME_OR_PATH [...]

Imports are lazy: ``check`` loads only the graph, blocks and project packages, so it starts fast and never imports
torch; torch, the trainer and Qt are imported by the commands that need them.
"""

from __future__ import annotations

import argparse
import json
import sys

from hybrid_studio.argtypes import positive_float, positive_int

#: Verbs of the rooms beside ``train`` (interop, explain, profile, sweep): each module defines
#: ``add_parsers(sub)``, which adds its subparsers with ``set_defaults(run=...)``. A module must import only the
#: standard library at its top (building the parser imports it, and ``check`` never imports torch); a module
#: that does not exist yet is skipped.
VERB_MODULES = {
    "import": "hybrid_studio.interop.cli",
    "explain": "hybrid_studio.explain.cli",
    "profile": "hybrid_studio.profile.cli",
    "quantize": "hybrid_studio.profile.cli",
    "sweep": "hybrid_studio.sweep.cli",
}
COMMANDS = ("check", "export", "train", "gui", *VERB_MODULES)
EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def main(argv=None) -> int:
    """Run the command line; returns the exit status (argparse's usage errors give 2, --help gives 0)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # `hybrid-studio [PROJECT]` opens the app: anything that is not a command (or an option such as --help)
    # is read as `gui [PROJECT]`.
    if not argv or (argv[0] not in COMMANDS and not argv[0].startswith("-")):
        argv = ["gui", *argv]
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits on --help and on usage errors
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    if args.command is None:  # only top-level options were given
        parser.print_usage(sys.stderr)
        return EXIT_USAGE
    try:
        return args.run(args)
    except BrokenPipeError:
        # the reader went away (`hybrid-studio check x | head`); stop quietly, as other command-line tools do
        import os
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_INVALID


def build_parser() -> argparse.ArgumentParser:
    from hybrid_studio import __version__

    parser = argparse.ArgumentParser(
        prog="hybrid-studio",
        description="Design, check, export and train hybrid CNN+RNN networks. Without a command, opens the app "
                    "(with PROJECT, or a template).",
        epilog="`hybrid-studio PROJECT` is short for `hybrid-studio gui PROJECT`.")
    parser.add_argument("--version", action="version", version=f"hybrid-studio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("check", help="validate a project and report shapes, parameters and problems",
                       description="Validate a project without importing torch. Exit 0: valid; 1: the graph has "
                                   "errors (printed with fixes); 2: the file cannot be read.")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(run=_run_check)

    p = sub.add_parser("export", help="export a standalone PyTorch file or an ONNX model",
                       description="Export the model as one standalone Python file (imports only torch) or as ONNX "
                                   "(unknown sizes and the batch become dynamic axes).")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--format", choices=("python", "onnx"), default=None,
                   help="python or onnx (default: from the output file's extension)")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="the file to write")
    p.set_defaults(run=_run_export)

    p = sub.add_parser("train", help="train a project on a dataset and write a run folder",
                       description="Train from the command line, printing progress; writes RUNS_DIR/<run-id>/. "
                                   "Options left out take the project's last training settings, then the "
                                   "defaults. Exit 0: finished; 1: the run failed; 2: bad input.")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--dataset", required=True, metavar="NAME_OR_PATH",
                   help="a built-in dataset name or a path to a dataset")
    p.add_argument("--epochs", type=positive_int, default=None, metavar="N")
    p.add_argument("--batch-size", type=positive_int, default=None, metavar="B")
    p.add_argument("--lr", type=positive_float, default=None, metavar="X", help="learning rate")
    p.add_argument("--device", type=_device, default=None, metavar="auto|cpu|cuda|cuda:I|mps",
                   help="where to train (default auto)")
    p.add_argument("--out", default=None, metavar="RUNS_DIR", help="folder for run folders")
    p.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue a run from its last checkpoint")
    p.add_argument("--init-weights", default=None, metavar="FILE",
                   help="start from these weights (a state_dict, e.g. the PROJECT.weights.pt of an import)")
    p.add_argument("--nproc-per-node", type=positive_int, default=None, metavar="K",
                   help="processes (GPUs) for distributed data-parallel training")
    p.set_defaults(run=_run_train)

    p = sub.add_parser("gui", help="open the desktop app (the default command)",
                       description="Open the main window with PROJECT (or a template). With --screenshot, render "
                                   "the window once, save it as a PNG and exit.")
    p.add_argument("project", nargs="?", default=None, metavar="PROJECT")
    p.add_argument("--screenshot", default=None, metavar="PNG", help="save a PNG of the window and exit")
    p.set_defaults(run=_run_gui)
    _add_room_verbs(sub)
    return parser


def _add_room_verbs(sub) -> None:
    """The subparsers of the rooms' own cli modules (``VERB_MODULES``), each module once."""
    import importlib

    for module_name in dict.fromkeys(VERB_MODULES.values()):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name and module_name.startswith(e.name):  # the room is not there (yet)
                continue
            raise
        module.add_parsers(sub)


# ---- argument types --------------------------------------------------------------------------------------------------
def _device(text: str) -> str:
    from hybrid_studio.train.config import is_device_name  # (standard library only: no torch)
    if not is_device_name(text):
        raise argparse.ArgumentTypeError(f"expected auto, cpu, cuda, cuda:I or mps, got {text!r}")
    return text


def _error(message: str) -> None:
    print(f"hybrid-studio: error: {message}", file=sys.stderr)


# ---- check -----------------------------------------------------------------------------------------------------------
def check_report(graph) -> dict:
    """The ``check --json`` object for a loaded graph (contract section 3)."""
    from hybrid_studio.blocks import checker_for

    checker = checker_for(graph)
    checker.flush()
    nodes = {}
    outputs = {}
    for node in graph.nodes:
        res = checker.result(node.id)
        out = res.output
        nodes[node.id] = {"type": node.type,
                          "shape": out.full_shape if out is not None else None,
                          "axes": out.full_axes if out is not None else None,
                          "params": res.params, "macs": res.macs}
        if node.type == "Output":
            outputs[node.id] = out.full_shape if out is not None else None
    diagnostics = [d.to_json() for d in checker.diagnostics()]
    training = training_problem(graph)
    if training:  # the model is fine; `train` would refuse these settings
        diagnostics.append({"node": None, "severity": "warning", "message": training, "fixes": []})
    return {"valid": checker.valid, "name": graph.name, "total_params": checker.total_params(),
            "total_macs": checker.total_macs(), "nodes": nodes, "outputs": outputs, "diagnostics": diagnostics}


def training_problem(graph) -> str | None:
    """What is wrong with the project's ``training`` section (None when `train` would take it); no torch."""
    from hybrid_studio.train.config import ConfigError, TrainConfig

    try:
        TrainConfig.from_dict(graph.training)
    except (ConfigError, TypeError, ValueError) as e:
        return f"training section: {e}"
    return None


def _run_check(args) -> int:
    from hybrid_studio.project import ProjectError, load_project

    try:
        graph = load_project(args.project)
    except ProjectError as e:
        _error(str(e))
        if args.json:
            print(json.dumps({"valid": False, "error": str(e)}))
        return EXIT_USAGE
    report = check_report(graph)
    if args.json:
        print(json.dumps(report))
    else:
        print(_check_text(args.project, graph, report))
    return EXIT_OK if report["valid"] else EXIT_INVALID


def _fmt(n) -> str:
    return "-" if n is None else f"{n:,}"


def _shape_text(info) -> str:
    """``(N, 32, 26, 26)``; an unknown size shows its axis letter, e.g. ``(N, T, 8)``."""
    if info["shape"] is None:
        return "?"
    return "(" + ", ".join(ax if s is None else str(s) for ax, s in zip(info["axes"], info["shape"])) + ")"


def _check_text(path, graph, report) -> str:
    rows = [(nid, info["type"], _shape_text(info), _fmt(info["params"]), _fmt(info["macs"]))
            for nid, info in report["nodes"].items()]
    head = ("block", "type", "output", "params", "MACs")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(5)]
    lines = []
    for r in [head] + rows:
        lines.append("  " + "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
                     .rstrip())
    errors = [d for d in report["diagnostics"] if d["severity"] == "error"]
    warnings = [d for d in report["diagnostics"] if d["severity"] != "error"]
    verdict = "valid" if report["valid"] else f"INVALID ({len(errors)} error{'s' * (len(errors) != 1)})"
    out = [f"{path}: {verdict}",
           f"  {len(graph)} blocks, {report['total_params']:,} parameters, {report['total_macs']:,} MACs per sample",
           *lines]
    if report["outputs"]:
        shown = ", ".join(f"{k} {_shape_text(report['nodes'][k])}" for k in report["outputs"])
        out.append(f"  outputs: {shown}")
    for d in errors + warnings:
        where = f"{d['node']}: " if d["node"] else ""
        out.append(f"{d['severity']}: {where}{d['message']}")
        for fix in d["fixes"]:
            out.append(f"  fix: {fix}")
    return "\n".join(out)


# ---- export ----------------------------------------------------------------------------------------------------------
def _run_export(args) -> int:
    from hybrid_studio.compile import CompileError
    from hybrid_studio.project import ProjectError, load_project

    fmt = args.format
    if fmt is None:
        suffix = args.output.lower().rsplit(".", 1)[-1] if "." in args.output else ""
        fmt = {"py": "python", "onnx": "onnx"}.get(suffix)
        if fmt is None:
            _error(f"cannot tell the format from {args.output!r}: give --format python or --format onnx")
            return EXIT_USAGE
    try:
        graph = load_project(args.project)
    except ProjectError as e:
        _error(str(e))
        return EXIT_USAGE
    try:
        if fmt == "python":
            from hybrid_studio.compile.export import export_python
            export_python(graph, args.output)
        else:
            try:
                from hybrid_studio.compile.onnx_export import export_onnx
                import onnx  # noqa: F401 - needed by the exporter; say so plainly when it is missing
            except ImportError as e:
                _error(f"ONNX export needs the onnx extras ({e.name} is missing): pip install 'hybrid-studio[onnx]'")
                return EXIT_USAGE
            checked: dict = {}
            export_onnx(graph, args.output, report=checked)
            if checked.get("max_abs_diff") is not None:  # onnxruntime ran it at other sizes (see onnx_export)
                fmt += (f"; {checked['exporter']} exporter, checked in onnxruntime: max |diff| from torch "
                        f"{checked['max_abs_diff']:.2g}")
    except CompileError as e:
        # a graph that checks but cannot take this format (a ConvLSTM2d over a variable T for ONNX) has no
        # diagnostics: the error's own message names the block
        _error(f"{args.project}: {'cannot export: the graph has problems' if e.diagnostics else e}")
        for d in e.diagnostics:
            print(f"{d}", file=sys.stderr)
            for fix in d.fixes:
                print(f"  fix: {fix}", file=sys.stderr)
        return EXIT_INVALID
    except OSError as e:
        _error(f"cannot write {args.output}: {e.strerror or e}")
        return EXIT_USAGE
    except RuntimeError as e:
        _error(f"{args.project}: export failed: {e}")
        return EXIT_INVALID
    print(f"wrote {args.output} ({fmt})")
    return EXIT_OK


# ---- train and gui (written elsewhere; imported only when used) ------------------------------------------------------
def _run_train(args) -> int:
    from hybrid_studio.train import cli_train

    return int(cli_train(args) or 0)


def _run_gui(args) -> int:
    from pathlib import Path

    if args.project is not None and not Path(args.project).is_file():
        _error(f"{args.project}: no such file")
        return EXIT_USAGE
    try:
        from hybrid_studio.ui.app import main as app_main
    except ImportError as e:
        if e.name and e.name.split(".")[0] in ("PySide6", "pyqtgraph"):
            _error(f"the desktop app needs {e.name}, which is not installed")
            return EXIT_USAGE
        raise
    return int(app_main(project=args.project, screenshot=args.screenshot) or 0)


if __name__ == "__main__":
    sys.exit(main())
