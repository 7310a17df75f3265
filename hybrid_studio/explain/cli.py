"""``hybrid-studio explain RUN_DIR [--checkpoint best|last] [--samples K] [--method ...] [--block ID] [--json]
[-o report.png]``. Only the standard library at the top (building the parser imports this module)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hybrid_studio.argtypes import positive_int

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def add_parsers(sub) -> None:
    p = sub.add_parser("explain", help="attribute a trained run's predictions to its inputs (Captum)",
                       description="Attribute the model's output (the predicted class, or the output itself for "
                                   "regression) to its inputs over K validation samples of the run's dataset, "
                                   "reduced along the named axes. Exit 0: explained; 1: failed; 2: bad input.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best")
    p.add_argument("--samples", type=positive_int, default=32, metavar="K")
    p.add_argument("--method", choices=("integrated-gradients", "saliency", "grad-cam"),
                   default="integrated-gradients")
    p.add_argument("--block", default=None, metavar="ID", help="the convolution block for grad-cam (default: the last)")
    p.add_argument("--dataset", default=None, metavar="NAME_OR_PATH", help="another dataset than the run's")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("-o", "--output", default=None, metavar="PNG", help="write a PNG report")
    p.set_defaults(run=run_explain_command)


def _err(message: str) -> None:
    print(f"hybrid-studio explain: error: {message}", file=sys.stderr)


def run_explain_command(args) -> int:
    run_dir = Path(args.run_dir)
    if not (run_dir / "project.json").is_file() or not (run_dir / "config.json").is_file():
        _err(f"{run_dir} is not a run folder (it needs project.json and config.json from a training run)")
        return EXIT_BAD_INPUT
    ckpt = run_dir / "checkpoints" / f"{args.checkpoint}.pt"
    if not ckpt.is_file() and not (args.checkpoint == "best" and (run_dir / "checkpoints" / "last.pt").is_file()):
        _err(f"{run_dir} has no checkpoints/{args.checkpoint}.pt: train the run (or resume it) first, or pick "
             f"--checkpoint last")
        return EXIT_BAD_INPUT
    from hybrid_studio.project import ProjectError
    from hybrid_studio.train.datasets import DatasetError

    from .engine import ExplainError, explain
    try:
        from hybrid_studio.train.predict import load_run_model
        loaded = load_run_model(run_dir, args.dataset, args.checkpoint)
    except (DatasetError, ProjectError, ValueError, OSError) as e:
        _err(f"cannot load the run: {e}")
        return EXIT_BAD_INPUT
    except RuntimeError as e:  # load_state_dict: the dataset no longer fits the trained graph
        _err(f"{run_dir}: the checkpoint does not fit the run's graph: {str(e).splitlines()[0]}")
        return EXIT_BAD_INPUT
    try:
        result = explain(loaded, args.samples, args.method, args.block)
    except ExplainError as e:
        _err(str(e))
        return EXIT_BAD_INPUT
    except RuntimeError as e:  # e.g. the dataset's shapes no longer match the graph
        _err(f"the model could not run on the dataset's samples (does the dataset still match the run?): "
             f"{str(e).splitlines()[0]}")
        return EXIT_FAILED
    if args.output:
        from .report import write_report
        try:
            write_report(result, args.output)
        except OSError as e:
            _err(f"cannot write {args.output}: {e.strerror or e}")
            return EXIT_BAD_INPUT
    if args.json:
        print(json.dumps(result.to_json(), allow_nan=False))
    else:
        print(f"{result.method} over {result.samples} validation samples of {run_dir.name}:")
        for name, info in result.inputs.items():
            top = {a: int(max(range(len(p)), key=p.__getitem__)) for a, p in info.profile.items()}
            where = ", ".join(f"{a} {i}" for a, i in top.items())
            print(f"  {name} ({info.axes}): share {info.share:.1%}; most attributed index per axis: {where}")
        if result.block:
            print(f"  Grad-CAM of {result.block}: a {result.cam_axes} heat map"
                  + (f" (in {args.output})" if args.output else " (write it with -o report.png)"))
        if args.output:
            print(f"report: {args.output}")
    return EXIT_OK
