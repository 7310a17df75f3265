"""``hybrid-studio train``: progress, summary, run folder, exit codes, resume, K=2 processes."""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import pytest
import torch
from train_helpers import build, tiny_seq_graph

from hybrid_studio.project import dumps_project
from hybrid_studio.train import cli_train
from hybrid_studio.train.runs import list_runs, load_metrics


def args(project, dataset, out, **kw):
    base = {"project": str(project), "dataset": str(dataset) if dataset else None, "epochs": 2, "batch_size": 32,
            "lr": 0.01, "device": "cpu", "out": str(out), "resume": None, "nproc_per_node": None}
    base.update(kw)
    return argparse.Namespace(**base)


@pytest.fixture
def project(tmp_path):
    p = tmp_path / "tiny.hsproj.json"
    g = tiny_seq_graph()
    g.training = {"seed": 5, "epochs": 7, "num_threads": 1}
    p.write_text(dumps_project(g))
    return p


def test_train_prints_progress_and_a_summary(tmp_path, project, seq_npz, capsys):
    code = cli_train(args(project, seq_npz, tmp_path / "runs"))
    out = capsys.readouterr().out
    assert code == 0
    assert "epoch 1/2" in out and "samples/s" in out and "ETA" in out
    assert "epoch 2/2: train loss" in out and "val loss" in out and "acc" in out
    assert "s validation" in out and "s checkpoint" in out and "samples/s overall" in out
    assert "finished: 2 epoch(s), 8 steps" in out and "best val accuracy" in out
    (run,) = list_runs(tmp_path / "runs")
    assert run.status == "finished" and run.run_id.endswith("-tiny") and f"run folder: {run.path}" in out
    config = json.loads(open(os.path.join(run.path, "config.json")).read())
    assert config["seed"] == 5 and config["epochs"] == 2 and config["dataset"] == str(seq_npz)  # flags win


def test_bad_input_exits_2(tmp_path, project, seq_npz, capsys):
    assert cli_train(args(tmp_path / "missing.json", seq_npz, tmp_path)) == 2
    assert cli_train(args(project, "nope", tmp_path)) == 2
    assert "unknown dataset 'nope'" in capsys.readouterr().err
    assert cli_train(args(project, None, tmp_path)) == 2
    assert cli_train(args(project, seq_npz, tmp_path, device="tpu")) == 2
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, x=np.zeros((20, 3, 3), np.float32), y=np.arange(20) % 2)
    assert cli_train(args(project, wrong, tmp_path)) == 2
    assert "set series.shape to [3, 3]" in capsys.readouterr().err
    assert cli_train(args(project, seq_npz, tmp_path, resume=str(tmp_path / "not-a-run"))) == 2
    assert list_runs(tmp_path) == []
    capsys.readouterr()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert cli_train(args(project, seq_npz, blocker / "runs")) == 2  # --out cannot be made
    err = capsys.readouterr().err
    assert "cannot write the run folder" in err and "Traceback" not in err


def test_failed_run_exits_1(tmp_path, capsys):
    project = tmp_path / "flat.hsproj.json"
    project.write_text(dumps_project(build(
        [("series", "Input", {"shape": [8, 4], "axes": "TF"}), ("flat", "Flatten", {}),
         ("fc", "Linear", {"out_features": 2}), ("out", "Output", {})],
        [("series", "flat"), ("flat", "fc"), ("fc", "out")])))
    x = np.full((40, 8, 4), 1e38, np.float32)  # the logits overflow
    p = tmp_path / "huge.npz"
    np.savez(p, x=x, y=np.arange(40) % 2)
    assert cli_train(args(project, p, tmp_path / "runs")) == 1
    assert "loss became" in capsys.readouterr().err
    (run,) = list_runs(tmp_path / "runs")
    assert run.status == "failed"


