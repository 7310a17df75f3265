"""The app as a new user meets it (issue 13): toolbar and menus, context menus, where new blocks land, the Design /
Train workspaces, the training panel following the project, runs comparison, wire highlighting by shape, long
problem messages, delete-and-reconnect. Real widgets, real clicks and keys."""

from __future__ import annotations

import json
import sys
import types

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt, QTimer
from PySide6.QtGui import QContextMenuEvent, QCursor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QToolButton

from hybrid_studio.graph import AddNode, Connect, Edge, Node
from hybrid_studio.project import load_project, load_template, save_project
from hybrid_studio.ui import main_window as main_window_module
from hybrid_studio.ui.document import Document

from canvas_helpers import click_node, open_window, small_graph, vp


def toolbar_texts(w) -> list[str]:
    texts = []
    for a in w.toolbar.actions():
        widget = w.toolbar.widgetForAction(a)
        if isinstance(widget, QToolButton) and widget.text():
            texts.append(widget.text().replace("&", ""))
        elif a.text():
            texts.append(a.iconText().replace("&", ""))
    return texts


def context_menu(qtbot, view, view_point: QPoint, choose: str | None):
    """Right-click at ``view_point`` on the canvas; trigger the entry whose text starts with ``choose`` (None: just
    close the menu). Returns the entries' texts."""
    seen = []

    def act():
        menu = view.context_menu
        if menu is None:
            QTimer.singleShot(20, act)
            return
        seen.extend(a.text() for a in menu.actions() if a.text())
        target = next((a for a in menu.actions() if choose and a.text().startswith(choose)), None)
        menu.close()
        if target is not None:
            target.trigger()

    QTimer.singleShot(0, act)
    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, view_point, view.viewport().mapToGlobal(view_point))
    QApplication.sendEvent(view.viewport(), event)
    qtbot.waitUntil(lambda: bool(seen), timeout=3000)
    return seen


# ---- 1. toolbar and menus ------------------------------------------------------------------------------------------
def test_toolbar_shows_the_main_actions_and_clicking_them_works(qtbot):
    w = open_window(qtbot, small_graph())
    texts = toolbar_texts(w)
    for wanted in ("New", "Open...", "Save", "Undo", "Redo", "Train", "Pause", "Stop", "Fit", "Auto-layout",
                   "Design", "Train"):
        assert any(t.startswith(wanted.rstrip(".")) for t in texts), (wanted, texts)
    assert any(t.startswith("Export") for t in texts), texts  # export is reachable without the menus
    assert not w.pause_action.isEnabled() and not w.stop_action.isEnabled()
    # a real click on the toolbar's Fit button zooms the view to the graph
    w.view.resetTransform()
    w.view.scale(2.5, 2.5)
    qtbot.mouseClick(w.toolbar.widgetForAction(w.fit_action), Qt.MouseButton.LeftButton)
    assert w.view.zoom <= 1.0
    for nid in ("image", "conv1", "out"):
        assert w.view.visible_scene_rect().contains(w.scene.nodes[nid].sceneBoundingRect())
    # menus: Train and Help exist, Edit can rename
    titles = [a.text() for a in w.menuBar().actions()]
    assert titles[:4] == ["&File", "&Edit", "&View", "&Train"] and "&Help" in titles
    assert "F2" in [k.toString() for k in w.rename_action.shortcuts()]
    # export is in the File menu, directly or in its Export submenu
    file_actions = list(w.file_menu.actions())
    for a in list(file_actions):
        if a.menu() is not None:
            file_actions += a.menu().actions()
    assert w.export_python_action in file_actions


