"""The app's sweeps: the Sweep dialog (from the Train menu and from the inspector's "Sweep this"), a real sweep
run in a QProcess with its trials table, best-so-far and parallel-coordinates charts, and Apply best as one
undoable edit."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QDialogButtonBox

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sweep"))
from sweep_helpers import TINY, write_data  # noqa: E402

from canvas_helpers import open_window  # noqa: E402

pytest.importorskip("optuna")


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("HYBRID_STUDIO_DATA_DIR", str(tmp_path / "data"))
    import json
    from hybrid_studio.project import loads_project
    graph = loads_project(json.dumps(TINY))
    w = open_window(qtbot, graph)
    w.document.path = tmp_path / "tiny.hsproj.json"  # runs go beside it, in tmp_path/runs
    yield w
    view = getattr(w, "sweep_view", None)
    if view is not None and view.process is not None and view.process.running():
        view.process.process.kill()
        view.process.process.waitForFinished(5000)


def click_ok(qtbot, dialog):
    qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)


def test_the_train_menu_opens_the_sweep_dialog(window, qtbot):
    assert window.sweep_action in [a for m in window.menuBar().actions() if m.menu() for a in m.menu().actions()]
    window.sweep_action.trigger()
    dialog = window._sweep_dialog
    assert dialog.isVisible() and dialog.table.rowCount() == 0
    # Add from the list of every sweepable param
    names = [dialog.add_combo.itemText(i) for i in range(dialog.add_combo.count())]
    assert "training.lr" in names and "rnn.hidden_size" in names and "training.device" not in names
    dialog.add_combo.setCurrentIndex(names.index("rnn.hidden_size"))
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    assert dialog.param_texts() == ["rnn.hidden_size=2..32"]  # around the current 8


def test_a_bad_range_is_named_in_the_dialog_and_nothing_starts(window, qtbot):
    window.sweep_action.trigger()
    dialog = window._sweep_dialog
    dialog.add_param("rnn.hidden_size", "0..8")
    click_ok(qtbot, dialog)
    assert dialog.isVisible() and "range end 0 is not allowed" in dialog.error_label.text()
    assert window.sweep_view is None


def test_sweep_this_from_the_inspector_prefills_the_param(window, qtbot):
    window.scene.select_ids(["rnn"])
    insp = window.inspector
    qtbot.waitUntil(lambda: insp.node_id == "rnn")
    label = insp.form.labelForField(insp.editors["hidden_size"])
    label.customContextMenuRequested.emit(QPoint(2, 2))  # what a right-click on the label sends
    menu = insp.param_menu
    action = next(a for a in menu.actions() if a.text().startswith("Sweep this"))
    action.trigger()
    dialog = window._sweep_dialog
    assert dialog.param_texts() == ["rnn.hidden_size=2..32"]


def test_a_real_sweep_fills_the_view_and_apply_best_is_one_undoable_edit(window, qtbot, tmp_path):
    data = write_data(tmp_path)
    window.sweep_action.trigger()
    dialog = window._sweep_dialog
    dialog.add_param("rnn.hidden_size", "4,12")
    dialog.add_param("training.lr", "0.001,0.03")
    dialog.dataset_edit.setText(str(data))
    dialog.trials_spin.setValue(3)
    dialog.epochs_spin.setValue(2)
    click_ok(qtbot, dialog)
    view = window.sweep_view
    assert view is not None and window.sweep_dock.isVisible()
    qtbot.waitUntil(lambda: not view.process.running(), timeout=240_000)
    assert view.report is not None, view.status.text()
    assert len(view.trials) == 3 and view.table.rowCount() == 3
    assert "finished" in view.status.text()
    headers = [view.table.horizontalHeaderItem(i).text() for i in range(view.table.columnCount())]
    assert headers[:3] == ["#", "state", "val_accuracy"] and "rnn.hidden_size" in headers
    done = [t for t in view.trials.values() if t["state"] == "complete"]
    assert len(view.best_plot.getPlotItem().listDataItems()) == 2  # the trials and the best-so-far line
    assert len(view.parallel_plot.getPlotItem().listDataItems()) == len(done)
    best = view.best()
    assert best["value"] == max(t["value"] for t in done)
    # the trials are run folders beside the project
    assert all(Path(t["run"]).parent == tmp_path / "runs" for t in done)
    before_hidden = window.document.graph.node("rnn").params.get("hidden_size", 8)
    before_training = dict(window.document.graph.training)
    stack = window.document.undo_stack
    count = stack.count()
    qtbot.mouseClick(view.apply_button, Qt.MouseButton.LeftButton)
    g = window.document.graph
    assert g.node("rnn").params.get("hidden_size", 8) == best["params"]["rnn.hidden_size"]
    assert g.training.get("lr", 0.001) == pytest.approx(best["params"]["training.lr"])
    if stack.count() > count:  # nothing to apply when the best is the project as it is
        assert stack.count() == count + 1 and stack.undoText().startswith("Apply sweep trial")
        stack.undo()
        assert g.node("rnn").params.get("hidden_size", 8) == before_hidden
        assert g.training == before_training


def test_best_trial_edit_leaves_out_blocks_that_are_gone():
    import json
    from hybrid_studio.project import loads_project
    from hybrid_studio.ui.sweep_view import best_trial_edit
    g = loads_project(json.dumps(TINY))
    edit = best_trial_edit(g, {"number": 4, "params": {"gone.hidden_size": 3, "rnn.hidden_size": 16,
                                                       "training.lr": 0.01}})
    edit.apply(g)
    assert g.node("rnn").params["hidden_size"] == 16 and g.training["lr"] == 0.01
    edit.revert(g)
    assert g.node("rnn").params.get("hidden_size") == 8 and "lr" not in g.training
    assert best_trial_edit(g, {"number": 1, "params": {"rnn.hidden_size": 8}}) is None


def test_a_searched_training_epochs_is_not_overruled_by_epochs_per_trial(window, qtbot, tmp_path, monkeypatch):
    from hybrid_studio.ui import sweep_view
    started = []
    monkeypatch.setattr(sweep_view.SweepProcess, "start", lambda self, args, cwd=None: started.append(args))
    monkeypatch.setattr(sweep_view.SweepProcess, "running", lambda self: False)
    window.sweep_action.trigger()
    dialog = window._sweep_dialog
    names = [dialog.add_combo.itemText(i) for i in range(dialog.add_combo.count())]
    dialog.add_combo.setCurrentIndex(names.index("training.epochs"))
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    dialog.dataset_edit.setText(str(write_data(tmp_path)))
    click_ok(qtbot, dialog)
    args = started[-1]
    assert "training.epochs=2..10" in args and "--epochs" not in args  # the CLI refuses both together
    # without a searched epochs, "Epochs per trial" is passed
    window.sweep_action.trigger()
    dialog = window._sweep_dialog
    dialog.add_param("rnn.hidden_size", "4,8")
    dialog.epochs_spin.setValue(3)
    click_ok(qtbot, dialog)
    args = started[-1]
    assert args[args.index("--epochs") + 1] == "3"


@pytest.mark.slow  # about 20 s: a real sweep process must start training before the app quits
def test_quitting_the_app_stops_a_running_sweep_with_its_run_folder_stopped(window, qtbot, tmp_path):
    import json

    from PySide6.QtWidgets import QApplication
    data = write_data(tmp_path)
    window.sweep_action.trigger()
    dialog = window._sweep_dialog
    dialog.add_param("rnn.hidden_size", "4,12")
    dialog.dataset_edit.setText(str(data))
    dialog.trials_spin.setValue(1)
    dialog.epochs_spin.setValue(5000)
    click_ok(qtbot, dialog)
    view = window.sweep_view

    def status():
        return [json.loads(p.read_text())["status"] for p in (tmp_path / "runs").glob("*/status.json")]
    qtbot.waitUntil(lambda: status() == ["running"], timeout=120_000)
    QApplication.instance().aboutToQuit.emit()  # what quitting the app sends before the windows go
    assert not view.process.running()
    assert status() == ["stopped"]


def test_sweep_this_on_a_param_that_cannot_be_swept_says_so(window, qtbot):
    window.scene.select_ids(["series"])
    insp = window.inspector
    qtbot.waitUntil(lambda: insp.node_id == "series")
    label = insp.form.labelForField(insp.editors["shape"])
    label.customContextMenuRequested.emit(QPoint(2, 2))
    next(a for a in insp.param_menu.actions() if a.text().startswith("Sweep this")).trigger()
    assert getattr(window, "_sweep_dialog", None) is None  # no dialog with an empty, refused range
    assert "series.shape cannot be swept" in window.statusBar().currentMessage()
