"""Checkpoints written off the training thread (issue 15): the loop goes on while a checkpoint is written, and the
run folder still keeps its guarantees: pause, stop and the end wait for the write; a failed write is the run's
error, with the folder intact; what the events announce is on disk; resume stays exact."""

from __future__ import annotations

import errno
import json
import threading
import time

import pytest
from train_helpers import tiny_seq_graph

from hybrid_studio.project import graph_to_dict
from hybrid_studio.train import checkpoints
from hybrid_studio.train.checkpoints import CheckpointWriter, load_checkpoint
from hybrid_studio.train.engine import Control, RunFailure, train_in_process
from hybrid_studio.train.events import CheckpointSaved, EpochEnd, Failed, Finished, Log
from hybrid_studio.train.runs import load_metrics, read_status

CFG = {"epochs": 2, "batch_size": 32, "lr": 0.01, "seed": 3}


def slow_writes(monkeypatch, seconds=0.4):
    """Make every checkpoint write after the first (the one before the first step) take ``seconds`` longer, and
    record the threads that write."""
    threads = []
    original = checkpoints.CheckpointJob.write

    def write(job):
        threads.append(threading.current_thread())
        if job.step > 0:
            time.sleep(seconds)
        original(job)
    monkeypatch.setattr(checkpoints.CheckpointJob, "write", write)
    return threads


@pytest.mark.parametrize("command", ["stop", "pause"])
def test_the_loop_goes_on_during_a_write_and_stop_or_pause_wait_for_it(tmp_path, seq_npz, monkeypatch, command):
    threads = slow_writes(monkeypatch)
    control = Control()
    seen = {}
    events = []

    def emit(event):
        events.append(event)
        run_dir = seen.get("run_dir")
        if isinstance(event, EpochEnd) and event.epoch == 1:
            # the epoch's checkpoint is still being written: the loop did not wait for it
            seen["epoch_of_last_pt_at_epoch_end"] = load_checkpoint(run_dir / "checkpoints" / "last.pt")["epoch"]
            (control.stop if command == "stop" else control.pause).set()
        elif isinstance(event, Log) and event.message.startswith("paused"):
            # paused only once the write in flight landed: the folder is complete while the run waits
            seen["paused_last_pt"] = load_checkpoint(run_dir / "checkpoints" / "last.pt")["epoch"]
            seen["paused_status_epoch"] = read_status(run_dir)["epoch"]
            control.stop.set()
        elif type(event).__name__ == "Started":
            seen["run_dir"] = __import__("pathlib").Path(event.run_dir)

    summary = train_in_process(graph_to_dict(tiny_seq_graph()), str(seq_npz), CFG, tmp_path, emit=emit,
                               control=control, report_interval=0)
    run_dir = seen["run_dir"]
    assert seen["epoch_of_last_pt_at_epoch_end"] == 0
    assert threads and all(t is not threading.main_thread() for t in threads)
    if command == "pause":
        assert seen["paused_last_pt"] == 1 and seen["paused_status_epoch"] == 1
    assert summary["status"] == "stopped" and summary["step"] == 4
    ck = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    status = read_status(run_dir)
    assert (ck["epoch"], ck["step"], ck["batch"]) == (1, 4, 0)
    assert status["status"] == "stopped" and status["step"] == ck["step"] and status["epoch"] == 1
    assert not list(run_dir.rglob("*.tmp"))
    # every CheckpointSaved came before Finished and named a file that held that epoch when it was announced
    saved = [e for e in events if isinstance(e, CheckpointSaved)]
    assert saved and events.index(saved[-1]) < events.index(next(e for e in events if isinstance(e, Finished)))
    assert {(e.epoch, e.best) for e in saved} >= {(1, False), (1, True)}

    # resume from the stopped run is still exact
    straight = train_in_process(graph_to_dict(tiny_seq_graph()), str(seq_npz), CFG, tmp_path / "straight")
    monkeypatch.undo()
    resumed = train_in_process(None, None, CFG, resume=run_dir)
    for key in ("train_loss", "val_loss", "weights_checksum"):
        assert resumed[key] == straight[key], key


