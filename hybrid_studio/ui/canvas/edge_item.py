"""Wires: a cubic curve from an output port to an input port, labelled with the tensor shape it carries."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QFontMetricsF, QPainter, QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem

from .. import theme
from .grid import GridIndex
from .guard import guarded


def wraps(a: QPointF, b: QPointF) -> bool:
    """Whether the wire from ``a`` to ``b`` runs back to the left onto another row."""
    return wraps_xy(a.x(), a.y(), b.x(), b.y())


def wraps_xy(ax: float, ay: float, bx: float, by: float) -> bool:
    """``wraps`` for plain coordinates."""
    return bx < ax - 20 and abs(by - ay) > 60


def wire_path(a: QPointF, b: QPointF, run: float | None = None) -> QPainterPath:
    """A horizontal S-curve from ``a`` (an output) to ``b`` (an input).

    A wire that runs back to the left onto another row (a long chain wrapped into bands) turns down out of ``a``,
    runs left through the gap between the rows (at height ``run``; halfway between its ends by default) and turns
    into ``b``, instead of cutting diagonally across blocks.
    """
    path = QPainterPath()
    add_wire(path, a.x(), a.y(), b.x(), b.y(), run)
    return path


def add_wire(path: QPainterPath, ax: float, ay: float, bx: float, by: float, run: float | None = None):
    """Append ``wire_path((ax, ay), (bx, by), run)`` to ``path`` as a new subpath (the outline of a large graph
    draws all its wires as one path)."""
    path.moveTo(ax, ay)
    if wraps_xy(ax, ay, bx, by):
        r = 40.0
        ym = (ay + by) / 2 if run is None else run
        path.cubicTo(ax + 1.5 * r, ay, ax + 1.5 * r, ym, ax + r, ym)
        path.lineTo(bx - r, ym)
        path.cubicTo(bx - 1.5 * r, ym, bx - 1.5 * r, by, bx, by)
        return
    dx = max(50.0, abs(bx - ax) * 0.5)
    path.cubicTo(ax + dx, ay, bx - dx, by, bx, by)


def wire_box(ax: float, ay: float, bx: float, by: float) -> tuple[float, float, float, float]:
    """``(left, top, right, bottom)`` of ``wire_path(a, b).controlPointRect()``, by arithmetic (no path is built:
    the outline of a large graph indexes its wires before it draws any)."""
    if wraps_xy(ax, ay, bx, by):
        xs = (ax, ax + 60.0, bx - 60.0, bx)
    else:
        dx = max(50.0, abs(bx - ax) * 0.5)
        xs = (ax, ax + dx, bx - dx, bx)
    return min(xs), min(ay, by), max(xs), max(ay, by)


def skip_path(a: QPointF, b: QPointF, y: float) -> QPainterPath:
    """A wire from ``a`` to ``b`` on about the same row that jumps over the blocks between them: it rises out of
    ``a`` to ``y`` (above those blocks), runs along it and comes down into ``b`` (a residual connection around an
    attention block, say). Its label sits on the top run, at ``(midpoint x, y)``."""
    r = 30.0
    path = QPainterPath(a)
    path.cubicTo(QPointF(a.x() + r, a.y()), QPointF(a.x() + r, y), QPointF(a.x() + 2 * r, y))
    path.lineTo(QPointF(b.x() - 2 * r, y))
    path.cubicTo(QPointF(b.x() - r, y), QPointF(b.x() - r, b.y()), b)
    return path


def wire_middle(a: QPointF, b: QPointF) -> QPointF:
    """The middle of ``wire_path(a, b)``, where its label sits: both shapes of wire are symmetric about the point
    halfway between their ends (cheaper than ``QPainterPath.pointAtPercent``, which measures the curve)."""
    return QPointF((a.x() + b.x()) / 2, (a.y() + b.y()) / 2)


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


class EdgeLabel:
    """The shape of the tensor on a wire, in a small pill above the wire's middle.

    Not a graphics item: the scene's one ``LabelLayer`` draws every label and finds the one under the mouse, so a
    wire costs one item instead of two (opening a 1,000-block graph built and painted 1,157 label items).
    """

    __slots__ = ("edge_item", "text", "layer", "_x", "_y", "_w", "_h", "_shown")

    def __init__(self, edge_item: "EdgeItem"):
        self.edge_item = edge_item
        self.text = ""
        self.layer: LabelLayer | None = None   # set while the wire is on a scene
        self._x = self._y = 0.0
        self._w = self._h = 0.0
        self._shown = True    # hidden while its wire is picked up and dragged

    def set_text(self, text: str):
        if text == self.text:
            return
        old = self.sceneBoundingRect()
        self.text = text
        self._w, self._h = _label_size(text)
        self._changed(old)

    def setPos(self, p: QPointF):  # noqa: N802 - reads like the QGraphicsItem call it replaces
        x, y = p.x(), p.y()
        if (x, y) == (self._x, self._y):
            return
        old = self.sceneBoundingRect()
        self._x, self._y = x, y
        self._changed(old)

    def scenePos(self) -> QPointF:  # noqa: N802
        return QPointF(self._x, self._y)

    pos = scenePos

    def setVisible(self, on: bool):  # noqa: N802
        if on != self._shown:
            self._shown = on
            self._changed(self.sceneBoundingRect())

    def isVisible(self) -> bool:  # noqa: N802
        """Whether it is drawn: it has a text and its wire is not being dragged."""
        return self._shown and bool(self.text)

    def zValue(self) -> float:  # noqa: N802
        return self.layer.zValue() if self.layer is not None else LabelLayer.Z

    def rect(self) -> QRectF:
        """The pill, centred on the label's position."""
        return QRectF(self._x - self._w / 2, self._y - self._h / 2, self._w, self._h)

    def sceneBoundingRect(self) -> QRectF:  # noqa: N802
        return QRectF(self._x - self._w / 2 - 1, self._y - self._h / 2 - 1, self._w + 2, self._h + 2)

    def contains(self, x: float, y: float) -> bool:
        return abs(x - self._x) <= self._w / 2 and abs(y - self._y) <= self._h / 2

    def _changed(self, old: QRectF):
        if self.layer is not None:
            self.layer.relabel(self, old)


