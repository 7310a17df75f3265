"""``hybrid-studio explain RUN_DIR [--checkpoint best|last] [--samples K] [--method ...] [--block ID] [--json]
[-o report.png]`` (contract section 5.4).

Only the standard library at the top: building the command line's parser imports this module.
"""

from __future__ import annotations

import json
import sys

from hybrid_studio.argtypes import positive_int

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "explain", help="attribute a trained run's predictions to its inputs (Captum)",
        description="Attribute a finished run's output (the predicted class, or the output itself for regression) "
                    "to its inputs over K validation samples: each Input's share of the attribution and, per "
                    "axis, where it lies. Exit 0: explained; 1: the attribution failed; 2: bad input.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best")
    p.add_argument("--samples", type=positive_int, default=32, metavar="K", help="validation samples (default 32)")
    p.add_argument("--method", choices=("integrated-gradients", "saliency", "grad-cam"),
                   default="integrated-gradients")
    p.add_argument("--block", default=None, metavar="ID", help="the convolution block for grad-cam "
                   "(default: the last one)")
    p.add_argument("--dataset", default=None, metavar="NAME_OR_PATH",
                   help="the dataset (default: the one the run trained on)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("-o", "--output", default=None, metavar="REPORT.png", help="write a PNG report")
    p.set_defaults(run=run_explain_command)


def run_explain_command(args) -> int:
    from .engine import ExplainError, explain, public

    try:
        result = explain(args.run_dir, args.checkpoint, args.samples, args.method, args.block, args.dataset)
    except ExplainError as e:
        print(f"hybrid-studio explain: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as e:  # noqa: BLE001 - an attribution that fails inside torch/captum
        print(f"hybrid-studio explain: the attribution failed: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_FAILED
    if args.output:
        from .report import write_report
        try:
            write_report(result, args.output)
        except OSError as e:
            print(f"hybrid-studio explain: cannot write {args.output}: {e}", file=sys.stderr)
            return EXIT_BAD_INPUT
    if args.json:
        print(json.dumps(public(result)))
    else:
        print(summary_text(result))
    return EXIT_OK


def summary_text(result: dict) -> str:
    """A few human lines: the shares per input, and where each profile peaks."""
    lines = [f"{result['method']} over {result['samples']} validation samples"]
    if "block" in result:
        lines.append(f"Grad-CAM on block {result['block']}")
        for ax, prof in result.get("cam", {}).get("profile", {}).items():
            lines.append(f"  {ax}: peak at {max(range(len(prof)), key=prof.__getitem__)}")
    for name, info in result["inputs"].items():
        peaks = ", ".join(f"{ax} peak {max(range(len(p)), key=p.__getitem__)}" for ax, p in info["profile"].items()
                          if p)
        lines.append(f"  {name} ({info['axes']}): share {info['share']:.1%}" + (f"; {peaks}" if peaks else ""))
    return "\n".join(lines)
