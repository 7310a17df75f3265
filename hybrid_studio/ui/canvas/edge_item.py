"""Wires: a cubic curve from an output port to an input port, labelled with the tensor shape it carries."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QFontMetricsF, QPainter, QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem

from .. import theme


def wire_path(a: QPointF, b: QPointF) -> QPainterPath:
    """A horizontal S-curve from ``a`` (an output) to ``b`` (an input).

    A wire that runs back to the left onto another row (a long chain wrapped into bands) turns down out of ``a``,
    runs left through the gap between the rows and turns into ``b``, instead of cutting diagonally across blocks.
    """
    path = QPainterPath(a)
    if b.x() < a.x() - 20 and abs(b.y() - a.y()) > 60:
        r = 40.0
        ym = (a.y() + b.y()) / 2
        path.cubicTo(QPointF(a.x() + 1.5 * r, a.y()), QPointF(a.x() + 1.5 * r, ym), QPointF(a.x() + r, ym))
        path.lineTo(QPointF(b.x() - r, ym))
        path.cubicTo(QPointF(b.x() - 1.5 * r, ym), QPointF(b.x() - 1.5 * r, b.y()), b)
        return path
    dx = max(50.0, abs(b.x() - a.x()) * 0.5)
    path.cubicTo(QPointF(a.x() + dx, a.y()), QPointF(b.x() - dx, b.y()), b)
    return path


_LABEL_SIZES: dict = {}


def _label_size(text: str) -> tuple[float, float]:
    """(width, height) of a wire's label pill: measured once per text and theme (most wires of a graph carry one of
    a few shapes), not for every wire of a graph being opened."""
    t = theme.current()
    key = (text, id(t))
    size = _LABEL_SIZES.get(key)
    if size is None:
        fm = QFontMetricsF(t.font(8))
        size = (fm.horizontalAdvance(text) + 12, fm.height() + 4)
        if len(_LABEL_SIZES) > 10_000:
            _LABEL_SIZES.clear()
        _LABEL_SIZES[key] = size
    return size


class EdgeLabel(QGraphicsItem):
    """The shape of the tensor on a wire, in a small pill above the wire (wires never cross it)."""

    def __init__(self, edge_item: "EdgeItem"):
        super().__init__()
        self.edge_item = edge_item
        self.text = ""
        # above the blocks (z 2): between two close blocks the pill overlaps them and would otherwise be cut off
        self.setZValue(3)
        self._rect = QRectF()
        self._bounds = QRectF()

    def set_text(self, text: str):
        if text == self.text:
            return
        self.prepareGeometryChange()
        self.text = text
        w, h = _label_size(text)
        self._rect = QRectF(-w / 2, -h / 2, w, h)
        self._bounds = self._rect.adjusted(-1, -1, 1, 1)
        self.setVisible(bool(text))
        self.update()

    def boundingRect(self):
        return self._bounds

    def paint(self, painter: QPainter, option, widget=None):
        # zoomed out (the blocks' simple face) an 8 pt label is unreadable clutter over the wires: skip it
        if option.levelOfDetailFromTransform(painter.worldTransform()) < 0.5:
            return
        t = theme.current()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setBrush(t.label_bg)
        painter.setPen(QPen(t.node_border, 1))
        painter.drawRoundedRect(self._rect, self._rect.height() / 2, self._rect.height() / 2)
        painter.setPen(t.label_text)
        painter.setFont(t.font(8))
        painter.drawText(self._rect, Qt.AlignmentFlag.AlignCenter, self.text)

    def mousePressEvent(self, event):
        # a click on the label selects its wire
        if self.scene() is not None:
            if not (event.modifiers() & Qt.KeyboardModifier.ControlModifier):
                self.scene().clearSelection()
            self.edge_item.setSelected(True)
        event.accept()


class EdgeItem(QGraphicsPathItem):
    """One graph edge; endpoints follow the port items, the label follows the curve's middle."""

    def __init__(self, edge, source_port, target_port):
        super().__init__()
        self.edge = edge
        self.source_port = source_port
        self.target_port = target_port
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setZValue(0)
        self.label = EdgeLabel(self)
        self.error = False
        self.drop_target = False   # a block dragged from the palette would be inserted here
        self._ends = None
        self._shape = None
        self._rect = QRectF()
        self.update_path()

    def update_path(self):
        a = self.source_port.scenePos()
        b = self.target_port.scenePos()
        if self._ends == (a.x(), a.y(), b.x(), b.y()):
            return  # the curve and its hit area are computed once per geometry change
        self._ends = (a.x(), a.y(), b.x(), b.y())
        path = wire_path(a, b)
        self._shape = None
        self.setPath(path)
        self._rect = super().boundingRect().adjusted(-4, -4, 4, 4)
        mid = path.pointAtPercent(0.5)
        self.label.setPos(mid)

    def set_drop_target(self, on: bool):
        self.drop_target = on
        self.update()

    def set_shape_text(self, text: str):
        self.label.set_text(text)

    def shape(self):
        # hit-testing asks for this on every mouse move over the canvas: stroke the curve once per path
        if self._shape is None:
            stroker = QPainterPathStroker()
            stroker.setWidth(12)
            self._shape = stroker.createStroke(self.path())
        return self._shape

    def boundingRect(self):
        return self._rect  # asked on every repaint near the wire: computed once per path

    def paint(self, painter: QPainter, option, widget=None):
        t = theme.current()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self.drop_target:
            pen = QPen(t.port_ok, 5)
        elif self.isSelected():
            pen = QPen(t.wire_selected, 3)
        elif self.error:
            pen = QPen(t.error, 2, Qt.PenStyle.DashLine)
        else:
            pen = QPen(t.wire, 2)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self.path())


class DraftWire(QGraphicsPathItem):
    """The wire that follows the mouse while the user drags from a port."""

    def __init__(self, port):
        super().__init__()
        self.port = port
        self.setZValue(3)
        pen = QPen(theme.current().wire_selected, 2, Qt.PenStyle.DashLine)
        self.setPen(pen)

    def follow(self, point: QPointF):
        here = self.port.scenePos()
        self.setPath(wire_path(here, point) if self.port.is_output else wire_path(point, here))
