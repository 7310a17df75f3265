"""Run folders that tell the truth (issue 14): the OS lock of a training process, interrupted runs, a second resume
refused, damaged files named, crafted checkpoints refused, stale temporary files cleaned."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from train_helpers import tiny_seq_graph

from hybrid_studio.project import graph_to_dict
from hybrid_studio.train.checkpoints import load_checkpoint
from hybrid_studio.train.engine import train_in_process
from hybrid_studio.train.runs import INTERRUPTED, RunInUse, acquire_lock, is_locked, list_runs

ROOT = Path(__file__).resolve().parents[2]
CFG = {"epochs": 1, "batch_size": 32, "lr": 0.01, "num_threads": 1, "device": "cpu"}


def a_run(tmp_path, seq_npz) -> Path:
    summary = train_in_process(graph_to_dict(tiny_seq_graph()), str(seq_npz), CFG, tmp_path / "runs")
    return Path(summary["run_dir"])


def cli(*args, **kw):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-m", "hybrid_studio", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kw)


def test_a_finished_run_holds_no_lock_and_the_lock_is_exclusive(tmp_path, seq_npz):
    run = a_run(tmp_path, seq_npz)
    assert not is_locked(run)  # released when the run ended, although this process goes on
    fd = acquire_lock(run)
    try:
        assert is_locked(run)
        with pytest.raises(RunInUse, match=f"pid {os.getpid()}"):
            acquire_lock(run)
    finally:
        os.close(fd)
    assert not is_locked(run)


def test_two_resumes_one_runs_the_other_is_refused_and_a_kill_shows_interrupted(tmp_path, seq_npz):
    run = a_run(tmp_path, seq_npz)
    first = cli("train", str(run / "project.json"), "--dataset", str(seq_npz), "--resume", str(run),
                "--epochs", "400", "--device", "cpu")
    try:
        deadline = time.time() + 120
        while not is_locked(run) and time.time() < deadline:
            time.sleep(0.1)
        assert is_locked(run), first.stderr.read() if first.poll() is not None else "no lock"
        second = cli("train", str(run / "project.json"), "--dataset", str(seq_npz), "--resume", str(run),
                     "--epochs", "400", "--device", "cpu")
        out, err = second.communicate(timeout=120)
        assert second.returncode == 2
        assert "being trained by another process" in err and f"pid {first.pid}" in err
        (info,) = list_runs(run.parent)
        assert info.status == "running"
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    (info,) = list_runs(run.parent)
    assert json.loads((run / "status.json").read_text())["status"] == "running"  # what the killed run left
    assert info.status == INTERRUPTED and "resume continues from its last checkpoint" in info.message
    # and it resumes
    third = cli("train", str(run / "project.json"), "--dataset", str(seq_npz), "--resume", str(run), "--epochs", "2",
                "--device", "cpu")
    out, err = third.communicate(timeout=180)
    assert third.returncode == 0, err
    assert json.loads((run / "status.json").read_text())["status"] == "finished"


def test_damaged_status_files_are_named_and_never_hide_other_runs(tmp_path, seq_npz):
    good = a_run(tmp_path, seq_npz)
    runs = good.parent
    for name, content in (("list", "[1, 2]"), ("epoch", None), ("duration", None), ("junk", "{not json")):
        d = runs / f"bad-{name}"
        (d / "checkpoints").mkdir(parents=True)
        if content is None:
            st = json.loads((good / "status.json").read_text())
            st["epoch" if name == "epoch" else "duration_s"] = "abc" if name == "epoch" else "x"
            content = json.dumps(st)
        (d / "status.json").write_text(content)
    infos = {i.run_id: i for i in list_runs(runs)}
    assert infos[good.name].status == "finished"
    assert "status.json: expected a JSON object, got list" in infos["bad-list"].message
    assert "field 'epoch'" in infos["bad-epoch"].message and "'abc'" in infos["bad-epoch"].message
    assert "field 'duration_s'" in infos["bad-duration"].message
    assert "cannot be read" in infos["bad-junk"].message
    assert all(infos[k].status == "failed" for k in infos if k.startswith("bad-"))


def test_a_config_that_is_not_an_object_is_named(tmp_path, seq_npz):
    run = a_run(tmp_path, seq_npz)
    (run / "config.json").write_text("[1]")
    proc = cli("train", str(run / "project.json"), "--dataset", str(seq_npz), "--resume", str(run))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "config.json" in err and "expected a JSON object" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("field, value", [("batch", -5), ("step", -100), ("epoch", 10 ** 30), ("epoch", 1.5),
                                          ("partial", [1, 2]), ("duration_s", float("nan"))])
def test_crafted_checkpoint_fields_are_refused(tmp_path, seq_npz, field, value):
    run = a_run(tmp_path, seq_npz)
    path = run / "checkpoints" / "last.pt"
    ck = torch.load(path, weights_only=True)
    ck[field] = value
    torch.save(ck, path)
    with pytest.raises(ValueError, match=f"field '{field}'"):
        load_checkpoint(path)


def test_a_pickled_object_is_refused_without_the_weights_only_advice(tmp_path):
    path = tmp_path / "evil.pt"

    class Boom:
        def __reduce__(self):
            return (print, ("code ran",))
    torch.save({"format": "hybrid-studio-checkpoint", "x": Boom()}, path)
    with pytest.raises(ValueError) as e:
        load_checkpoint(path)
    assert "weights_only" not in str(e.value) and "never loaded" in str(e.value)


def test_stale_temporary_files_are_cleaned_when_a_run_resumes(tmp_path, seq_npz):
    run = a_run(tmp_path, seq_npz)
    stale = [run / ".metrics.csv.abc123.tmp", run / "checkpoints" / ".last.pt.xyz.tmp"]
    for p in stale:
        p.write_bytes(b"half a file")
    summary = train_in_process(graph_to_dict(tiny_seq_graph()), str(seq_npz), {**CFG, "epochs": 2},
                               resume=str(run))
    assert summary["status"] == "finished" and not any(p.exists() for p in stale)


def test_a_diverging_run_stops_naming_the_step_and_the_learning_rate(tmp_path, seq_npz):
    from hybrid_studio.train.errors import RunFailure
    with pytest.raises(RunFailure) as e:
        train_in_process(graph_to_dict(tiny_seq_graph()), str(seq_npz), {**CFG, "epochs": 3, "lr": 1e6},
                         tmp_path / "runs")
    msg = str(e.value)
    assert "diverged" in msg and "by step" in msg and "lower the learning rate (now 1e+06)" in msg
    (info,) = list_runs(tmp_path / "runs")
    assert info.status == "failed" and "diverged" in info.message
    # the check can be turned off
    summary = train_in_process(graph_to_dict(tiny_seq_graph()), str(seq_npz),
                               {**CFG, "epochs": 1, "lr": 1e6, "divergence": 0}, tmp_path / "off")
    assert summary["status"] == "finished"