class LabelLayer(QGraphicsItem):
    """Draws the labels of all wires of a scene, above the blocks (between two close blocks a pill overlaps them
    and would otherwise be cut off). Labels are indexed in a grid, so painting a region or finding the label under
    the mouse looks only at the labels near it. A click on a label selects its wire; elsewhere the layer is
    transparent to the mouse (``contains`` and ``collidesWithPath`` are true only on a pill)."""

    Z = 3.0

    def __init__(self):
        super().__init__()
        self.setZValue(self.Z)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)  # paint() gets the exposed rect
        self._index = GridIndex()
        self._bounds = QRectF()

    # ---- the index -----------------------------------------------------------------------------------------------
    def add(self, label: EdgeLabel):
        label.layer = self
        self.relabel(label, None)

    def remove(self, label: EdgeLabel):
        self._index.remove(label)
        if label.isVisible():
            self.repaint(label.sceneBoundingRect())
        label.layer = None

    def relabel(self, label: EdgeLabel, old: QRectF | None):
        """``label`` moved, changed its text or was shown or hidden; ``old``: where it was drawn (None if new)."""
        new = label.sceneBoundingRect()
        if label.text:
            self._index.put(label, new)
            if not self._bounds.contains(new):
                self.prepareGeometryChange()
                self._bounds = self._bounds.united(new) if not self._bounds.isNull() else QRectF(new)
        else:
            self._index.remove(label)
        if old is not None and not old.isEmpty():
            self.repaint(old)
        if label.isVisible():
            self.repaint(new)

    def repaint(self, rect: QRectF):
        """Repaint ``rect`` of the scene. Not ``self.update(rect)``: Qt unites all partial updates of one item into
        one rectangle, so an edit that relabels wires on two rows repainted the whole band between them."""
        scene = self.scene()
        if scene is not None:
            scene.update(rect)

    def labels_in(self, r: QRectF) -> set:
        """The shown labels whose pills meet ``r``."""
        return {label for label in self._index.query(r) if label.isVisible()}

    def label_at(self, point: QPointF) -> EdgeLabel | None:
        """The shown label under ``point`` (the topmost wire's if pills overlap)."""
        x, y = point.x(), point.y()
        hits = [lab for lab in self._index.at(x, y) if lab.isVisible() and lab.contains(x, y)]
        return max(hits, key=lambda lab: lab.edge_item.edge.key) if hits else None  # drawn last: on top

    def shape(self):
        path = QPainterPath()
        for label in self._index.query(self._bounds):
            if label.isVisible():
                path.addRect(label.rect())
        return path

    # ---- QGraphicsItem -----------------------------------------------------------------------------------------
    def boundingRect(self):
        return self._bounds

    @guarded(False)
    def contains(self, point) -> bool:
        return self.label_at(point) is not None

    @guarded(False)
    def collidesWithPath(self, path, mode=Qt.ItemSelectionMode.IntersectsItemShape) -> bool:  # noqa: N802
        # the scene asks this for the items under the mouse: only a pill counts, not the layer's whole rect
        return bool(self.labels_in(path.boundingRect()))


    @guarded(None)
    def paint(self, painter: QPainter, option, widget=None):
        # zoomed out (the blocks' simple face) an 8 pt label is unreadable clutter over the wires: skip it
        if option.levelOfDetailFromTransform(painter.worldTransform()) < 0.5:
            return
        labels = self.labels_in(option.exposedRect)
        if not labels:
            return
        t = theme.current()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setFont(t.font(8))
        border = QPen(t.node_border, 1)
        for label in sorted(labels, key=lambda lab: lab.edge_item.edge.key):  # the same order on every paint
            r = label.rect()
            painter.setBrush(t.label_bg)
            painter.setPen(border)
            painter.drawRoundedRect(r, r.height() / 2, r.height() / 2)
            painter.setPen(t.label_text)
            painter.drawText(r, Qt.AlignmentFlag.AlignCenter, label.text)

    def mousePressEvent(self, event):
        label = self.label_at(event.scenePos())
        if label is None or self.scene() is None:
            event.ignore()
            return
        # a click on the label selects its wire
        if not (event.modifiers() & Qt.KeyboardModifier.ControlModifier):
            self.scene().clearSelection()
        label.edge_item.setSelected(True)
        event.accept()


