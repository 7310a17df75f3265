"""Sweeps on Optuna: a study whose trials are ordinary training runs.

A trial picks values for the search space (``space.py``), applies the block params to a copy of the project as
one edit (an invalid graph prunes the trial with its diagnostic recorded), trains with ``train_in_process`` into
a normal run folder (linked from the trial as its ``run`` attribute), reports each epoch's validation metric to
Optuna (whose pruner may stop the run), and returns the run's best validation metric.

The study lives in an Optuna storage (SQLite beside the runs by default, any database URL Optuna takes
otherwise), so several processes, here (``--parallel K``) or on other machines, work on one study; trials a
killed process left running are failed by Optuna's heartbeat and tried again. Optuna and torch are imported
only when a sweep runs.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .space import SearchParam, split_values

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "hyperband", "none")
#: Optuna's heartbeat: a trial whose process died is failed (and retried once) after about a minute.
HEARTBEAT_S, GRACE_S = 15, 60


class SweepError(Exception):
    """A sweep that cannot start (storage, study), with the reason in words."""


@dataclass
class SweepPlan:
    """Everything a worker process needs to run its share of trials (plain data: it pickles)."""

    project: dict
    project_name: str
    space: list[SearchParam]
    dataset: str
    study: str
    storage: str
    runs_dir: str
    trials: int
    direction: str
    epochs: int | None = None
    sampler: str = "tpe"
    pruner: str = "median"
    seed: int | None = None
    base_training: dict = field(default_factory=dict)
    threads: int = 0
    quiet: bool = False
    #: print one JSON line per ended trial (``{"event": "trial", ...}``) instead of text: the app reads them
    events: bool = False


def project_stem(path) -> str:
    """A project file's name without ``.hsproj.json`` / ``.json``: the default study is ``<stem>-sweep``."""
    stem = Path(path).name
    for suffix in (".json", ".hsproj"):
        stem = stem[: -len(suffix)] if stem.endswith(suffix) else stem
    return stem


def default_storage(runs_dir) -> str:
    """The SQLite file the study lives in when no ``--storage`` is given: ``RUNS_DIR/sweeps.sqlite3``."""
    return "sqlite:///" + str((Path(runs_dir) / "sweeps.sqlite3").resolve())


def direction_for(graph) -> tuple[str, str]:
    """("maximize" | "minimize", metric name) from the project's first Output: accuracy for classification,
    cer for ctc, loss otherwise, as the trainer picks its best checkpoint."""
    for node in graph.nodes:
        if node.type == "Output":
            task = (node.params or {}).get("task", "classification")
            if task == "classification":
                return "maximize", "val_accuracy"
            if task == "ctc":
                return "minimize", "val_cer"
            return "minimize", "val_loss"
    return "minimize", "val_loss"


def _storage(url: str, attempts: int = 6):
    """An Optuna RDB storage with a heartbeat, waiting on a busy SQLite file instead of failing at once.

    Two processes that open a new database at the same moment both try to create its tables, and one of them
    fails on the other's rows: that one tries again (the tables are there by then).
    """
    import time
    import warnings

    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    kwargs = {}
    if url.startswith("sqlite"):
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 120}}
    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():  # the heartbeat is marked experimental; scale-out relies on it
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                                  heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1),
                                  **kwargs)
        except (optuna.exceptions.StorageInternalError, ValueError, ImportError) as e:
            raise SweepError(f"cannot open the study storage {url}: {e}") from None
        except Exception as e:  # noqa: BLE001 - SQLAlchemy's errors (bad URL, no server, no permission)
            text = str(e)
            racing = any(words in text for words in ("UNIQUE constraint", "already exists", "duplicate key",
                                                     "database is locked"))
            if racing and attempt + 1 < attempts:
                time.sleep(0.2 * (attempt + 1))
                continue
            raise SweepError(f"cannot open the study storage {url}: {type(e).__name__}: {_first_line(e)}") \
                from None


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [""])[0]


def _sampler(plan: SweepPlan):
    import optuna

    if plan.sampler == "random":
        return optuna.samplers.RandomSampler(seed=plan.seed)
    if plan.sampler == "grid":
        return optuna.samplers.GridSampler({sp.name: sp.grid_values() for sp in plan.space}, seed=plan.seed)
    return optuna.samplers.TPESampler(seed=plan.seed)


def _pruner(plan: SweepPlan):
    import optuna

    if plan.pruner == "none":
        return optuna.pruners.NopPruner()
    if plan.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(plan.epochs or 10, 1))
    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)


