"""The training engine: datasets, matching them to a graph, the training loop, the worker process and its events,
checkpoints, run folders, the ``train`` command and multi-process scale-out.

Importing this package (or ``datasets``, ``matching``, ``config``, ``events``, ``runner``, ``runs``) does not
import torch: the app lists datasets, devices and runs and starts a worker before torch is ever needed in its own
process. The names below are loaded on first use.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "list_datasets": "datasets", "get_dataset": "datasets", "Dataset": "datasets", "DatasetInfo": "datasets",
    "InputInfo": "datasets", "Split": "datasets", "DatasetError": "datasets",
    "match_dataset": "matching", "adapt_graph_edit": "matching",
    "TrainConfig": "config", "ConfigError": "config", "list_devices": "config", "resolve_device": "config",
    "Started": "events", "Step": "events", "EpochEnd": "events", "CheckpointSaved": "events", "Log": "events",
    "Finished": "events", "Failed": "events",
    "start_run": "runner", "RunHandle": "runner",
    "train_in_process": "engine", "Control": "engine", "TrainError": "engine", "InputProblem": "engine",
    "RunFailure": "engine",
    "list_runs": "runs", "load_metrics": "runs", "load_run_graph": "runs", "RunInfo": "runs",
    "default_runs_dir": "runs",
}

__all__ = sorted(_EXPORTS) + ["cli_train"]


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hybrid_studio.train' has no attribute '{name}'")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def cli_train(args) -> int:
    """``hybrid-studio train``: train a project on a dataset, printing progress; the exit code per the contract
    (0 finished, 1 failed run, 2 bad input; 130 when interrupted with Ctrl-C)."""
    from .command import run_train_command

    return run_train_command(args)
