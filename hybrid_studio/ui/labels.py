"""``SteadyLabel``: a one-line label whose text changes on every edit (counts, shapes) without re-laying out the
window around it."""

from __future__ import annotations

from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QLabel


class SteadyLabel(QLabel):
    """A one-line label held at the size of its text. ``QLabel.setText`` asks the parent layout for a new geometry
    on every call, which for the status bar and the inspector re-laid out the whole main window (its docks and the
    canvas) after every param edit. With a fixed size that request stops at the label; the size is changed only
    when a text needs another one (most edits change digits, which are equally wide)."""

    def __init__(self, text: str = "", parent=None, shrink: bool = True):
        super().__init__(text, parent)
        self._fixed = None
        self._advance = None
        self.shrink = shrink   # False: keeps the widest size it needed (a form's value column: nothing moves)
        # opaque: a new text repaints the label alone, not first the status bar or panel beneath it
        self.setAutoFillBackground(True)
        self._fit()

    def setText(self, text: str):  # noqa: N802 - Qt's name
        if text == self.text():
            return
        # a text as wide as the last one (new digits, mostly) keeps the size: no need to ask QLabel for its size
        # hint, which lays the text out again (~75 us)
        advance = self.fontMetrics().horizontalAdvance(text)
        same_width = advance == self._advance and self._fixed is not None
        super().setText(text)
        self._advance = advance
        if not same_width:
            self._fit()

    def _fit(self):
        hint = self.sizeHint()   # never below the fixed size: QLabel's hint grows to its minimum size
        if hint == self._fixed:
            if not self.shrink:
                return
            # a shorter text: the label keeps its width (no re-layout) until the text needs under 2/3 of it
            m = self.contentsMargins()
            need = self.fontMetrics().horizontalAdvance(self.text()) + m.left() + m.right() + 2 * self.margin()
            if 3 * need >= 2 * hint.width():
                return
            self.setMinimumSize(0, 0)
            text = self.text()
            super().setText("")   # QLabel keeps its size hint until its text changes
            super().setText(text)
            hint = self.sizeHint()
        self._fixed = hint
        self.setFixedSize(hint)

    def changeEvent(self, event):  # noqa: N802
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange, QEvent.Type.ContentsRectChange):
            self._fixed = self._advance = None
            self._fit()
