"""The drawing of one block: category colour, title, key params, parameter count, ports, error badge.

A NodeItem is a view: it reads the graph node and the checker's result and never changes the graph itself
(moves are turned into one ``Move`` edit by the scene when the mouse is released).
"""

from __future__ import annotations

import functools

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem

from hybrid_studio.blocks import CATALOG
from hybrid_studio.blocks.base import Block
from hybrid_studio.graph import ERROR

from .. import theme
from .guard import guarded

NODE_W = 184.0
HEADER_H = 26.0
PORT_R = 5.5
#: the hit area of a port, in scene units from its centre
PORT_HIT = PORT_R + 4
PORT_GAP = 22.0
RADIUS = 7.0
#: below this view scale a block's text is too small to read: it shows its simple face (header colour and id in a
#: large font) instead, as node editors do when zoomed out, so the graph's structure stays readable at "fit" zoom
LOD_SIMPLE = 0.5


#: simple-face font size per (block id, theme)
_SIMPLE_SIZES: dict = {}


def human_count(n: int | None) -> str:
    """``1234567`` -> ``1.23 M``."""
    if n is None:
        return "?"
    for div, unit in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if n >= div:
            return f"{n / div:.3g}{unit}"
    return str(n)


def block_ports(node):
    """``(block, params, inputs, outputs)`` of a graph node: its catalog entry (None for an unknown type), its
    params with defaults, and the names of its input and output ports."""
    block = CATALOG.get(node.type) if node.type in CATALOG else None
    if block is None:
        return None, {}, ["in"], ["out"]
    p = block.safe_params(node.params)
    return block, p, block.inputs(p), block.outputs(p)


def port_names(node):
    """``(block, inputs, outputs)`` of a graph node, without resolving its params when its type's ports never
    depend on them (most blocks: one "in", one "out"), as the outline of a large graph needs them."""
    block = CATALOG.get(node.type) if node.type in CATALOG else None
    if block is None:
        return None, ["in"], ["out"]
    cls = type(block)
    if cls.inputs is Block.inputs and cls.outputs is Block.outputs:
        return block, ["in"], ["out"]
    p = block.safe_params(node.params)
    return block, block.inputs(p), block.outputs(p)


@functools.lru_cache(maxsize=64)
def port_layout(n_inputs: int, n_outputs: int) -> tuple[float, tuple[float, ...], tuple[float, ...]]:
    """``(height, input ys, output ys)`` of a block with that many ports: the body grows with the longer column and
    each column is centred on the body below the header."""
    height = HEADER_H + 12 + max(n_inputs, n_outputs, 2) * PORT_GAP - 8

    def column(n):
        top = HEADER_H + (height - HEADER_H - (n - 1) * PORT_GAP) / 2
        return tuple(top + i * PORT_GAP for i in range(n))
    return height, column(n_inputs), column(n_outputs)


def block_bounds(height: float) -> QRectF:
    """A block's painted area in its own coordinates: the body and its shadow, the port circles half outside the
    edges (grown on hover) and the error badge over the top-right corner."""
    return QRectF(-PORT_HIT - 1, -10, NODE_W + 2 * PORT_HIT + 2, height + 14)


def simple_font_size(node_id: str) -> float:
    """Point size of the id on a block's simple face: as large as the block's width allows, up to 26 pt."""
    t = theme.current()
    key = (node_id, id(t))
    size = _SIMPLE_SIZES.get(key)
    if size is None:  # measured once per id and theme, not on every paint of every block at "fit" zoom
        size = 26.0
        while size > 12.0 and QFontMetricsF(t.font(size, bold=True)).horizontalAdvance(node_id) > NODE_W - 16:
            size -= 2.0
        if len(_SIMPLE_SIZES) > 100_000:
            _SIMPLE_SIZES.clear()
        _SIMPLE_SIZES[key] = size
    return size


