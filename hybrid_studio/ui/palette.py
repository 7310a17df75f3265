"""The block palette: every block type by category, with icons, a search box and each block's help as tooltip.

Drag an entry onto the canvas (mime type ``application/x-hybrid-studio-block`` holding the type name) or
double-click it to add the block at the view's centre (``block_activated``).
"""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from hybrid_studio.blocks import CATALOG, CATEGORIES

from . import theme
from .canvas.edit_ops import BLOCK_MIME

TYPE_ROLE = Qt.ItemDataRole.UserRole


def fallback_icon(type_name: str) -> QIcon:
    """A rounded square in the category colour with the type's initial (when no SVG icon is available)."""
    pm = QPixmap(64, 64)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setBrush(theme.type_colour(type_name))
    p.setPen(Qt.PenStyle.NoPen)
    p.drawRoundedRect(4, 4, 56, 56, 12, 12)
    p.setPen(QColor("white"))
    f = p.font()
    f.setPixelSize(30)
    f.setBold(True)
    p.setFont(f)
    p.drawText(pm.rect(), Qt.AlignmentFlag.AlignCenter, type_name[:1])
    p.end()
    return QIcon(pm)


def icon_for(type_name: str) -> QIcon:
    try:
        from hybrid_studio.ui.icons import block_icon
        icon = block_icon(type_name)
        if icon is not None and not icon.isNull():
            return icon
    except Exception:  # noqa: BLE001 - icons are optional decoration; never block the palette
        pass
    return fallback_icon(type_name)


class BlockTree(QTreeWidget):
    """The tree of categories and blocks; dragging an entry carries its type name."""

    enter_pressed = Signal(object)

    def keyPressEvent(self, event):
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentItem() is not None:
            self.enter_pressed.emit(self.currentItem())
            return
        super().keyPressEvent(event)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setIconSize(QSize(20, 20))
        self.setIndentation(12)
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)

    def mimeTypes(self):
        return [BLOCK_MIME]

    def mimeData(self, items):
        names = [i.data(0, TYPE_ROLE) for i in items if i.data(0, TYPE_ROLE)]
        if not names:
            return None
        return block_mime(names[0])


def block_mime(type_name: str) -> QMimeData:
    """The drag payload for one block type (also used by tests that simulate a drop)."""
    mime = QMimeData()
    mime.setData(BLOCK_MIME, type_name.encode("utf-8"))
    mime.setText(type_name)
    return mime


class Palette(QWidget):
    """Search box plus the block tree."""

    #: a block was double-clicked (or Enter pressed on it): add it at the view's centre
    block_activated = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search blocks…")
        self.search.setClearButtonEnabled(True)
        self.tree = BlockTree(self)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)
        self.items: dict[str, QTreeWidgetItem] = {}
        self._populate()
        self.search.textChanged.connect(self.filter)
        # not itemActivated: some platforms activate on a single click, which would add a block per click
        self.tree.itemDoubleClicked.connect(self._activated)
        self.tree.enter_pressed.connect(self._activated)

    def _populate(self):
        groups = CATALOG.by_category()
        order = list(CATEGORIES) + [c for c in groups if c not in CATEGORIES]
        bold = self.font()
        bold.setBold(True)
        tops = []
        # items are filled in before they join the tree, then added in one call: an item already in the tree
        # tells the view about every change (a relayout each), which cost ~30 ms of start-up
        for cat in order:
            blocks = groups.get(cat) or []
            if not blocks:
                continue
            top = QTreeWidgetItem([cat])
            top.setFont(0, bold)
            top.setFlags(Qt.ItemFlag.ItemIsEnabled)
            top.setForeground(0, theme.category_text_colour(cat))
            for b in blocks:
                item = QTreeWidgetItem(top, [b.type_name])
                item.setData(0, TYPE_ROLE, b.type_name)
                item.setIcon(0, icon_for(b.type_name))
                item.setToolTip(0, f"<b>{b.type_name}</b> · {cat}<br>{b.help}")
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled)
                self.items[b.type_name] = item
            tops.append(top)
        self.tree.addTopLevelItems(tops)
        for top in tops:
            top.setExpanded(True)
        # wide enough for the longest category header ("Normalisation & regularisation") without eliding it
        widest = max(QFontMetrics(bold).horizontalAdvance(cat) for cat in order)
        self.tree.setMinimumWidth(widest + 2 * self.tree.frameWidth() + 16)

    def changeEvent(self, event):
        if event.type() == event.Type.PaletteChange:
            theme.refresh()   # the system switched light / dark: recolour the category headers
            for i in range(self.tree.topLevelItemCount()):
                top = self.tree.topLevelItem(i)
                top.setForeground(0, theme.category_text_colour(top.text(0)))
        super().changeEvent(event)

    def filter(self, text: str):
        """Show only blocks whose name, category or help contains ``text``."""
        text = text.strip().lower()
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            cat_match = text in top.text(0).lower()
            shown = 0
            for j in range(top.childCount()):
                child = top.child(j)
                name = child.data(0, TYPE_ROLE)
                help_text = CATALOG.get(name).help.lower()
                hit = not text or cat_match or text in name.lower() or text in help_text
                child.setHidden(not hit)
                shown += hit
            top.setHidden(shown == 0)
            top.setExpanded(True)

    def visible_types(self) -> list[str]:
        return [name for name, item in self.items.items() if not item.isHidden() and not item.parent().isHidden()]

    def _activated(self, item, column=0):
        name = item.data(0, TYPE_ROLE)
        if name:
            self.block_activated.emit(name)