def test_toolbar_picks_up_feature_module_actions(qtbot, monkeypatch):
    from PySide6.QtGui import QAction
    module = types.ModuleType("ux13_fake_feature")

    def install(window):
        for name, text in (("import_action", "&Import..."), ("export_python_action", "Export to &Python..."),
                           ("export_onnx_action", "Export to &ONNX..."), ("explain_action", "E&xplain")):
            a = QAction(text, window)
            setattr(window, name, a)
            window.file_menu.addAction(a)

    module.install = install
    monkeypatch.setitem(sys.modules, "ux13_fake_feature", module)
    monkeypatch.setattr(main_window_module, "FEATURE_MODULES", ("ux13_fake_feature", "no_such_feature_module"))
    w = open_window(qtbot, small_graph())
    texts = toolbar_texts(w)
    assert "Import" in texts and "Explain" in texts and "Export" in texts
    assert texts.index("Import") < texts.index("Export") < texts.index("Undo") < texts.index("Train")
    # two exports share one Export button with a menu; the window's own fallback is not added
    assert [a.text() for a in w.export_button.menu().actions()] == ["Export to &Python...", "Export to &ONNX..."]
    assert sum("Python" in a.text() for a in w.file_menu.actions()) == 1


def test_export_to_python_writes_a_file(qtbot, tmp_path, monkeypatch):
    w = open_window(qtbot, small_graph())
    target = tmp_path / "model.py"
    # the interop module's action when it is installed, else the window's own fallback
    from hybrid_studio.ui.interop_actions import InteropActions
    monkeypatch.setattr(w, "_ask_export_path", lambda: str(target))
    monkeypatch.setattr(InteropActions, "_ask_save_path", lambda self, title, suggested, filt: str(target))
    w.export_python_action.trigger()
    text = target.read_text()
    assert "class Model" in text and "Exported model.py" in w.status_bar.currentMessage()


def test_block_context_menu_renames_duplicates_and_deletes(qtbot, monkeypatch):
    w = open_window(qtbot, small_graph())
    view, g = w.view, w.document.graph
    at = vp(view, w.scene.nodes["conv1"].sceneBoundingRect().center())
    monkeypatch.setattr(view, "_ask_text", lambda *a: "features")
    texts = context_menu(qtbot, view, at, "Rename")
    assert texts[:3] == ["Rename…", "Duplicate", "Copy"] and texts[-1] == "Delete conv1"
    assert not any("isable" in t for t in texts)  # blocks have no disabled state in a project
    assert "features" in g and "conv1" not in g and Edge("image", "features") in g.edges
    at = vp(view, w.scene.nodes["features"].sceneBoundingRect().center())
    context_menu(qtbot, view, at, "Duplicate")
    assert len(g.nodes_of_type("Conv2d")) == 2
    copy_id = w.scene.selected_node_ids()[0]
    at = vp(view, w.scene.nodes[copy_id].sceneBoundingRect().center())
    context_menu(qtbot, view, at, "Delete")
    assert copy_id not in g and len(g.nodes_of_type("Conv2d")) == 1


def test_wire_and_canvas_context_menus(qtbot):
    w = open_window(qtbot, small_graph())
    view, g = w.view, w.document.graph
    edge = Edge("image", "conv1")
    at = vp(view, w.scene.edges[edge].label.scenePos())
    texts = context_menu(qtbot, view, at, "Insert block here")
    assert texts == ["Insert block here…", "Delete wire"]
    box = view.quick_add
    qtbot.waitUntil(box.isVisible, timeout=2000)
    QTest.keyClicks(box.search, "BatchNorm")
    QTest.keyClick(box.search, Qt.Key.Key_Return)
    bn = g.nodes_of_type("BatchNorm")[0].id
    assert Edge("image", bn) in g.edges and Edge(bn, "conv1") in g.edges
    context_menu(qtbot, view, vp(view, w.scene.edges[Edge(bn, "conv1")].label.scenePos()), "Delete wire")
    assert Edge(bn, "conv1") not in g.edges
    # empty canvas: add a block here, where the right-click was
    empty = QPoint(120, 600)
    texts = context_menu(qtbot, view, empty, "Add block here")
    assert texts[0] == "Add block here…" and "Auto-layout" in texts
    qtbot.waitUntil(box.isVisible, timeout=2000)
    assert (box.pos() - view.viewport().mapToGlobal(empty)).manhattanLength() < 8
    QTest.keyClicks(box.search, "Dropout")
    QTest.keyClick(box.search, Qt.Key.Key_Return)
    drop = w.scene.nodes[g.nodes_of_type("Dropout")[0].id]
    assert drop.sceneBoundingRect().contains(view.mapToScene(empty) + QPointF(0, 5))


