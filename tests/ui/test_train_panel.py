"""The train panel: settings in the project, dataset matching, run controls, live plots, crashes, runs, results.

Most tests drive the panel with a fake run handle (tests/ui/train_fakes.py) through the real drain path; the
``test_real_*`` tests start real worker processes on digits and take a few seconds each (the longest is ``slow``).
"""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMainWindow

from hybrid_studio.project import load_template
from hybrid_studio.ui.document import Document
from hybrid_studio.ui.train import TrainPanel, panel as panel_module
from hybrid_studio.ui.train.background import pending
from hybrid_studio.ui.train.controller import runs_dir_for

from train_fakes import FakeStarter


class Window(QMainWindow):
    """The two things the panel needs from the main window."""

    def __init__(self, graph=None, path=None, starter=None):
        super().__init__()
        self.document = Document(graph if graph is not None else load_template("seed-cnn-lstm"), path)
        self.panel = TrainPanel(self, starter=starter)
        self.setCentralWidget(self.panel)
        self.resize(1300, 800)

    def set_document(self, document):
        self.document = document

    def closeEvent(self, event):
        self.panel.shutdown()  # a test that fails mid-run leaves no worker behind
        super().closeEvent(event)


@pytest.fixture
def errors(monkeypatch):
    """Error boxes the panel would show, as (title, text, details)."""
    shown = []
    monkeypatch.setattr(panel_module, "show_error", lambda parent, title, text, details="": shown.append(
        (title, text, details)))
    return shown


def make_window(qtbot, tmp_path, monkeypatch, starter=None, graph=None, saved=True):
    monkeypatch.setenv("HYBRID_STUDIO_DATA_DIR", str(tmp_path / "data"))
    path = tmp_path / "proj.hsproj.json" if saved else None
    w = Window(graph, path, starter)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.panel.ready, timeout=30_000)
    qtbot.waitUntil(lambda: w.panel.picker.dataset is not None, timeout=30_000)
    return w


def settle(qtbot):
    qtbot.waitUntil(lambda: pending() == 0, timeout=30_000)


# ---- choices, settings, matching ---------------------------------------------------------------------------
def test_device_list_offers_cpu_and_panel_import_does_not_load_torch(qtbot, tmp_path, monkeypatch, real_children):
    # real_children: the devices are listed (and digits built) by the real child processes, never a cached answer
    w = make_window(qtbot, tmp_path, monkeypatch)
    ids = w.panel.settings.device_ids()
    assert ids[0] == "auto" and "cpu" in ids
    combo = w.panel.settings.widgets["device"]
    assert combo.itemText(ids.index("cpu")).startswith("CPU")
    # the panel modules themselves never import torch (checked in a fresh interpreter)
    import subprocess
    code = ("import sys, hybrid_studio.ui.train as t; import hybrid_studio.ui.train.panel; "
            "print('torch' in sys.modules)")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.stdout.strip() == "False"


def test_settings_are_kept_in_the_training_section_outside_the_undo_history(qtbot, tmp_path, monkeypatch):
    w = make_window(qtbot, tmp_path, monkeypatch)
    doc = w.document
    w.panel.settings.widgets["epochs"].setValue(7)
    qtbot.waitUntil(lambda: doc.graph.training.get("epochs") == 7, timeout=3000)
    assert doc.graph.training["dataset"] == "digits"
    # settings are not design edits: no undo step, but the project is modified (and saves them)
    assert doc.undo_stack.count() == 0 and doc.modified
    # the form follows the project's settings when they change under it (a restored or reopened project)
    doc.set_meta("training", dict(doc.graph.training, epochs=4))
    doc.settled.emit(set())  # what the document says once an edit, undo or redo has settled
    assert w.panel.settings.widgets["epochs"].value() == 4


def test_design_edits_do_not_set_the_settings_form_again(qtbot, tmp_path, monkeypatch):
    # every check (each design edit) reaches the panel; the form's ~25 fields are set again only when the project's
    # training section changed (it cost 1-2 ms of each param edit)
    w = make_window(qtbot, tmp_path, monkeypatch)
    doc, form = w.document, w.panel.settings
    doc.settled.emit(set())
    shown = []
    original = form.set_values
    monkeypatch.setattr(form, "set_values", lambda values: shown.append(dict(values)) or original(values))
    from hybrid_studio.graph import SetParams
    doc.push(SetParams("fc", {"out_features": 12}))
    doc.settled.emit(set())
    assert shown == []
    doc.set_meta("training", dict(doc.graph.training, epochs=5))
    doc.settled.emit(set())
    assert len(shown) == 1 and form.widgets["epochs"].value() == 5
    doc.undo_stack.undo()  # the design edit, not the settings
    doc.settled.emit(set())
    assert len(shown) == 1 and form.widgets["epochs"].value() == 5