def open_study(plan: SweepPlan, create: bool = True):
    """The plan's study (created when ``create`` and missing; an existing one continues)."""
    import optuna

    # Optuna logs each failed trial as a warning with its traceback; the sweep names failures itself (the
    # trial's line, its "error" in --json), so only Optuna's errors get through
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = _storage(plan.storage)
    try:
        if create:
            return optuna.create_study(study_name=plan.study, storage=storage, direction=plan.direction,
                                       sampler=_sampler(plan), pruner=_pruner(plan), load_if_exists=True)
        return optuna.load_study(study_name=plan.study, storage=storage, sampler=_sampler(plan),
                                 pruner=_pruner(plan))
    except KeyError:
        raise SweepError(f"there is no study '{plan.study}' in {plan.storage}") from None
    except ValueError as e:  # e.g. an existing study with the other direction
        raise SweepError(f"study '{plan.study}' in {plan.storage}: {e}") from None
    except SweepError:
        raise
    except Exception as e:  # noqa: BLE001 - the database went away or refused the schema
        raise SweepError(f"cannot open the study storage {plan.storage}: {type(e).__name__}: {_first_line(e)}") \
            from None


def check_direction(study, plan: SweepPlan) -> None:
    """An existing study must optimise the same way (a project switched from classification to regression)."""
    import optuna

    want = optuna.study.StudyDirection.MAXIMIZE if plan.direction == "maximize" else \
        optuna.study.StudyDirection.MINIMIZE
    if study.direction != want:
        raise SweepError(f"study '{plan.study}' in {plan.storage} {study.direction.name.lower()}s its objective, "
                         f"but this project's metric must be {plan.direction}d: pick another --study name")


def enqueue_baseline(study, plan: SweepPlan) -> bool:
    """A new study tries the project's own values first, so its best is never worse than the project as it is
    (values outside the searched ranges are left to the sampler)."""
    import json

    from hybrid_studio.blocks import CATALOG
    from hybrid_studio.project.reader import loads_project
    from hybrid_studio.train.config import TrainConfig

    if study.trials or plan.sampler == "grid":  # the grid tries every listed value (and knows no queued ones)
        return False
    graph = loads_project(json.dumps(plan.project), plan.project_name)

    config = TrainConfig.from_dict(plan.base_training).to_dict()
    params = {}
    for sp in plan.space:
        head, tail = sp.target
        if head == "training":
            value = config.get(tail)
        else:
            node = graph.get(head)
            value = CATALOG.get(node.type).safe_params(node.params).get(tail) if node is not None else None
        if sp.kind == "choice":
            if any(value == c and type(value) is type(c) for c in sp.choices):
                params[sp.name] = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and sp.low <= value <= sp.high:
            params[sp.name] = int(value) if sp.kind == "int" else float(value)
    if not params:
        return False
    study.enqueue_trial(params, user_attrs={"baseline": True}, skip_if_exists=True)
    return True


def _metric_of(event, metric: str):
    """The epoch's value of ``metric`` from an EpochEnd (validation, else training when there is no split)."""
    names = {"val_accuracy": ("val_acc", "train_acc"), "val_loss": ("val_loss", "train_loss"),
             "val_cer": ("val_cer", "train_cer")}.get(metric, (metric,))
    for name in names:
        v = getattr(event, name, None)
        if v is not None:
            return float(v)
    return None


