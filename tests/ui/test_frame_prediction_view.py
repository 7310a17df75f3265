"""Frame prediction in the app: the copy-last-frame baseline drawn on the loss plots of a run, and the results view
showing the predicted and true frames side by side with the MSE against the baseline."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from hybrid_studio.train.events import Started

from test_train_panel import make_window
from train_fakes import FakeHandle, FakeStarter


class BaselineStarter(FakeStarter):
    """Fake runs whose Started event carries a baseline (as the engine sends for moving-shapes-next)."""

    def __init__(self, baseline, **kwargs):
        super().__init__(**kwargs)
        self.baseline = baseline

    def __call__(self, *args, **kwargs):
        handle: FakeHandle = super().__call__(*args, **kwargs)
        started = handle._pending[0]
        assert isinstance(started, Started)
        started.baseline_loss, started.baseline = self.baseline, "copy-last-frame" if self.baseline else ""
        return handle


def baseline_lines(plots):
    return [(plot, item) for plot in (plots.loss_plot, plots.epoch_plot) for item in plot.items
            if isinstance(item, pg.InfiniteLine)]


def test_a_run_with_a_baseline_draws_it_on_both_loss_plots(qtbot, tmp_path, monkeypatch):
    starter = BaselineStarter(0.9, epochs=2, steps_per_epoch=20)
    w = make_window(qtbot, tmp_path, monkeypatch, starter)
    p = w.panel
    qtbot.mouseClick(p.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: p.controller.state == "idle", timeout=10_000)
    lines = baseline_lines(p.plots)
    assert {plot for plot, _ in lines} == {p.plots.loss_plot, p.plots.epoch_plot}
    for plot, line in lines:
        assert line.value() == 0.9 and "copy-last-frame 0.9" in line.label.toPlainText()
    # the fake losses fall from 2 to ~0.2: the line lies inside the plotted range, where the user sees it
    p.plots.refresh()
    lo, hi = p.plots.epoch_plot.vb.viewRange()[1]
    assert lo < 0.9 < hi
    # a run on a dataset without a baseline takes the lines away
    starter.baseline = None
    qtbot.mouseClick(p.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: p.controller.state == "idle", timeout=10_000)
    assert baseline_lines(p.plots) == [] and p.plots.baseline is None


def frame_predictions(n=5, baseline=0.02):
    from hybrid_studio.train.datasets import InputInfo
    from hybrid_studio.train.predict import Predictions

    rng = np.random.default_rng(0)
    clips = rng.uniform(0, 1, (n, 6, 1, 20, 20)).astype("float32")
    y_true = rng.uniform(0, 1, (n, 1, 20, 20)).astype("float32")
    y_pred = y_true + 0.05
    return Predictions("regression", [], y_true, y_pred, [InputInfo((6, 1, 20, 20), "TCHW", name="video")],
                       [[c] for c in clips], "/x/run-7", "CHW", "copy-last-frame", baseline)


def test_results_show_last_true_and_predicted_frames_side_by_side(qtbot):
    from hybrid_studio.ui.train.results import ResultsView

    view = ResultsView()
    qtbot.addWidget(view)
    p = frame_predictions()
    view.show_predictions(p)
    assert "MSE 0.0025" in view.status.text()
    assert "copy-last-frame baseline's MSE is 0.02: the model is 8.0x better" in view.status.text()
    assert view.frames_shown == 5 and view.samples_title.text().endswith("last input | true next | predicted")
    assert view.matrix.isHidden()  # no empty confusion matrix above the frames
    assert [c for c in view.samples.cells] == [("MSE 0.0025", ["image"])] * 5
    # each cell is one strip of three 20x20 frames with a one-pixel gap: last input, true, predicted
    images = [item for item in view.samples.items() if isinstance(item, pg.ImageItem)]
    assert len(images) == 5
    strips = [item.image for item in images]
    assert all(strip.shape == (20, 62) for strip in strips)
    for i in range(5):
        last = p.samples[i][0][-1, 0]
        (strip,) = [s for s in strips if np.allclose(s[:, :20], last)]
        np.testing.assert_allclose(strip[:, 21:41], p.y_true[i, 0])
        np.testing.assert_allclose(strip[:, 42:], p.y_pred[i, 0])
    # a model worse than the baseline is said to be so; a classification run afterwards gets the usual title
    view.show_predictions(frame_predictions(baseline=0.001))
    assert "worse (2.5x its MSE)" in view.status.text()
    from hybrid_studio.train.datasets import InputInfo
    from hybrid_studio.train.predict import Predictions
    view.show_predictions(Predictions("classification", ["a", "b"], np.array([1]), np.array([1]),
                                      [InputInfo((8, 8), "TF")], [[np.zeros((8, 8), "float32")]], "/x/r"))
    assert view.frames_shown == 0 and view.samples_title.text() == "Validation samples (true / predicted):"
    assert not view.matrix.isHidden() and view.matrix.rowCount() == 2


def test_results_of_a_real_frame_prediction_run(qtbot, tmp_path):
    """A tiny ConvLSTM run on moving-shapes-next, its results loaded as the panel loads them (off the UI thread)."""
    from hybrid_studio.blocks import new_graph
    from hybrid_studio.graph import AddNode, Connect, Edge, Node
    from hybrid_studio.project import graph_to_dict
    from hybrid_studio.train.engine import train_in_process
    from hybrid_studio.ui.train.results import ResultsView

    g = new_graph("next-frame")
    for node in (Node("video", "Input", {"shape": [6, 1, 20, 20], "axes": "TCHW"}),
                 Node("cl", "ConvLSTM2d", {"hidden_channels": 2, "return_sequences": False}),
                 Node("frame", "Conv2d", {"out_channels": 1, "kernel_size": 1}),
                 Node("out", "Output", {"task": "regression"})):
        AddNode(node).apply(g)
    for a, b in (("video", "cl"), ("cl", "frame"), ("frame", "out")):
        Connect(Edge(a, b)).apply(g)
    summary = train_in_process(graph_to_dict(g), "moving-shapes-next",
                               {"epochs": 1, "batch_size": 50, "num_threads": 1}, tmp_path / "runs")
    view = ResultsView()
    qtbot.addWidget(view)
    view.load_run(summary["run_dir"])
    qtbot.waitUntil(lambda: view.predictions is not None, timeout=60_000)
    assert view.frames_shown == 8 and "copy-last-frame baseline's MSE is" in view.status.text()
    assert view.predictions.y_pred.shape == (200, 1, 20, 20)


def test_the_convlstm_template_fits_moving_shapes_next_in_the_panel(qtbot, tmp_path, monkeypatch):
    """Picking the dataset in the app: the template fits (no problem shown), the seed template does not and is told
    why, and Train sends moving-shapes-next to the run."""
    from hybrid_studio.project import load_template

    starter = BaselineStarter(0.02, epochs=1, steps_per_epoch=5)
    w = make_window(qtbot, tmp_path, monkeypatch, starter, graph=load_template("convlstm-next-frame"))
    picker = w.panel.picker
    picker.select("moving-shapes-next")
    qtbot.waitUntil(lambda: picker.dataset is not None and picker.dataset.name == "moving-shapes-next",
                    timeout=30_000)
    qtbot.waitUntil(lambda: picker.match(w.document.graph) == [], timeout=3000)
    assert not picker.has_errors() and picker.preview.cells[0][1] == ["image"]  # clips drawn as frame strips
    qtbot.mouseClick(w.panel.train_button, Qt.MouseButton.LeftButton)
    assert starter.calls[0][1] == "moving-shapes-next"
    qtbot.waitUntil(lambda: w.panel.controller.state == "idle", timeout=10_000)
    assert [line.value() for _, line in baseline_lines(w.panel.plots)] == [0.02, 0.02]
    # a classifier on the same data: the picker names the mismatch
    seed = load_template("seed-cnn-lstm")
    assert any("regression" in d.message for d in picker.match(seed))