def test_a_failed_background_write_is_the_runs_error_and_the_folder_stays_intact(tmp_path, seq_npz, monkeypatch):
    import hybrid_studio.project as project

    original = project.atomic_write_bytes
    where = []

    def failing(path, data):
        # the first epoch's last.pt hits a full disk (the initial checkpoint before the first step went through)
        if path.name == "last.pt" and (path.parent / "last.pt").exists():
            where.append(threading.current_thread())
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        original(path, data)
    monkeypatch.setattr(project, "atomic_write_bytes", failing)
    events = []
    with pytest.raises(RunFailure) as info:
        train_in_process(graph_to_dict(tiny_seq_graph()), str(seq_npz), {**CFG, "epochs": 3}, tmp_path,
                         emit=events.append, report_interval=0)
    message = info.value.message
    assert "cannot save the checkpoint of epoch 1" in message and "No space left on device" in message
    assert where and where[0] is not threading.main_thread()
    (failed,) = [e for e in events if isinstance(e, Failed)]
    assert failed.message == message
    assert not any(isinstance(e, EpochEnd) and e.epoch == 3 for e in events)  # it stopped at the next report
    assert not any(isinstance(e, CheckpointSaved) for e in events)  # nothing announced that is not on disk
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    status = read_status(run_dir)
    assert status["status"] == "failed" and status["message"] == message
    ck = load_checkpoint(run_dir / "checkpoints" / "last.pt")  # the previous, complete checkpoint
    assert (ck["epoch"], ck["step"]) == (0, 0) and status["step"] == 0
    assert load_checkpoint(run_dir / "checkpoints" / "best.pt")["step"] == 0
    assert json.loads((run_dir / "project.json").read_text())["nodes"]
    assert [r["epoch"] for r in load_metrics(run_dir) if r["scope"] == "epoch"][:2] == [1, 1]
    assert not list(run_dir.rglob("*.tmp"))
    # and the folder resumes from that checkpoint
    monkeypatch.undo()
    resumed = train_in_process(None, None, CFG, resume=run_dir)
    assert resumed["status"] == "finished" and resumed["epochs"] == 2


def test_epoch_end_reports_validation_and_checkpoint_time_in_its_samples_per_second(tmp_path, seq_npz,
                                                                                   monkeypatch):
    slow_writes(monkeypatch, seconds=0.3)
    events = []
    train_in_process(graph_to_dict(tiny_seq_graph()), str(seq_npz), CFG, tmp_path, emit=events.append)
    for e in [e for e in events if isinstance(e, EpochEnd)]:
        assert e.val_s > 0 and e.checkpoint_s >= 0
        # the slow write happens in the background: it is not in the loop's checkpoint time
        assert e.checkpoint_s < 0.3
        whole = e.duration_s + e.val_s + e.checkpoint_s
        assert e.samples_per_s == pytest.approx(128 / whole, rel=1e-3)
        assert e.train_samples_per_s == pytest.approx(128 / e.duration_s, rel=1e-3)
        assert e.samples_per_s < e.train_samples_per_s and e.epoch_cpu_s >= e.cpu_s


class FakeJob:
    """A job that records its writing and can be held in the middle of it."""

    def __init__(self, name, log, best=False, hold=None, fail=False):
        self.name, self.log, self.best, self.hold, self.fail = name, log, best, hold, fail
        self.events = [name]
        self.started = threading.Event()

    def write(self):
        self.started.set()
        if self.hold is not None:
            assert self.hold.wait(10)
        if self.fail:
            raise OSError(errno.EIO, "Input/output error", "/runs/x/checkpoints/last.pt")
        self.log.append(self.name)

    def failure_message(self, e):
        return f"cannot save {self.name}: {e.strerror}"


def test_a_newer_checkpoint_supersedes_a_waiting_last_pt_but_never_a_best_pt():
    log, hold = [], threading.Event()
    writer = CheckpointWriter()
    first = FakeJob("e1", log, hold=hold)
    writer.submit(first)
    assert first.started.wait(10)
    writer.submit(FakeJob("e2", log))              # waits behind e1 ...
    writer.submit(FakeJob("e3", log, best=True))   # ... and is superseded by e3, which writes best.pt
    blocked = threading.Event()

    def submit_e4():
        writer.submit(FakeJob("e4", log))          # must not drop e3: waits until e3 is being written
        blocked.set()
    t = threading.Thread(target=submit_e4)
    t.start()
    assert not blocked.wait(0.2)
    hold.set()
    t.join(10)
    writer.close()
    assert log == ["e1", "e3", "e4"] and writer.superseded == 1
    assert writer.take_events() == ["e1", "e3", "e4"] and writer.error is None


def test_after_a_failed_write_nothing_more_is_written_and_the_error_is_kept():
    log, hold = [], threading.Event()
    writer = CheckpointWriter()
    bad = FakeJob("e1", log, hold=hold, fail=True)
    writer.submit(bad)
    assert bad.started.wait(10)
    writer.submit(FakeJob("e2", log, best=True))
    hold.set()
    writer.wait()
    writer.submit(FakeJob("e3", log))
    writer.close()
    assert log == [] and writer.take_events() == []
    assert writer.error == "cannot save e1: Input/output error"
