"""``hybrid-studio sweep PROJECT --dataset NAME_OR_PATH --trials N [--param NAME=SPEC ...] [...]``.

Only the standard library at the top: building the command line's parser imports this module.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hybrid_studio.argtypes import positive_int

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "sweep", help="search training settings and block params with Optuna (each trial is a run folder)",
        description="Search training settings and block params with Optuna. NAME is training.<setting> or "
                    "<block id>.<param>; SPEC is a list (32,64,128), an int range (16..128) or a float range "
                    "(1e-4..1e-2, with :log for a log scale). Each trial is a normal run folder; the study lives "
                    "in --storage (default: RUNS_DIR/sweeps.sqlite3), so re-running the same command continues "
                    "it and several processes or machines sharing one database URL work on one study. "
                    "Exit 0: at least one trial completed; 1: none did; 2: bad input.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--dataset", required=True, metavar="NAME_OR_PATH",
                   help="a built-in dataset name or a path to a dataset")
    p.add_argument("--trials", required=True, type=positive_int, metavar="N",
                   help="how many trials this command runs (added to the study's earlier ones)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=SPEC",
                   help="a searched value (repeatable), e.g. lstm.hidden_size=32,64,128 training.lr=1e-4..1e-2:log")
    p.add_argument("--epochs", type=positive_int, default=None, metavar="E",
                   help="epochs of every trial (leave out when --param training.epochs is searched)")
    p.add_argument("--parallel", type=positive_int, default=1, metavar="K",
                   help="trials at once, each in its own process (default 1)")
    p.add_argument("--storage", default=None, metavar="URL",
                   help="an Optuna database URL (sqlite:///file.db, postgresql://...); default RUNS_DIR/sweeps.sqlite3")
    p.add_argument("--study", default=None, metavar="NAME",
                   help="the study's name (default: <project file name>-sweep)")
    p.add_argument("--out", default=None, metavar="RUNS_DIR", help="folder for the trials' run folders (default runs)")
    p.add_argument("--sampler", choices=("tpe", "random", "grid"), default="tpe",
                   help="how values are picked (default tpe, Optuna's Bayesian sampler)")
    p.add_argument("--pruner", choices=("median", "hyperband", "none"), default="median",
                   help="how bad trials are stopped early from their epoch metrics (default median)")
    p.add_argument("--seed", type=int, default=None, metavar="S", help="the sampler's seed")
    p.add_argument("--no-baseline", action="store_true",
                   help="do not try the project's own values first in a new study")
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    p.add_argument("--events", action="store_true",
                   help="print one JSON line per ended trial, then the --json object on one line (for tools)")
    p.set_defaults(run=run_sweep_command)


def _err(message: str) -> None:
    print(f"hybrid-studio sweep: error: {message}", file=sys.stderr)


def build_plan(args):
    """The SweepPlan from parsed arguments; raises SpaceError / ProjectError / ConfigError with a message."""
    from hybrid_studio.project import graph_to_dict, load_project
    from hybrid_studio.train.config import TrainConfig

    from .space import build_space
    from .study import SweepPlan, default_storage, direction_for, project_stem

    graph = load_project(args.project)
    space = build_space(graph, args.param)
    base = TrainConfig.from_dict(graph.training)  # refuses a training section that train would refuse
    runs_dir = Path(args.out or "runs")
    direction, _ = direction_for(graph)
    stem = project_stem(args.project)
    plan = SweepPlan(project=graph_to_dict(graph), project_name=stem or graph.name, space=space,
                     dataset=args.dataset, study=args.study or f"{stem or graph.name}-sweep",
                     storage=args.storage or default_storage(runs_dir), runs_dir=str(runs_dir), trials=args.trials,
                     direction=direction, epochs=args.epochs, sampler=args.sampler, pruner=args.pruner,
                     seed=args.seed, base_training=base.to_dict(), quiet=bool(args.json),
                     events=bool(getattr(args, "events", False)))
    if args.epochs and any(sp.name == "training.epochs" for sp in space):
        # --epochs sets every trial's epochs: it would silently overrule the searched value
        raise ValueError("--epochs fixes every trial's epochs; leave it out when --param training.epochs is searched")
    if args.sampler == "grid":
        if not space:
            raise ValueError("--sampler grid needs at least one --param")
        for sp in space:
            sp.grid_values()  # refuses a float range
    return plan


def run_sweep_command(args) -> int:
    from hybrid_studio.project import ProjectError
    from hybrid_studio.train.config import ConfigError

    from .space import SpaceError
    from .study import SweepError, run_sweep

    try:
        plan = build_plan(args)
    except ProjectError as e:
        _err(str(e))
        return EXIT_BAD_INPUT
    except ConfigError as e:
        _err(f"{args.project}: training section: {e}")
        return EXIT_BAD_INPUT
    except (SpaceError, ValueError) as e:
        _err(str(e))
        return EXIT_BAD_INPUT
    if not (args.json or plan.events):
        what = ", ".join(f"{sp.name}={sp.describe()}" for sp in plan.space) or "the project as it is"
        print(f"sweep '{plan.study}' ({plan.direction} the validation metric) over {what}: {plan.trials} trial(s), "
              f"{args.parallel} at a time; storage {plan.storage}", flush=True)
    import signal

    def on_term(signum, frame):  # a stop from outside (the app's Stop, a scheduler) ends the workers too
        raise KeyboardInterrupt
    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        result = run_sweep(plan, parallel=args.parallel)
    except SweepError as e:
        _err(str(e))
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        _err("interrupted; re-run the same command to continue the study")
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)
    if plan.events:
        print(json.dumps({"event": "report", **result}, allow_nan=False, default=str), flush=True)
    elif args.json:
        print(json.dumps(result, indent=2, allow_nan=False, default=str))
    else:
        _print_summary(result)
    return EXIT_OK if result["completed"] else EXIT_FAILED


def _print_summary(result: dict) -> None:
    trials = result["trials"]
    counts = {}
    for t in trials:
        counts[t["state"]] = counts.get(t["state"], 0) + 1
    print("trials: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    best = result["best"]
    if best is None:
        print("no trial completed")
        return
    params = ", ".join(f"{k}={v}" for k, v in best["params"].items())
    print(f"best: trial {best['number']}, {result['metric']} {best['value']:.4f} [{params}]\n  {best['run']}")