def test_dataset_preview_and_adapt_graph_is_one_undoable_edit(qtbot, tmp_path, monkeypatch):
    w = make_window(qtbot, tmp_path, monkeypatch)
    picker = w.panel.picker
    assert len(picker.preview.cells) == 6 and picker.preview.cells[0][1] == ["image"]
    assert "1,797" in picker.description.text()
    picker.select("waveforms")  # sequences (T=128, F=1): the image template does not fit
    qtbot.waitUntil(lambda: picker.dataset is not None and picker.dataset.name == "waveforms", timeout=30_000)
    qtbot.waitUntil(lambda: picker.has_errors(), timeout=3000)
    assert picker.preview.cells[0][1] == ["lines"]
    assert picker.adapt_button.isVisibleTo(w.panel)
    before = w.document.graph.copy()
    qtbot.mouseClick(picker.adapt_button, Qt.MouseButton.LeftButton)
    assert picker.match(w.document.graph) == [] or not picker.has_errors()
    assert w.document.undo_stack.undoText().startswith("Adapt the graph")
    # the Input now reads sequences, which the template's Conv2d does not take: the panel says what is left
    assert "the graph has" in w.panel.status.text() and "conv1" in w.panel.status.text()
    w.document.undo_stack.undo()
    assert [n.params for n in w.document.graph.nodes] == [n.params for n in before.nodes]
    qtbot.waitUntil(lambda: picker.has_errors(), timeout=3000)


def test_open_data_npz_and_a_bad_file(qtbot, tmp_path, monkeypatch):
    w = make_window(qtbot, tmp_path, monkeypatch)
    picker = w.panel.picker
    rng = np.random.default_rng(0)
    good = tmp_path / "mine.npz"
    np.savez(good, x=rng.random((40, 8, 8)).astype("float32"), y=np.arange(40) % 10)
    picker.select(str(good))
    qtbot.waitUntil(lambda: picker.dataset is not None and picker.dataset.name == "mine", timeout=10_000)
    assert picker.preview.cells[0][1] == ["lines"]  # (T, F) samples drawn as lines
    qtbot.waitUntil(lambda: w.document.graph.training.get("dataset") == str(good), timeout=3000)
    # an image folder is resized to the graph's Input (1x28x28), as the engine will do
    from PySide6.QtGui import QColor, QImage
    for k, cls in enumerate(("cats", "dogs")):
        (tmp_path / "pics" / cls).mkdir(parents=True)
        for i in range(3):
            img = QImage(10, 12, QImage.Format.Format_Grayscale8)
            img.fill(QColor(40 * i + 100 * k, 0, 0))
            assert img.save(str(tmp_path / "pics" / cls / f"{i}.png"))
    picker.select(str(tmp_path / "pics"))
    qtbot.waitUntil(lambda: picker.dataset is not None and picker.dataset.name == "pics", timeout=10_000)
    assert tuple(picker.dataset.inputs[0].shape) == (1, 28, 28) and picker.dataset.class_names == ["cats", "dogs"]
    assert picker.preview.cells[0][1] == ["image"]
    # a .csv: a feature vector per row, the label last
    table = tmp_path / "table.csv"
    table.write_text("a,b,c,d,label\n" + "".join(f"{i},{i % 3},{i * 0.5},{i % 2},{i % 2}\n" for i in range(30)))
    picker.select(str(table))
    qtbot.waitUntil(lambda: picker.dataset is not None and picker.dataset.name == "table", timeout=10_000)
    assert tuple(picker.dataset.inputs[0].shape) == (4,) and picker.dataset.inputs[0].axes == "F"
    assert picker.has_errors()  # the image template does not take vectors; Adapt graph is offered
    assert picker.adapt_button.isVisibleTo(w.panel)
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((5, 3)), y=np.zeros(4))
    picker.select(str(bad))
    qtbot.waitUntil(lambda: bool(picker.error), timeout=10_000)
    assert "bad.npz" in picker.problem.text() and picker.dataset is None


def test_runs_go_beside_a_saved_project_else_to_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HYBRID_STUDIO_DATA_DIR", str(tmp_path / "data"))
    assert runs_dir_for(Document(path=tmp_path / "p" / "a.hsproj.json")) == tmp_path / "p" / "runs"
    assert runs_dir_for(Document()) == tmp_path / "data" / "runs"


# ---- a run through the drain path (fake worker) ------------------------------------------------------------
def test_train_click_streams_points_and_finishes(qtbot, tmp_path, monkeypatch, errors):
    starter = FakeStarter(epochs=2, steps_per_epoch=20)
    w = make_window(qtbot, tmp_path, monkeypatch, starter)
    p = w.panel
    qtbot.mouseClick(p.train_button, Qt.MouseButton.LeftButton)
    graph_dict, dataset, config, runs_dir, resume = starter.calls[0]
    assert dataset == "digits" and runs_dir == tmp_path / "runs" and resume is None
    assert [n["id"] for n in graph_dict["nodes"]] == [n.id for n in w.document.graph.nodes]
    qtbot.waitUntil(lambda: p.controller.state == "idle", timeout=10_000)
    assert p.plots.point_count() == 40
    assert p.plots.series["val_loss"].n == 2
    x, y = p.plots.curves["loss"].getData()
    assert len(x) > 0 and np.isfinite(y).all()
    assert p.progress.format() == "Finished" and not errors
    assert p.train_button.isEnabled() and not p.stop_button.isEnabled()


