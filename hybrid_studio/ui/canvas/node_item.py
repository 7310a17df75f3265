"""The drawing of one block: category colour, title, key params, parameter count, ports, error badge.

A NodeItem is a view: it reads the graph node and the checker's result and never changes the graph itself
(moves are turned into one ``Move`` edit by the scene when the mouse is released).
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsObject

from hybrid_studio.blocks import CATALOG
from hybrid_studio.graph import ERROR

from .. import theme

NODE_W = 184.0
HEADER_H = 26.0
PORT_R = 5.5
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


class PortItem(QGraphicsItem):
    """A connection point; inputs sit on the left edge, outputs on the right."""

    def __init__(self, node: "NodeItem", name: str, is_output: bool, show_name: bool):
        super().__init__(node)
        self.node = node
        self.name = name
        self.is_output = is_output
        self.show_name = show_name
        self.highlight = False   # a compatible target while a wire is dragged
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self._hover = False
        self.setZValue(1)

    # Qt asks for these on every repaint and hit test near the item (a Python call each): shared constants
    _RECT = QRectF(-(PORT_R + 4), -(PORT_R + 4), 2 * (PORT_R + 4), 2 * (PORT_R + 4))
    _SHAPE = QPainterPath()
    _SHAPE.addEllipse(_RECT)

    def boundingRect(self) -> QRectF:
        return self._RECT

    def shape(self):
        return self._SHAPE

    def paint(self, painter: QPainter, option, widget=None):
        t = theme.current()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = PORT_R + (2 if (self._hover or self.highlight) else 0)
        fill = t.port_ok if self.highlight else (self.node.accent if self.connected() else t.node_body)
        painter.setBrush(fill)
        painter.setPen(QPen(t.port_ok if self.highlight else self.node.accent, 2))
        painter.drawEllipse(QPointF(0, 0), r, r)

    def connected(self) -> bool:
        return self.node.scene_ref is not None and self.node.scene_ref.port_connected(self)

    def hoverEnterEvent(self, event):
        self._hover = True
        self.update()

    def hoverLeaveEvent(self, event):
        self._hover = False
        self.update()

    @property
    def node_id(self) -> str:
        return self.node.node_id


class BadgeItem(QGraphicsItem):
    """The "!" in the top-right corner of a block with problems; hover shows the messages."""

    def __init__(self, node: "NodeItem"):
        super().__init__(node)
        self.severity = ERROR
        self.setZValue(2)
        self.setAcceptHoverEvents(True)

    _RECT = QRectF(-9, -9, 18, 18)

    def boundingRect(self):
        return self._RECT

    def paint(self, painter, option, widget=None):
        t = theme.current()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setBrush(t.error if self.severity == ERROR else t.warning)
        painter.setPen(QPen(t.node_body, 2))
        painter.drawEllipse(QPointF(0, 0), 8, 8)
        painter.setPen(QColor("white"))
        painter.setFont(t.font(8, bold=True))
        painter.drawText(QRectF(-8, -8, 16, 16), Qt.AlignmentFlag.AlignCenter, "!")


class NodeItem(QGraphicsObject):
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
        # painted once into a pixmap and blitted until the block changes: panning a 300-block graph stays smooth
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self._paths = None
        self.inputs: dict[str, PortItem] = {}
        self.outputs: dict[str, PortItem] = {}
        self.badge = BadgeItem(self)
        self.badge.setVisible(False)
        self.height = HEADER_H + 48
        self._rect = QRectF(-2, -2, NODE_W + 4, self.height + 4)
        self._errors: list = []
        self.refresh_node(node)

    # ---- model -> view -----------------------------------------------------------------------------------------
    def refresh_node(self, node):
        """Re-read type, params and ports from the graph node."""
        self.type_name = node.type
        block = CATALOG.get(node.type) if node.type in CATALOG else None
        self.block = block
        self.accent = theme.category_colour(block.category if block else None)
        if block is not None:
            p = block.safe_params(node.params)
            try:
                self.summary = block.summary(p)
            except Exception:  # noqa: BLE001 - a summary must never break drawing
                self.summary = ""
            ins, outs = block.inputs(p), block.outputs(p)
        else:
            self.summary, ins, outs = "unknown block type", ["in"], ["out"]
        self._rebuild_ports(ins, outs)
        self._face = None  # the summary or ports may differ: the next result is drawn whatever it says
        self.setToolTip(self._tooltip())
        self.update()

    def _rebuild_ports(self, ins: list[str], outs: list[str]):
        if list(self.inputs) == ins and list(self.outputs) == outs:
            return
        self.prepareGeometryChange()
        for p in list(self.inputs.values()) + list(self.outputs.values()):
            p.setParentItem(None)
            if p.scene() is not None:
                p.scene().removeItem(p)
        self.inputs = {n: PortItem(self, n, False, len(ins) > 1) for n in ins}
        self.outputs = {n: PortItem(self, n, True, len(outs) > 1) for n in outs}
        self._paths = None
        rows = max(len(ins), len(outs), 2)
        self.height = HEADER_H + 12 + rows * PORT_GAP - 8
        self._rect = QRectF(-2, -2, NODE_W + 4, self.height + 4)
        for ports, x in ((self.inputs, 0.0), (self.outputs, NODE_W)):
            n = len(ports)
            top = HEADER_H + (self.height - HEADER_H - (n - 1) * PORT_GAP) / 2
            for i, port in enumerate(ports.values()):
                port.setPos(x, top + i * PORT_GAP)
        self.badge.setPos(NODE_W - 2, 2)

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
        if self._errors:
            self.badge.severity = ERROR if any(d.severity == ERROR for d in self._errors) else "warning"
            self.badge.setToolTip("\n".join(d.message for d in self._errors))
            self.badge.update()
        self.badge.setVisible(bool(self._errors))
        self.setToolTip(self._tooltip())
        self.update()

    @property
    def has_error(self) -> bool:
        return any(d.severity == ERROR for d in self._errors)

    def _tooltip(self) -> str:
        head = f"<b>{self.node_id}</b> ({self.type_name})"
        body = self.block.help if self.block else ""
        probs = "".join(f"<br><span style='color:{theme.ERROR_COLOUR}'>{d.message}</span>" for d in self._errors)
        return f"{head}<br>{body}{probs}"

    # ---- geometry ----------------------------------------------------------------------------------------------
    def boundingRect(self) -> QRectF:
        return self._rect  # asked on every repaint near the block: computed once per size

    def shape(self):
        return self._shapes()[0]

    def port(self, name: str, output: bool) -> PortItem | None:
        return (self.outputs if output else self.inputs).get(name)

    # ---- painting ----------------------------------------------------------------------------------------------
    def paint(self, painter: QPainter, option, widget=None):
        t = theme.current()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(0, 0, NODE_W, self.height)
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        self.simple_face = lod < LOD_SIMPLE
        if self.simple_face:
            self._paint_simple(painter, t, rect)
            return
        body, shadow, header = self._shapes()
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
        type_rect = QRectF(NODE_W - pad - type_w - (10 if self.badge.isVisible() else 0), 0, type_w, HEADER_H)
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

    def _paint_simple(self, painter: QPainter, t, rect: QRectF):
        """The zoomed-out face: the whole block in its category colour with its id in a font large enough to read
        at a quarter scale; errors keep their red outline."""
        painter.setBrush(self.accent)
        if self.isSelected():
            pen = QPen(t.node_selected, 5)
        elif self.has_error:
            pen = QPen(t.error, 5)
        else:
            pen = QPen(t.node_border, 1.5)
        painter.setPen(pen)
        painter.drawRoundedRect(rect, RADIUS, RADIUS)
        font = t.font(self.simple_font_size(), bold=True)
        painter.setFont(font)
        painter.setPen(QColor("white"))
        fm = QFontMetricsF(font)
        inner = rect.adjusted(8, 2, -8, -2)
        painter.drawText(inner, Qt.AlignmentFlag.AlignCenter,
                         fm.elidedText(self.node_id, Qt.TextElideMode.ElideRight, inner.width()))

    def simple_font_size(self) -> float:
        """Point size of the id on the simple face: as large as the block's width allows, up to 26 pt."""
        t = theme.current()
        key = (self.node_id, id(t))
        size = _SIMPLE_SIZES.get(key)
        if size is None:  # measured once per id and theme, not on every paint of every block at "fit" zoom
            size = 26.0
            while size > 12.0 and QFontMetricsF(t.font(size, bold=True)).horizontalAdvance(self.node_id) > NODE_W - 16:
                size -= 2.0
            if len(_SIMPLE_SIZES) > 100_000:
                _SIMPLE_SIZES.clear()
            _SIMPLE_SIZES[key] = size
        return size

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
        """(body, shadow, header) paths, computed once per size."""
        if self._paths is None:
            body = QPainterPath()
            body.addRoundedRect(QRectF(0, 0, NODE_W, self.height), RADIUS, RADIUS)
            header = QPainterPath()
            header.addRoundedRect(QRectF(0, 0, NODE_W, HEADER_H + RADIUS), RADIUS, RADIUS)
            clip = QPainterPath()
            clip.addRect(QRectF(0, 0, NODE_W, HEADER_H))
            self._paths = (body, body.translated(0, 2), header.intersected(clip))
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

