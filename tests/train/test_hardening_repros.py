"""Issue 14's reproductions that were still open on main: a run killed while writing its first checkpoint (its
temporary file stayed for good, and resuming it said only "no last.pt"), a status.json nested too deeply for the
JSON parser (a RecursionError that emptied the runs list), and training settings without an upper bound
(num_threads 10**9 aborted the process inside libgomp, seed 10**30 failed inside torch, epochs 1e30 was taken)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from train_helpers import tiny_seq_graph

from hybrid_studio.project import graph_to_dict
from hybrid_studio.train.config import ConfigError, TrainConfig
from hybrid_studio.train.engine import train_in_process
from hybrid_studio.train.errors import InputProblem
from hybrid_studio.train.runs import INTERRUPTED, list_runs, load_run_config

CFG = {"epochs": 1, "batch_size": 32, "lr": 0.01, "num_threads": 1, "device": "cpu"}


@pytest.fixture
def finished_run(tmp_path, seq_npz) -> Path:
    return Path(train_in_process(graph_to_dict(tiny_seq_graph()), str(seq_npz), CFG, tmp_path / "runs")["run_dir"])


def test_a_run_killed_in_its_first_checkpoint_write_is_named_and_its_temporary_file_cleaned(finished_run, seq_npz):
    # what a SIGKILL inside the first checkpoint's os.replace leaves: status "running", no lock, no checkpoint,
    # the write's temporary file
    shutil.rmtree(finished_run / "checkpoints")
    (finished_run / "checkpoints").mkdir()
    tmp = finished_run / "checkpoints" / ".last.pt.k1ll3d.tmp"
    tmp.write_bytes(b"half a checkpoint")
    st = json.loads((finished_run / "status.json").read_text())
    (finished_run / "status.json").write_text(json.dumps({**st, "status": "running"}))
    (info,) = list_runs(finished_run.parent)
    assert info.status == INTERRUPTED and "no checkpoint to resume" in info.message
    with pytest.raises(InputProblem) as e:
        train_in_process(graph_to_dict(tiny_seq_graph()), str(seq_npz), CFG, resume=str(finished_run))
    assert "no checkpoints/last.pt" in str(e.value) and "start a new run" in str(e.value)
    assert not tmp.exists()


def test_a_status_nested_too_deeply_is_named_and_hides_no_other_run(finished_run):
    bad = finished_run.parent / "bad-nested"
    shutil.copytree(finished_run, bad)
    (bad / "status.json").write_text("[" * 100_000 + "]" * 100_000)
    (bad / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    infos = {i.run_id: i for i in list_runs(finished_run.parent)}
    assert infos[finished_run.name].status == "finished"
    assert infos["bad-nested"].status == "failed" and "status.json" in infos["bad-nested"].message
    assert "nested too deeply" in infos["bad-nested"].message
    with pytest.raises(ValueError, match="config.json.*nested too deeply"):
        load_run_config(bad)


@pytest.mark.parametrize("name, value, says", [
    ("epochs", 1e30, "at most 1,000,000"), ("batch_size", 10 ** 12, "at most 16,777,216"),
    ("num_threads", 10 ** 9, "at most 1,024"), ("seed", 10 ** 30, "at most"), ("seed", -5, "not be negative"),
    ("step_size", 10 ** 30, "at most"), ("early_stopping", 10 ** 30, "at most")])
def test_training_settings_have_upper_bounds(name, value, says):
    with pytest.raises(ConfigError, match=f"'{name}' must (be )?{says}"):
        TrainConfig.from_dict({name: value})
    # the bound itself is allowed
    from hybrid_studio.train.config import MAX_SETTINGS
    if name in MAX_SETTINGS:
        assert getattr(TrainConfig.from_dict({name: MAX_SETTINGS[name]}), name) == MAX_SETTINGS[name]


def test_a_user_npz_is_split_in_place_with_the_same_rows_and_a_lower_peak(tmp_path):
    # a 300k-sample .npz peaked at 2.1 GB: the float32 conversion copied a float32 array, and the split copied
    # all rows again; now the peak stays near the data plus its validation part
    import tracemalloc

    import numpy as np

    from hybrid_studio.train.datasets import get_dataset, split_indices
    rng = np.random.default_rng(3)
    x = rng.normal(size=(20_000, 16, 16)).astype(np.float32)
    y = rng.integers(0, 3, 20_000)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    tracemalloc.start()
    try:
        ds = get_dataset(str(tmp_path / "d.npz"), seed=5)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    tr, va = split_indices(y, len(y), 0.2, 5)
    assert np.array_equal(ds.train.x[0], x[tr]) and np.array_equal(ds.val.x[0], x[va])
    assert np.array_equal(ds.train.y, y[tr]) and np.array_equal(ds.val.y, y[va])
    assert peak < 1.6 * x.nbytes, f"peak {peak / x.nbytes:.2f}x the data"
    # built-in data is shared (cached, read-only): splitting it twice gives the same rows
    a, b = get_dataset("digits-seq", seed=1), get_dataset("digits-seq", seed=1)
    assert np.array_equal(a.train.x[0], b.train.x[0]) and np.array_equal(a.val.x[0], b.val.x[0])


@pytest.mark.parametrize("member", ["task", "axes"])
def test_an_empty_task_or_axes_array_is_named(tmp_path, member):
    # found by the .npz fuzz: an empty 'task' or 'axes' array was an IndexError with no file named
    import numpy as np

    from hybrid_studio.train.datasets import DatasetError, get_dataset
    np.savez(tmp_path / "e.npz", x=np.zeros((8, 4), np.float32), y=np.arange(8) % 2, **{member: np.array([], str)})
    with pytest.raises(DatasetError, match=f"e.npz: '{member}' must hold one string"):
        get_dataset(str(tmp_path / "e.npz"))


@pytest.mark.parametrize("errno_name", ["EROFS", "ENOSPC"])
def test_a_file_system_that_turns_read_only_or_full_mid_run_leaves_an_interrupted_resumable_run(
        tmp_path, seq_npz, monkeypatch, errno_name):
    # issue 14: "running" stayed for good after the output turned read-only / ran out of inodes mid-run. The
    # status cannot be written then; the lock, released with the run, tells the reader the truth.
    import errno
    import os
    import tempfile

    from hybrid_studio.train.errors import RunFailure
    real, calls = tempfile.mkstemp, []

    def mkstemp(*a, **k):
        calls.append(1)
        if len(calls) > 12:  # past the folder, the first checkpoint and a few epochs' writes
            code = getattr(errno, errno_name)
            raise OSError(code, os.strerror(code))
        return real(*a, **k)
    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    with pytest.raises(RunFailure, match=os.strerror(getattr(errno, errno_name))):
        train_in_process(graph_to_dict(tiny_seq_graph()), str(seq_npz), {**CFG, "epochs": 20, "batch_size": 64},
                         tmp_path / "runs")
    monkeypatch.setattr(tempfile, "mkstemp", real)
    (info,) = list_runs(tmp_path / "runs")
    assert json.loads((Path(info.path) / "status.json").read_text())["status"] == "running"
    assert info.status == INTERRUPTED and "resume continues from its last checkpoint" in info.message
    from hybrid_studio.train.checkpoints import load_checkpoint
    done = load_checkpoint(Path(info.path) / "checkpoints" / "last.pt")["epoch"]
    summary = train_in_process(graph_to_dict(tiny_seq_graph()), str(seq_npz), {**CFG, "epochs": done + 1},
                               resume=info.path)
    assert summary["status"] == "finished"