def test_training_trains_a_snapshot_while_editing_goes_on(qtbot, tmp_path, monkeypatch, errors):
    from hybrid_studio.graph import SetParams
    starter = FakeStarter(epochs=50, steps_per_epoch=20, steps_per_poll=1)
    w = make_window(qtbot, tmp_path, monkeypatch, starter)
    w.panel.train()
    conv = next(n for n in w.document.graph.nodes if n.type == "Conv2d")
    assert w.document.push(SetParams(conv.id, {"out_channels": 3}))
    sent = next(n for n in starter.calls[0][0]["nodes"] if n["id"] == conv.id)
    assert sent["params"].get("out_channels") != 3
    w.panel.controller.stop()
    qtbot.waitUntil(lambda: w.panel.controller.state == "idle", timeout=5000)


def test_train_refuses_a_graph_with_errors(qtbot, tmp_path, monkeypatch, errors):
    from hybrid_studio.graph import SetParams
    starter = FakeStarter()
    w = make_window(qtbot, tmp_path, monkeypatch, starter)
    image = next(n for n in w.document.graph.nodes if n.type == "Input")
    assert w.document.push(SetParams(image.id, {"shape": [1, 2, 2]}))  # too small for the convolutions
    assert not w.document.checker.valid
    qtbot.mouseClick(w.panel.train_button, Qt.MouseButton.LeftButton)
    assert starter.calls == [] and "graph has errors" in w.panel.status.text()
    assert w.panel.controller.state == "idle"


def test_pause_resume_stop_buttons_and_shortcuts(qtbot, tmp_path, monkeypatch, errors):
    starter = FakeStarter(epochs=100, steps_per_epoch=20, steps_per_poll=1)
    w = make_window(qtbot, tmp_path, monkeypatch, starter)
    p = w.panel
    w.activateWindow()
    assert QTest.qWaitForWindowActive(w)
    QTest.keyClick(w, Qt.Key.Key_F5)  # the F5 key starts a run
    assert p.controller.state == "running"
    qtbot.waitUntil(lambda: p.plots.point_count() >= 3, timeout=5000)
    qtbot.mouseClick(p.pause_button, Qt.MouseButton.LeftButton)
    assert p.controller.state == "paused" and p.resume_button.isEnabled() and not p.pause_button.isEnabled()
    n = p.plots.point_count()
    qtbot.wait(200)
    assert p.plots.point_count() <= n + 1  # at most what was already in flight
    QTest.keyClick(w, Qt.Key.Key_F5)  # F5 on a paused run resumes it
    assert p.controller.state == "running"
    qtbot.waitUntil(lambda: p.plots.point_count() > n + 2, timeout=5000)
    QTest.keyClick(w, Qt.Key.Key_F6)
    assert p.controller.state == "paused"
    qtbot.mouseClick(p.resume_button, Qt.MouseButton.LeftButton)
    QTest.keyClick(w, Qt.Key.Key_F5, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: p.controller.state == "idle", timeout=5000)
    assert starter.handles[0].commands == ["pause", "resume", "pause", "resume", "stop"]
    assert p.progress.format() == "Stopped" and not errors