def test_resume_from_the_command_line(tmp_path, project, seq_npz, capsys):
    assert cli_train(args(project, seq_npz, tmp_path / "runs", epochs=1)) == 0
    (run,) = list_runs(tmp_path / "runs")
    capsys.readouterr()
    assert cli_train(args(project, None, None, epochs=3, resume=run.path, lr=None, batch_size=None)) == 0
    out = capsys.readouterr().out
    assert "resuming after epoch 1" in out and "epoch 3/3" in out
    rows = [r for r in load_metrics(run.path) if r["scope"] == "epoch" and r["split"] == "val"]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert len(list_runs(tmp_path / "runs")) == 1


def test_two_processes_with_the_elastic_launcher(tmp_path, project, seq_npz, capfd):
    """K=2 on CPU (gloo): DDP keeps both ranks' weights equal; only rank 0 writes a run folder."""
    from hybrid_studio.project import load_project, graph_to_dict
    from hybrid_studio.train.distributed import launch

    result = launch(graph_to_dict(load_project(project)), str(seq_npz),
                    {"epochs": 2, "batch_size": 32, "lr": 0.01, "num_threads": 1, "device": "cpu"},
                    tmp_path / "runs", 2, run_id="ddp")
    assert result["exit"] == 0 and result["status"] == "finished", result
    ranks = result["rank_results"]
    assert sorted(ranks) == [0, 1]
    assert ranks[0]["weights_checksum"] == ranks[1]["weights_checksum"] == result["summary"]["weights_checksum"]
    assert result["summary"]["world_size"] == 2 and result["summary"]["step"] == 8
    assert os.listdir(tmp_path / "runs") == ["ddp"]
    assert sorted(os.listdir(tmp_path / "runs" / "ddp")) == [".lock", "checkpoints", "config.json", "metrics.csv",
                                                               "project.json", "status.json"]
    ck = torch.load(tmp_path / "runs" / "ddp" / "checkpoints" / "last.pt", weights_only=True)
    assert not any(k.startswith("module.") for k in ck["model"])  # the plain model's keys, not DDP's
    assert "epoch 2/2: train loss" in capfd.readouterr().out  # rank 0 printed progress


def test_nproc_flag_goes_through_the_launcher(tmp_path, project, seq_npz, monkeypatch):
    import hybrid_studio.train.distributed as distributed

    calls = {}

    def fake_launch(graph, dataset, config, runs_dir, nproc, resume=None, run_id=None):
        calls.update(nproc=nproc, dataset=dataset, run_id=run_id, batch_size=config["batch_size"])
        return {"status": "failed", "exit": 1, "message": "boom"}

    monkeypatch.setattr(distributed, "launch", fake_launch)
    assert cli_train(args(project, seq_npz, tmp_path, nproc_per_node=3)) == 1
    assert calls["nproc"] == 3 and calls["dataset"] == str(seq_npz) and calls["run_id"].endswith("-tiny")
    assert cli_train(args(project, seq_npz, tmp_path, nproc_per_node=0)) == 2


@pytest.mark.skipif(not os.path.exists(os.path.join(os.path.dirname(__file__), "..", "..", "hybrid_studio",
                                                    "cli.py")), reason="the CLI module is not there yet")
