"""The app's Explain view: Train > Explain Run… on a finished run, computed in a worker process with a progress
bar, then the shares, a heatmap over the image and the Grad-CAM map, through the real widgets (pytest-qt)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")
pytest.importorskip("captum")
from PySide6.QtCore import Qt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ui"))
from canvas_helpers import open_window  # noqa: E402


@pytest.fixture
def window(qtbot, tmp_path, image_run, monkeypatch):
    monkeypatch.setenv("HYBRID_STUDIO_DATA_DIR", str(tmp_path / "data"))
    from hybrid_studio.project import loads_project
    (tmp_path / "runs").mkdir()
    shutil.copytree(image_run, tmp_path / "runs" / Path(image_run).name)
    # a second run without checkpoints: not offered
    broken = tmp_path / "runs" / "broken"
    shutil.copytree(image_run, broken)
    shutil.rmtree(broken / "checkpoints")
    graph = loads_project((Path(image_run) / "project.json").read_text())
    w = open_window(qtbot, graph)
    w.document.path = tmp_path / "img.hsproj.json"  # runs are found beside it, in tmp_path/runs
    yield w
    view = getattr(w, "explain_view", None)
    if view is not None and view.proc is not None:
        view.proc.kill()
        view.proc.join(5)


def test_explain_run_shows_shares_and_heatmap(window, qtbot, image_run):
    menus = {a.text().replace("&", ""): a.menu() for a in window.menuBar().actions() if a.menu()}
    assert window.explain_action in menus["Train"].actions()
    window.explain_action.trigger()
    view = window.explain_view
    assert view.dock.isVisible()
    assert view.run_box.count() == 1 and view.run_box.currentData().endswith(Path(image_run).name)
    view.samples.setValue(8)
    qtbot.mouseClick(view.explain_button, Qt.MouseButton.LeftButton)
    assert not view.explain_button.isEnabled() and view.proc is not None  # working, off the UI thread
    qtbot.waitUntil(lambda: view.result is not None, timeout=120_000)
    assert view.progress.value() == view.progress.maximum()
    assert view.shares_label.text() == "image: 100%"
    heat = view.image_item.image
    assert heat.shape == (8, 8) and heat.max() > 0
    assert view.result["samples"] == 8 and json.dumps(view.result["inputs"])  # the contract's part is plain JSON


def test_explain_from_the_runs_list(window, qtbot, image_run):
    """The run's own Explain button (Runs list, also in its right-click menu) opens the view on it and starts."""
    runs = window.ensure_train_panel().runs
    runs.refresh(window.document.path.parent / "runs")
    button = next(b for b, _ in runs.run_actions if b.text() == "Explain")
    runs.select_run("broken")
    assert not button.isEnabled()  # no checkpoint: nothing to explain
    runs.select_run(Path(image_run).name)
    assert button.isEnabled()
    assert "Explain" in [a.text() for a in runs.build_context_menu().actions() if a.isEnabled()]
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    view = window.explain_view
    assert view.dock.isVisible() and view.run_box.currentData().endswith(Path(image_run).name)
    assert view.proc is not None  # started at once
    qtbot.waitUntil(lambda: view.result is not None, timeout=120_000)
    assert view.shares_label.text() == "image: 100%"


@pytest.mark.slow
def test_grad_cam_in_the_view(window, qtbot):
    window.explain_action.trigger()
    view = window.explain_view
    view.samples.setValue(8)
    view.method_box.setCurrentText("grad-cam")
    qtbot.mouseClick(view.explain_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.result is not None and "block" in view.result, timeout=120_000)
    assert view.shares_label.text() == "Grad-CAM on block conv1"
    assert view.image_item.image.shape == (8, 8)


def test_an_error_in_the_worker_is_shown(window, qtbot, image_run):
    window.explain_action.trigger()
    view = window.explain_view
    # the run's checkpoint disappears after the list was made
    run = Path(view.run_box.currentData())
    shutil.rmtree(run / "checkpoints")
    qtbot.mouseClick(view.explain_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.proc is None, timeout=120_000)
    assert "no checkpoint" in view.status.text() and view.explain_button.isEnabled() and view.result is None


@pytest.fixture
def convlstm_window(qtbot, tmp_path, convlstm_run, monkeypatch):
    """The ConvLSTM video run's model on the canvas (blocks laid out in a row), the run beside the document."""
    monkeypatch.setenv("HYBRID_STUDIO_DATA_DIR", str(tmp_path / "data"))
    from hybrid_studio.project import loads_project
    (tmp_path / "runs").mkdir()
    shutil.copytree(convlstm_run, tmp_path / "runs" / Path(convlstm_run).name)
    graph = loads_project((Path(convlstm_run) / "project.json").read_text())
    for k, node in enumerate(graph.nodes):
        node.position = (k * 260.0, 0.0)
    w = open_window(qtbot, graph)
    w.document.path = tmp_path / "video.hsproj.json"
    yield w
    view = getattr(w, "explain_view", None)
    if view is not None:
        if view.proc is not None:
            view.proc.kill()
            view.proc.join(5)
        view.stop_activations()


def _click_block(qtbot, window, block):
    from canvas_helpers import click_node
    window.view.ensureVisible(window.scene.nodes[block], 40, 40)
    qtbot.wait(50)
    click_node(window.view, block)
    assert window.scene.selected_node_ids() == [block]