def test_worker_that_dies_silently_is_reported_failed_and_app_stays_usable(qtbot, tmp_path, monkeypatch, errors):
    starter = FakeStarter(epochs=3, steps_per_epoch=20, crash_at=7)
    w = make_window(qtbot, tmp_path, monkeypatch, starter)
    p = w.panel
    qtbot.mouseClick(p.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert errors[0][0] == "Training failed" and "ended unexpectedly" in errors[0][1]
    assert p.controller.state == "idle" and p.progress.format() == "Failed"
    assert p.train_button.isEnabled()
    # still usable: edit and train again
    w.panel.settings.widgets["epochs"].setValue(2)
    starter.kwargs.pop("crash_at")
    qtbot.mouseClick(p.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: p.progress.format() == "Finished", timeout=5000)
    assert len(errors) == 1


def test_failed_event_shows_the_traceback_in_the_details(qtbot, tmp_path, monkeypatch, errors):
    starter = FakeStarter(epochs=3, steps_per_epoch=20, fail_at=5)
    w = make_window(qtbot, tmp_path, monkeypatch, starter)
    qtbot.mouseClick(w.panel.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    title, text, details = errors[0]
    assert "NaN at step 5" in text and "FloatingPointError" in details
    assert "NaN at step 5" in w.panel.status.text()


def test_error_box_has_the_details(qtbot):
    box = panel_module.show_error(None, "Training failed", "boom", "Traceback: here")
    qtbot.addWidget(box)
    assert box.detailedText() == "Traceback: here" and box.text() == "boom"
    box.close()


# ---- plots ---------------------------------------------------------------------------------------------------
def test_plots_hold_100k_points_readout_and_export(qtbot, tmp_path):
    import time
    from types import SimpleNamespace as NS
    from hybrid_studio.ui.train.plots import TrainPlots
    plots = TrainPlots()
    qtbot.addWidget(plots)
    plots.resize(900, 600)
    plots.show()
    steps = [NS(epoch=1 + i // 1000, step=i, loss=1.0 / (1 + i / 1000), lr=1e-3, samples_per_s=1e4)
             for i in range(100_000)]
    plots.add_steps(steps)
    plots.add_epochs([NS(epoch=e, step=e * 1000, train_loss=0.5, val_loss=0.6, train_acc=0.8, val_acc=0.7,
                         val_mae=None, duration_s=1.0) for e in range(1, 4)])
    plots.refresh()
    plots.loss_plot.enableAutoRange()
    t = time.perf_counter()
    plots.grab()  # paint once with every point
    assert time.perf_counter() - t < 2.0
    assert plots.point_count() == 100_000
    text = plots.readout_near(plots.loss_plot, 50_000.2)
    assert text.startswith("step 50000:") and "loss 0.01961" in text
    scene_pos = plots.loss_plot.vb.mapViewToScene(QPointF(20_000, 0.5))
    assert plots.readout_at(plots.loss_plot, scene_pos).startswith("step 2")
    png = plots.export_png(tmp_path / "p.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    plots.export_csv(tmp_path / "m.csv")
    rows = list(csv.DictReader(open(tmp_path / "m.csv")))
    assert len(rows) == 100_003 and rows[-1]["split"] == "val" and rows[-1]["accuracy"] == "0.7"


def test_overlays_draw_other_runs(qtbot):
    from hybrid_studio.ui.train.plots import TrainPlots
    plots = TrainPlots()
    qtbot.addWidget(plots)
    rows = [{"epoch": 1, "step": i, "split": "train", "scope": "step", "loss": 0.5} for i in range(10)]
    rows += [{"epoch": 1, "step": 10, "split": "train", "scope": "epoch", "loss": 0.45, "accuracy": 0.8},
             {"epoch": 1, "step": 10, "split": "val", "scope": "epoch", "loss": 0.4, "accuracy": 0.9}]
    plots.set_overlays({"run-a": rows, "run-b": rows})
    assert len(plots.overlay_items) == 6
    x, y = plots.overlay_items[0][1].getData()
    assert len(x) == 10 and abs(y[-1] - 0.5) < 1e-9  # per-step losses only, not the epoch mean
    plots.set_overlays({})
    assert plots.overlay_items == []


# ---- results ---------------------------------------------------------------------------------------------------
def test_results_confusion_matrix_and_samples(qtbot):
    from hybrid_studio.train.datasets import InputInfo
    from hybrid_studio.train.predict import Predictions
    from hybrid_studio.ui.train.results import ResultsView
    view = ResultsView()
    qtbot.addWidget(view)
    y_true, y_pred = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])
    images = [[np.random.rand(1, 8, 8).astype("float32")] for _ in range(2)]
    view.show_predictions(Predictions("classification", ["a", "b", "c"], y_true, y_pred,
                                      [InputInfo((1, 8, 8), "CHW")], images, "/x/run-1"))
    assert view.matrix.rowCount() == 3 and view.matrix.item(1, 2).text() == "1"
    assert view.matrix.item(1, 1).text() == "1" and view.matrix.horizontalHeaderItem(2).text() == "c"
    assert "75.0%" in view.status.text()
    assert [c[0] for c in view.samples.cells] == ["a / a", "b / b"] and view.samples.cells[0][1] == ["image"]
    seqs = [[np.random.rand(8, 8).astype("float32")]]
    view.show_predictions(Predictions("classification", ["a", "b"], np.array([1]), np.array([0]),
                                      [InputInfo((8, 8), "TF")], seqs, "/x/run-2"))
    assert view.samples.cells == [("b / a", ["lines"])]


def test_predict_run_feeds_inputs_as_the_engine_did(tmp_path, monkeypatch):
    """The results' predictions use the run's Input pairing (by name, not dataset order) and its image size."""
    import hybrid_studio.train.datasets as datasets
    from hybrid_studio.blocks import new_graph
    from hybrid_studio.graph import AddNode, Connect, Edge, Node
    from hybrid_studio.project import graph_to_dict
    from hybrid_studio.train.datasets import Dataset, InputInfo, Split
    from hybrid_studio.train.engine import train_in_process
    from hybrid_studio.train.imageio import write_png
    from hybrid_studio.train.predict import predict_run

    # two inputs whose dataset order (b, a) differs from the graph's (a, b); their sizes differ, so a wrong
    # order cannot go unnoticed
    g = new_graph("two")
    for n in [Node("a", "Input", {"shape": [3], "axes": "F"}), Node("b", "Input", {"shape": [5], "axes": "F"}),
              Node("cat", "Concat", {}), Node("fc", "Linear", {"out_features": 2}), Node("out", "Output", {})]:
        AddNode(n).apply(g)
    for e in [Edge("a", "cat", "out", "in0"), Edge("b", "cat", "out", "in1"), Edge("cat", "fc"), Edge("fc", "out")]:
        Connect(e).apply(g)
    rng = np.random.default_rng(0)
    y = np.arange(40) % 2
    xb, xa = rng.normal(size=(40, 5)).astype("float32"), rng.normal(size=(40, 3)).astype("float32")
    ds = Dataset("pair", [InputInfo((5,), "F", name="b"), InputInfo((3,), "F", name="a")], "classification",
                 Split([xb[:30], xa[:30]], y[:30]), Split([xb[30:], xa[30:]], y[30:]), num_classes=2,
                 class_names=["0", "1"])
    summary = train_in_process(graph_to_dict(g), ds, {"epochs": 1, "num_threads": 1}, tmp_path / "runs")
    monkeypatch.setattr(datasets, "get_dataset", lambda *a, **k: ds)
    p = predict_run(summary["run_dir"])
    assert len(p.y_pred) == 10 and [i.name for i in p.inputs] == ["a", "b"] and p.samples[0][0].shape == (3,)

    # an image folder is resized to the run's Input size (10x12 files, an 8x8 Input)
    for c in ("cats", "dogs"):
        (tmp_path / "pets" / c).mkdir(parents=True)
        for i in range(5):
            write_png(tmp_path / "pets" / c / f"{i}.png", rng.uniform(0, 1, (10, 12)))
    g = new_graph("img")
    for n in [Node("image", "Input", {"shape": [1, 8, 8], "axes": "CHW"}), Node("flat", "Flatten", {}),
              Node("fc", "Linear", {"out_features": 2}), Node("out", "Output", {})]:
        AddNode(n).apply(g)
    for e in [Edge("image", "flat"), Edge("flat", "fc"), Edge("fc", "out")]:
        Connect(e).apply(g)
    monkeypatch.undo()
    summary = train_in_process(graph_to_dict(g), str(tmp_path / "pets"), {"epochs": 1, "num_threads": 1},
                               tmp_path / "runs")
    p = predict_run(summary["run_dir"])
    assert len(p.y_pred) == 2 and p.samples[0][0].shape == (1, 8, 8)


# ---- real runs (worker processes on digits) -------------------------------------------------------------------
def _start_a_long_real_run(qtbot, tmp_path, monkeypatch, points: int):
    """A window training the seed template on digits (30 epochs, batch 32) in a real worker, once ``points``
    steps have been plotted: (window, panel)."""
    w = make_window(qtbot, tmp_path, monkeypatch)
    p = w.panel
    p.settings.widgets["epochs"].setValue(30)
    p.settings.widgets["batch_size"].setValue(32)
    qtbot.mouseClick(p.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: p.plots.point_count() >= points, timeout=60_000)
    return w, p


def _wait_idle(qtbot, panel, timeout=60_000):
    qtbot.waitUntil(lambda: panel.controller.state == "idle", timeout=timeout)


def test_real_run_click_train_on_seed_template_with_digits(qtbot, tmp_path, monkeypatch, errors):
    w = make_window(qtbot, tmp_path, monkeypatch)
    p = w.panel
    assert p.picker.name == "digits" and not p.picker.has_errors()
    p.settings.widgets["epochs"].setValue(2)
    p.settings.widgets["batch_size"].setValue(256)
    qtbot.mouseClick(p.train_button, Qt.MouseButton.LeftButton)
    assert p.controller.state == "running"
    qtbot.waitUntil(lambda: p.plots.point_count() > 0, timeout=60_000)
    _wait_idle(qtbot, p)
    assert not errors and p.progress.format() == "Finished"
    assert p.plots.series["val_loss"].n == 2 and p.plots.series["val_metric"].n == 2
    x, y = p.plots.curves["loss"].getData()
    assert len(x) == p.plots.point_count() and np.isfinite(y).all()
    runs = p.runs.runs
    assert len(runs) == 1 and runs[0].status == "finished" and runs[0].path.startswith(str(tmp_path / "runs"))
    assert p.runs.table.item(0, 1).text() == "finished"
    assert w.document.graph.training["epochs"] == 2  # the settings went into the project
    # the results view predicts the validation set with best.pt
    qtbot.waitUntil(lambda: p.results.predictions is not None, timeout=60_000)
    m = p.results.predictions.confusion()
    assert m.shape == (10, 10) and m.sum() == 359
    # selecting the run overlays its curves; restoring it puts its graph back, as one undoable edit
    p.runs.table.selectRow(0)
    assert len(p.plots.overlay_items) == 3
    from hybrid_studio.graph import RemoveNode
    doc = w.document
    trained = [n.id for n in doc.graph.nodes]
    doc.push(RemoveNode("fc"))  # an edit after the run
    qtbot.mouseClick(p.runs.restore_button, Qt.MouseButton.LeftButton)
    assert w.document is doc and [n.id for n in doc.graph.nodes] == trained
    assert doc.path == tmp_path / "proj.hsproj.json" and len(p.runs.runs) == 1  # same file, same runs folder
    doc.undo_stack.undo()
    assert "fc" not in doc.graph


@pytest.mark.slow
def test_real_run_pause_resume_stop_and_resume_from_the_runs_list(qtbot, tmp_path, monkeypatch, errors):
    import torch
    w, p = _start_a_long_real_run(qtbot, tmp_path, monkeypatch, points=2)
    qtbot.mouseClick(p.pause_button, Qt.MouseButton.LeftButton)
    qtbot.wait(1000)  # what was in flight arrives
    n = p.plots.point_count()
    qtbot.wait(1000)
    assert p.plots.point_count() == n and p.controller.state == "paused"
    qtbot.mouseClick(p.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: p.plots.point_count() > n, timeout=30_000)
    qtbot.mouseClick(p.stop_button, Qt.MouseButton.LeftButton)
    _wait_idle(qtbot, p)
    assert not errors and p.progress.format() == "Stopped"
    run = p.runs.runs[0]
    assert run.status == "stopped"
    ckpt = torch.load(f"{run.path}/checkpoints/last.pt", weights_only=True)
    assert "model" in ckpt
    steps_before = p.plots.point_count()
    p.runs.table.selectRow(0)
    assert p.runs.resume_button.isEnabled()
    qtbot.mouseClick(p.runs.resume_button, Qt.MouseButton.LeftButton)
    assert p.controller.state == "running"
    assert p.plots.point_count() >= steps_before  # the resumed curve continues the recorded one
    qtbot.waitUntil(lambda: p.plots.point_count() > steps_before, timeout=60_000)
    p.shortcuts["Shift+F5"].activated.emit()
    _wait_idle(qtbot, p)
    assert p.runs.runs[0].status == "stopped" and len(p.runs.runs) == 1 and not errors


def test_real_worker_killed_shows_the_error_and_app_stays_usable(qtbot, tmp_path, monkeypatch, errors):
    import signal
    from hybrid_studio.graph import SetParams
    w = make_window(qtbot, tmp_path, monkeypatch)
    p = w.panel
    p.settings.widgets["epochs"].setValue(30)
    qtbot.mouseClick(p.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: p.plots.point_count() >= 1, timeout=60_000)
    os.kill(p.controller.handle.pid, signal.SIGKILL)
    _wait_idle(qtbot, p)
    assert len(errors) == 1 and errors[0][0] == "Training failed" and "killed" in errors[0][1]
    assert p.runs.runs[0].status == "failed" and p.progress.format() == "Failed"
    # the app keeps working: edits apply, Train is available again
    conv = next(n for n in w.document.graph.nodes if n.type == "Conv2d")
    assert w.document.push(SetParams(conv.id, {"out_channels": 8}))
    assert p.train_button.isEnabled()


def test_closing_mid_run_stops_it_with_a_checkpoint_so_it_can_be_resumed(qtbot, tmp_path, monkeypatch, errors):
    import torch
    w, p = _start_a_long_real_run(qtbot, tmp_path, monkeypatch, points=1)
    run_dir = p.controller.run_dir
    p.shutdown()  # what closing the window does once the user said "stop it and close"
    assert not p.running
    from hybrid_studio.train.runs import read_status
    assert read_status(run_dir)["status"] == "stopped"
    assert "model" in torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)


def test_runs_list_offers_resume_and_results_only_with_a_checkpoint(qtbot, tmp_path, monkeypatch):
    w = make_window(qtbot, tmp_path, monkeypatch, starter=FakeStarter())
    runs_dir = runs_dir_for(w.document)
    for name, with_checkpoint in (("early", False), ("later", True)):
        folder = runs_dir / name
        (folder / "checkpoints").mkdir(parents=True)
        (folder / "status.json").write_text('{"status": "failed", "run_id": "%s"}' % name)
        if with_checkpoint:
            (folder / "checkpoints" / "last.pt").write_bytes(b"")
    p = w.panel
    p.runs.refresh(runs_dir)
    for name, enabled in (("early", False), ("later", True)):
        p.runs.select_run(name)
        assert p.runs.resume_button.isEnabled() is enabled and p.runs.results_button.isEnabled() is enabled
        assert ("no checkpoint" in p.runs.resume_button.toolTip()) is not enabled


def test_settings_form_shows_train_configs_own_defaults_and_choices(qtbot):
    """One source of truth: a new form's values are TrainConfig()'s, and its choices are the engine's."""
    from hybrid_studio.train.config import AMP_MODES, OPTIMIZERS, SCHEDULERS, TrainConfig
    from hybrid_studio.ui.train.settings import SettingsForm

    form = SettingsForm()
    qtbot.addWidget(form)
    expected = {k: v for k, v in TrainConfig().to_dict().items() if k in form.widgets}
    assert {k: form.values()[k] for k in expected} == expected
    for name, choices in (("optimizer", OPTIMIZERS), ("scheduler", SCHEDULERS), ("amp", AMP_MODES)):
        combo = form.widgets[name]
        assert tuple(combo.itemData(i) for i in range(combo.count())) == choices


def test_a_run_that_ends_after_another_project_opened_leaves_that_projects_runs_alone(qtbot, tmp_path, monkeypatch,
                                                                                       errors):
    starter = FakeStarter(epochs=2, steps_per_epoch=20, rate=200)
    w = make_window(qtbot, tmp_path, monkeypatch, starter)
    p = w.panel
    qtbot.mouseClick(p.train_button, Qt.MouseButton.LeftButton)
    other = tmp_path / "other"
    other.mkdir()
    w.set_document(Document(load_template("seed-cnn-lstm"), other / "other.hsproj.json"))
    p.document_changed()
    _wait_idle(qtbot, p)
    assert p.runs.runs_dir == other / "runs" and p.runs.runs == []  # not the first project's run
    assert "belongs to the project open when it started" in p.log.toPlainText()


def test_settings_form_keeps_small_and_exact_values_and_says_what_it_cannot_show(qtbot):
    from hybrid_studio.ui.train.settings import SettingsForm

    form = SettingsForm()
    qtbot.addWidget(form)
    assert form.set_values({"lr": 3e-7, "val_split": 0.125, "weight_decay": 1e-5}) == []
    assert form.values()["lr"] == 3e-7 and form.values()["val_split"] == 0.125
    assert form.values()["weight_decay"] == 1e-5 and form.widgets["lr"].text() == "3e-07"
    problems = form.set_values({"lr": "fast", "optimizer": "rmsprop", "epochs": 0, "batch_size": 16})
    assert len(problems) == 3 and form.values()["batch_size"] == 16
    assert problems[0].startswith("training setting 'lr' is 'fast', which training would refuse")
    assert "the form shows the default 0.001, which replaces it when you change a setting or train" in problems[0]
    assert "'optimizer' is 'rmsprop'" in problems[1] and "'epochs' is 0" in problems[2]
    assert form.values()["lr"] == 0.001 and form.values()["optimizer"] == "adam"  # defaults, not what was shown
    # numbers stored as text read as training reads them; a valid value beyond a field's range widens it
    assert form.set_values({"lr": "0.002", "epochs": "5", "batch_size": 100_000}) == []
    assert form.values()["lr"] == 0.002 and form.values()["epochs"] == 5 and form.values()["batch_size"] == 100_000


def test_a_project_with_a_bad_training_value_still_trains_and_says_so(qtbot, tmp_path, monkeypatch, errors):
    graph = load_template("seed-cnn-lstm")
    graph.training = {"lr": "fast"}
    starter = FakeStarter(epochs=1, steps_per_epoch=5)
    w = make_window(qtbot, tmp_path, monkeypatch, starter, graph=graph)
    p = w.panel
    assert "training setting 'lr' is 'fast'" in p.status.text()
    qtbot.mouseClick(p.train_button, Qt.MouseButton.LeftButton)
    _wait_idle(qtbot, p)
    assert not errors and starter.calls


def _bar_on_a_clock(qtbot, monkeypatch):
    """A progress bar for a one-epoch run, and the clock it reads (a list: set clock[0])."""
    from hybrid_studio.ui.train import progress as progress_module
    from hybrid_studio.ui.train.progress import RunProgressBar

    clock = [100.0]
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: clock[0])
    bar = RunProgressBar()
    qtbot.addWidget(bar)
    bar.begin(1)
    return bar, clock


