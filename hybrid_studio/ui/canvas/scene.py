"""The canvas scene: one NodeItem per block and one EdgeItem per wire, kept in step with the Graph.

A graph of more than ``LAZY_ABOVE`` blocks opens without them: its blocks and wires are drawn by the outline
(``outline.OutlineLayer``) and get their items when they are shown at reading zoom, come under the mouse or are
asked for (``scene.nodes[id]``, ``scene.edges[edge]``); see ``GraphScene``.

Items are views. They are created, moved and removed from Graph events (``node_added``, ``edge_removed``, ...) and
re-labelled from ``document.checked``. Gestures only ask the document: dragging a wire is ``wiring.WireDrag``
(it pushes ``Connect``, a re-route or ``Disconnect``), moving blocks pushes one ``Move`` when the mouse is released.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QPainterPathStroker, QPen
from PySide6.QtWidgets import QGraphicsScene

from hybrid_studio.graph import ERROR, Edge, Move, NodeResult
from hybrid_studio.graph.layout import layered_positions

from .. import theme
from .edge_item import EdgeItem, LabelLayer, skip_path, wire_path, wraps
from .grid import GridIndex
from .node_item import NODE_W, PORT_HIT, NodeItem, Port, port_layout, port_names
from .outline import OutlineBlock, OutlineLayer, OutlineWire
from .wiring import WireDrag

#: The canvas is unbounded for the user; a big scene rect lets the view pan anywhere.
SCENE_EXTENT = 200_000.0
#: Depth of the scene's BSP index. Qt picks it from the item count (about 11 for 1,000 items), which over the
#: 200,000-unit scene gives cells of ~3,000 x 6,000 units: the whole graph sits in a few cells, so every repaint of a
#: small region asked each item its bounding rect (a Python call) and an edit's repaint cost milliseconds. 14 gives
#: 128 x 128 cells of ~1,560 units, about a screenful at 100 %.
BSP_DEPTH = 14
#: how far from the blocks in its way a re-routed wire runs (above or below them): clear of their edges, its label
#: beside them, and apart from a wrapped row's wire, which runs through the middle of the gap between rows
SKIP_CLEARANCE = 11.0
_STROKER = QPainterPathStroker()
_STROKER.setWidth(2)
#: a graph with more blocks than this opens without an item per block and wire (drawn by the outline until they are
#: shown at reading zoom or touched): one Python item costs more to build and paint than a bare scene's whole block
LAZY_ABOVE = 400
#: around the part of the canvas on screen, the margin (scene units) whose blocks get their items too, so that a
#: short pan shows items already made and every wire of a block on screen has its own
BUILD_MARGIN = 300.0


def _painted(body: QRectF) -> QRectF:
    """The area a block's item paints (``block_bounds``), from its body as indexed in ``GraphScene._blocks`` (2 units
    inside the block): the ports, shadow and badge lie outside it."""
    return body.adjusted(-(PORT_HIT + 3), -12, PORT_HIT + 3, 6)


class _Items(Mapping):
    """``scene.nodes`` (block id -> NodeItem) and ``scene.edges`` (Edge -> EdgeItem): every block and wire on the
    scene, whether or not it has its item yet; looking one up makes its item (``build(key)``). Iterating keys,
    ``len`` and ``in`` make nothing; ``values()`` and ``items()`` make every item (use ``built()`` for the ones
    that exist)."""

    def __init__(self, built: dict, keys, build):
        self._built = built
        self._keys = keys
        self._build = weakref.WeakMethod(build)   # the scene holds this mapping: no cycle back to it

    def __getitem__(self, key):
        item = self._built.get(key)
        if item is not None:
            return item
        build = self._build()
        if build is None:
            raise KeyError(key)
        return build(key)

    def __contains__(self, key):
        return key in self._built or key in self._keys

    def __iter__(self):
        return iter(list(self._keys))

    def __len__(self):
        return len(self._keys)

    def built(self):
        """The items made so far."""
        return list(self._built.values())


class GraphScene(QGraphicsScene):
    """Draws ``document.graph``."""

    #: a message for the status bar (e.g. why a connection was refused)
    message = Signal(str)

    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.document = document
        self.graph = document.graph
        self._items: dict[str, NodeItem] = {}     # the blocks that have their item
        self._wires: dict[Edge, EdgeItem] = {}    # the wires that have their item
        self._edges_of: dict[str, set] = {}       # every block on the scene -> its wires (Edge)
        self._all_edges: dict[Edge, None] = {}    # every wire on the scene, in order
        self.nodes = _Items(self._items, self._edges_of, self._build_node)
        self.edges = _Items(self._wires, self._all_edges, self._build_edge)
        self.outline_blocks: dict[str, OutlineBlock] = {}   # blocks without an item (see outline.py)
        self.outline_wires: dict[Edge, OutlineWire] = {}    # wires without an item
        self._wire_index = GridIndex()                      # the outline wires' boxes
        self.lazy = False   # whether this graph opened without items (more than LAZY_ABOVE blocks)
        self._fallback: dict[str, tuple] = {}
        self.wire_drag = WireDrag(self)
        self._drop_target: EdgeItem | None = None
        self._press_positions: dict[str, QPointF] = {}
        self._reselect_ids: list[str] = []  # renamed blocks that were selected: selected again after the edit
        self._face_cache = True   # blocks cache their painted face (see set_face_cache)
        self._building = False
        self.labels: LabelLayer   # draws every wire's label (made by rebuild)
        self.outline: OutlineLayer | None = None  # draws the blocks and wires without items (a lazy scene's)
        self._long_wires: set = set()   # wires longer than a block or wrapping: a moved block may be in their way
        self._blocks = GridIndex()      # block bodies, for the wires that must go round them
        self.setSceneRect(-SCENE_EXTENT / 2, -SCENE_EXTENT / 2, SCENE_EXTENT, SCENE_EXTENT)
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)
        self.setBspTreeDepth(BSP_DEPTH)
        self.graph.subscribe(self._on_event)   # (held weakly by the graph: not kept here, which would be a cycle)
        document.checked.connect(self._on_checked)
        self.rebuild()

    def detach(self):
        """Stop following the document and let go of the project (before the scene is dropped): its items' links
        to each other and to the scene are cut, so that the old project is freed by reference counting when Qt
        deletes the scene, not by a later full garbage collection (60-100 ms with a 1,000-block project, in
        whatever the user did next)."""
        self.graph.unsubscribe(self._on_event)
        try:
            self.document.checked.disconnect(self._on_checked)
        except (RuntimeError, TypeError):
            pass
        self.wire_drag.cancel()
        for item in self._items.values():
            item.release()
        for wire in self._wires.values():
            wire.release()
        for table in (self._items, self._wires, self._edges_of, self._all_edges, self.outline_blocks,
                      self.outline_wires):
            table.clear()
        self._long_wires.clear()
        self._drop_target = None
        self.wire_drag.scene = None
        if self.outline is not None:
            self.outline.release()

    # ---- building ----------------------------------------------------------------------------------------------
    def rebuild(self):
        """Recreate every item from the graph."""
        self.clear()
        self.labels = LabelLayer()   # clear() deleted the old one
        self.addItem(self.labels)
        for table in (self._items, self._wires, self._edges_of, self._all_edges, self.outline_blocks,
                      self.outline_wires):
            table.clear()
        self._long_wires.clear()
        self._blocks.clear()
        self._wire_index.clear()
        self._fallback = {}
        if any(n.position is None for n in self.graph.nodes):
            # blocks without a stored position get a layered layout (view only: the file is not changed)
            self._fallback = layered_positions(self.graph)
        self.lazy = len(self.graph.nodes) > LAZY_ABOVE
        self.outline = None
        if self.lazy:
            self.outline = OutlineLayer(self)
            self.addItem(self.outline)
        self._building = True   # each item is painted once shown: no per-port repaint requests while building
        try:
            for node in self.graph.nodes:
                self._add_node(node)
            for edge in self.graph.edges:
                self._add_edge(edge)
        finally:
            self._building = False
        if self.outline is not None:
            self.outline.grow(self.content_rect())
        # each item was given its result and label as it was added: no second pass over the graph (after a reset
        # the document's ``checked`` follows with whatever the re-check changed)

    def position_of(self, node) -> QPointF:
        pos = node.position if node.position is not None else self._fallback.get(node.id)
        if pos is None:
            pos = self._free_spot()
            self._fallback[node.id] = pos
        return QPointF(float(pos[0]), float(pos[1]))

    def _free_spot(self) -> tuple:
        if not self._edges_of:
            return (0.0, 0.0)
        rect = self.content_rect()
        return (rect.left(), rect.bottom() + 40)

    def content_rect(self) -> QRectF:
        """The area the blocks and wires cover (items or not), as their items paint it."""
        rect = QRectF()
        blocks = self._blocks.extent()
        if blocks is not None:
            rect = _painted(blocks)
        wires = self._wire_index.extent()
        if wires is not None:
            rect = rect.united(wires.adjusted(-4, -4, 4, 4))
        for item in self._wires.values():
            rect = rect.united(item.sceneBoundingRect())
        return rect

    def block_rects(self) -> list[QRectF]:
        """The area each block's item paints (or would), for every block on the scene."""
        return [_painted(self._blocks.rect(nid)) for nid in self._edges_of if nid in self._blocks]

    def block_height(self, nid: str) -> float | None:
        """The height of block ``nid`` (None if it is not on the scene)."""
        item = self._items.get(nid)
        if item is not None:
            return item.height
        b = self.outline_blocks.get(nid)
        return b.height if b is not None else None

    def set_face_cache(self, on: bool):
        """Whether blocks keep their painted face in a pixmap. The view turns it off while zoomed out to the simple
        faces (cheaper to draw than to cache: the first paint of a 1,000-block graph at "fit" zoom spends a fifth
        of its time filling caches) and on again at reading zoom, where panning blits the cached faces."""
        if on == self._face_cache:
            return
        self._face_cache = on
        mode = NodeItem.CacheMode.DeviceCoordinateCache if on else NodeItem.CacheMode.NoCache
        for item in self._items.values():
            item.setCacheMode(mode)

    @property
    def face_cache(self) -> bool:
        return self._face_cache

    def _add_node(self, node):
        """A block came onto the scene: its item, or (a large graph being opened) its outline."""
        self._edges_of.setdefault(node.id, set())
        if self.lazy and self._building:
            self._outline_node(node)
            return None
        return self._make_node_item(node)

    def _make_node_item(self, node) -> NodeItem:
        item = NodeItem(node, self)
        if self._face_cache:
            item.setCacheMode(NodeItem.CacheMode.DeviceCoordinateCache)
        self._items[node.id] = item
        item.setPos(self.position_of(node))   # placed before it is indexed: one insertion into the scene's index
        self.addItem(item)
        self._index_block(item)
        result = self.document.checker.results.get(node.id)
        item.set_result(result or NodeResult())
        return item

    # ---- the outline: a large graph's blocks and wires without items ---------------------------------------------
    def _outline_node(self, node):
        old = self.outline_blocks.get(node.id)
        block, ins, outs = port_names(node)
        height, in_ys, out_ys = port_layout(len(ins), len(outs))
        pos = self.position_of(node)
        b = OutlineBlock(node.id, pos.x(), pos.y(), height, dict(zip(ins, in_ys)), dict(zip(outs, out_ys)),
                         theme.category_colour(block.category if block else None))
        self.outline_blocks[node.id] = b
        self._blocks.put_box(node.id, (b.x + 2, b.y + 2, b.x + NODE_W - 2, b.y + height - 2))
        self._outline_redraw(old.bounds() if old is not None else None, b.bounds)

    def _outline_wire(self, edge: Edge):
        old = self.outline_wires.get(edge)
        a = self._port_point(edge.source, edge.source_port, True)
        b = self._port_point(edge.target, edge.target_port, False)
        if a is None or b is None:
            return
        wire = self.outline_wires[edge] = OutlineWire(a, b)
        self._wire_index.put_box(edge, wire.box)
        self._outline_redraw(old.area() if old is not None else None, wire.area)

    def _outline_redraw(self, old: QRectF | None, area):
        """Repaint where an outline block or wire was (``old``) and is (``area()``); nothing while the graph is being
        built (the outline's area is set once it is). The outline's repaints go through the scene's ``update``, not
        the layer's: Qt unites all partial updates of one item into one rectangle, so two blocks far apart would
        repaint everything between them."""
        if self._building:
            return
        new = area()
        self.outline.grow(new)
        if old is not None:
            self.update(old)
        self.update(new)

    def _drop_outline_wire(self, edge: Edge):
        wire = self.outline_wires.pop(edge, None)
        if wire is not None:
            self._wire_index.remove(edge)
            self.update(wire.area())

    def _port_point(self, nid: str, port: str, output: bool) -> tuple[float, float] | None:
        b = self.outline_blocks.get(nid)
        if b is not None:
            return b.port_point(port, output)
        found = self._port_item(nid, port, output)
        if found is None:
            return None
        p = found.scenePos()
        return p.x(), p.y()

    def outline_blocks_in(self, rect: QRectF) -> list[str]:
        """The ids of the blocks without items that meet ``rect``."""
        return [nid for nid in self._blocks.query(rect) if nid in self.outline_blocks]

    def outline_wires_in(self, rect: QRectF) -> list[Edge]:
        """The wires without items whose curves' boxes meet ``rect``, in file order."""
        return sorted(self._wire_index.query(rect), key=lambda e: e.key)

    def has_error(self, nid: str) -> bool:
        """Whether the checker found an error on block ``nid``."""
        result = self.document.checker.results.get(nid)
        return result is not None and any(d.severity == ERROR for d in result.diagnostics)

    def _build_node(self, nid: str) -> NodeItem:
        if nid not in self.outline_blocks:
            raise KeyError(nid)
        self.build([nid])
        return self._items[nid]

    def _build_edge(self, edge: Edge) -> EdgeItem:
        if edge not in self._all_edges:
            raise KeyError(edge)
        self.build([edge.source, edge.target])
        item = self._wires.get(edge)
        if item is None:
            raise KeyError(edge)
        return item

    def build(self, ids) -> int:
        """Give the blocks ``ids`` that have none their items, and each of their wires whose other end has one;
        returns how many blocks were given one."""
        new = [nid for nid in dict.fromkeys(ids) if nid in self.outline_blocks]
        for nid in new:
            b = self.outline_blocks.pop(nid)
            self.update(b.bounds())
            self._make_node_item(self.graph.node(nid))
        for nid in new:
            for edge in list(self._edges_of.get(nid, ())):
                if edge in self.outline_wires and edge.source in self._items and edge.target in self._items:
                    self._drop_outline_wire(edge)
                    self._make_edge_item(edge)
        return len(new)

    def unbuild(self, ids) -> int:
        """Return the blocks ``ids`` that have items to the outline, with their wires; returns how many. Kept: a
        selected block, the one under the mouse, one carrying an overlay (a child item) and everything while a wire
        is dragged. The view calls this when zoomed out, so a large graph explored at reading zoom is drawn by the
        outline again rather than by hundreds of items."""
        if self.outline is None or self.wire_drag.active:
            return 0
        gone = [nid for nid in dict.fromkeys(ids) if nid in self._items and not self._items[nid].isSelected()
                and not self._items[nid].isUnderMouse() and not self._items[nid].childItems()]
        for nid in gone:
            for e in self._edges_of.get(nid, ()):
                wire = self._wires.pop(e, None)
                if wire is not None:
                    if wire is self._drop_target:
                        self._drop_target = None
                    self.labels.remove(wire.label)
                    self._long_wires.discard(wire)
                    wire.release()
                    self.removeItem(wire)
            item = self._items.pop(nid)
            item.release()
            self.removeItem(item)
            self._outline_node(self.graph.node(nid))
        for nid in gone:
            for e in self._edges_of.get(nid, ()):
                if e not in self._wires:
                    self._outline_wire(e)
        return len(gone)

    def build_region(self, rect: QRectF) -> int:
        """Give items to the blocks that meet ``rect`` and to the ends of the wires that cross it (every block and
        wire drawn there then has its item); returns how many blocks were given one."""
        if not self.outline_blocks:
            return 0
        ids = self.outline_blocks_in(rect)
        for edge in self._wire_index.query(rect):
            ids += (edge.source, edge.target)
        return self.build(ids) if ids else 0

    def build_near(self, point: QPointF, reach: float = 24.0) -> int:
        """``build_region`` around ``point``: what the mouse is on (a block, a port, a wire) has its item before Qt
        looks for it."""
        if not self.outline_blocks:
            return 0
        return self.build_region(QRectF(point.x() - reach, point.y() - reach, 2 * reach, 2 * reach))

    def build_visible(self) -> int:
        """``build_region`` for what each view shows."""
        return sum(self.build_region(v.mapToScene(v.viewport().rect()).boundingRect()) for v in self.views())

    def _port_item(self, node_id: str, port: str, output: bool):
        item = self._items.get(node_id)
        if item is None:
            return None
        found = item.port(port, output)
        if found is None:  # a port the block type does not declare (unknown type): anchor on the first one
            ports = item.outputs if output else item.inputs
            found = next(iter(ports.values()), None)
        return found

    def _add_edge(self, edge: Edge):
        """A wire came onto the scene: its item when both its blocks have theirs, else its outline."""
        if edge.source not in self._edges_of or edge.target not in self._edges_of:
            return
        self._all_edges[edge] = None
        self._edges_of[edge.source].add(edge)
        self._edges_of[edge.target].add(edge)
        if edge.source in self._items and edge.target in self._items:
            self._make_edge_item(edge)
        else:
            self._outline_wire(edge)
            for nid in (edge.source, edge.target):
                item = self._items.get(nid)
                if item is not None and not self._building:
                    item.update()   # its ports' fill shows they are connected

    def _make_edge_item(self, edge: Edge):
        sp = self._port_item(edge.source, edge.source_port, True)
        tp = self._port_item(edge.target, edge.target_port, False)
        if sp is None or tp is None:
            return
        item = EdgeItem(edge, sp, tp, self._route)
        self._wires[edge] = item
        self.addItem(item)
        self.labels.add(item.label)
        self._note_length(item)
        self._label_edge(item)
        if not self._building:
            sp.update()   # the ports' fill shows they are connected
            tp.update()

    def _remove_edge(self, edge: Edge):
        self._all_edges.pop(edge, None)
        for nid in (edge.source, edge.target):
            self._edges_of.get(nid, set()).discard(edge)
        if edge in self.outline_wires:
            self._drop_outline_wire(edge)
            for nid in (edge.source, edge.target):
                item = self._items.get(nid)
                if item is not None:
                    item.update()
            return
        item = self._wires.pop(edge, None)
        if item is None:
            return
        if item is self._drop_target:
            self._drop_target = None
        self.labels.remove(item.label)
        self._long_wires.discard(item)
        self.removeItem(item)
        for p in (item.source_port, item.target_port):
            p.update()

    def _label_edge(self, item: EdgeItem):
        result = self.document.checker.results.get(item.edge.source)
        out = result.output if result is not None else None
        item.set_shape_text(out.describe() if out is not None else "?")

    # ---- model events ------------------------------------------------------------------------------------------
    def _on_event(self, event, **kw):
        if event == "node_added":
            self._add_node(kw["node"])
        elif event == "node_removed":
            self._drop_node(kw["node"].id)
        elif event == "node_renamed":
            old, new = kw["old"], kw["new"]
            selected = old in self._items and self._items[old].isSelected()
            if old in self._fallback:
                self._fallback[new] = self._fallback[old]
            self._drop_node(old)
            self._add_node(kw["node"])
            for _, e in kw["edges"]:
                self._add_edge(e)
            if selected:
                # selected again once the edit is complete (selecting now would make the inspector read results
                # before the checker has heard of the new id)
                self._reselect_ids.append(new)
        elif event == "edge_added":
            self._add_edge(kw["edge"])
        elif event == "edge_removed":
            self._remove_edge(kw["edge"])
        elif event == "params_changed":
            nid = kw["node_id"]
            item = self._items.get(nid)
            if item is not None:
                before = (list(item.inputs), list(item.outputs))
                item.refresh_node(self.graph.node(nid))
                self._index_block(item)   # its height follows its ports
                if before != (list(item.inputs), list(item.outputs)):
                    # the ports were recreated: re-anchor this block's wires
                    for e in list(self._edges_of.get(nid, ())):
                        self._remove_edge(e)
                        self._add_edge(e)
            elif nid in self.outline_blocks:
                self._outline_node(self.graph.node(nid))   # its ports may differ: its wires are re-anchored
                for e in list(self._edges_of.get(nid, ())):
                    self._outline_wire(e)
        elif event == "node_moved":
            nid = kw["node_id"]
            item = self._items.get(nid)
            if item is not None:
                target = self.position_of(self.graph.node(nid))
                if item.pos() != target:
                    item.setPos(target)
                    self.node_item_moved(item)
            elif nid in self.outline_blocks:
                self._outline_node(self.graph.node(nid))
                for e in self._edges_of.get(nid, ()):
                    self._outline_wire(e)
        elif event == "reset":
            self.rebuild()

    def _drop_node(self, nid: str):
        for e in list(self._edges_of.get(nid, ())):
            self._remove_edge(e)
        self._edges_of.pop(nid, None)
        self._fallback.pop(nid, None)
        self._blocks.remove(nid)
        item = self._items.pop(nid, None)
        if item is not None:
            self.removeItem(item)
        b = self.outline_blocks.pop(nid, None)
        if b is not None:
            self.update(b.bounds())

    def _on_checked(self, ids):
        # the edit is complete
        reselect, self._reselect_ids = self._reselect_ids, []
        results = self.document.checker.results
        for nid in ids:
            item = self._items.get(nid)
            if item is None:
                b = self.outline_blocks.get(nid)
                if b is not None:
                    self.update(b.bounds())   # its outline shows whether it has an error
                continue
            item.set_result(results.get(nid) or NodeResult())
            for e in self._edges_of.get(nid, ()):
                wire = self._wires.get(e)
                if wire is not None and e.source == nid:
                    self._label_edge(wire)
        for nid in reselect:
            if nid in self.nodes:
                self.nodes[nid].setSelected(True)

    def _route(self, a: QPointF, b: QPointF, edge: Edge) -> float | None:
        """For a wire from ``a`` to ``b``, the height of a run that takes it over (or under) the blocks its usual
        curve would pass behind (a residual wire around an attention block), or None: nothing in its way. Only a
        wire longer than a block can have one between its ends, so a chain's wires cost no lookup."""
        middle = (a.y() + b.y()) / 2
        if wraps(a, b):
            # back to the left onto another row: the run halfway between the rows, unless a block is there (a row of
            # several tracks); then the gap nearest to it
            left, right = b.x() - 40.0, a.x() + 40.0
            blockers = self._bodies_in(QRectF(left, middle - SKIP_CLEARANCE, right - left, 2 * SKIP_CLEARANCE), edge)
        elif b.x() - a.x() < NODE_W + 2 * PORT_HIT:
            return None
        else:
            left, right = a.x() + 2 * PORT_HIT, b.x() - 2 * PORT_HIT
            blockers = self._blockers(wire_path(a, b), edge)
        if not blockers:
            return None
        top, bottom = min(r.top() for r in blockers), max(r.bottom() for r in blockers)
        for _ in range(4):   # a run clear of these blocks may meet others: widen and look again
            runs = sorted((top - SKIP_CLEARANCE, bottom + SKIP_CLEARANCE), key=lambda y: abs(y - middle))
            more = []
            for y in runs:
                # the run and its label: a strip along the wire's length (the bends sit beside the ends' ports)
                hit = self._bodies_in(QRectF(left, y - SKIP_CLEARANCE, right - left, 2 * SKIP_CLEARANCE), edge)
                if not hit:
                    return y
                more += hit
            top, bottom = min(top, *(r.top() for r in more)), max(bottom, *(r.bottom() for r in more))
        return top - SKIP_CLEARANCE

    def _bodies_in(self, rect: QRectF, edge: Edge) -> list:
        """Bodies of the blocks other than ``edge``'s ends that meet ``rect``."""
        ends = (edge.source, edge.target)
        return [self._blocks.rect(nid) for nid in self._blocks.query(rect) if nid not in ends]

    def _index_block(self, item: NodeItem):
        # the body a wire must not pass behind (its rounded edge and the ports' circles excepted)
        p = item.pos()
        self._blocks.put(item.node_id, QRectF(p.x() + 2, p.y() + 2, NODE_W - 4, item.height - 4))

    def _blockers(self, path, edge: Edge) -> list:
        """Bodies of the blocks other than ``edge``'s ends that ``path`` passes behind. The curve is stroked only
        when a few blocks are near it; a wire across many blocks is taken to meet them all."""
        bodies = self._bodies_in(path.controlPointRect(), edge)
        if not bodies or len(bodies) > 6:
            return bodies
        stroke = _STROKER.createStroke(path)
        return [body for body in bodies if stroke.intersects(body)]

    def _reroute_around(self, item: NodeItem, was: QRectF | None):
        """Re-route the long (and wrapping) wires that ``item`` (just moved from ``was``) was or now is in the way of."""
        places = [item.sceneBoundingRect()] + ([was] if was is not None else [])
        for e in list(self._long_wires):
            if e.edge.source == item.node_id or e.edge.target == item.node_id:
                continue
            a, b = e.source_port.scenePos(), e.target_port.scenePos()
            near = (e.boundingRect(), wire_path(a, b).controlPointRect())
            if any(p.intersects(r) for p in places for r in near):
                e.update_path(force=True)

    def node_item_moved(self, item: NodeItem):
        was = self._blocks.rect(item.node_id) if item.node_id in self._blocks else None
        self._index_block(item)
        for e in self._edges_of.get(item.node_id, ()):
            wire = self._wires.get(e)
            if wire is not None:
                wire.update_path()
                self._note_length(wire)
            elif e in self.outline_wires:
                self._outline_wire(e)
        if self._long_wires:
            self._reroute_around(item, was)

    def _note_length(self, item: EdgeItem):
        a, b = item.source_port.scenePos(), item.target_port.scenePos()
        if b.x() - a.x() >= NODE_W + 2 * PORT_HIT or wraps(a, b):
            self._long_wires.add(item)
        else:
            self._long_wires.discard(item)

    def port_connected(self, port: Port) -> bool:
        """Whether a wire uses ``port`` (an output may feed several inputs: it stays connected until the last goes)."""
        return (port.name, port.is_output) in self.connected_ports(port.node_id)

    def connected_ports(self, node_id: str) -> set:
        """``(port name, is_output)`` of each port of ``node_id`` that a wire uses."""
        used = set()
        for e in self._edges_of.get(node_id, ()):
            if e.source == node_id:
                used.add((e.source_port, True))
            if e.target == node_id:
                used.add((e.target_port, False))
        return used

    # ---- selection ---------------------------------------------------------------------------------------------
    def selected_node_ids(self) -> list[str]:
        """Selected blocks in file order."""
        chosen = {i.node_id for i in self.selectedItems() if isinstance(i, NodeItem)}
        return [n.id for n in self.graph.nodes if n.id in chosen]

    def selected_edges(self) -> list[Edge]:
        return [i.edge for i in self.selectedItems() if isinstance(i, EdgeItem)]

    def select_ids(self, ids):
        self.clearSelection()
        for nid in ids:
            if nid in self.nodes:
                self.nodes[nid].setSelected(True)

    # ---- background --------------------------------------------------------------------------------------------
    def drawBackground(self, painter, rect: QRectF):
        t = theme.current()
        # a filled rectangle rather than fillRect(rect, colour): matching a colour against fillRect's overloads builds
        # QGradient's five enums (169 presets), ~1% of start-up; the pixels are the same
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(t.canvas)
        painter.drawRect(rect)
        scale = painter.worldTransform().m11()
        step = 20.0
        if scale * step < 6:
            step = 100.0  # zoomed far out: only the major grid
        left = math.floor(rect.left() / step) * step
        top = math.floor(rect.top() / step) * step
        minor_lines, major_lines = [], []
        x = left
        while x < rect.right():
            (major_lines if round(x) % 100 == 0 else minor_lines).append(QLineF(x, rect.top(), x, rect.bottom()))
            x += step
        y = top
        while y < rect.bottom():
            (major_lines if round(y) % 100 == 0 else minor_lines).append(QLineF(rect.left(), y, rect.right(), y))
            y += step
        # one call per pen: drawing line by line costs more than the blocks themselves
        painter.setPen(QPen(t.grid_minor, 0))
        painter.drawLines(minor_lines)
        painter.setPen(QPen(t.grid_major, 0))
        painter.drawLines(major_lines)

    # ---- gestures: wiring and moving -----------------------------------------------------------------------------
    def port_at(self, point: QPointF, tolerance: float = 12.0) -> Port | None:
        """The port nearest ``point`` within ``tolerance`` scene units."""
        box = QRectF(point.x() - tolerance, point.y() - tolerance, 2 * tolerance, 2 * tolerance)
        self.build_region(box)
        best, best_d = None, float("inf")
        for it in self.items(box, Qt.ItemSelectionMode.IntersectsItemBoundingRect):
            if isinstance(it, NodeItem):
                port, d = it.port_near(point, tolerance)
                if d < best_d:
                    best, best_d = port, d
        return best

    def edge_at(self, point: QPointF) -> Edge | None:
        self.build_near(point, 8.0)
        for it in self.items(point):
            if isinstance(it, LabelLayer):
                label = it.label_at(point)
                if label is not None:
                    return label.edge_item.edge
            if isinstance(it, EdgeItem):
                return it.edge
        return None

    @property
    def wiring(self) -> bool:
        """Whether a wire is being dragged."""
        return self.wire_drag.active

    def cancel_wire(self):
        """Drop the wire being dragged without changing the graph (Escape)."""
        self.wire_drag.cancel()

    def mousePressEvent(self, event):
        self.build_near(event.scenePos())   # what was clicked has its item before Qt looks for it
        if event.button() == Qt.MouseButton.LeftButton and self.wire_drag.press(event.scenePos()):
            event.accept()
            return
        super().mousePressEvent(event)
        self._press_positions = {i.node_id: i.pos() for i in self.selectedItems() if isinstance(i, NodeItem)}

    def mouseMoveEvent(self, event):
        self.build_near(event.scenePos())   # hover (the port under the mouse grows, the tooltip) needs the item
        if self.wire_drag.active:
            self.wire_drag.follow(event.scenePos())
            event.accept()
            return
        super().mouseMoveEvent(event)
        if self._press_positions and event.buttons() & Qt.MouseButton.LeftButton:
            for nid in self._press_positions:  # the blocks being dragged: their wires follow
                item = self._items.get(nid)
                if item is not None:
                    self.node_item_moved(item)

    def mouseReleaseEvent(self, event):
        if self.wire_drag.active:
            self.wire_drag.finish(event.scenePos())
            event.accept()
            return
        super().mouseReleaseEvent(event)
        self._record_move()

    # ---- dropping a block onto a wire --------------------------------------------------------------------------
    def set_drop_target(self, edge: Edge | None):
        """Highlight the wire a dragged block would be inserted into (None: no wire)."""
        item = self._wires.get(edge) if edge is not None else None
        if item is self._drop_target:
            return
        if self._drop_target is not None and self._drop_target.scene() is self:
            self._drop_target.set_drop_target(False)
        self._drop_target = item
        if item is not None:
            item.set_drop_target(True)

    @property
    def drop_target(self) -> Edge | None:
        return self._drop_target.edge if self._drop_target is not None else None

    def _record_move(self):
        moved = {}
        for nid, before in self._press_positions.items():
            item = self._items.get(nid)
            if item is not None and item.pos() != before:
                p = item.pos()
                moved[nid] = (round(p.x(), 1), round(p.y(), 1))
        self._press_positions = {}
        if moved:
            self.document.push(Move(moved))
