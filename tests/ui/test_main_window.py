"""The main window: docks, menus and shortcuts, title with modified mark, status bar, start-up without torch."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from hybrid_studio.graph import Edge, SetParams
from hybrid_studio.ui.document import Document

from canvas_helpers import click_node, open_window, small_graph


def test_window_has_docks_menus_and_exposes_parts(qtbot):
    w = open_window(qtbot, small_graph())
    assert w.palette is not None and w.view.scene() is w.scene and w.scene.document is w.document
    assert w.file_menu.title() == "&File"
    assert w.dockWidgetArea(w.palette_dock) == Qt.DockWidgetArea.LeftDockWidgetArea
    texts = [a.text() for a in w.edit_menu.actions()]
    for wanted in ("Cu&t", "&Copy", "&Paste", "D&uplicate", "&Delete", "Select &All"):
        assert wanted in texts
    shortcuts = {a.text(): [s.toString() for s in a.shortcuts()] for a in w.view_menu.actions()}
    assert "Ctrl+=" in shortcuts["Zoom &In"] and "Ctrl+-" in shortcuts["Zoom &Out"]
    assert "Ctrl+0" in shortcuts["&Fit to Window"]
    assert w.undo_action.shortcut().toString() == "Ctrl+Z"
    if w.inspector is not None:
        assert w.dockWidgetArea(w.inspector_dock) == Qt.DockWidgetArea.RightDockWidgetArea
    if w.problems is not None:
        assert w.dockWidgetArea(w.problems_dock) == Qt.DockWidgetArea.BottomDockWidgetArea


def test_title_shows_name_and_modified_mark(qtbot):
    w = open_window(qtbot, small_graph())
    assert w.windowTitle() == f"{w.document.display_name}[*] - Hybrid Studio"
    assert not w.isWindowModified()
    w.document.push(SetParams("conv1", {"out_channels": 4}))
    assert w.isWindowModified()
    QTest.keyClick(w.view.viewport(), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not w.isWindowModified()
    assert w.history.stack() is w.document.undo_stack


def test_status_bar_validity_totals_and_selected_shape(qtbot):
    w = open_window(qtbot, small_graph())
    ck = w.document.checker
    assert "Valid" in w.valid_label.text()
    assert f"{ck.total_params():,}" in w.params_label.text() and ck.total_params() == 320
    click_node(w.view, "conv1")
    assert w.shape_label.text() == "conv1 \u2192 N x 32 x 26 x 26"
    if w.inspector is not None:
        assert w.inspector.node_id == "conv1"
    w.document.push(SetParams("conv1", {"kernel_size": 5}))
    assert w.shape_label.text() == "conv1 \u2192 N x 32 x 24 x 24"
    QTest.keyClick(w.view.viewport(), Qt.Key.Key_Delete)
    assert "problem" in w.valid_label.text()


def test_problem_activation_selects_and_centres_block(qtbot):
    g = small_graph(connected=False)
    w = open_window(qtbot, g)
    if w.problems is None:
        return
    w.problems.node_activated.emit("out")
    assert w.scene.selected_node_ids() == ["out"]
    centre = w.view.mapToScene(w.view.viewport().rect().center())
    assert w.scene.nodes["out"].sceneBoundingRect().adjusted(-5, -5, 5, 5).contains(centre)


def test_set_document_switches_everything(qtbot):
    w = open_window(qtbot, small_graph())
    old_scene = w.scene
    g2 = small_graph(connected=False)
    doc = Document(g2)
    w.set_document(doc)
    assert w.document is doc and w.scene is not old_scene and w.view.scene() is w.scene
    assert w.undo_group.activeStack() is doc.undo_stack
    assert set(w.scene.nodes) == {"image", "conv1", "out"} and not w.scene.edges
    # the old scene no longer follows its graph
    from hybrid_studio.graph import Connect
    doc.push(Connect(Edge("image", "conv1")))
    assert Edge("image", "conv1") in w.scene.edges


def test_window_appears_without_importing_torch(tmp_path):
    # torch may load later (the training dock fetches its device list in the background once shown), but not
    # while the window is built nor before its first paint
    code = textwrap.dedent("""
        import os, sys
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from PySide6.QtCore import QEvent, QObject
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from hybrid_studio.ui.app import build_window
        w = build_window()
        assert len(w.document.graph) > 3, "the seed template opened"
        print("BUILT", "torch" in sys.modules)

        class FirstPaint(QObject):
            def eventFilter(self, obj, ev):
                if ev.type() == QEvent.Type.Paint:
                    print("PAINTED", "torch" in sys.modules, flush=True)
                    os._exit(0)
                return False

        f = FirstPaint()
        w.view.viewport().installEventFilter(f)
        w.show()
        app.exec()
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "BUILT False" in out.stdout and "PAINTED False" in out.stdout, out.stdout + out.stderr
