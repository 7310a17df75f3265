"""Scale-out: K training processes on one machine through torch.distributed's elastic launcher (what torchrun
uses), with DistributedDataParallel and a DistributedSampler; gloo on CPU, nccl on CUDA.

Every rank runs ``train_in_process(..., distributed=True)`` on its share of each epoch; the global batch size is
split across the ranks. Only rank 0 writes the run folder and prints progress. Rank 0 also leaves a small result
file so that the launching process can report the outcome (and pick the exit code) without guessing.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import uuid
from pathlib import Path

from ._spawn import main_hidden


def launch(graph_dict, dataset, config: dict, runs_dir, nproc: int, resume=None, run_id=None,
           progress: bool = True) -> dict:
    """Run K=``nproc`` processes and return rank 0's result: ``{"status": ..., "summary" | "message", "exit"}``
    where ``exit`` is 0 (finished), 1 (failed run), 2 (bad input) or 130 (stopped)."""
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    fd, result_path = tempfile.mkstemp(prefix="hybrid-studio-ddp-", suffix=".json")
    os.close(fd)
    payload = {"graph": graph_dict, "dataset": dataset, "config": config, "runs_dir": str(runs_dir),
               "resume": str(resume) if resume else None, "run_id": run_id, "progress": progress,
               "result": result_path}
    cfg = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=f"hybrid-studio-{uuid.uuid4().hex}",
                       rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0, monitor_interval=0.1,
                       start_method="spawn")
    # the agent logs every failed process with its traceback; rank 0's result (below) says what went wrong
    agent_log = logging.getLogger("torch.distributed.elastic")
    level = agent_log.level
    agent_log.setLevel(logging.CRITICAL)
    try:
        try:
            with main_hidden():
                returns = elastic_launch(cfg, rank_main)(payload)
        except Exception as e:  # noqa: BLE001 - ChildFailedError and friends: rank 0's file says why
            result = _read(result_path)
            if result:
                # rank 0 ended the run itself (bad input, a failure) and, with progress on, has printed why
                return {**result, "from_rank0": True, "reported": progress}
            return {"status": "failed", "exit": 1, "message": f"a training process failed: {e}"}
        result = _read(result_path) or {"status": "finished", "exit": 0, "summary": returns.get(0, {})}
        result["from_rank0"] = True
        result["rank_results"] = {int(k): v for k, v in returns.items()}
        return result
    finally:
        agent_log.setLevel(level)
        try:
            os.unlink(result_path)
        except OSError:
            pass


def _read(path) -> dict:
    try:
        text = Path(path).read_text(encoding="utf-8")
        return json.loads(text) if text.strip() else {}
    except (OSError, ValueError):
        return {}


def rank_main(payload: dict) -> dict:
    """One rank (the elastic agent sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT)."""
    from datetime import timedelta

    import torch
    import torch.distributed as dist

    from .config import TrainConfig
    from .engine import InputProblem, TrainError, train_in_process
    from .procenv import tune_allocator

    tune_allocator()  # a rank's process only trains (procenv: memory reused, not faulted in again each step)
    config = TrainConfig.from_dict(payload["config"])
    cuda = config.device.startswith("cuda") or (config.device == "auto" and torch.cuda.is_available())
    dist.init_process_group("nccl" if cuda else "gloo", timeout=timedelta(minutes=10))
    rank = dist.get_rank()
    emit = None
    if rank == 0 and payload.get("progress"):
        from .progress import ProgressPrinter

        emit = ProgressPrinter()
    try:
        summary = train_in_process(payload["graph"], payload["dataset"], config, payload["runs_dir"],
                                   resume=payload["resume"], emit=emit, run_id=payload["run_id"], distributed=True)
        if rank == 0:
            _write(payload["result"], {"status": summary["status"], "exit": 0 if summary["status"] == "finished"
                                       else 130, "summary": summary})
        return {"rank": rank, "status": summary["status"], "weights_checksum": summary.get("weights_checksum")}
    except TrainError as e:
        if rank == 0:
            _write(payload["result"], {"status": "failed", "exit": 2 if isinstance(e, InputProblem) else 1,
                                       "message": e.message})
        raise
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _write(path, data: dict) -> None:
    from hybrid_studio.project import atomic_write_text

    atomic_write_text(path, json.dumps(data))