# ---- 2. placement ------------------------------------------------------------------------------------------------
def test_tab_opens_quick_add_at_the_mouse_not_the_centre(qtbot):
    w = open_window(qtbot, small_graph())
    view = w.view
    spot = QPoint(150, 520)
    QTest.mouseMove(view.viewport(), spot)
    QCursor.setPos(view.viewport().mapToGlobal(spot))
    qtbot.waitUntil(lambda: view.viewport().mapFromGlobal(QCursor.pos()) == spot, timeout=2000)
    QTest.keyClick(view.viewport(), Qt.Key.Key_Tab)
    box = view.quick_add
    qtbot.waitUntil(box.isVisible, timeout=2000)
    assert (box.pos() - view.viewport().mapToGlobal(spot)).manhattanLength() < 8
    QTest.keyClicks(box.search, "GRU")
    QTest.keyClick(box.search, Qt.Key.Key_Return)
    gru = w.scene.nodes[w.document.graph.nodes_of_type("GRU")[0].id]
    assert gru.sceneBoundingRect().contains(view.mapToScene(spot) + QPointF(0, 5))


def test_new_blocks_never_land_on_others_and_stay_on_screen(qtbot):
    w = open_window(qtbot, small_graph())
    view = w.view
    target = w.scene.nodes["conv1"].sceneBoundingRect().center()
    ids = [view.add_block(t, target) for t in ("Dropout", "Flatten", "Linear", "GRU")]  # all aimed at conv1
    rects = [w.scene.nodes[n].sceneBoundingRect() for n in w.scene.nodes]
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            assert not a.intersects(b)
    visible = view.visible_scene_rect()
    for nid in ids:
        assert visible.contains(w.scene.nodes[nid].sceneBoundingRect())
    # near the aim: the nearest free spots, not far away
    for nid in ids:
        c = w.scene.nodes[nid].sceneBoundingRect().center()
        assert abs(c.x() - target.x()) < 500 and abs(c.y() - target.y()) < 400
    # one undo step each, placement included
    w.document.undo_stack.undo()
    assert ids[-1] not in w.document.graph


def test_a_fixs_inserted_block_lands_in_free_space(qtbot):
    g = small_graph(connected=False)
    AddNode(Node("lstm", "LSTM", {"hidden_size": 32}, (640.0, 0.0))).apply(g)
    g.node("out").position = (960.0, 0.0)
    Connect(Edge("image", "conv1")).apply(g)
    Connect(Edge("conv1", "lstm")).apply(g)
    Connect(Edge("lstm", "out")).apply(g)
    w = open_window(qtbot, g)
    w.view.fit()
    row = w.problems.row_of("lstm")
    assert row >= 0
    before = set(w.document.graph.ids()) if hasattr(w.document.graph, "ids") else {n.id for n in w.document.graph.nodes}
    qtbot.mouseClick(w.problems.fix_button(row, 0), Qt.MouseButton.LeftButton)
    new = [n.id for n in w.document.graph.nodes if n.id not in before]
    assert new, "the fix added a block"
    rects = {n: w.scene.nodes[n].sceneBoundingRect() for n in w.scene.nodes}
    for nid in new:
        assert not any(rects[nid].intersects(r) for other, r in rects.items() if other != nid), nid
        assert w.view.visible_scene_rect().intersects(rects[nid])
    assert w.document.checker.valid


