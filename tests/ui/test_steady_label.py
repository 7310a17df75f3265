"""Issue 15: a param edit repaints the labels whose text changed and does not re-lay out the main window (the
status bar's and the inspector's labels used to ask for a new geometry on every edit)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication

from hybrid_studio.graph import SetParams
from hybrid_studio.ui.labels import SteadyLabel

from canvas_helpers import click_node, open_window, small_graph


class _LayoutRequests(QObject):
    def __init__(self):
        super().__init__()
        self.widgets = []

    def eventFilter(self, obj, ev):
        if ev.type() == QEvent.Type.LayoutRequest:
            self.widgets.append(type(obj).__name__)
        return False


def test_param_edit_does_not_relayout_the_window(qtbot):
    w = open_window(qtbot, small_graph())
    w.ensure_train_panel()   # the deferred panels are built first, as after the first paint
    qtbot.wait(300)
    click_node(w.view, "conv1")
    qtbot.waitUntil(lambda: w.inspector.node_id == "conv1")
    for k in (40, 48):   # settle: the labels take their sizes for two-digit widths
        w.document.push(SetParams("conv1", {"out_channels": k}))
        qtbot.waitUntil(lambda: not w.document.settling)
        QApplication.processEvents()
    spy = _LayoutRequests()
    QApplication.instance().installEventFilter(spy)
    try:
        for k in (56, 64, 72):   # same number of digits: same widths
            w.document.push(SetParams("conv1", {"out_channels": k}))
            qtbot.waitUntil(lambda: not w.document.settling)
            QApplication.processEvents()
    finally:
        QApplication.instance().removeEventFilter(spy)
    assert "MainWindow" not in spy.widgets and "QStatusBar" not in spy.widgets, spy.widgets
    assert "Params: " in w.params_label.text() and "72" in w.inspector.findChild(SteadyLabel, "output_shape").text()


def test_steady_label_grows_and_shrinks_with_its_text(qtbot):
    label = SteadyLabel("12")
    qtbot.addWidget(label)
    small = label.width()
    label.setText("a much longer text than before")
    assert label.width() > small and label.width() >= label.fontMetrics().horizontalAdvance(label.text())
    wide = label.width()
    label.setText("a much longer text than befor")   # a little shorter: it keeps its width (no re-layout)
    assert label.width() == wide
    label.setText("34")   # much shorter: it shrinks back
    assert label.width() == small


def test_a_label_that_does_not_shrink_keeps_its_widest_size(qtbot):
    label = SteadyLabel("1,176 (1.18 k)", shrink=False)
    qtbot.addWidget(label)
    wide = label.width()
    label.setText("784")
    assert label.width() == wide and label.text() == "784"
    label.setText("12,345,678 (12.3 M)")
    assert label.width() > wide