def test_progress_keeps_the_paused_mark_and_leaves_paused_time_out_of_the_eta(qtbot, monkeypatch):
    from hybrid_studio.train.events import Started, Step
    bar, clock = _bar_on_a_clock(qtbot, monkeypatch)
    bar.on_started(Started("r", "/tmp/r", "cpu", 1, 100))
    bar.on_state("running")
    bar.on_step(Step(1, 0, 1.0, 0.1, 100.0, 1))
    clock[0] += 10.0
    bar.on_step(Step(1, 10, 1.0, 0.1, 100.0, 10))  # 1 step/s: 90 steps left
    assert bar.format().endswith("ETA 1:30")
    bar.on_state("paused")
    clock[0] += 600.0
    bar.on_step(Step(1, 11, 1.0, 0.1, 100.0, 11))  # already on its way when the run was paused
    assert bar.format().startswith("Paused · Epoch 1/1")
    bar.on_state("running")
    clock[0] += 1.0
    bar.on_step(Step(1, 12, 1.0, 0.1, 100.0, 12))
    assert bar.format().endswith("ETA 1:20")  # 12 steps in 11 s of training: the ten minutes paused do not count


def test_exporting_plots_to_a_folder_that_does_not_exist_says_so(qtbot, tmp_path, errors):
    from hybrid_studio.ui.train.plots import TrainPlots

    plots = TrainPlots()
    qtbot.addWidget(plots)
    assert not plots._export(plots.export_csv, tmp_path / "nowhere" / "m.csv", "metrics")
    assert errors and errors[0][0] == "Could not export the metrics" and "nowhere" in errors[0][1]