# ---- 6. wires light only where the tensor fits; long problems ---------------------------------------------------
def test_dragging_a_wire_lights_only_ports_that_take_the_tensor(qtbot):
    g = small_graph(connected=False)
    AddNode(Node("lstm", "LSTM", {"hidden_size": 32}, (320.0, 200.0))).apply(g)
    AddNode(Node("flat", "Flatten", {}, (640.0, 200.0))).apply(g)
    Connect(Edge("image", "conv1")).apply(g)
    w = open_window(qtbot, g)
    view, scene = w.view, w.scene
    start = vp(view, scene.nodes["conv1"].port("out", True).scenePos())
    QTest.mousePress(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(view.viewport(), start + QPoint(40, 60))
    QTest.mouseMove(view.viewport(), start + QPoint(80, 120))
    assert scene.wiring
    lit = {(p.node_id, p.name) for p in scene.wire_drag.highlighted}
    assert ("flat", "in") in lit and ("out", "in") in lit
    assert ("lstm", "in") not in lit  # a 4-D image is not a sequence
    assert not scene.nodes["lstm"].port("in", False).highlight
    # dropping on the unlit port still connects: the problem then offers its fix
    end = vp(view, scene.nodes["lstm"].port("in", False).scenePos())
    QTest.mouseMove(view.viewport(), end)
    QTest.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)
    assert Edge("conv1", "lstm") in w.document.graph.edges
    assert any(d.node == "lstm" and d.fixes for d in w.document.checker.diagnostics())


def test_long_problem_messages_wrap_and_their_tooltips_show_everything(qtbot):
    g = small_graph(connected=False)
    AddNode(Node("lstm", "LSTM", {"hidden_size": 32}, (640.0, 0.0))).apply(g)
    Connect(Edge("image", "conv1")).apply(g)
    Connect(Edge("conv1", "lstm")).apply(g)
    w = open_window(qtbot, g)
    w.resize(900, 900)  # narrower than the message
    w.resizeDocks([w.problems_dock], [300], Qt.Orientation.Vertical)
    w.problems_dock.raise_()
    tree = w.problems.tree
    row = w.problems.row_of("lstm")
    item = tree.topLevelItem(row)
    message = w.problems.diagnostics[row].message
    assert len(message) > 120
    QApplication.processEvents()
    assert tree.fontMetrics().horizontalAdvance(message) > tree.columnWidth(2)
    one_line = tree.fontMetrics().height()
    shown = tree.visualItemRect(item)
    assert shown.height() >= 2 * one_line  # wrapped, not cut with "..."
    # the tooltip is rich text, which Qt wraps (a plain one is one line, cut at the screen's edge), and says it all
    import html
    from PySide6.QtGui import QTextDocumentFragment
    tip = item.toolTip(2)
    assert tip.startswith("<p") and html.escape(message) in tip
    assert QTextDocumentFragment.fromHtml(tip).toPlainText() == message


# ---- 7. delete and reconnect -----------------------------------------------------------------------------------
def test_deleting_a_block_on_a_wire_reconnects_its_neighbours_in_one_undo_step(qtbot):
    g = small_graph(connected=False)
    AddNode(Node("drop", "Dropout", {}, (480.0, 0.0))).apply(g)
    Connect(Edge("image", "conv1")).apply(g)
    Connect(Edge("conv1", "drop")).apply(g)
    Connect(Edge("drop", "out")).apply(g)
    w = open_window(qtbot, g)
    g = w.document.graph
    click_node(w.view, "drop")
    QTest.keyClick(w.view.viewport(), Qt.Key.Key_Delete)
    assert "drop" not in g and Edge("conv1", "out") in g.edges
    assert "reconnected" in w.status_bar.currentMessage()
    assert w.document.undo_stack.count() == 1
    w.document.undo_stack.undo()
    assert "drop" in g and Edge("conv1", "drop") in g.edges and Edge("conv1", "out") not in g.edges


