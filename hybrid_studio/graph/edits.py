"""Reversible edits: the only way user actions change a Graph.

Each edit is data with ``apply(graph)`` and ``revert(graph)``; ``revert`` after ``apply`` restores the graph exactly
(node order, edge order, params, positions), so undo-all gives back the same file. The app wraps each edit in a thin
QUndoCommand; tests use them without Qt. An edit that cannot apply raises GraphError and leaves the graph unchanged.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from .model import Edge, Graph, Node


def orphaned_edges(graph: Graph, node_id: str) -> list[Edge]:
    """Wires on ports that node ``node_id`` no longer has (e.g. after its params changed), last first."""
    # only the node's own wires can lose a port (not a scan of every wire: this runs on each param edit)
    mine = set(graph.in_edges(node_id)) | set(graph.out_edges(node_id))
    if not mine:
        return []
    orphans = [e for e in mine if graph.port_problem(e)]
    orphans.sort(key=graph.edge_index, reverse=True)
    return orphans


class Edit:
    """Base class. ``text`` is what the undo history shows."""

    text = "edit"

    def apply(self, graph: Graph) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def revert(self, graph: Graph) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def touched(self) -> set[str]:
        """Ids of the nodes whose own state this edit changes (for selection and re-checking)."""
        return set()

    def side_effects(self) -> list[str]:
        """What else applying this edit did, in words for the user (e.g. wires removed with a port)."""
        return []


@dataclass
class AddNode(Edit):
    node: Node
    index: int | None = None

    @property
    def text(self):
        return f"Add {self.node.id}"

    def apply(self, graph):
        graph.insert_node(self.node.copy(), self.index)

    def revert(self, graph):
        graph.delete_node(self.node.id)

    def touched(self):
        return {self.node.id}


@dataclass
class RemoveNode(Edit):
    """Removes a node and every edge that touches it."""

    node_id: str
    _node: Node | None = field(default=None, repr=False)
    _index: int = field(default=-1, repr=False)
    _edges: list = field(default_factory=list, repr=False)

    @property
    def text(self):
        return f"Delete {self.node_id}"

    def apply(self, graph):
        node = graph.node(self.node_id)
        self._node, self._index = node.copy(), graph.index_of(self.node_id)
        self._edges = [(graph.edge_index(e), e) for e in graph.edges if self.node_id in (e.source, e.target)]
        for _, e in reversed(self._edges):
            graph.delete_edge(e)
        graph.delete_node(self.node_id)

    def revert(self, graph):
        graph.insert_node(self._node.copy(), self._index)
        for index, e in self._edges:
            graph.insert_edge(e, index, check=False)

    def touched(self):
        return {self.node_id}


@dataclass
class RenameNode(Edit):
    """Gives a block another id, keeping its place, params and wires (``Graph.rename_node``)."""

    old: str
    new: str

    @property
    def text(self):
        return f"Rename {self.old} to {self.new}"

    def apply(self, graph):
        graph.rename_node(self.old, self.new)

    def revert(self, graph):
        graph.rename_node(self.new, self.old)

    def touched(self):
        return {self.new}


@dataclass
class Connect(Edit):
    edge: Edge
    index: int | None = None

    @property
    def text(self):
        return f"Connect {self.edge.source} to {self.edge.target}"

    def apply(self, graph):
        graph.insert_edge(self.edge, self.index)

    def revert(self, graph):
        graph.delete_edge(self.edge)

    def touched(self):
        return {self.edge.target}


@dataclass
class Disconnect(Edit):
    edge: Edge
    _index: int = field(default=-1, repr=False)

    @property
    def text(self):
        return f"Disconnect {self.edge.source} from {self.edge.target}"

    def apply(self, graph):
        self._index = graph.delete_edge(self.edge)

    def revert(self, graph):
        graph.insert_edge(self.edge, self._index, check=False)

    def touched(self):
        return {self.edge.target}


@dataclass
class SetParams(Edit):
    """Sets some params (``changes``); a value of ``None`` with ``remove=True`` semantics drops the key.

    ``replace=True`` replaces the whole params dict with ``changes``.

    Params can take ports away (a Concat with ``inputs`` lowered from 3 to 2 has no ``in2``): wires on a port that
    no longer exists are removed in the same edit, and come back on undo. So the graph never holds a wire that the
    project reader would refuse.
    """

    node_id: str
    changes: dict
    replace: bool = False
    drop: tuple = ()
    _old: dict | None = field(default=None, repr=False)
    #: wires this edit removed, as (index, edge) in the order of removal
    _removed: list = field(default_factory=list, repr=False)

    @property
    def text(self):
        keys = ", ".join(sorted(self.changes) + sorted(self.drop))
        text = f"Set {self.node_id}.{keys}" if keys else f"Set {self.node_id}"
        if self._removed:
            n = len(self._removed)
            text += f" (removes {n} wire{'s' * (n != 1)})"
        return text

    @property
    def removed_edges(self) -> list[Edge]:
        """The wires this edit removed because their port went away."""
        return [e for _, e in self._removed]

    def side_effects(self):
        out = []
        for e in self.removed_edges:
            port = e.target_port if e.target == self.node_id else e.source_port
            out.append(f"removed the wire {e.source} \u2192 {e.target}: '{self.node_id}' has no port '{port}' now")
        return out

    def new_params(self, graph) -> dict:
        old = graph.node(self.node_id).params
        new = copy.deepcopy(self.changes) if self.replace else {**copy.deepcopy(old), **copy.deepcopy(self.changes)}
        for k in self.drop:
            new.pop(k, None)
        return new

    def apply(self, graph):
        new = self.new_params(graph)
        self._old = copy.deepcopy(graph.node(self.node_id).params)
        graph.replace_params(self.node_id, new)
        self._removed = []
        for edge in orphaned_edges(graph, self.node_id):
            self._removed.append((graph.delete_edge(edge), edge))

    def revert(self, graph):
        graph.replace_params(self.node_id, self._old)
        for index, edge in reversed(self._removed):
            graph.insert_edge(edge, index, check=False)

    def touched(self):
        return {self.node_id}

    def merge(self, other: "SetParams", graph: Graph) -> bool:
        """Absorb ``other``, a SetParams of the same node applied to ``graph`` right after this one (consecutive
        typing becomes one undo step). This edit then goes from the params before itself to those after ``other``.

        When either step removed wires (a port went away), the two are replayed as one change from where they
        began: a port that goes and comes back in one round (inputs 3 -> 2 -> 3) keeps its wire, and apply and
        revert stay exact.
        """
        if not isinstance(other, SetParams) or other.node_id != self.node_id or other.replace or self.replace:
            return False
        replay = bool(self._removed or other._removed)
        if replay:
            other.revert(graph)
            self.revert(graph)
        self.changes = {**self.changes, **other.changes}
        self.drop = tuple(k for k in self.drop if k not in other.changes) + tuple(other.drop)
        for k in other.drop:
            self.changes.pop(k, None)
        if replay:
            self.apply(graph)
        return True

    def is_noop(self, graph: Graph) -> bool:
        """Whether the graph is as before this edit (e.g. typing that ended where it began)."""
        node = graph.get(self.node_id)
        return node is not None and node.params == self._old and not self._removed


@dataclass
class Move(Edit):
    """Moves one or more nodes: ``positions`` maps id -> (x, y)."""

    positions: dict
    _old: dict = field(default_factory=dict, repr=False)

    @property
    def text(self):
        ids = list(self.positions)
        return f"Move {ids[0]}" if len(ids) == 1 else f"Move {len(ids)} blocks"

    def apply(self, graph):
        for nid in self.positions:
            graph.node(nid)
        self._old = {nid: graph.node(nid).position for nid in self.positions}
        for nid, pos in self.positions.items():
            graph.set_position(nid, pos)

    def revert(self, graph):
        for nid, pos in self._old.items():
            graph.set_position(nid, pos)

    def touched(self):
        return set(self.positions)


@dataclass
class SetMeta(Edit):
    """Renames the project or changes its stored training settings."""

    key: str
    value: object
    _old: object = field(default=None, repr=False)

    @property
    def text(self):
        return "Rename project" if self.key == "name" else "Change training settings"

    def apply(self, graph):
        self._old = copy.deepcopy(getattr(graph, self.key))
        graph.set_meta(self.key, self.value)

    def revert(self, graph):
        graph.set_meta(self.key, self._old)


@dataclass
class Batch(Edit):
    """Several edits as one undo step; all or nothing."""

    edits: list
    label: str = ""

    @property
    def text(self):
        return self.label or (self.edits[0].text if len(self.edits) == 1 else f"{len(self.edits)} changes")

    def apply(self, graph):
        done = []
        try:
            for e in self.edits:
                e.apply(graph)
                done.append(e)
        except Exception:
            for e in reversed(done):
                e.revert(graph)
            raise

    def revert(self, graph):
        for e in reversed(self.edits):
            e.revert(graph)

    def touched(self):
        out = set()
        for e in self.edits:
            out |= e.touched()
        return out

    def side_effects(self):
        return [text for e in self.edits for text in e.side_effects()]


# ---- composite edits used by fixes and the canvas ------------------------------------------------------------------

def replace_graph_edit(graph: Graph, other: Graph, label: str = "Replace the graph") -> Batch | None:
    """One edit that turns ``graph``'s blocks and wires into ``other``'s (e.g. restoring the architecture a run
    trained); None when they are already the same. The name and training settings stay."""
    same_nodes = [(n.id, n.type, n.params, n.position) for n in graph.nodes] == \
        [(n.id, n.type, n.params, n.position) for n in other.nodes]
    if same_nodes and [e.key for e in graph.edges] == [e.key for e in other.edges]:
        return None
    edits: list[Edit] = [Disconnect(e) for e in reversed(graph.edges)]
    edits += [RemoveNode(n.id) for n in reversed(graph.nodes)]
    edits += [AddNode(n.copy()) for n in other.nodes]
    edits += [Connect(e) for e in other.edges]
    return Batch(edits, label)


def insert_between(graph: Graph, edge: Edge, node: Node, in_port: str = "in", out_port: str = "out",
                   label: str = "") -> Batch:
    """An edit that puts ``node`` on ``edge``: source -> node -> target."""
    return Batch([
        Disconnect(edge),
        AddNode(node),
        Connect(Edge(edge.source, node.id, edge.source_port, in_port)),
        Connect(Edge(node.id, edge.target, out_port, edge.target_port)),
    ], label or f"Insert {node.id} before {edge.target}")


def insert_after(graph: Graph, node_id: str, new: Node, port: str = "out", in_port: str = "in",
                 out_port: str = "out", label: str = "") -> Batch:
    """An edit that adds ``new`` after ``node_id``, moving the node's consumers (of ``port``) onto it."""
    consumers = [e for e in graph.out_edges(node_id) if e.source_port == port]
    edits: list[Edit] = [Disconnect(e) for e in consumers]
    edits += [AddNode(new), Connect(Edge(node_id, new.id, port, in_port))]
    edits += [Connect(Edge(new.id, e.target, out_port, e.target_port)) for e in consumers]
    return Batch(edits, label or f"Insert {new.id} after {node_id}")


def bypass(graph: Graph, node_id: str, label: str = "") -> Batch:
    """Remove a single-input node and wire its input straight to its consumers."""
    ins = graph.in_edges(node_id)
    outs = graph.out_edges(node_id)
    edits: list[Edit] = [RemoveNode(node_id)]
    if len(ins) == 1:
        src = ins[0]
        edits += [Connect(Edge(src.source, e.target, src.source_port, e.target_port)) for e in outs]
    return Batch(edits, label or f"Remove {node_id}")


def placed_near(graph: Graph, node_id: str, dx: float = 0.0, dy: float = 0.0):
    """A position next to an existing node (for inserted blocks)."""
    pos = graph.node(node_id).position
    if pos is None:
        return None
    return (float(pos[0]) + dx, float(pos[1]) + dy)
