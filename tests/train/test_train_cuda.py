"""GPU paths (marked ``cuda``; skipped without a CUDA device): training on CUDA, mixed precision, checkpoints moved
between CUDA and CPU, and two processes with NCCL when there are two GPUs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from train_helpers import tiny_seq_graph

from hybrid_studio.compile import generate
from hybrid_studio.project import graph_to_dict
from hybrid_studio.train.engine import train_in_process
from hybrid_studio.train.events import EpochEnd

pytestmark = pytest.mark.cuda

CFG = {"epochs": 2, "batch_size": 32, "lr": 0.01, "device": "cuda"}


def test_trains_on_cuda(tmp_path, seq_npz):
    events = []
    s = train_in_process(graph_to_dict(tiny_seq_graph()), str(seq_npz), {**CFG, "epochs": 4}, tmp_path,
                         emit=events.append)
    assert s["device"].startswith("cuda") and s["status"] == "finished" and s["val_accuracy"] >= 0.9
    assert len([e for e in events if isinstance(e, EpochEnd)]) == 4


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_mixed_precision(tmp_path, seq_npz, amp):
    s = train_in_process(graph_to_dict(tiny_seq_graph()), str(seq_npz), {**CFG, "amp": amp, "epochs": 3}, tmp_path)
    assert s["status"] == "finished" and np.isfinite(s["train_loss"]) and s["val_accuracy"] > 0.6
    ck = torch.load(f"{s['run_dir']}/checkpoints/last.pt", weights_only=True, map_location="cpu")
    assert (ck["scaler"] is not None) == (amp == "fp16")


def test_checkpoint_moves_between_cuda_and_cpu(tmp_path, seq_npz):
    graph = tiny_seq_graph()
    first = train_in_process(graph_to_dict(graph), str(seq_npz), CFG, tmp_path)
    ck = torch.load(f"{first['run_dir']}/checkpoints/last.pt", weights_only=True, map_location="cpu")
    assert all(t.device.type == "cpu" for t in ck["model"].values())
    namespace = {}
    exec(generate(graph).source, namespace)
    model = namespace["Model"]()
    model.load_state_dict(ck["model"])  # a CUDA-trained checkpoint in the CPU export
    # resume the CUDA run on the CPU, then back on CUDA
    on_cpu = train_in_process(None, None, {**CFG, "epochs": 3, "device": "cpu"}, resume=first["run_dir"])
    assert on_cpu["device"] == "cpu" and on_cpu["epochs"] == 3
    back = train_in_process(None, None, {**CFG, "epochs": 4}, resume=first["run_dir"])
    assert back["device"].startswith("cuda") and back["epochs"] == 4


def test_cuda_and_cpu_agree_on_the_first_steps(tmp_path, seq_npz):
    cfg = {**CFG, "epochs": 1}
    gpu = train_in_process(graph_to_dict(tiny_seq_graph()), str(seq_npz), cfg, tmp_path / "g")
    cpu = train_in_process(graph_to_dict(tiny_seq_graph()), str(seq_npz), {**cfg, "device": "cpu"}, tmp_path / "c")
    assert gpu["train_loss"] == pytest.approx(cpu["train_loss"], rel=1e-3)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_two_processes_with_nccl(tmp_path, seq_npz):
    from hybrid_studio.train.distributed import launch

    r = launch(graph_to_dict(tiny_seq_graph()), str(seq_npz), CFG, tmp_path, 2, run_id="nccl")
    assert r["exit"] == 0 and r["rank_results"][0]["weights_checksum"] == r["rank_results"][1]["weights_checksum"]
