"""``hybrid-studio train PROJECT --dataset NAME_OR_PATH [...]``: the command-line front of the training engine."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


def _err(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def run_train_command(args) -> int:
    from hybrid_studio.project import ProjectError, graph_to_dict, load_project

    from .config import ConfigError, TrainConfig
    from .runs import load_run_config

    try:
        graph = load_project(args.project)
    except ProjectError as e:
        _err(str(e))
        return EXIT_BAD_INPUT
    resume = getattr(args, "resume", None)
    flags = {"epochs": getattr(args, "epochs", None), "batch_size": getattr(args, "batch_size", None),
             "lr": getattr(args, "lr", None), "device": getattr(args, "device", None),
             "dataset": getattr(args, "dataset", None)}
    init = getattr(args, "init_weights", None)
    if init:
        if not Path(init).is_file():
            _err(f"--init-weights {init}: no such file")
            return EXIT_BAD_INPUT
        flags["init_weights"] = str(Path(init).resolve())
    try:
        if resume:
            if not (Path(resume) / "config.json").is_file():
                _err(f"{resume} is not a run folder (no config.json)")
                return EXIT_BAD_INPUT
            saved = TrainConfig.from_dict(load_run_config(resume))
            if Path(args.project).resolve() != (Path(resume) / "project.json").resolve():
                print(f"resuming {resume}: it trains its own project.json (the run's graph), not {args.project}",
                      file=sys.stderr)
        else:
            saved = TrainConfig.from_dict(graph.training)
    except (ConfigError, OSError, ValueError) as e:
        # name the file the settings came from
        where = Path(resume) / "config.json" if resume else f"{args.project}: training section"
        _err(f"{where}: {e}")
        return EXIT_BAD_INPUT
    try:
        config = saved.replace(**flags)
    except (ConfigError, ValueError) as e:
        _err(f"command line: {e}")
        return EXIT_BAD_INPUT
    if config.init_weights and not Path(config.init_weights).is_absolute():
        # stored in the project (by an import): relative to the project's folder
        config = config.replace(init_weights=str(Path(args.project).resolve().parent / config.init_weights))
    if not config.dataset:
        _err("no dataset: give --dataset with a built-in name (e.g. digits) or a .npz/.csv/.ts file or image folder")
        return EXIT_BAD_INPUT
    runs_dir = Path(getattr(args, "out", None) or "runs")
    nproc = getattr(args, "nproc_per_node", None)
    if nproc is not None and nproc < 1:
        _err("--nproc-per-node must be at least 1")
        return EXIT_BAD_INPUT
    graph_dict = graph_to_dict(graph)
    if nproc and nproc > 1:
        return _distributed(graph_dict, config, runs_dir, nproc, resume)
    return _single(graph_dict, config, runs_dir, resume)


def _single(graph_dict, config, runs_dir, resume) -> int:
    from .engine import Control, InputProblem, RunFailure, train_in_process
    from .procenv import tune_allocator
    from .progress import ProgressPrinter

    tune_allocator()  # this process only trains from here on (procenv: memory reused, not faulted in each step)
    control = Control()
    printer = ProgressPrinter()

    def on_stop_signal(signum, frame):
        if control.stop.is_set():
            raise KeyboardInterrupt
        control.stop.set()
        how = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        try:
            print(f"\n{how}: stopping at the next batch (again to quit at once)...", file=sys.stderr)
        except OSError:
            pass  # the terminal is gone (a hang-up): stop all the same

    # Ctrl-C, and the polite stop of `timeout`, job schedulers and a closed terminal: checkpoint and mark "stopped"
    # (SIGKILL cannot be caught: the run is then marked failed by whoever looks at it next). A signal the caller
    # chose to ignore stays ignored: `nohup` ignores SIGHUP so that training goes on after logout.
    stop_signals = [sig for sig in (signal.SIGINT, getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None))
                    if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN]
    previous = {sig: signal.signal(sig, on_stop_signal) for sig in stop_signals}
    try:
        summary = train_in_process(graph_dict, config.dataset, config, runs_dir, resume=resume, emit=printer,
                                   control=control)
    except InputProblem:
        return EXIT_BAD_INPUT  # the printer has shown the message
    except RunFailure:
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_OK if summary["status"] == "finished" else EXIT_INTERRUPTED


def _distributed(graph_dict, config, runs_dir, nproc, resume) -> int:
    from .config import ConfigError, resolve_device
    from .distributed import launch
    from .runs import new_run_id, read_status

    # what a single process would refuse, refused before K processes start (and fail K times over)
    try:
        resolve_device(config.device)
    except ConfigError as e:
        _err(str(e))
        return EXIT_BAD_INPUT
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        run_id = None if resume else new_run_id(runs_dir, graph_dict.get("name", "run"))
    except OSError as e:
        _err(f"cannot write the run folder in {runs_dir}: {e.strerror or e}")
        return EXIT_BAD_INPUT
    print(f"launching {nproc} training processes", flush=True)
    result = launch(graph_dict, config.dataset, config.to_dict(), runs_dir, nproc, resume=resume, run_id=run_id)
    run_dir = Path(resume) if resume else runs_dir / run_id if run_id else None
    if result.get("status") == "failed" and not result.get("from_rank0"):
        # the processes were ended from outside (Ctrl-C reaches all of them): the run folder says how it ended
        status = read_status(run_dir).get("status") if run_dir is not None and run_dir.is_dir() else None
        if status == "stopped":
            print(f"stopped: {run_dir}", file=sys.stderr)
            return EXIT_INTERRUPTED
    if result.get("status") == "failed" and result.get("message") and not result.get("reported"):
        _err(result["message"])
    return int(result.get("exit", EXIT_FAILED))