def paint_simple_face(painter: QPainter, t, rect: QRectF, accent, node_id: str, selected: bool, error: bool,
                      lod: float, paint_ports=None):
    """The zoomed-out face of a block in ``rect``: the whole block in its category colour with its id in a font
    large enough to read at a quarter scale; errors keep their red outline. Ports (``paint_ports()``) are drawn
    while they are a few pixels wide (a wire can still be dragged from them); the id while its letters are. Shared
    by a block's item and by the outline that draws a large graph's blocks without items."""
    painter.setBrush(accent)
    if selected:
        pen = QPen(t.node_selected, 5)
    elif error:
        pen = QPen(t.error, 5)
    else:
        pen = QPen(t.node_border, 1.5)
    painter.setPen(pen)
    painter.drawRoundedRect(rect, RADIUS, RADIUS)
    if paint_ports is not None and lod * PORT_R >= 1.0:
        paint_ports()
    size = simple_font_size(node_id)
    if size * lod < 3.0:
        return  # a 1,000-block graph at "fit" zoom: letters under 3 px are noise, and the slowest thing to draw
    font = t.font(size, bold=True)
    painter.setFont(font)
    painter.setPen(QColor("white"))
    fm = QFontMetricsF(font)
    inner = rect.adjusted(8, 2, -8, -2)
    painter.drawText(inner, Qt.AlignmentFlag.AlignCenter,
                     fm.elidedText(node_id, Qt.TextElideMode.ElideRight, inner.width()))


class Port:
    """A connection point of a block; inputs sit on the left edge, outputs on the right.

    Not a graphics item: the block paints its ports and finds the one under the mouse (``NodeItem.port_near``), so
    a 1,000-block graph builds 1,000 items for its blocks instead of 3,000 (the per-item cost of a Python
    ``QGraphicsItem`` dominates opening a large project).
    """

    __slots__ = ("node", "name", "is_output", "show_name", "highlight", "x", "y")

    def __init__(self, node: "NodeItem", name: str, is_output: bool, show_name: bool):
        self.node = node
        self.name = name
        self.is_output = is_output
        self.show_name = show_name
        self.highlight = False   # a compatible target while a wire is dragged
        self.x = 0.0
        self.y = 0.0

    def pos(self) -> QPointF:
        """Position in the block's coordinates."""
        return QPointF(self.x, self.y)

    def scenePos(self) -> QPointF:  # noqa: N802 - reads like the QGraphicsItem call it replaces
        """Position on the canvas (blocks are neither scaled nor rotated)."""
        p = self.node.pos()
        return QPointF(p.x() + self.x, p.y() + self.y)

    def update(self):
        """Repaint this port (its block's cached face is redrawn)."""
        r = PORT_R + 4
        self.node.update(QRectF(self.x - r, self.y - r, 2 * r, 2 * r))

    def connected(self) -> bool:
        return self.node.scene_ref is not None and self.node.scene_ref.port_connected(self)

    @property
    def node_id(self) -> str:
        return self.node.node_id

    def __repr__(self):
        return f"Port({self.node_id!r}, {self.name!r}, {'out' if self.is_output else 'in'})"


