"""Benchmark: the UI thread's longest stall while a run streams steps into the train panel.

A 5 ms QTimer heartbeat runs while a run streams steps into the panel's real drain path (RunController ->
TrainPanel -> plots); the longest gap between heartbeats is the longest stall. Two sources: a fake worker streaming
a Step event for every one of ~1,000 steps/s (the drain's worst case), and a real worker process training a tiny
model on digits-seq at several hundred steps/s (the engine sends a few Step events a second, plus an epoch end, two
checkpoints and a log line every fraction of a second). Run with ``python -m pytest -m benchmark tests/benchmarks/test_train_ui_bench.py -s``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QMainWindow

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "ui"))  # the shared fake worker

from train_fakes import FakeStarter  # noqa: E402

from hybrid_studio.project import load_template  # noqa: E402
from hybrid_studio.ui.document import Document  # noqa: E402
from hybrid_studio.ui.train import TrainPanel  # noqa: E402

RATE = 1000  # steps per second streamed (target: at least 200)
SECONDS = 6.0
TARGET_MAX_MS = 50.0


class Window(QMainWindow):
    def __init__(self, starter):
        super().__init__()
        self.document = Document(load_template("seed-cnn-lstm"))  # tests may swap in another graph
        self.panel = TrainPanel(self, starter=starter)
        self.setCentralWidget(self.panel)
        self.resize(1400, 900)

    def set_document(self, document):
        self.document = document


@pytest.mark.benchmark
def test_event_loop_stall_during_a_fast_run(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("HYBRID_STUDIO_DATA_DIR", str(tmp_path))
    starter = FakeStarter(epochs=1000, steps_per_epoch=500, rate=RATE)
    w = Window(starter)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.panel.ready and w.panel.picker.dataset is not None, timeout=60_000)
    qtbot.wait(300)

    beats = []
    heart = QTimer()
    heart.setInterval(5)
    heart.setTimerType(Qt.TimerType.PreciseTimer)
    heart.timeout.connect(lambda: beats.append(time.perf_counter()))
    w.panel.controller.record_ticks = True
    assert w.panel.train()
    heart.start()
    qtbot.wait(int(SECONDS * 1000))
    heart.stop()
    handle = starter.handles[0]
    steps = w.panel.plots.point_count()
    w.panel.controller.stop()
    qtbot.waitUntil(lambda: w.panel.controller.state == "idle", timeout=5000)

    gaps = np.diff(beats) * 1000
    ticks = np.array(w.panel.controller.tick_seconds) * 1000
    rate = steps / SECONDS
    print(f"\nstreamed {steps} steps in {SECONDS:.0f} s ({rate:.0f} steps/s, {handle.step} produced); "
          f"{len(beats)} heartbeats of 5 ms")
    print(f"heartbeat gap: median {np.median(gaps):.1f} ms, p99 {np.percentile(gaps, 99):.1f} ms, "
          f"max {gaps.max():.1f} ms (target max <= {TARGET_MAX_MS:.0f} ms)")
    print(f"drain tick: median {np.median(ticks):.2f} ms, p99 {np.percentile(ticks, 99):.2f} ms, "
          f"max {ticks.max():.2f} ms over {len(ticks)} ticks")
    assert rate >= 200
    assert gaps.max() <= TARGET_MAX_MS


def _tiny_seq_graph():
    """Input (8 steps x 8 features) -> Reshape -> Linear -> Linear -> Output: trains hundreds of steps a second."""
    from hybrid_studio.blocks import new_graph
    from hybrid_studio.graph import AddNode, Connect, Edge, Node
    g = new_graph("tiny-seq")
    for node in (Node("seq", "Input", {"shape": [8, 8], "axes": "TF"}),
                 Node("flat", "Reshape", {"shape": [64], "axes": "F"}),
                 Node("fc1", "Linear", {"out_features": 32, "activation": "relu"}),
                 Node("fc2", "Linear", {"out_features": 10}),
                 Node("out", "Output", {"task": "classification"})):
        AddNode(node).apply(g)
    for a, b in (("seq", "flat"), ("flat", "fc1"), ("fc1", "fc2"), ("fc2", "out")):
        Connect(Edge(a, b)).apply(g)
    return g


@pytest.mark.benchmark
def test_event_loop_stall_during_a_real_fast_run(qtbot, tmp_path, monkeypatch):
    """The same measure with a real worker process: a tiny model on digits-seq, batch 8 (well over 200 steps/s)."""
    monkeypatch.setenv("HYBRID_STUDIO_DATA_DIR", str(tmp_path))
    w = Window(None)
    w.document = Document(_tiny_seq_graph())
    w.panel.document_changed()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.panel.ready, timeout=60_000)
    w.panel.picker.select("digits-seq")
    qtbot.waitUntil(lambda: w.panel.picker.dataset is not None and w.panel.picker.dataset.name == "digits-seq",
                    timeout=60_000)
    w.panel.settings.widgets["epochs"].setValue(1000)
    w.panel.settings.widgets["batch_size"].setValue(8)
    w.panel.settings.widgets["device"].setCurrentIndex(w.panel.settings.device_ids().index("cpu"))
    assert w.panel.train(), w.panel.status.text()
    qtbot.waitUntil(lambda: w.panel.plots.point_count() >= 2, timeout=60_000)
    beats = []
    heart = QTimer()
    heart.setInterval(5)
    heart.setTimerType(Qt.TimerType.PreciseTimer)
    heart.timeout.connect(lambda: beats.append(time.perf_counter()))
    s0, t0 = w.panel.plots.series["loss"].x[-1], time.perf_counter()
    w.panel.controller.record_ticks = True
    heart.start()
    qtbot.wait(int(SECONDS * 1000))
    heart.stop()
    s1, t1 = w.panel.plots.series["loss"].x[-1], time.perf_counter()
    w.panel.controller.stop()
    qtbot.waitUntil(lambda: w.panel.controller.state == "idle", timeout=30_000)
    gaps = np.diff(beats) * 1000
    rate = (s1 - s0) / (t1 - t0)
    print(f"\nreal run: {rate:.0f} training steps/s (batch 8, digits-seq); heartbeat gap: median "
          f"{np.median(gaps):.1f} ms, p99 {np.percentile(gaps, 99):.1f} ms, max {gaps.max():.1f} ms")
    ticks = np.array(w.panel.controller.tick_seconds) * 1000
    print(f"drain tick: median {np.median(ticks):.2f} ms, p99 {np.percentile(ticks, 99):.2f} ms, "
          f"max {ticks.max():.2f} ms over {len(ticks)} ticks")
    assert rate >= 200
    assert gaps.max() <= TARGET_MAX_MS
