"""The outline: the blocks and wires of a large graph that have no item yet, drawn by one item.

A graph of more than ``scene.LAZY_ABOVE`` blocks opens without an item per block or wire. Each block is an
``OutlineBlock`` (where it is, how tall, where its ports are, its colour) and each wire a cached path, and the
scene's one ``OutlineLayer`` draws them with the blocks' simple face (the one they show zoomed out, which is how a
large graph is first seen). Items are made when they are needed: for the part of the canvas shown at reading zoom,
for what is under the mouse, for a rubber band, or when code asks ``scene.nodes[id]`` (see ``GraphScene``). Node
editors and map viewers do the same: the cost of opening a graph follows what is on screen, not its size.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem

from .. import theme
from .edge_item import add_wire, wire_box
from .guard import guarded
from .node_item import NODE_W, PORT_R, RADIUS, block_bounds, paint_simple_face


class OutlineBlock:
    """A block without an item: its position, height, port offsets (name -> y) and category colour."""

    __slots__ = ("node_id", "x", "y", "height", "ins", "outs", "accent")

    def __init__(self, node_id: str, x: float, y: float, height: float, ins: dict, outs: dict, accent):
        self.node_id = node_id
        self.x, self.y = x, y
        self.height = height
        self.ins, self.outs = ins, outs
        self.accent = accent

    def port_point(self, name: str, output: bool) -> tuple[float, float] | None:
        """Where port ``name`` is on the canvas, ``(x, y)`` (the first port for a name the block does not declare,
        as ``GraphScene`` anchors wires of unknown types)."""
        ports = self.outs if output else self.ins
        y = ports.get(name)
        if y is None:
            y = next(iter(ports.values()), None)
            if y is None:
                return None
        return (self.x + NODE_W if output else self.x), self.y + y

    def bounds(self) -> QRectF:
        """The area its item would paint."""
        return block_bounds(self.height).translated(self.x, self.y)


class OutlineWire:
    """A wire without an item: its ends ``(x, y)`` and the box of its curve (``wire_box``)."""

    __slots__ = ("a", "b", "box")

    def __init__(self, a: tuple, b: tuple):
        self.a, self.b = a, b
        self.box = wire_box(a[0], a[1], b[0], b[1])

    def area(self) -> QRectF:
        """The area its item would paint (the curve's box and the pen)."""
        left, top, right, bottom = self.box
        return QRectF(left - 4, top - 4, right - left + 8, bottom - top + 8)


class OutlineLayer(QGraphicsItem):
    """Draws the scene's outline blocks and wires (``scene.outline_blocks``, ``scene.outline_wires``) in the
    exposed region, looked up in the scene's grid indexes. It takes no mouse events and has no shape: the scene
    makes the items under the mouse before Qt looks for them."""

    Z = 1.0

    def __init__(self, scene):
        super().__init__()
        self._scene = scene
        self.setZValue(self.Z)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)  # paint() gets the exposed rect
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self._bounds = QRectF()

    def release(self):
        """Forget the scene (it is being dropped: see ``GraphScene.detach``)."""
        self._scene = None

    def grow(self, rect: QRectF):
        """Include ``rect`` in the area the layer paints."""
        if not self._bounds.contains(rect):
            self.prepareGeometryChange()
            self._bounds = self._bounds.united(rect) if not self._bounds.isNull() else QRectF(rect)

    def boundingRect(self):
        return self._bounds

    def shape(self):
        return QPainterPath()

    def contains(self, point) -> bool:
        return False

    @guarded(None)
    def paint(self, painter: QPainter, option, widget=None):
        scene = self._scene
        if scene is None:
            return
        blocks, wires = scene.outline_blocks, scene.outline_wires
        if not blocks and not wires:
            return
        rect = option.exposedRect
        whole = rect.contains(self._bounds)   # the whole graph on screen ("fit"): no lookups
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        t = theme.current()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        shown = wires.values() if whole else [wires[e] for e in scene.outline_wires_in(rect)]
        if shown:
            pen = QPen(t.wire, 2)
            pen.setCapStyle(Qt.PenCapStyle.RoundCap)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            path = QPainterPath()   # one path: a third of the time of a path and a draw call per wire
            for wire in shown:
                add_wire(path, *wire.a, *wire.b)
            painter.drawPath(path)
        near = None if whole else set(scene.outline_blocks_in(rect))
        # in file order (the same on every paint, where blocks overlap)
        chosen = [b for nid, b in blocks.items() if near is None or nid in near]
        if lod * PORT_R < 1.0 and lod * 26.0 < 3.0:
            self._paint_far(painter, t, chosen, lod)
            return
        for b in chosen:
            body = QRectF(b.x, b.y, NODE_W, b.height)
            ports = (lambda b=b: self._paint_ports(painter, t, b)) if lod * PORT_R >= 1.0 else None
            paint_simple_face(painter, t, body, b.accent, b.node_id, False, scene.has_error(b.node_id), lod, ports)

    def _paint_far(self, painter: QPainter, t, chosen: list, lod: float):
        """Zoomed so far out that a block has neither readable ports nor letters: ``paint_simple_face`` without
        them, one pen and brush per colour (a 1,000-block graph at "fit" zoom)."""
        groups: dict = {}
        for b in chosen:
            groups.setdefault((b.accent.rgba(), self._scene.has_error(b.node_id)), []).append(b)
        rounded = lod * RADIUS >= 1.0   # corners under a pixel are not worth drawing
        for (_, error), members in groups.items():
            painter.setBrush(members[0].accent)
            painter.setPen(QPen(t.error, 5) if error else QPen(t.node_border, 1.5))
            rects = [QRectF(b.x, b.y, NODE_W, b.height) for b in members]
            if rounded:
                for r in rects:
                    painter.drawRoundedRect(r, RADIUS, RADIUS)
            else:
                painter.drawRects(rects)

    def _paint_ports(self, painter: QPainter, t, b: OutlineBlock):
        connected = self._scene.connected_ports(b.node_id)
        for ports, x, output in ((b.ins, 0.0, False), (b.outs, NODE_W, True)):
            for name, y in ports.items():
                painter.setBrush(b.accent if (name, output) in connected else t.node_body)
                painter.setPen(QPen(b.accent, 2))
                painter.drawEllipse(QPointF(b.x + x, b.y + y), PORT_R, PORT_R)
