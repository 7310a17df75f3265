"""New from Template: a gallery of the starter projects, each with its title, description and a small preview.

The preview is drawn here with QPainter (blocks as category-coloured boxes in layers, wires as lines), so the
gallery does not depend on the canvas.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
                               QVBoxLayout)

from hybrid_studio.graph import Graph

from .icons import DEFAULT_COLOR, category_color

NAME_ROLE = Qt.UserRole + 1


def layer_layout(graph: Graph) -> dict[str, tuple[int, int]]:
    """(layer, row) per node: a node's layer is one more than its deepest input's; rows keep file order."""
    depth: dict[str, int] = {}
    for nid in graph.topological_order():
        preds = [e.source for e in graph.in_edges(nid)]
        depth[nid] = 1 + max((depth[p] for p in preds), default=-1)
    rows: dict[int, int] = {}
    out = {}
    for n in graph.nodes:
        d = depth.get(n.id, 0)
        out[n.id] = (d, rows.get(d, 0))
        rows[d] = rows.get(d, 0) + 1
    return out


def render_preview(graph: Graph, width: int = 320, height: int = 180, ratio: float = 1.0) -> QPixmap:
    """A small drawing of ``graph``: boxes coloured by block category, left to right in layers, labelled by id."""
    from hybrid_studio.blocks import CATALOG

    pm = QPixmap(int(width * ratio), int(height * ratio))
    pm.setDevicePixelRatio(ratio)
    pm.fill(QColor("#fafafa"))
    p = QPainter(pm)
    p.setRenderHint(QPainter.Antialiasing)
    p.setPen(QPen(QColor("#d0d0d0"), 1))
    p.drawRect(QRectF(0.5, 0.5, width - 1, height - 1))
    if len(graph) == 0:
        p.setPen(QColor("#9e9e9e"))
        p.drawText(QRectF(0, 0, width, height), Qt.AlignCenter, "empty")
        p.end()
        return pm
    places = layer_layout(graph)
    layers = max(d for d, _ in places.values()) + 1
    per_layer = {}
    for d, r in places.values():
        per_layer[d] = max(per_layer.get(d, 0), r + 1)
    margin = 8.0
    # long chains wrap onto several bands (like lines of text) so boxes stay big enough to read
    per_band = max(1, min(layers, int((width - 2 * margin) // 46)))
    bands = -(-layers // per_band)
    band_h = (height - 2 * margin) / bands
    col_w = (width - 2 * margin) / per_band
    box_w = max(6.0, min(col_w * 0.78, 90.0))
    rects = {}
    for nid, (d, r) in places.items():
        band, col = divmod(d, per_band)
        n_rows = per_layer[d]
        row_h = band_h / n_rows
        box_h = max(5.0, min(row_h * 0.7, 26.0))
        x = margin + col * col_w + (col_w - box_w) / 2
        y = margin + band * band_h + r * row_h + (row_h - box_h) / 2
        rects[nid] = QRectF(x, y, box_w, box_h)
    p.setPen(QPen(QColor("#8a8a8a"), 1.2))
    p.setBrush(Qt.NoBrush)
    for e in graph.edges:
        a, b = rects.get(e.source), rects.get(e.target)
        if a is None or b is None:
            continue
        start, end = QPointF(a.right(), a.center().y()), QPointF(b.left(), b.center().y())
        path = QPainterPath(start)
        dx = max(8.0, (end.x() - start.x()) / 2)
        path.cubicTo(start + QPointF(dx, 0), end - QPointF(dx, 0), end)
        p.drawPath(path)
    font = QFont(p.font())
    font.setPixelSize(max(7, min(11, int(min(r.height() for r in rects.values()) * 0.55))))
    p.setFont(font)
    for n in graph.nodes:
        rect = rects[n.id]
        color = QColor(category_color(CATALOG.get(n.type).category) if n.type in CATALOG else DEFAULT_COLOR)
        p.setPen(QPen(color.darker(130), 1))
        p.setBrush(color)
        p.drawRoundedRect(rect, 3, 3)
        if rect.width() > 24 and rect.height() > 9:
            p.setPen(QColor("white"))
            p.drawText(rect.adjusted(2, 0, -2, 0), Qt.AlignCenter,
                       p.fontMetrics().elidedText(n.id, Qt.ElideRight, int(rect.width() - 4)))
    p.end()
    return pm


class TemplateGallery(QDialog):
    """Pick a template. ``templates``: objects with name, title, description; ``loader(name) -> Graph``."""

    def __init__(self, templates=None, loader=None, parent=None):
        super().__init__(parent)
        from hybrid_studio import project
        self.setWindowTitle("New from Template")
        self.templates = list(templates if templates is not None else project.list_templates())
        self.loader = loader or project.load_template
        self.previews: dict[str, QPixmap] = {}
        ratio = self.devicePixelRatioF() if hasattr(self, "devicePixelRatioF") else 1.0

        lay = QVBoxLayout(self)
        body = QHBoxLayout()
        self.list = QListWidget()
        self.list.setViewMode(QListWidget.IconMode)
        self.list.setIconSize(QSize(200, 112))
        self.list.setResizeMode(QListWidget.Adjust)
        self.list.setMovement(QListWidget.Static)
        self.list.setGridSize(QSize(224, 156))
        self.list.setWordWrap(True)
        self.list.setMinimumWidth(480)
        body.addWidget(self.list, 3)

        side = QVBoxLayout()
        self.preview = QLabel()
        self.preview.setObjectName("template_preview")
        self.preview.setFixedSize(320, 180)
        side.addWidget(self.preview)
        self.title = QLabel()
        self.title.setStyleSheet("font-weight: bold; font-size: 14px;")
        self.title.setWordWrap(True)
        side.addWidget(self.title)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        side.addWidget(self.description, 1)
        body.addLayout(side, 2)
        lay.addLayout(body, 1)

        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.buttons.button(QDialogButtonBox.Ok).setText("Create")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)

        for t in self.templates:
            try:
                pm = render_preview(self.loader(t.name), 320, 180, ratio)
            except Exception as e:  # noqa: BLE001 - one broken template must not hide the others
                pm = QPixmap()
                t_desc = f"(cannot be opened: {e})"
            else:
                t_desc = t.description
            self.previews[t.name] = pm
            item = QListWidgetItem(QIcon(pm), t.title)
            item.setData(NAME_ROLE, t.name)
            item.setToolTip(t_desc)
            item.setData(Qt.UserRole + 2, t_desc)
            self.list.addItem(item)
        self.list.currentItemChanged.connect(self._current_changed)
        # bound methods, not lambdas holding self: a cycle through a lambda lets the GC delete the dialog late
        self.list.itemDoubleClicked.connect(self._double_clicked)
        if self.list.count():
            self.list.setCurrentRow(0)
        self.resize(860, 480)

    def _double_clicked(self, _item):
        self.accept()

    def _current_changed(self, item, _prev=None):
        if item is None:
            self.title.clear()
            self.description.clear()
            self.preview.clear()
            return
        name = item.data(NAME_ROLE)
        self.title.setText(item.text())
        self.description.setText(item.data(Qt.UserRole + 2))
        self.preview.setPixmap(self.previews.get(name, QPixmap()))

    def selected_name(self) -> str | None:
        """The chosen template's name (None when the gallery is empty)."""
        item = self.list.currentItem()
        return item.data(NAME_ROLE) if item is not None else None

    @classmethod
    def choose(cls, parent=None) -> str | None:
        """Show the gallery modally; the chosen template's name, or None when cancelled."""
        dlg = cls(parent=parent)
        return dlg.selected_name() if dlg.exec() == QDialog.Accepted else None
