"""Dragging a wire on the canvas: from a port to a port (or onto a block's body), and picking a connected wire up
off its input to re-route it or, dropped on empty canvas, remove it.

``WireDrag(scene)`` is owned by a ``GraphScene``, whose mouse handlers hand it the press, moves and release. While
a wire is dragged, the ports that could take it are highlighted; on release it only asks the document: it pushes
``Connect`` (or the one step that replaces the wire feeding that input, from ``edit_ops.connect_edit``) or
``Disconnect``, and says why through ``scene.message`` when a connection is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF

from hybrid_studio.graph import Disconnect, Edge

from . import edit_ops
from .edge_item import DraftWire
from .node_item import NodeItem, Port

if TYPE_CHECKING:
    from .scene import GraphScene


def candidate_edge(a: Port, b: Port) -> Edge | None:
    """The wire from the output among ``a`` and ``b`` to the input among them; None unless one of each."""
    if a.is_output == b.is_output:
        return None
    out, inp = (a, b) if a.is_output else (b, a)
    return Edge(out.node_id, inp.node_id, out.name, inp.name)


class WireDrag:
    """The wire being dragged on ``scene`` (at most one at a time)."""

    def __init__(self, scene: GraphScene):
        self.scene = scene
        self.draft: DraftWire | None = None
        self.detached: Edge | None = None   # the wire picked up from its input while re-routing it
        self.highlighted: list[Port] = []   # ports that can take the wire's tensor: lit while dragging
        self.connectable: list[Port] = []   # ports the wire may go to at all (shape mismatches included)

    @property
    def active(self) -> bool:
        """Whether a wire is being dragged."""
        return self.draft is not None

    def press(self, point: QPointF) -> bool:
        """Start dragging a wire if the left button went down on a port; False when there is no port there."""
        scene = self.scene
        port = scene.port_at(point, 9.0)
        if port is None:
            return False
        fed = None if port.is_output else scene.graph.edge_into(port.node_id, port.name)
        source = scene._port_item(fed.source, fed.source_port, True) if fed is not None else None
        if source is not None:
            # a connected input: pick its wire up to re-route it (or drop it on empty canvas to remove it)
            self.start(source, point, detached=fed)
        else:
            self.start(port, point)
        return True

    def start(self, port: Port, point: QPointF, detached: Edge | None = None):
        """Draw a wire from ``port`` to ``point`` and highlight the ports it could be dropped on; ``detached`` is
        the connected wire it replaces (hidden while it is dragged)."""
        scene = self.scene
        self.draft = DraftWire(port)
        scene.addItem(self.draft)
        self.draft.follow(point)
        self.detached = detached
        if detached is not None and detached in scene.edges:
            item = scene.edges[detached]
            item.setVisible(False)
            item.label.setVisible(False)
        checker = scene.document.checker
        scene.build_visible()   # a large graph's blocks on screen get their items: their ports can be lit
        for item in scene.nodes.built():
            if item is port.node:
                continue
            for other in (item.inputs if port.is_output else item.outputs).values():
                edge = candidate_edge(port, other)
                if edge is not None and (edge == detached or edit_ops.wire_refusal(scene.graph, edge) is None):
                    self.connectable.append(other)
                    # lit only when the block's shape rule takes the tensor (an image into an LSTM is not lit);
                    # dropping on an unlit port still connects, and the problem then offers its fix
                    if edit_ops.shape_accepts(scene.graph, checker, edge):
                        other.highlight = True
                        other.update()
                        self.highlighted.append(other)

    def follow(self, point: QPointF):
        """Move the loose end of the wire to ``point``."""
        self.draft.follow(point)

    def cancel(self):
        """Drop the wire being dragged without changing the graph (Escape)."""
        if self.draft is None:
            return
        scene = self.scene
        scene.removeItem(self.draft)
        self.draft = None
        for p in self.highlighted:
            p.highlight = False
            p.update()
        self.highlighted = []
        self.connectable = []
        detached, self.detached = self.detached, None
        item = scene.edges.get(detached) if detached is not None else None
        if item is not None:
            item.setVisible(True)
            item.label.setVisible(bool(item.label.text))

    def finish(self, point: QPointF):
        """The mouse was released at ``point``: connect, re-route or remove the wire, or say why not."""
        scene = self.scene
        start, detached = self.draft.port, self.detached
        lit = set(self.highlighted)
        candidates = list(self.connectable)
        self.cancel()
        end = scene.port_at(point)
        if end is None:
            node = next((i for i in scene.items(point) if isinstance(i, NodeItem)), None)
            if node is None:
                if detached is not None:
                    scene.document.push(Disconnect(detached))   # dragged off its input onto empty canvas
                return
            if detached is not None and node.node_id == detached.target:
                return   # put back on the block it came from
            # released on a block's body: its first port that takes the tensor, a free one if there is one
            ports = [p for p in candidates if p.node is node]
            ports.sort(key=lambda p: (p not in lit, scene.port_connected(p)))
            if not ports:
                scene.message.emit(f"Nothing on '{node.node_id}' can take this wire")
                return
            end = ports[0]
        if end is start:
            return
        edge = candidate_edge(start, end)
        if edge is None:
            scene.message.emit("Connect an output (right side) to an input (left side)")
            return
        edit, reason = edit_ops.connect_edit(scene.graph, edge, detached)
        if reason:
            scene.message.emit(f"Cannot connect: {reason}")
        elif edit is not None:
            scene.document.push(edit)