def test_a_typed_learning_rate_counts_once_committed_and_out_of_range_is_said(qtbot):
    from PySide6.QtTest import QTest
    from hybrid_studio.ui.train.settings import SettingsForm

    form = SettingsForm()
    qtbot.addWidget(form)
    form.show()
    hints, changes = [], []
    form.hint.connect(hints.append)
    form.changed.connect(lambda: changes.append(form.values()["lr"]))
    lr = form.widgets["lr"]
    lr.setFocus()
    lr.selectAll()
    QTest.keyClicks(lr, "1e-10")  # passes through "1" and "1e-1" on the way: neither is taken
    assert changes == []
    QTest.keyClick(lr, Qt.Key.Key_Return)
    assert form.values()["lr"] == 0.001 and changes == []
    assert hints and hints[-1] == "1e-10 is outside 1e-09 to 10; kept 0.001"
    lr.selectAll()
    QTest.keyClicks(lr, "3e-4")
    QTest.keyClick(lr, Qt.Key.Key_Return)
    assert changes == [3e-4]


def test_shutdown_waits_for_the_stop_and_keeps_painting(qtbot, tmp_path, monkeypatch, errors):
    starter = FakeStarter(epochs=5, steps_per_epoch=20, rate=50)
    w = make_window(qtbot, tmp_path, monkeypatch, starter)
    p = w.panel
    qtbot.mouseClick(p.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: p.plots.point_count() > 0, timeout=10_000)
    handle = p.controller.handle
    polled = []
    monkeypatch.setattr(handle, "poll", (lambda poll: lambda *a, **k: polled.append(1) or poll(*a, **k))(handle.poll))
    p.shutdown()
    assert handle.commands[-1] == "stop" and handle.status == "stopped"  # asked, and waited for the end
    assert not p.running and polled  # it kept taking events (and painting) while it waited


