"""The activations worker's loop, run in this process on plain queues (the view's test runs it spawned)."""

from __future__ import annotations

import queue
import shutil
from pathlib import Path

import pytest

pytest.importorskip("captum")


def test_activation_server_answers_per_sample_and_names_bad_samples(image_run):
    from hybrid_studio.explain.worker import _serve_activations

    requests, replies = queue.Queue(), queue.Queue()
    for r in (1, 10_000, None):
        requests.put(r)
    _serve_activations(requests, replies, image_run, "best")  # returns on None
    msgs = []
    while not replies.empty():
        msgs.append(replies.get())
    assert msgs[0][:2] == ("progress", "loading the run")
    done = [m for m in msgs if m[0] == "activations"]
    assert len(done) == 1 and done[0][1] == 1
    views = done[0][2]
    assert views["conv1"]["kind"] == "maps" and views["conv1"]["shape"] == (4, 8, 8)
    assert views["fc"]["kind"] == "vector" and views["fc"]["data"].shape == (2,)
    steps = [m for m in msgs if m[0] == "progress" and m[3]]
    assert steps and steps[-1][2] == steps[-1][3]  # the per-block progress reaches its total
    errors = [m for m in msgs if m[0] == "error"]
    assert len(errors) == 1 and errors[0][1] == 10_000 and "no validation sample 10000" in errors[0][2]


def test_activation_server_reports_a_run_it_cannot_load(image_run, tmp_path):
    from hybrid_studio.explain.worker import _serve_activations

    run = tmp_path / "run"
    shutil.copytree(image_run, run)
    shutil.rmtree(Path(run) / "checkpoints")
    requests, replies = queue.Queue(), queue.Queue()
    _serve_activations(requests, replies, str(run), "best")  # gives up without waiting for a request
    msgs = [replies.get_nowait() for _ in range(replies.qsize())]
    assert msgs[-1][0] == "error" and msgs[-1][1] is None and "no checkpoint" in msgs[-1][2]
