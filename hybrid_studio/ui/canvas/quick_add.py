"""The quick-add box (Tab or the context menu): type part of a block's name, Enter adds it at the cursor."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout

from hybrid_studio.blocks import CATALOG


def matching_types(text: str) -> list[str]:
    """Block types whose name, category or help contains ``text`` (name matches first)."""
    text = text.strip().lower()
    names, others = [], []
    for b in CATALOG:
        if not text or text in b.type_name.lower():
            names.append(b.type_name)
        elif text in b.category.lower() or text in b.help.lower():
            others.append(b.type_name)
    names.sort(key=lambda n: (not n.lower().startswith(text), n))
    return names + others


class QuickAdd(QFrame):
    """A small popup: search field and the matching block types."""

    chosen = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent, Qt.WindowType.Popup)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Add block…")
        self.search.setClearButtonEnabled(True)
        self.list = QListWidget(self)
        layout.addWidget(self.search)
        layout.addWidget(self.list)
        self.resize(240, 300)
        self.search.textChanged.connect(self._filter)
        self.search.returnPressed.connect(self._accept_current)
        self.list.itemActivated.connect(self._accept)
        self.list.itemClicked.connect(self._accept)
        self.search.installEventFilter(self)
        self._filter("")

    def _filter(self, text: str):
        self.list.clear()
        for name in matching_types(text):
            block = CATALOG.get(name)
            item = QListWidgetItem(f"{name}    ·  {block.category}")
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setToolTip(block.help)
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)

    def eventFilter(self, obj, event):
        # arrow keys in the search field move through the list
        if obj is self.search and event.type() == event.Type.KeyPress:
            if event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up):
                row = self.list.currentRow() + (1 if event.key() == Qt.Key.Key_Down else -1)
                self.list.setCurrentRow(max(0, min(self.list.count() - 1, row)))
                return True
            if event.key() == Qt.Key.Key_Escape:
                self.close()
                return True
        return super().eventFilter(obj, event)

    def _accept_current(self):
        item = self.list.currentItem()
        if item is not None:
            self._accept(item)

    def _accept(self, item):
        name = item.data(Qt.ItemDataRole.UserRole)
        self.close()
        self.chosen.emit(name)

    def popup_at(self, global_pos):
        self.search.clear()
        self.move(global_pos)
        self.show()
        self.search.setFocus()