class NodeItem(QGraphicsItem):
    """One block on the canvas."""

    def __init__(self, node, scene_ref=None):
        super().__init__()
        self.node_id = node.id
        self.scene_ref = scene_ref
        # no itemChange override: PySide6's itemChange round trip is slow and has had refcount bugs; the scene
        # re-routes wires after mouse moves and model moves instead
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsMovable | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setAcceptHoverEvents(True)
        self.setZValue(2)
        # the scene sets the cache mode: the detailed face is painted once into a pixmap and blitted until the
        # block changes (panning a 300-block graph stays smooth); the simple face is cheaper to draw than to cache
        self._paths = None
        self.inputs: dict[str, Port] = {}
        self.outputs: dict[str, Port] = {}
        self.hovered: Port | None = None   # the port under the mouse: drawn larger
        self.height = HEADER_H + 48
        self._rect = self._bounds(self.height)
        self._errors: list = []
        self.refresh_node(node)

    # ---- model -> view -----------------------------------------------------------------------------------------
    def refresh_node(self, node):
        """Re-read type, params and ports from the graph node."""
        self.type_name = node.type
        block, p, ins, outs = block_ports(node)
        self.block = block
        self.accent = theme.category_colour(block.category if block else None)
        if block is not None:
            try:
                self.summary = block.summary(p)
            except Exception:  # noqa: BLE001 - a summary must never break drawing
                self.summary = ""
        else:
            self.summary = "unknown block type"
        self._rebuild_ports(ins, outs)
        self._face = None  # the summary or ports may differ: the next result is drawn whatever it says
        self._refresh_tooltip()
        self.update()

    _bounds = staticmethod(block_bounds)

    def _rebuild_ports(self, ins: list[str], outs: list[str]):
        if list(self.inputs) == ins and list(self.outputs) == outs:
            return
        self.prepareGeometryChange()
        self.hovered = None
        self.inputs = {n: Port(self, n, False, len(ins) > 1) for n in ins}
        self.outputs = {n: Port(self, n, True, len(outs) > 1) for n in outs}
        self._paths = None
        self.height, in_ys, out_ys = port_layout(len(ins), len(outs))
        self._rect = self._bounds(self.height)
        for ports, x, ys in ((self.inputs, 0.0, in_ys), (self.outputs, NODE_W, out_ys)):
            for port, y in zip(ports.values(), ys):
                port.x, port.y = x, y

    def set_result(self, result):
        """Show the checker's result: parameter count, output shape, diagnostics."""
        self.params = result.params
        self.macs = result.macs
        self.output = result.output
        self._errors = list(result.diagnostics)
        # what the face and tooltip show of the result: a block whose count line and problems read the same (an
        # Activation whose shape changed, say: its wire's label shows that) is not redrawn
        face = (self._count_text(), tuple((d.severity, d.message) for d in self._errors))
        if face == getattr(self, "_face", None):
            return
        self._face = face
        self._refresh_tooltip()
        self.update()

    def release(self):
        """Cut the links between this block, its ports and the scene (the scene is being dropped)."""
        self.inputs, self.outputs, self.hovered, self.scene_ref = {}, {}, None, None

    @property
    def has_error(self) -> bool:
        return any(d.severity == ERROR for d in self._errors)

    @property
    def badge(self) -> str | None:
        """The badge drawn over the top-right corner: "error", "warning" or None (no problems)."""
        if not self._errors:
            return None
        return ERROR if self.has_error else "warning"

    def toolTip(self) -> str:  # noqa: N802 - Qt's name
        """Id, type, help and problems (what hovering the block shows)."""
        return self._tooltip()

    def _refresh_tooltip(self):
        # Qt shows the text stored on the item; it is stored when the mouse enters the block (and kept current
        # while it is there) rather than built for each of a large graph's blocks as it opens
        if self.isUnderMouse():
            self.setToolTip(self._tooltip())

    def _tooltip(self) -> str:
        head = f"<b>{self.node_id}</b> ({self.type_name})"
        body = self.block.help if self.block else ""
        probs = "".join(f"<br><span style='color:{theme.ERROR_COLOUR}'>{d.message}</span>" for d in self._errors)
        return f"{head}<br>{body}{probs}"

    # ---- geometry ----------------------------------------------------------------------------------------------
    def boundingRect(self) -> QRectF:
        return self._rect  # asked on every repaint near the block: computed once per size

    def shape(self):
        return self._shapes()[3]

    def port(self, name: str, output: bool) -> Port | None:
        return (self.outputs if output else self.inputs).get(name)

    def ports(self):
        """Inputs, then outputs."""
        return [*self.inputs.values(), *self.outputs.values()]

    def port_near(self, scene_point: QPointF, tolerance: float = PORT_HIT) -> tuple[Port | None, float]:
        """The port nearest ``scene_point`` within ``tolerance`` and its squared distance ((None, inf) if none)."""
        p = self.pos()
        x, y = scene_point.x() - p.x(), scene_point.y() - p.y()
        best, best_d = None, tolerance * tolerance
        if -tolerance <= x <= tolerance or NODE_W - tolerance <= x <= NODE_W + tolerance:
            for port in (self.inputs if x < NODE_W / 2 else self.outputs).values():
                d = (port.x - x) ** 2 + (port.y - y) ** 2
                if d <= best_d:
                    best, best_d = port, d
        return best, (best_d if best is not None else float("inf"))

    # ---- hover: the port under the mouse grows and the cursor becomes a cross ---------------------------------
    def hoverEnterEvent(self, event):
        self.setToolTip(self._tooltip())
        self.hoverMoveEvent(event)

    def hoverMoveEvent(self, event):
        port, _ = self.port_near(event.scenePos())
        if port is not self.hovered:
            old, self.hovered = self.hovered, port
            for p in (old, port):
                if p is not None:
                    p.update()
            if port is not None:
                self.setCursor(Qt.CursorShape.CrossCursor)
            else:
                self.unsetCursor()
        super().hoverMoveEvent(event)

    def hoverLeaveEvent(self, event):
        if self.hovered is not None:
            old, self.hovered = self.hovered, None
            old.update()
            self.unsetCursor()
        super().hoverLeaveEvent(event)

    # ---- painting ----------------------------------------------------------------------------------------------
    @guarded(None)
    def paint(self, painter: QPainter, option, widget=None):
        t = theme.current()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(0, 0, NODE_W, self.height)
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        self.simple_face = lod < LOD_SIMPLE
        if self.simple_face:
            self._paint_simple(painter, t, rect, lod)
            return
        body, shadow, header, _ = self._shapes()
        # a soft shadow gives depth without a blur effect (cheap for hundreds of blocks)
        painter.fillPath(shadow, QColor(0, 0, 0, 60 if t.dark else 28))
        painter.fillPath(body, t.node_body)
        painter.fillPath(header, self.accent)

        if self.isSelected():
            pen = QPen(t.node_selected, 2.5)
        elif self.has_error:
            pen = QPen(t.error, 2.2)
        else:
            pen = QPen(t.node_border, 1)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(pen)
        painter.drawRoundedRect(rect, RADIUS, RADIUS)
        if self.isSelected() and self.has_error:
            painter.setPen(QPen(t.error, 1.5, Qt.PenStyle.DashLine))
            painter.drawRoundedRect(rect.adjusted(-4, -4, 4, 4), RADIUS + 3, RADIUS + 3)

        # header: id (bold) and type
        pad = 10.0
        title_font = t.font(9.5, bold=True)
        type_font = t.font(8.5)
        painter.setFont(type_font)
        fm_type = QFontMetricsF(type_font)
        type_w = fm_type.horizontalAdvance(self.type_name) + 4
        painter.setPen(QColor(255, 255, 255, 200))
        type_rect = QRectF(NODE_W - pad - type_w - (10 if self._errors else 0), 0, type_w, HEADER_H)
        painter.drawText(type_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, self.type_name)
        painter.setFont(title_font)
        painter.setPen(QColor("white"))
        fm = QFontMetricsF(title_font)
        title_w = type_rect.left() - pad - 6
        painter.drawText(QRectF(pad, 0, title_w, HEADER_H), Qt.AlignmentFlag.AlignVCenter,
                         fm.elidedText(self.node_id, Qt.TextElideMode.ElideRight, title_w))

        # body: summary and parameter count, between the port columns
        inner_l = pad + (22 if any(p.show_name for p in self.inputs.values()) else 4)
        inner_r = NODE_W - pad - (26 if any(p.show_name for p in self.outputs.values()) else 4)
        w = inner_r - inner_l
        body_font = t.font(9)
        painter.setFont(body_font)
        fmb = QFontMetricsF(body_font)
        painter.setPen(t.text)
        y0 = HEADER_H + 6
        mid = (self.height + HEADER_H) / 2
        painter.drawText(QRectF(inner_l, y0, w, mid - y0), Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignLeft,
                         fmb.elidedText(self.summary or "—", Qt.TextElideMode.ElideRight, w))
        count_font = t.font(8)
        painter.setFont(count_font)
        painter.setPen(t.text_dim)
        painter.drawText(QRectF(inner_l, mid + 1, w, 16), Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft,
                         self.count_text_fitting(QFontMetricsF(count_font), w))

        # port names for multi-port blocks
        painter.setFont(t.font(7.5))
        for port in list(self.inputs.values()) + list(self.outputs.values()):
            if port.show_name:
                y = port.pos().y()
                if port.is_output:
                    r = QRectF(NODE_W - 10 - 40, y - 8, 40, 16)
                    painter.drawText(r, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, port.name)
                else:
                    painter.drawText(QRectF(10, y - 8, 40, 16), Qt.AlignmentFlag.AlignVCenter, port.name)
        self._paint_ports(painter, t)
        if self._errors:
            self._paint_badge(painter, t)

    def _paint_ports(self, painter: QPainter, t):
        connected = self.scene_ref.connected_ports(self.node_id) if self.scene_ref is not None else set()
        for port in self.ports():
            r = PORT_R + (2 if (port is self.hovered or port.highlight) else 0)
            lit = port.highlight
            fill = t.port_ok if lit else (self.accent if (port.name, port.is_output) in connected else t.node_body)
            painter.setBrush(fill)
            painter.setPen(QPen(t.port_ok if lit else self.accent, 2))
            painter.drawEllipse(QPointF(port.x, port.y), r, r)

    def _paint_badge(self, painter: QPainter, t):
        """The "!" over the top-right corner of a block with problems (the tooltip lists them)."""
        painter.setBrush(t.error if self.has_error else t.warning)
        painter.setPen(QPen(t.node_body, 2))
        centre = QPointF(NODE_W - 2, 2)
        painter.drawEllipse(centre, 8, 8)
        painter.setPen(QColor("white"))
        painter.setFont(t.font(8, bold=True))
        painter.drawText(QRectF(centre.x() - 8, centre.y() - 8, 16, 16), Qt.AlignmentFlag.AlignCenter, "!")

    def _paint_simple(self, painter: QPainter, t, rect: QRectF, lod: float = LOD_SIMPLE):
        paint_simple_face(painter, t, rect, self.accent, self.node_id, self.isSelected(), self.has_error, lod,
                          lambda: self._paint_ports(painter, t))

    def simple_font_size(self) -> float:
        """Point size of the id on the simple face (``simple_font_size``)."""
        return simple_font_size(self.node_id)

    def count_text_fitting(self, fm: QFontMetricsF, width: float) -> str:
        """The parameter / MAC line in the longest form that fits ``width``: "1.2 k params · 30 k MACs", then
        "1.2 k par · 30 k MAC", then the two numbers alone, elided only as a last resort."""
        full = self._count_text()
        if fm.horizontalAdvance(full) <= width:
            return full
        params, macs = getattr(self, "params", None), getattr(self, "macs", None)
        if self.outputs and params is not None:
            p = f"{human_count(params)} par" if params else "no weights"
            for text in (f"{p} · {human_count(macs)} MAC" if macs else p,
                         f"{human_count(params)} · {human_count(macs)}" if macs else p):
                if fm.horizontalAdvance(text) <= width:
                    return text
        return fm.elidedText(full, Qt.TextElideMode.ElideRight, width)

    def _shapes(self):
        """(body, shadow, header, hit area) paths, computed once per size and set of ports; the hit area is the
        body and each port's circle (half of it lies outside the body)."""
        if self._paths is None:
            body = QPainterPath()
            body.addRoundedRect(QRectF(0, 0, NODE_W, self.height), RADIUS, RADIUS)
            header = QPainterPath()
            header.addRoundedRect(QRectF(0, 0, NODE_W, HEADER_H + RADIUS), RADIUS, RADIUS)
            clip = QPainterPath()
            clip.addRect(QRectF(0, 0, NODE_W, HEADER_H))
            hit = QPainterPath(body)
            for port in self.ports():
                hit.addEllipse(QPointF(port.x, port.y), PORT_HIT, PORT_HIT)
            hit.setFillRule(Qt.FillRule.WindingFill)
            self._paths = (body, body.translated(0, 2), header.intersected(clip), hit)
        return self._paths

    def _count_text(self) -> str:
        out = getattr(self, "output", None)
        if not self.outputs and out is not None:
            return "\u2192 " + out.describe()  # a sink shows what it receives: there is no wire to label
        params = getattr(self, "params", None)
        if params is None:
            return ""
        text = f"{human_count(params)} params" if params else "no weights"
        macs = getattr(self, "macs", None)
        if macs:
            text += f" · {human_count(macs)} MACs"
        return text