def test_runs_list_refresh_keeps_every_selected_run(qtbot, tmp_path, monkeypatch):
    w = make_window(qtbot, tmp_path, monkeypatch, starter=FakeStarter())
    runs_dir = runs_dir_for(w.document)
    for name in ("a", "b", "c"):
        (runs_dir / name).mkdir(parents=True)
        (runs_dir / name / "status.json").write_text('{"status": "finished", "run_id": "%s"}' % name)
    runs = w.panel.runs
    runs.refresh(runs_dir)
    runs.table.selectAll()
    assert len(runs.selected()) == 3
    runs.refresh()
    assert sorted(r.run_id for r in runs.selected()) == ["a", "b", "c"]


def test_eta_ignores_a_pause_before_the_first_step(qtbot, monkeypatch):
    from hybrid_studio.train.events import Started, Step
    bar, clock = _bar_on_a_clock(qtbot, monkeypatch)
    bar.on_state("running")
    bar.on_state("paused")  # paused while the run starts
    clock[0] += 60.0
    bar.on_state("running")
    bar.on_started(Started("r", "/tmp/r", "cpu", 1, 1000))
    bar.on_step(Step(1, 0, 1.0, 0.1, 100.0, 1))
    clock[0] += 70.0
    bar.on_step(Step(1, 70, 1.0, 0.1, 100.0, 70))  # 1 step/s, 930 to go
    assert bar.format().endswith("ETA 15:30")


def test_real_run_stop_button_gives_stopped_with_a_checkpoint(qtbot, tmp_path, monkeypatch, errors):
    import torch
    w, p = _start_a_long_real_run(qtbot, tmp_path, monkeypatch, points=1)
    qtbot.mouseClick(p.stop_button, Qt.MouseButton.LeftButton)
    _wait_idle(qtbot, p)
    assert not errors and p.progress.format() == "Stopped"
    (run,) = p.runs.runs
    assert run.status == "stopped"
    ck = torch.load(Path(run.path) / "checkpoints" / "last.pt", weights_only=True)
    assert ck["step"] >= 1 and "model" in ck
