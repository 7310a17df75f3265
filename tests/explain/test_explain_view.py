"""The app's Explain view: Train > Explain Run… on a finished run, computed in a worker process with a progress
bar, then the shares, a heatmap over the image and the Grad-CAM map, through the real widgets (pytest-qt)."""

from __future__ import annotations

import json
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
