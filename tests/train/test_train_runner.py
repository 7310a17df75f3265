"""The worker process: events over a queue, pause/resume/stop, a killed worker, run listing."""

from __future__ import annotations

import json
import os
import platform
import signal
import time

import torch
from train_helpers import tiny_seq_graph

from hybrid_studio.project import graph_to_dict
from hybrid_studio.train import start_run
from hybrid_studio.train.events import CheckpointSaved, EpochEnd, Failed, Finished, Log, Step
from hybrid_studio.train.runs import list_runs, load_metrics, read_status

CFG = {"batch_size": 32, "lr": 0.01, "num_threads": 1}


def wait_for(handle, predicate, timeout=60.0):
    """Poll until an event satisfies ``predicate``; returns (that event, every event polled so far).

    The whole batch a poll returned is kept, so events that arrived together with the match are not lost.
    """
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = handle.poll()
        seen.extend(batch)
        match = next((e for e in batch if predicate(e)), None)
        if match is not None:
            return match, seen
        if handle.done:
            break
        time.sleep(0.01)
    raise AssertionError(f"no matching event; saw {[type(e).__name__ for e in seen]}")


def test_worker_streams_events_until_finished(tmp_path, seq_npz):
    t0 = time.monotonic()
    h = start_run(graph_to_dict(tiny_seq_graph()), str(seq_npz), {**CFG, "epochs": 2}, tmp_path)
    assert h.status == "starting" and h.run_dir.startswith(str(tmp_path)) and os.path.isdir(h.run_dir)
    _, seen = wait_for(h, lambda e: isinstance(e, Step))
    print(f"start request to first step event: {time.monotonic() - t0:.2f} s")
    events = seen + h.join(60)
    assert h.done and h.status == "finished" and isinstance(events[-1], Finished)
    assert sum(isinstance(e, EpochEnd) for e in events) == 2
    # the worker says how it runs (threads as configured; glibc's malloc thresholds fixed, see procenv)
    settings = [e.message for e in events if isinstance(e, Log) and e.message.startswith("process ")]
    assert len(settings) == 1 and "torch 1 intra-op thread(s)" in settings[0]
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert "mmap threshold 32 MiB, trim threshold 256 MiB" in settings[0]
    assert h.started is not None and h.started.run_dir == h.run_dir
    assert h.summary["run_dir"] == h.run_dir and h.summary["epochs"] == 2
    assert read_status(h.run_dir)["status"] == "finished"
    assert [r.run_id for r in list_runs(tmp_path)] == [os.path.basename(h.run_dir)]
    assert len([r for r in load_metrics(h.run_dir) if r["scope"] == "epoch"]) == 4


def test_pause_resume_and_stop(tmp_path, seq_npz):
    h = start_run(graph_to_dict(tiny_seq_graph()), str(seq_npz), {**CFG, "epochs": 500}, tmp_path)
    wait_for(h, lambda e: isinstance(e, EpochEnd))
    h.pause()
    assert h.status == "paused"
    wait_for(h, lambda e: isinstance(e, Log) and e.message.startswith("paused"))
    time.sleep(0.3)
    h.poll()
    last = h.last_step.step
    time.sleep(0.5)
    assert not [e for e in h.poll() if isinstance(e, Step)], "steps arrived while paused"
    h.resume()
    wait_for(h, lambda e: isinstance(e, Step) and e.step > last)
    assert h.status == "running"
    events = h.stop(timeout=20)
    assert isinstance(events[-1], Finished) and events[-1].status == "stopped"
    assert h.status == "stopped" and h.done
    assert read_status(h.run_dir)["status"] == "stopped"
    ck = torch.load(os.path.join(h.run_dir, "checkpoints", "last.pt"), weights_only=True)
    assert ck["step"] == events[-1].summary["step"]


def test_killed_worker_is_reported_and_leaves_a_loadable_run(tmp_path, seq_npz):
    h = start_run(graph_to_dict(tiny_seq_graph()), str(seq_npz), {**CFG, "epochs": 500}, tmp_path)
    saved, _ = wait_for(h, lambda e: isinstance(e, CheckpointSaved))
    os.kill(h.pid, signal.SIGKILL)
    failed, _ = wait_for(h, lambda e: isinstance(e, Failed), timeout=20)
    assert "killed by signal 9" in failed.message and h.status == "failed" and not h.alive
    status = read_status(h.run_dir)
    assert status["status"] == "failed" and "killed" in status["message"]
    ck = torch.load(saved.path, weights_only=True)
    assert ck["epoch"] >= 1
    json.loads(open(os.path.join(h.run_dir, "project.json")).read())
    assert load_metrics(h.run_dir)[0]["epoch"] == 1
    assert h.poll() == []  # reported once


def test_a_run_that_fails_its_checks_leaves_no_folder(tmp_path):
    h = start_run(graph_to_dict(tiny_seq_graph()), "no-such-dataset", CFG, tmp_path)
    failed, _ = wait_for(h, lambda e: isinstance(e, Failed))
    assert "unknown dataset" in failed.message
    h.join(20)
    assert not os.path.exists(h.run_dir) and list_runs(tmp_path) == []


def test_stop_before_the_first_batch_kills_after_the_timeout(tmp_path, seq_npz):
    h = start_run(graph_to_dict(tiny_seq_graph()), str(seq_npz), {**CFG, "epochs": 500}, tmp_path)
    events = h.stop(timeout=0.2)  # the child is still importing torch: it cannot obey in time
    assert not h.alive and h.status == "stopped"
    assert isinstance(events[-1], Finished) and events[-1].status == "stopped"
    assert not os.path.exists(h.run_dir)  # nothing was written: no empty folder is left behind


def test_request_stop_never_waits_and_a_kill_after_it_reads_as_stopped(tmp_path, seq_npz):
    h = start_run(graph_to_dict(tiny_seq_graph()), str(seq_npz), {**CFG, "epochs": 500}, tmp_path)
    t0 = time.monotonic()
    h.request_stop()
    assert time.monotonic() - t0 < 0.1 and h.status == "stopping"
    h.kill()  # what the UI does when the grace period runs out
    events = h.join(20)
    assert isinstance(events[-1], Finished) and events[-1].status == "stopped" and h.status == "stopped"