def test_hybrid_studio_train_command(tmp_path, project, seq_npz):
    import subprocess

    out = subprocess.run([sys.executable, "-m", "hybrid_studio", "train", str(project), "--dataset", str(seq_npz),
                          "--epochs", "1", "--device", "cpu", "--out", str(tmp_path / "runs")],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    assert "finished: 1 epoch(s)" in out.stdout
    assert list_runs(tmp_path / "runs")[0].status == "finished"


def test_nproc_refuses_what_one_process_would_refuse_before_launching(tmp_path, project, seq_npz, monkeypatch,
                                                                       capsys):
    import hybrid_studio.train.distributed as distributed

    monkeypatch.setattr(distributed, "launch", lambda *a, **k: pytest.fail("launched"))
    if not torch.cuda.is_available():
        assert cli_train(args(project, seq_npz, tmp_path, nproc_per_node=2, device="cuda")) == 2
        assert "no CUDA GPU" in capsys.readouterr().err
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert cli_train(args(project, seq_npz, blocker / "runs", nproc_per_node=2)) == 2
    assert f"cannot write the run folder in {blocker / 'runs'}" in capsys.readouterr().err


def test_nproc_ended_from_outside_reports_the_run_folders_status(tmp_path, project, seq_npz, monkeypatch, capsys):
    """Ctrl-C reaches every process: the launcher only sees them die, the run folder says 'stopped' (exit 130)."""
    import hybrid_studio.train.distributed as distributed
    from hybrid_studio.train.runs import mark_status

    def interrupted(graph, dataset, config, runs_dir, nproc, resume=None, run_id=None):
        (runs_dir / run_id).mkdir()
        mark_status(runs_dir / run_id, "stopped", "interrupted (Ctrl-C)")
        return {"status": "failed", "exit": 1, "message": "a training process failed: Process 7 got signal: 2"}

    monkeypatch.setattr(distributed, "launch", interrupted)
    assert cli_train(args(project, seq_npz, tmp_path / "runs", nproc_per_node=2)) == 130
    assert "stopped:" in capsys.readouterr().err


def test_sigterm_stops_at_the_next_batch_and_marks_the_run_stopped(tmp_path, project, seq_npz):
    """`timeout`, job schedulers and a closed terminal end a job with SIGTERM: the run is checkpointed and marked
    stopped, not left 'running' with a dead pid."""
    import signal
    import subprocess
    import time

    from hybrid_studio.train.runs import read_status

    runs = tmp_path / "runs"
    # started as `nohup` would: SIGHUP ignored, which must stay ignored (training goes on after logout)
    proc = subprocess.Popen([sys.executable, "-m", "hybrid_studio", "train", str(project), "--dataset", str(seq_npz),
                             "--epochs", "500", "--device", "cpu", "--out", str(runs)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"},
                            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait until it trains (an epoch has been written)
            folders = list(runs.glob("*/metrics.csv")) if runs.is_dir() else []
            if folders and len(folders[0].read_text().splitlines()) > 1:
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert proc.poll() is None, "SIGHUP under nohup stopped the run"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "SIGTERM: stopping at the next batch" in err and "SIGHUP" not in err
    (run,) = [p for p in runs.iterdir() if p.is_dir()]
    assert read_status(run)["status"] == "stopped"
    assert (run / "checkpoints" / "last.pt").is_file()


def test_an_input_left_at_its_default_shape_trains_on_an_image_folder(tmp_path, capsys):
    """The Input's shape hint for resizing comes from its params with defaults filled in ([1, 28, 28])."""
    from hybrid_studio.blocks import new_graph
    from hybrid_studio.graph import AddNode, Connect, Edge, Node
    from hybrid_studio.train.imageio import write_png

    rng = np.random.default_rng(0)
    for c in ("cats", "dogs"):
        (tmp_path / "pets" / c).mkdir(parents=True)
        for i in range(4):
            write_png(tmp_path / "pets" / c / f"{i}.png", rng.uniform(0, 1, (10, 12)))
    g = new_graph("plain")
    for e in (AddNode(Node("image", "Input", {})), AddNode(Node("flat", "Flatten", {})),
              AddNode(Node("fc", "Linear", {"out_features": 2})), AddNode(Node("out", "Output", {})),
              Connect(Edge("image", "flat")), Connect(Edge("flat", "fc")), Connect(Edge("fc", "out"))):
        e.apply(g)
    project = tmp_path / "plain.hsproj.json"
    project.write_text(dumps_project(g))
    assert cli_train(args(project, tmp_path / "pets", tmp_path / "runs", epochs=1)) == 0, capsys.readouterr().err
