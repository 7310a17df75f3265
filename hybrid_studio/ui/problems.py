"""The problems panel: every diagnostic of the graph, with its fixes as buttons.

Rows are rebuilt from ``document.checker.diagnostics()`` after each check (only when the list actually changed, so a
param edit on a large valid graph costs a comparison). Clicking a row emits ``node_activated(id)``: the window
selects and centres that block. A fix button pushes ``fix.edit(graph)`` as one undoable step.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtWidgets import (QHBoxLayout, QHeaderView, QLabel, QPushButton, QStyledItemDelegate, QTreeWidget,
                               QTreeWidgetItem, QVBoxLayout, QWidget)

from .icons import named_icon, severity_icon

NODE_ROLE = Qt.UserRole + 1


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def wrapped_tip(text: str) -> str:
    """``text`` as a tooltip that wraps (Qt shows a plain-text tooltip on one line, cut at the screen's edge)."""
    import html  # (here: not needed before the first problem)
    return f"<p style='white-space:pre-wrap'>{html.escape(text)}</p>"


class WrappingDelegate(QStyledItemDelegate):
    """Rows as tall as their wrapped message: QTreeView sizes rows without the column's width, so a long message
    would stay on one line, cut off at the column's edge."""

    def __init__(self, tree: QTreeWidget, column: int):
        super().__init__(tree)
        self.tree, self.column = tree, column

    def sizeHint(self, option, index):
        hint = super().sizeHint(option, index)
        if index.column() != self.column:
            return hint
        width = max(40, self.tree.columnWidth(self.column) - 10)
        text = str(index.data() or "")
        bound = option.fontMetrics.boundingRect(QRect(0, 0, width, 100_000), int(Qt.TextFlag.TextWordWrap), text)
        return QSize(hint.width(), max(hint.height(), bound.height() + 8))


class ProblemsPanel(QWidget):
    """A list of diagnostics: severity, block, message, fixes."""

    #: a row naming a block was clicked or activated: its id
    node_activated = Signal(str)

    COLUMNS = ("", "Block", "Problem", "Fixes")

    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.document = None
        self._signature = None
        self.diagnostics: list = []
        #: called with a fix's edit before it is pushed (the main window places the blocks it adds in free space)
        self.placer = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        head = QHBoxLayout()
        head.setContentsMargins(6, 4, 6, 0)
        self.summary_icon = QLabel()
        head.addWidget(self.summary_icon)
        self.summary = QLabel()
        self.summary.setObjectName("problems_summary")
        head.addWidget(self.summary, 1)
        lay.addLayout(head)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(self.COLUMNS))
        self.tree.setHeaderLabels(self.COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(False)
        self.tree.setWordWrap(True)
        self.tree.setAlternatingRowColors(True)
        header = self.tree.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.Stretch)
        header.setSectionResizeMode(3, QHeaderView.ResizeToContents)
        header.setStretchLastSection(False)
        # long messages wrap onto more lines (the row grows) instead of ending in "..."
        self.tree.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.tree.setItemDelegateForColumn(2, WrappingDelegate(self.tree, 2))
        header.sectionResized.connect(lambda *_: self.tree.scheduleDelayedItemsLayout())
        self.tree.itemClicked.connect(self._activated)
        self.tree.itemActivated.connect(self._activated)
        lay.addWidget(self.tree, 1)
        self.set_document(document)

    def set_document(self, document):
        """Follow another document."""
        if self.document is not None:
            self.document.settled.disconnect(self._on_checked)
        self.document = document
        document.settled.connect(self._on_checked)  # once per event-loop turn, however many edits it saw
        self._signature = None
        self.refresh()

    # ---- rows --------------------------------------------------------------------------------------------------
    def _on_checked(self, _changed):
        self.refresh()

    def refresh(self):
        """Rebuild the rows if the diagnostics changed since the last time."""
        diags = self.document.checker.diagnostics()
        signature = [(d.node, d.severity, d.message, tuple(f.label for f in d.fixes)) for d in diags]
        if signature == self._signature:
            self.diagnostics = diags  # same text, but keep the fresh Fix objects
            return
        self._signature = signature
        self.diagnostics = diags
        self.tree.clear()  # item widgets are deleted later by Qt, so a clicked fix button may rebuild the list
        for i, d in enumerate(diags):
            item = QTreeWidgetItem(["", d.node or "(graph)", d.message, ""])
            item.setIcon(0, severity_icon(d.severity))
            item.setToolTip(0, d.severity)
            item.setToolTip(2, wrapped_tip(d.message))
            item.setToolTip(1, wrapped_tip(f"{d.node or '(graph)'}: {d.message}"))
            item.setData(0, NODE_ROLE, d.node)
            self.tree.addTopLevelItem(item)
            if d.fixes:
                self.tree.setItemWidget(item, 3, self._fix_buttons(i, d))
        errors = sum(d.severity == "error" for d in diags)
        warnings = len(diags) - errors
        if not diags:
            self.summary.setText("No problems: the graph is valid.")
            self.summary_icon.setPixmap(named_icon("ok").pixmap(16, 16))
        else:
            parts = []
            if errors:
                parts.append(f"{errors} error{'s' if errors != 1 else ''}")
            if warnings:
                parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
            self.summary.setText(", ".join(parts))
            self.summary_icon.setPixmap(severity_icon("error" if errors else "warning").pixmap(16, 16))

    def _fix_buttons(self, row: int, d) -> QWidget:
        box = QWidget()
        lay = QHBoxLayout(box)
        lay.setContentsMargins(2, 1, 2, 1)
        lay.setSpacing(4)
        for j, fix in enumerate(d.fixes):
            b = QPushButton(_cap(fix.label))
            b.setObjectName(f"fix_{row}_{j}")
            b.setToolTip("Apply this fix (undoable)")
            # look the fix up at click time: the row's Fix objects are refreshed after every check
            b.clicked.connect(lambda _c=False, r=row, k=j: self.apply_fix(r, k))
            lay.addWidget(b)
        return box

    def fix_button(self, row: int, index: int = 0) -> QPushButton:
        """The button of fix ``index`` on row ``row`` (for tests and keyboard users)."""
        box = self.tree.itemWidget(self.tree.topLevelItem(row), 3)
        return box.layout().itemAt(index).widget()

    def row_of(self, node_id: str | None, code_or_text: str | None = None) -> int:
        """The first row about ``node_id`` (and whose message contains ``code_or_text`` if given); -1 if none."""
        for i, d in enumerate(self.diagnostics):
            if d.node == node_id and (code_or_text is None or d.code == code_or_text or code_or_text in d.message):
                return i
        return -1

    # ---- actions -----------------------------------------------------------------------------------------------
    def apply_fix(self, row: int, index: int = 0) -> bool:
        """Push fix ``index`` of diagnostic ``row``; False when it no longer applies (the reason goes to refused)."""
        if not (0 <= row < len(self.diagnostics)) or index >= len(self.diagnostics[row].fixes):
            return False
        fix = self.diagnostics[row].fixes[index]
        try:
            edit = fix.edit(self.document.graph)
        except Exception as e:  # noqa: BLE001 - a stale fix must not take the app down
            self.document.refused.emit(f"could not apply '{fix.label}': {e}")
            return False
        if self.placer is not None:
            self.placer(edit)
        return self.document.push(edit)

    def _activated(self, item, _column=0):
        node = item.data(0, NODE_ROLE)
        if node:
            self.node_activated.emit(node)