def test_no_reconnect_when_the_shapes_do_not_allow_it(qtbot):
    g = small_graph(connected=False)
    AddNode(Node("seq", "ToSequence", {}, (480.0, 0.0))).apply(g)
    AddNode(Node("lstm", "LSTM", {"hidden_size": 16}, (640.0, 0.0))).apply(g)
    Connect(Edge("image", "conv1")).apply(g)
    Connect(Edge("conv1", "seq")).apply(g)
    Connect(Edge("seq", "lstm")).apply(g)
    Connect(Edge("lstm", "out")).apply(g)
    w = open_window(qtbot, g)
    assert w.document.checker.valid
    click_node(w.view, "seq")
    QTest.keyClick(w.view.viewport(), Qt.Key.Key_Delete)
    g = w.document.graph
    assert "seq" not in g and Edge("conv1", "lstm") not in g.edges  # an image does not go into an LSTM


# ---- 3. workspaces -------------------------------------------------------------------------------------------------
def test_train_workspace_gives_the_plots_room_and_is_remembered(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("HYBRID_STUDIO_DATA_DIR", str(tmp_path / "data"))
    w = open_window(qtbot, small_graph())
    qtbot.waitUntil(lambda: w._train_panel is not None, timeout=10_000)
    assert w.workspace == "design"
    design_h = w.train_dock.height()
    button = w.toolbar.widgetForAction(w.workspace_actions["train"])
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert w.workspace == "train" and w.workspace_actions["train"].isChecked()
    qtbot.waitUntil(lambda: w.train_dock.height() >= 0.5 * w.height(), timeout=3000)
    assert w.train_dock.height() > 2 * design_h
    assert w.train_panel.plots.loss_plot.vb.sceneBoundingRect().height() > 120  # the plots are not a black strip
    assert not w.palette_dock.isVisible() and not w.train_dock.visibleRegion().isEmpty()
    assert w.view.height() > 150  # the canvas is still there
    assert main_window_module.MainWindow.stored_workspace() == "train"
    # a new window (the next session) opens in the Train workspace once its training panel exists
    w2 = open_window(qtbot, small_graph())
    qtbot.waitUntil(lambda: w2.workspace == "train", timeout=10_000)
    qtbot.waitUntil(lambda: w2.train_dock.height() >= 0.5 * w2.height(), timeout=3000)
    # a choice made before the training panel exists is not overridden by the remembered one
    w3 = main_window_module.MainWindow(Document(small_graph()))
    qtbot.addWidget(w3, before_close_func=lambda win: win.document.mark_saved())
    w3.set_workspace("design", remember=False)
    w3.show()
    qtbot.waitUntil(lambda: w3._train_panel is not None, timeout=10_000)
    qtbot.wait(50)
    assert w3.workspace == "design"
    # back to Design (keyboard): palette back, training low again
    w.activateWindow()
    QTest.qWaitForWindowActive(w)
    QTest.keyClick(w, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert w.workspace == "design" and w.palette_dock.isVisible()
    # the bottom area is low again (Problems in front; the training tab behind it)
    qtbot.waitUntil(lambda: w.problems_dock.isVisible() and w.problems_dock.height() < 0.3 * w.height(), timeout=3000)
    assert main_window_module.MainWindow.stored_workspace() == "design"


# ---- 4. the training panel follows the project ------------------------------------------------------------------
@pytest.fixture
def train_window(qtbot, tmp_path, monkeypatch):
    """The main window on the seed template, saved as mynet.hsproj.json, with a fake run starter."""
    from train_fakes import FakeStarter
    monkeypatch.setenv("HYBRID_STUDIO_DATA_DIR", str(tmp_path / "data"))
    from hybrid_studio.ui.train import panel as panel_module
    errors = []
    monkeypatch.setattr(panel_module, "show_error", lambda parent, title, text, details="": errors.append(text))
    path = tmp_path / "mynet.hsproj.json"
    save_project(load_template("seed-cnn-lstm"), path)
    w = open_window(qtbot, load_project(path))
    w.document.path = path.resolve()
    qtbot.waitUntil(lambda: w._train_panel is not None, timeout=10_000)
    panel = w.train_panel
    panel.load_choices(sync=True)
    qtbot.waitUntil(lambda: panel.picker.dataset is not None, timeout=30_000)
    panel.controller.starter = FakeStarter(epochs=2, steps_per_epoch=10, steps_per_poll=5)
    w.errors = errors
    yield w
    panel.shutdown()


def test_f5_with_problems_in_front_says_so_and_shows_training(qtbot, train_window):
    w = train_window
    w.problems_dock.show()
    w.problems_dock.raise_()
    QApplication.processEvents()
    assert w.train_dock.visibleRegion().isEmpty()  # the Problems tab hides the training panel
    w.activateWindow()
    assert QTest.qWaitForWindowActive(w)
    w.view.setFocus()
    QTest.keyClick(w.view.viewport(), Qt.Key.Key_F5)
    assert w.train_panel.controller.state == "running"
    assert "Training started" in w.status_bar.currentMessage()
    QApplication.processEvents()
    assert not w.train_dock.visibleRegion().isEmpty()
    assert w.pause_action.isEnabled() and w.stop_action.isEnabled() and not w.train_action.isEnabled()
    starter = w.train_panel.controller.starter
    assert starter.calls[0][0]["name"] == "mynet"  # runs are named after the project file
    qtbot.waitUntil(lambda: w.train_panel.controller.state == "idle", timeout=10_000)
    assert not w.pause_action.isEnabled() and w.train_action.isEnabled() and not w.errors


def test_training_settings_are_saved_but_not_undo_steps(qtbot, train_window, tmp_path):
    w = train_window
    doc = w.document
    count = doc.undo_stack.count()
    w.train_panel.settings.widgets["epochs"].setValue(7)
    qtbot.waitUntil(lambda: (doc.graph.training or {}).get("epochs") == 7, timeout=3000)
    assert doc.undo_stack.count() == count and doc.modified and w.isWindowModified()
    assert w.file_actions.save()
    assert json.loads(doc.path.read_text())["training"]["epochs"] == 7
    assert not doc.modified


def test_opening_another_project_clears_the_training_messages(qtbot, train_window, tmp_path):
    w = train_window
    panel = w.train_panel
    panel.status.setText("lstm: expects sequences")
    panel.log.appendPlainText("a message about lstm of the old project")
    other = tmp_path / "other.hsproj.json"
    save_project(small_graph(), other)
    assert w.file_actions.open_path(other)
    assert panel.status.text() == "" and panel.log.toPlainText() == ""


def test_a_resumed_run_shows_its_own_settings(qtbot, train_window):
    w = train_window
    panel = w.train_panel
    panel.settings.widgets["epochs"].setValue(3)
    qtbot.waitUntil(lambda: (w.document.graph.training or {}).get("epochs") == 3, timeout=3000)
    from hybrid_studio.project import graph_to_dict
    from hybrid_studio.train.config import TrainConfig
    run = w.document.path.parent / "runs" / "mynet-old"
    (run / "checkpoints").mkdir(parents=True)
    config = TrainConfig(epochs=9, batch_size=16, dataset="digits").to_dict()
    (run / "config.json").write_text(json.dumps({"config": config, "dataset": "digits"}))
    (run / "project.json").write_text(json.dumps(graph_to_dict(w.document.graph)))
    panel.controller.starter.kwargs.update(epochs=9, steps_per_epoch=10, steps_per_poll=1)
    assert panel.resume_run(run)
    assert panel.settings.values()["epochs"] == 9 and panel.settings.values()["batch_size"] == 16
    assert w.document.graph.training["epochs"] == 3  # the project's own settings are untouched
    panel.controller.stop()
    qtbot.waitUntil(lambda: panel.controller.state == "idle", timeout=10_000)
    assert panel.settings.values()["epochs"] == 3 and panel.settings.isEnabled()


# ---- 5. runs: compare, legends, colours, epoch axis ---------------------------------------------------------------
def test_runs_compare_button_and_context_menu(qtbot, train_window):
    w = train_window
    panel = w.train_panel
    for _ in range(2):
        assert panel.train()
        qtbot.waitUntil(lambda: panel.controller.state == "idle", timeout=10_000)
    runs = panel.runs
    runs_dir = w.document.path.parent / "runs"
    for h in panel.controller.starter.handles:  # what a real run leaves behind: a status and its metrics
        (h.run_dir).mkdir(parents=True, exist_ok=True)
        (h.run_dir / "status.json").write_text(json.dumps({"status": "finished", "run_id": h.run_dir.name}))
        (h.run_dir / "metrics.csv").write_text("epoch,step,split,scope,loss,accuracy\n1,10,train,epoch,1.0,0.5\n"
                                               "1,10,val,epoch,1.1,0.4\n2,20,val,epoch,0.9,0.6\n")
    runs.refresh(runs_dir)
    assert len(runs.runs) == 2
    assert not runs.compare_button.isEnabled()
    runs.table.selectAll()
    assert runs.compare_button.isEnabled() and runs.compare_button.text() == "Compare 2"
    panel.tabs.setCurrentWidget(panel.log)
    qtbot.mouseClick(runs.compare_button, Qt.MouseButton.LeftButton)
    assert panel.tabs.currentWidget() is panel.plots
    assert len(panel.plots.overlay_items) >= 2
    menu = runs.build_context_menu()
    assert menu.actions()[0].text() == "Compare 2 runs" and menu.actions()[0].isEnabled()


def test_plots_legend_off_the_curves_distinct_points_and_epoch_axis(qtbot):
    from train_fakes import FakeHandle
    from hybrid_studio.ui.train.plots import TrainPlots
    plots = TrainPlots()
    qtbot.addWidget(plots)
    plots.resize(900, 600)
    plots.show()
    qtbot.waitExposed(plots)
    plots.reset()
    plots.set_run_length(20, 2)
    handle = FakeHandle("/tmp/none", epochs=2, steps_per_epoch=10, steps_per_poll=100)
    events = handle.poll()
    plots.add_steps([e for e in events if type(e).__name__ == "Step"])
    plots.add_epochs([e for e in events if type(e).__name__ == "EpochEnd"])
    plots.refresh()
    QApplication.processEvents()
    for plot in (plots.loss_plot, plots.epoch_plot, plots.metric_plot):
        legend = plot.legend
        assert legend is not None and legend.items
        overlap = legend.sceneBoundingRect().intersected(plot.vb.sceneBoundingRect())
        assert overlap.width() < 2 or overlap.height() < 2  # beside the curves, not over them
    lo, hi = plots.epoch_plot.vb.viewRange()[0]
    assert 0.8 <= lo <= 1.0 and 2.0 <= hi <= 2.2  # a 2-epoch run: the axis is 1..2, not 1..10
    plots.reset()
    plots.set_run_length(10, 1)
    lo, hi = plots.metric_plot.vb.viewRange()[0]
    assert lo < 1 < hi and hi - lo < 1.5  # one epoch: centred on 1
    train, val = plots.curves["train_loss"], plots.curves["val_loss"]
    tb, vb = train.opts["symbolBrush"], val.opts["symbolBrush"]
    assert pg_colour(tb) != pg_colour(vb)
    assert pg_colour(tb) == train.opts["pen"].color().getRgb()[:3]


def pg_colour(brush):
    import pyqtgraph as pg
    return pg.mkBrush(brush).color().getRgb()[:3]