def _click_row(qtbot, table, row):
    rect = table.visualItemRect(table.item(row, 1))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_wrong_samples_their_heatmaps_and_block_activations(convlstm_window, qtbot):
    """Filter to the wrongly predicted samples, pick one: its per-frame heatmaps; click blocks on the canvas: their
    activations for that sample, computed by the activations worker (feature maps per frame for the per-frame
    convolution, units x time for the ConvLSTM2d and GRU states, a bar per value for the dense layer)."""
    import numpy as np

    window = convlstm_window
    window.explain_action.trigger()
    view = window.explain_view
    view.samples.setValue(16)
    view.method_box.setCurrentText("saliency")
    qtbot.mouseClick(view.explain_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.result is not None, timeout=120_000)
    outcomes = view.result["_outcomes"]
    items = [view.sample_filter.itemText(i) for i in range(view.sample_filter.count())]
    assert items == ["all samples", "predicted right", "predicted wrong", "class 0", "class 1"]
    assert view.sample_table.rowCount() == 16

    # "predicted wrong", chosen with the keyboard in the filter: only those rows remain
    view.sample_filter.setFocus()
    qtbot.keyClick(view.sample_filter, Qt.Key.Key_Down)
    qtbot.keyClick(view.sample_filter, Qt.Key.Key_Down)
    assert view.sample_filter.currentData() == "wrong"
    wrong = [i for i, ok in enumerate(outcomes["correct"]) if ok is False]
    assert wrong and view.shown_samples() == wrong
    for r in range(view.sample_table.rowCount()):
        assert view.sample_table.item(r, 3).text() == "wrong"
        assert view.sample_table.item(r, 1).text() != view.sample_table.item(r, 2).text()

    # a click on a row: that sample's saliency per frame (4 frames of 8x8 side by side) beside the frames
    _click_row(qtbot, view.sample_table, 0)
    i = wrong[0]
    assert view.sample == i and f"sample #{i}" in view.status.text()
    heat = view.sample_heatmaps["video"]
    assert heat.shape == (8, 4 * 9 - 1)
    own = np.abs(view.result["_attributions"][0][i]).sum(1)  # (T, H, W) summed over channels
    np.testing.assert_allclose(heat[:, 18:26], own[2], rtol=1e-5)

    # a block clicked on the canvas: computed in the worker process (busy bar first), then drawn
    _click_block(qtbot, window, "conv1")
    assert view.activation_progress.maximum() == 0 and view._acts[0].pid != os.getpid()
    qtbot.waitUntil(lambda: view.activation_data is not None, timeout=120_000)
    assert view.activation_kind == "maps" and view.activation_data.shape == (4 * 9 - 1, 4 * 9 - 1)
    assert view.activation_image.image.shape == (35, 35) and view.activation_progress.value() == 1
    assert "feature maps" in view.activation_title.text()
    # the other blocks of the same sample come from what the worker already sent
    for block, kind, shape in (("convlstm", "state", (3, 4)), ("rnn", "state", (6, 4)), ("fc", "vector", (2,))):
        _click_block(qtbot, window, block)
        assert view.activation_kind == kind and view.activation_data.shape == shape, block
    assert "hidden" not in view.activation_title.text() and "2 values" in view.activation_title.text()
    _click_block(qtbot, window, "rnn")
    assert view.activation_image.image.shape == (4, 6)  # time along x, units along y
    assert "hidden state over time (6 units x 4 steps)" in view.activation_title.text()
    first = view.activation_data.copy()

    # another wrong sample (when there is one) is asked of the worker for the same block
    if len(wrong) > 1:
        _click_row(qtbot, view.sample_table, 1)
        assert view.sample == wrong[1]
        qtbot.waitUntil(lambda: wrong[1] in view._act_cache and view.activation_kind == "state", timeout=120_000)
        assert view.activation_data.shape == (6, 4) and not np.allclose(view.activation_data, first)
    # the Output block has no tensor of its own: the view names the blocks that do
    _click_block(qtbot, window, "out")
    assert view.activation_data is None and "no output of its own" in view.activation_title.text()
    assert "conv1" in view.activation_title.text()

    # by class: "class 1" lists exactly the samples whose target is 1
    view.sample_filter.setFocus()
    qtbot.keyClick(view.sample_filter, Qt.Key.Key_Down)
    qtbot.keyClick(view.sample_filter, Qt.Key.Key_Down)
    assert view.sample_filter.currentText() == "class 1"
    ones = [i for i, t in enumerate(outcomes["targets"]) if int(t) == 1]
    assert ones and view.shown_samples() == ones


def test_a_sequence_sample_shows_its_curve_over_time(qtbot, tmp_path, window_run, monkeypatch):
    """A series sample picked in the list draws its own attribution over the 100 steps, whose mass lies in the
    steps the label depends on (40-59). The result is computed in-process here; the worker is tested above."""
    import numpy as np
    from hybrid_studio.explain.engine import explain
    from hybrid_studio.project import loads_project

    monkeypatch.setenv("HYBRID_STUDIO_DATA_DIR", str(tmp_path / "data"))
    w = open_window(qtbot, loads_project((Path(window_run) / "project.json").read_text()))
    from hybrid_studio.ui.explain_view import open_explain_view
    view = open_explain_view(w)
    view.show_result(explain(window_run, samples=6))
    assert view.sample_table.rowCount() == 6
    _click_row(qtbot, view.sample_table, 3)
    assert view.sample == 3
    curve = view.sample_heatmaps["series"]
    assert curve.shape == (100,)
    np.testing.assert_allclose(curve, np.abs(view.result["_attributions"][0][3]).sum(1), rtol=1e-6)
    assert curve[40:60].sum() / curve.sum() >= 0.5
