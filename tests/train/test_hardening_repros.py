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
