"""The Profile panel and the cost overlay, driven through real widgets (profiling runs in a worker process)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from hybrid_studio.graph import SetParams
from hybrid_studio.project import load_template

from canvas_helpers import open_window

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "profile"))


def _open(qtbot, name="rnn-cnn"):
    w = open_window(qtbot, load_template(name))
    assert w.profile_view is None  # nothing built until it is used
    w.profile_action.trigger()
    view = w.profile_view
    qtbot.waitUntil(lambda: view.dock.isVisible())
    return w, view


def test_profile_in_a_worker_fills_the_table_and_the_overlay(qtbot):
    w, view = _open(qtbot)
    view.batch.setValue(2)
    qtbot.mouseClick(view.run_button, Qt.MouseButton.LeftButton)
    assert view.busy() and not view.run_button.isEnabled()
    qtbot.waitUntil(lambda: view.report is not None, timeout=120_000)
    assert view.run_button.isEnabled() and not view.progress.isVisible()
    graph = w.document.graph
    assert view.table.rowCount() == len(graph)
    assert view.report["batch_size"] == 2 and "forward" in view.totals.text()
    # sorted by time, slowest first; a click on the "params" header sorts by parameters
    times = [float(view.table.item(r, 2).text()) for r in range(view.table.rowCount())]
    assert times == sorted(times, reverse=True)
    header = view.table.horizontalHeader()
    col = 5
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                     pos=header.rect().topLeft() + __import__("PySide6.QtCore").QtCore.QPoint(
                         header.sectionViewportPosition(col) + 5, 5))
    params = [int(view.table.item(r, col).text().replace(",", "")) for r in range(view.table.rowCount())]
    assert params in (sorted(params), sorted(params, reverse=True)) and params != times
    # the overlay tints every profiled block, the most expensive one darkest, with its share as a badge
    assert set(view.overlays) == set(view.report["blocks"])
    slowest = max(view.report["blocks"], key=lambda b: view.report["blocks"][b]["forward_ms"])
    assert view.overlays[slowest].share == view.overlays[slowest].scale
    assert view.overlays["lstm"].parentItem() is w.scene.nodes["lstm"]
    assert "ms" in view.overlays["lstm"].toolTip()
    view.overlay.setCurrentText("parameters")
    total = sum(b["params"] or 0 for b in view.report["blocks"].values())
    assert view.overlays["conv"].share == pytest.approx(view.report["blocks"]["conv"]["params"] / total)
    view.overlay.setCurrentText("off")
    assert view.overlays == {} and not any(type(i).__name__ == "CostOverlay" for i in w.scene.items())
    view.overlay.setCurrentText("time")
    assert len(view.overlays) == len(graph)
    # a param edit makes the results stale: marked in the panel and on the overlay; undo makes them current again
    w.document.push(SetParams("conv", {"out_channels": 8}))
    qtbot.waitUntil(lambda: not w.document.settling)  # the panels follow once the event-loop turn ends
    assert view.stale and "Stale" in view.status.text() and view.overlays["conv"].stale
    w.document.undo_stack.undo()
    qtbot.waitUntil(lambda: not w.document.settling)
    assert not view.stale and "Stale" not in view.status.text()
    # selecting a row selects the block on the canvas, and the inspector shows its measured cost
    row = next(r for r in range(view.table.rowCount()) if view.table.item(r, 0).text() == "lstm")
    view.table.selectRow(row)
    assert w.scene.selected_node_ids() == ["lstm"]
    box = w.inspector.profile_box
    assert box.isVisible() and f"{view.report['blocks']['lstm']['forward_ms']:.3f} ms" in box.label.text()
    w.scene.select_ids([])
    assert not box.isVisible()


def test_a_missing_device_is_reported_and_the_app_keeps_working(qtbot):
    w, view = _open(qtbot)
    view.device.setEditText("cuda:9")
    qtbot.mouseClick(view.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not view.busy(), timeout=120_000)
    assert "cuda:9" in view.status.text() and "not available" in view.status.text()
    assert view.report is None and view.run_button.isEnabled()


def test_quantize_on_a_run_in_the_runs_list(qtbot, tmp_path, monkeypatch):
    """The run's own Quantize button (Runs list) quantises that run; the menu's chooser does the same."""
    pytest.importorskip("torch")
    from profile_helpers import lstm_heavy_graph, train_run
    run_dir = Path(train_run(lstm_heavy_graph(hidden=32), "digits-seq", tmp_path, epochs=1))
    w = open_window(qtbot, load_template("rnn-cnn"))
    runs = w.ensure_train_panel().runs
    runs.refresh(run_dir.parent)
    button = next(b for b, _ in runs.run_actions if b.text() == "Quantize")
    assert not button.isEnabled()  # nothing selected yet
    runs.select_run(run_dir.name)
    assert button.isEnabled()
    menu = runs.build_context_menu()
    assert "Quantize" in [a.text() for a in menu.actions() if a.isEnabled()]
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    view = w.profile_view
    assert view is not None and view.dock.isVisible()
    qtbot.waitUntil(lambda: not view.busy(), timeout=180_000)
    assert view.quantize_report is not None, view.status.text()
    assert Path(view.quantize_report["output"]).is_file()
    assert Path(view.quantize_report["output"]).parent == run_dir or run_dir.name in view.quantize_report["output"]
    assert "Quantised" in view.status.text() and "accuracy" in view.status.text()
    # the Analyze menu's chooser: a cancelled dialog starts nothing
    from PySide6.QtWidgets import QFileDialog
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: ""))
    view.quantize_report = None
    qtbot.mouseClick(view.quantize_button, Qt.MouseButton.LeftButton)
    assert not view.busy() and view.quantize_report is None