def run_trial(trial, plan: SweepPlan, graph, metric: str) -> float:
    """One trial: apply, check, train, report; returns the run's best validation metric."""
    import optuna

    from hybrid_studio.blocks import checker_for
    from hybrid_studio.graph.edits import Batch, SetParams
    from hybrid_studio.project import graph_to_dict
    from hybrid_studio.train.config import ConfigError, TrainConfig
    from hybrid_studio.train.engine import Control
    from hybrid_studio.train.errors import TrainError
    from hybrid_studio.train.events import EpochEnd
    from hybrid_studio.train.runs import mark_status, new_run_id
    from hybrid_studio.train.runner import train_in_process

    values = {sp.name: sp.suggest(trial) for sp in plan.space}
    training, blocks = split_values(values)
    g = graph.copy()
    edit = Batch([SetParams(bid, dict(params)) for bid, params in blocks.items()], label=f"Trial {trial.number}")
    try:
        edit.apply(g)
    except Exception as e:  # noqa: BLE001 - e.g. a param that takes a port away from a wired block
        return _prune(trial, f"the trial's params cannot be applied: {e}")
    checker = checker_for(g)
    checker.check_all()
    errors = checker.errors()
    if errors:
        d = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return _prune(trial, f"invalid graph: {d.node}: {d.message}{more}")
    try:
        changes = dict(training)
        if plan.epochs:
            changes["epochs"] = plan.epochs
        config = TrainConfig.from_dict(plan.base_training).replace(**changes)
        if plan.threads:
            config = config.replace(num_threads=plan.threads)
    except (ConfigError, ValueError) as e:
        return _prune(trial, f"invalid training settings: {e}")

    runs_dir = Path(plan.runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    run_id = _reserve_run(runs_dir, f"{plan.study}-t{trial.number}", new_run_id)
    run_dir = runs_dir / run_id
    trial.set_user_attr("run", str(run_dir))
    control = Control()
    state = {"pruned_at": None}

    def emit(event):
        if isinstance(event, EpochEnd):
            value = _metric_of(event, metric)
            if value is None or not math.isfinite(value):
                return
            trial.report(value, event.epoch)
            # the last epoch is a result, not something to stop early
            if event.epoch < config.epochs and trial.should_prune():
                state["pruned_at"] = event.epoch
                control.stop.set()

    graph_dict = graph_to_dict(g)
    graph_dict["name"] = f"{plan.project_name}-t{trial.number}"
    try:
        summary = train_in_process(graph_dict, plan.dataset, config, runs_dir, emit=emit, control=control,
                                   run_id=run_id)
    except KeyboardInterrupt:  # Ctrl-C, the app's Stop, a gone parent: the trial fails, saying why
        trial.set_user_attr("error", "interrupted: the sweep was stopped during this trial")
        raise
    except TrainError as e:
        trial.set_user_attr("error", e.message)
        _say(plan, f"trial {trial.number} failed: {e.message} ({run_dir})")
        raise
    if state["pruned_at"] is not None:
        message = f"pruned by sweep '{plan.study}' after epoch {state['pruned_at']}"
        mark_status(run_dir, "stopped", message)
        trial.set_user_attr("pruned", message)
        _say(plan, f"trial {trial.number} pruned after epoch {state['pruned_at']} ({run_dir})")
        raise optuna.TrialPruned(message)
    value = summary.get("best_metric")
    trial.set_user_attr("metric", summary.get("best_metric_name") or metric)
    if value is None or not math.isfinite(value):
        trial.set_user_attr("error", f"the run's {metric} is {value} (diverged?)")
        _say(plan, f"trial {trial.number} failed: its {metric} is {value} ({run_dir})")
        return float("nan")  # Optuna records a NaN objective as a failed trial
    shown = ", ".join(f"{k}={_short(v)}" for k, v in values.items())
    _say(plan, f"trial {trial.number}: {summary.get('best_metric_name') or metric} {value:.4f}  [{shown}]  "
               f"{run_dir}")
    return float(value)


def _reserve_run(runs_dir: Path, name: str, new_run_id) -> str:
    """A run id whose folder this process made (two workers never share a folder)."""
    for _ in range(100):
        run_id = new_run_id(runs_dir, name)
        try:
            (runs_dir / run_id).mkdir(parents=True, exist_ok=False)
            return run_id
        except FileExistsError:
            continue
    raise SweepError(f"cannot make a run folder in {runs_dir}")


def _prune(trial, message: str):
    import optuna

    trial.set_user_attr("diagnostic", message)
    raise optuna.TrialPruned(message)


def _short(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _say(plan: SweepPlan, text: str) -> None:
    if not (plan.quiet or plan.events):
        try:
            print(text, flush=True)
        except (OSError, ValueError):
            pass


def _trial_ended(plan: SweepPlan):
    """An Optuna callback that prints each ended trial as a JSON line (``plan.events``)."""
    import json

    def callback(study, trial):
        if plan.events:
            line = json.dumps({"event": "trial", **trial_row(trial)}, allow_nan=False, default=str)
            try:
                print(line, flush=True)
            except (OSError, ValueError):
                pass
    return callback


def optimize(plan: SweepPlan, n_trials: int) -> None:
    """Run ``n_trials`` trials of the plan's study in this process (a worker, or the only process)."""
    import json

    from hybrid_studio.project.reader import loads_project

    if plan.threads:
        import torch
        torch.set_num_threads(plan.threads)
    graph = loads_project(json.dumps(plan.project), plan.project_name)
    study = open_study(plan, create=False)
    metric = metric_name(plan)
    study.optimize(lambda trial: run_trial(trial, plan, graph, metric), n_trials=n_trials, catch=(Exception,),
                   gc_after_trial=True, callbacks=[_trial_ended(plan)])


def metric_name(plan: SweepPlan) -> str:
    import json

    from hybrid_studio.project.reader import loads_project
    return direction_for(loads_project(json.dumps(plan.project), plan.project_name))[1]


def _worker(plan: SweepPlan, n_trials: int, index: int = 0) -> None:
    import dataclasses
    import signal

    if plan.seed is not None:  # one seed for every worker would make them pick the same values side by side
        plan = dataclasses.replace(plan, seed=plan.seed + 7919 * index)

    def on_term(signum, frame):  # the parent's stop: end the trial cleanly (run folder stopped, trial failed)
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    _stop_with_parent()
    try:
        optimize(plan, n_trials)
    except SweepError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        raise SystemExit(2)
    except KeyboardInterrupt:
        raise SystemExit(130)


def _stop_with_parent() -> None:
    """A worker whose parent is gone (killed, or the app that ran it closed) stops its trial as on Ctrl-C, instead
    of training on as an orphan nobody reads."""
    import _thread
    import multiprocessing as mp
    import threading
    from multiprocessing.connection import wait

    parent = mp.parent_process()
    if parent is None:
        return

    def watch():
        wait([parent.sentinel])
        _thread.interrupt_main()
    threading.Thread(target=watch, name="hybrid-studio-sweep-parent", daemon=True).start()


def shares(total: int, k: int) -> list[int]:
    """``total`` trials split over ``k`` processes, as evenly as possible (never more processes than trials)."""
    k = max(1, min(k, total))
    return [total // k + (1 if i < total % k else 0) for i in range(k)]


def run_sweep(plan: SweepPlan, parallel: int = 1) -> dict:
    """Create or continue the study, run ``plan.trials`` trials (``parallel`` at once, in worker processes) and
    return the report (``report``)."""
    Path(plan.runs_dir).mkdir(parents=True, exist_ok=True)
    study = open_study(plan, create=True)
    check_direction(study, plan)
    enqueue_baseline(study, plan)
    parts = shares(plan.trials, parallel)
    if len(parts) == 1:
        optimize(plan, parts[0])
    else:
        import multiprocessing as mp

        from hybrid_studio.train._spawn import main_hidden

        cpus = os.cpu_count() or 1
        plan.threads = plan.threads or max(1, cpus // len(parts))
        ctx = mp.get_context("spawn")
        procs = [ctx.Process(target=_worker, args=(plan, n, i), name=f"hybrid-studio-sweep-{i}")
                 for i, n in enumerate(parts)]
        with main_hidden():
            for p in procs:
                p.start()
        try:
            for p in procs:
                p.join()
        except (KeyboardInterrupt, SystemExit):
            for p in procs:
                p.terminate()
            for p in procs:
                p.join()
            raise
    return report(open_study(plan, create=False), plan)


def trial_row(t) -> dict:
    """One trial as plain data: run folder, state, value, params and what went wrong."""
    value = t.value if t.value is not None and math.isfinite(t.value) else None
    row = {"number": t.number, "run": t.user_attrs.get("run"), "state": t.state.name.lower(), "value": value,
           "params": dict(t.params)}
    for key in ("diagnostic", "error", "pruned"):
        if t.user_attrs.get(key):
            row[key] = t.user_attrs[key]
    if t.user_attrs.get("baseline"):
        row["baseline"] = True
    return row


def report(study, plan: SweepPlan) -> dict:
    """The contract's ``--json`` object: study, storage, best trial and every trial."""
    import optuna

    trials = study.get_trials(deepcopy=False)
    best = None
    try:
        b = study.best_trial
        best = {"run": b.user_attrs.get("run"), "value": b.value, "params": dict(b.params), "number": b.number}
    except ValueError:  # no completed trial
        pass
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    return {"study": plan.study, "storage": plan.storage, "direction": plan.direction, "metric": metric_name(plan),
            "best": best, "trials": [trial_row(t) for t in trials], "completed": len(done),
            "importances": importances(study)}


def importances(study) -> dict:
    """Optuna's parameter importances (fANOVA needs scikit-learn; falls back to the mean-decrease method), or {}."""
    import warnings

    import optuna

    done = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    if len(done) < 2:
        return {}
    try:
        with warnings.catch_warnings():  # e.g. "importances will be equal" when every trial scored the same
            warnings.simplefilter("ignore")
            return dict(optuna.importance.get_param_importances(study))
    except Exception:  # noqa: BLE001 - too few distinct values, a single param, ...
        return {}