class EdgeItem(QGraphicsPathItem):
    """One graph edge; endpoints follow the port items, the label follows the curve's middle."""

    def __init__(self, edge, source_port, target_port, router=None):
        super().__init__()
        #: ``router(a, b, edge)``: the height of the run over the blocks in the wire's way, or None (the scene's)
        self.router = router
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

    def update_path(self, force: bool = False):
        """Follow the ports; ``force``: route again though they did not move (a block moved into or out of the
        wire's way)."""
        a = self.source_port.scenePos()
        b = self.target_port.scenePos()
        if not force and self._ends == (a.x(), a.y(), b.x(), b.y()):
            return  # the curve and its hit area are computed once per geometry change
        self._ends = (a.x(), a.y(), b.x(), b.y())
        over = self.router(a, b, self.edge) if self.router is not None else None
        path = wire_path(a, b) if over is None else wire_path(a, b, over) if wraps(a, b) else skip_path(a, b, over)
        self._shape = None
        self.setPath(path)
        # a cubic lies inside its control points' box: no stroking (QGraphicsPathItem's own boundingRect strokes
        # the path through our Python shape(), the slowest part of building a large graph's wires)
        self._rect = path.controlPointRect().adjusted(-4, -4, 4, 4)
        self.label.setPos(wire_middle(a, b) if over is None else QPointF((a.x() + b.x()) / 2, over))

    def release(self):
        """Cut the links between this wire, its label, its ports and the scene (the scene is being dropped)."""
        self.router = None
        self.label.layer = None
        self.label.edge_item = None

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

    @guarded(None)
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
