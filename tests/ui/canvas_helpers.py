"""Shared helpers for the canvas tests: small graphs, a shown main window, and real mouse gestures."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, Qt
from PySide6.QtGui import QRegion
from PySide6.QtTest import QTest

from hybrid_studio.blocks import new_graph
from hybrid_studio.graph import AddNode, Connect, Edge, Node


def small_graph(connected: bool = True):
    """image (Input 1x28x28) -> conv1 (Conv2d 32@3x3) [-> out (Output)], laid out left to right."""
    g = new_graph("small")
    AddNode(Node("image", "Input", {"shape": [1, 28, 28], "axes": "CHW"}, (0.0, 0.0))).apply(g)
    AddNode(Node("conv1", "Conv2d", {"out_channels": 32, "kernel_size": 3}, (320.0, 0.0))).apply(g)
    AddNode(Node("out", "Output", {}, (640.0, 0.0))).apply(g)
    if connected:
        Connect(Edge("image", "conv1")).apply(g)
        Connect(Edge("conv1", "out")).apply(g)
    return g


def open_window(qtbot, graph):
    from hybrid_studio.ui.document import Document
    from hybrid_studio.ui.main_window import MainWindow
    w = MainWindow(Document(graph))
    # closing asks to save a modified document (a modal box would wait forever offscreen): mark it saved first
    qtbot.addWidget(w, before_close_func=lambda win: win.document.mark_saved())
    w.resize(1400, 900)
    w.show()
    qtbot.waitExposed(w)
    w.activateWindow()
    # shortcuts only fire in the active window; waiting also lets the first-show fit run before we set the view
    assert QTest.qWaitForWindowActive(w)
    qtbot.waitUntil(lambda: w._inspector is not None)  # as in the app: built right after the first paint
    w.view.resetTransform()
    w.view.centerOn(QPointF(400, 40))
    w.view.setFocus()
    return w


def vp(view, scene_point) -> QPoint:
    """A viewport point for a scene point."""
    return view.mapFromScene(scene_point)


def drag(view, a: QPoint, b: QPoint, button=Qt.MouseButton.LeftButton, steps: int = 6, modifier=None):
    """Press at ``a``, move in steps, release at ``b`` on the view's viewport."""
    mods = modifier or Qt.KeyboardModifier.NoModifier
    w = view.viewport()
    QTest.mousePress(w, button, mods, a)
    for i in range(1, steps + 1):
        p = a + (b - a) * (i / steps)
        QTest.mouseMove(w, p)
    QTest.mouseRelease(w, button, mods, b)


def click_node(view, node_id, modifier=None):
    item = view.scene().nodes[node_id]
    p = vp(view, item.sceneBoundingRect().center() + QPointF(0, -10))
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, modifier or Qt.KeyboardModifier.NoModifier, p)


class PaintRecorder(QObject):
    """Collects the regions a widget paints."""

    def __init__(self, widget):
        super().__init__()
        self.region = QRegion()
        self.paints = 0
        widget.installEventFilter(self)

    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint:
            self.paints += 1
            self.region = self.region.united(event.region())
        return False

    def reset(self):
        self.region, self.paints = QRegion(), 0
