"""The graph of blocks: nodes, edges, ports, and the events that every change emits.

The Graph is the single source of truth that the canvas draws, the shape checker checks and the compiler compiles.
Its mutating methods are low level; user-facing changes go through the reversible edits in ``edits.py``.
The Graph knows nothing of block types: a *catalog* (``hybrid_studio.blocks.CATALOG``) tells it each node's ports.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import heapq
import inspect
import keyword
import re
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Protocol

if TYPE_CHECKING:
    import networkx

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # used with fullmatch: "$" would let a final newline through
#: Names that would clash with the generated code: the module's own imports and class, and every attribute of
#: torch.nn.Module and torch.fx.GraphModule (``self.<id>`` must be the block's layer). A test compares this list with
#: torch's so a new torch attribute is caught.
RESERVED_IDS = frozenset({"self", "torch", "nn", "F", "Model", "super"}) | frozenset({
    'T_destination', '_apply', '_backward_hooks', '_backward_pre_hooks', '_boxed_call', '_buffers',
    '_call_impl', '_compiled_call_impl', '_deepcopy_init', '_forward_hooks', '_forward_hooks_always_called',
    '_forward_hooks_with_kwargs', '_forward_pre_hooks', '_forward_pre_hooks_with_kwargs', '_get_backward_hooks',
    '_get_backward_pre_hooks', '_get_name', '_is_full_backward_hook', '_load_from_state_dict',
    '_load_state_dict_post_hooks', '_load_state_dict_pre_hooks', '_maybe_warn_non_full_backward_hook',
    '_modules', '_named_members', '_non_persistent_buffers_set', '_parameters', '_recompile_submodules',
    '_register_create_node_hook', '_register_deepcopy_hook', '_register_erase_node_hook',
    '_register_load_state_dict_pre_hook', '_register_replace_node_hook', '_register_state_dict_hook',
    '_replicate_for_data_parallel', '_save_to_state_dict', '_set_replace_hook', '_slow_forward',
    '_state_dict_hooks', '_state_dict_pre_hooks', '_unregister_create_node_hook', '_unregister_deepcopy_hook',
    '_unregister_erase_node_hook', '_unregister_replace_node_hook', '_version', '_wrapped_call_impl',
    'add_module', 'add_submodule', 'apply', 'bfloat16', 'buffers', 'call_super_init', 'children', 'code',
    'compile', 'cpu', 'cuda', 'delete_all_unused_submodules', 'delete_submodule', 'double', 'dump_patches',
    'eval', 'extra_repr', 'float', 'forward', 'get_buffer', 'get_extra_state', 'get_parameter', 'get_submodule',
    'graph', 'half', 'ipu', 'load_state_dict', 'meta', 'modules', 'mtia', 'named_buffers', 'named_children',
    'named_modules', 'named_parameters', 'parameters', 'print_readable', 'recompile', 'register_backward_hook',
    'register_buffer', 'register_forward_hook', 'register_forward_pre_hook', 'register_full_backward_hook',
    'register_full_backward_pre_hook', 'register_load_state_dict_post_hook',
    'register_load_state_dict_pre_hook', 'register_module', 'register_parameter',
    'register_state_dict_post_hook', 'register_state_dict_pre_hook', 'requires_grad_', 'set_extra_state',
    'set_submodule', 'share_memory', 'state_dict', 'to', 'to_empty', 'to_folder', 'train', 'training', 'type',
    'xpu', 'zero_grad'
})


#: batches above this many blocks run with the cyclic garbage collector paused (``gc_paused``)
LARGE_BATCH = 2000


@contextlib.contextmanager
def gc_paused(size: int = LARGE_BATCH):
    """Run a batch that makes many small objects (loading or checking thousands of blocks) without Python's cyclic
    collector: its full passes over every live object, again and again while the batch allocates, made loading and
    checking 100k blocks superlinear (2x the time). Nothing is lost: the collector runs again afterwards."""
    if size < LARGE_BATCH or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class _Strong:
    """A listener held strongly (a function or closure: nothing else may keep it), called like a weak reference."""

    __slots__ = ("fn",)

    def __init__(self, fn):
        self.fn = fn

    def __call__(self):
        return self.fn


class GraphError(ValueError):
    """A change the graph refuses, with the reason in words."""


class PortCatalog(Protocol):
    """What the graph needs to know of block types (implemented by ``hybrid_studio.blocks``)."""

    def input_ports(self, type_name: str, params: dict) -> list[str] | None: ...
    def output_ports(self, type_name: str, params: dict) -> list[str] | None: ...
    def id_prefix(self, type_name: str) -> str: ...


@dataclass
class Node:
    id: str
    type: str
    params: dict = field(default_factory=dict)
    position: tuple | None = None

    def copy(self) -> "Node":
        return Node(self.id, self.type, copy.deepcopy(self.params), self.position)


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    source_port: str = "out"
    target_port: str = "in"

    @property
    def key(self) -> tuple:
        return (self.source, self.source_port, self.target, self.target_port)

    def __str__(self):
        return f"{self.source}.{self.source_port} -> {self.target}.{self.target_port}"


def id_problem(node_id) -> str | None:
    """Why ``node_id`` cannot name a block (it becomes an attribute and a variable of the exported model), or
    None when it can."""
    if not isinstance(node_id, str) or not IDENTIFIER.fullmatch(node_id):
        return "use letters, digits and _, not starting with a digit (a Python identifier such as conv1)"
    if keyword.iskeyword(node_id):
        return "it is a Python keyword"
    if node_id.startswith("__"):
        return "names starting with __ are Python's own"
    if node_id in RESERVED_IDS:
        return "the exported model already uses that name (an nn.Module attribute, or one of its imports)"
    return None


def valid_id(node_id) -> bool:
    return id_problem(node_id) is None


class Graph:
    """Nodes (in file order), edges (in file order) and adjacency maps of their topology.

    The hot paths (ordering, reachability, the edge into a port) use plain dicts kept in step with every change:
    importing networkx costs ~180 ms, which would double the app's start-up. ``graph.nx`` gives a networkx
    MultiDiGraph view, built on demand, for analyses such as the layout.

    Listeners are called as ``listener(event, **payload)`` with past-tense events:
    ``node_added(node, index)``, ``node_removed(node)``, ``edge_added(edge)``, ``edge_removed(edge)``,
    ``params_changed(node_id, old, new)``, ``node_moved(node_id, old, new)``, ``meta_changed(key)``,
    ``reset()``. Listeners must not change the graph.
    """

    def __init__(self, catalog: PortCatalog | None = None, name: str = "untitled"):
        self.catalog = catalog
        self.name = name
        self.training: dict = {}
        self._nodes: dict[str, Node] = {}
        self._edges: list[Edge] = []
        self._succ: dict[str, dict[str, int]] = {}   # id -> successor id -> number of edges
        self._pred: dict[str, dict[str, int]] = {}
        self._into: dict[tuple, Edge] = {}          # (target, port) -> edge
        # id -> its wires in file order (so in_edges/out_edges cost what a node has, not what the graph has)
        self._in_e: dict[str, list[Edge]] = {}
        self._out_e: dict[str, list[Edge]] = {}
        self._order_cache: list[str] | None = None
        self._nx_cache = None
        self._listeners: list[Callable] = []
        #: Keys written back verbatim (unknown top-level keys of a project file).
        self.extra: dict = {}

    # ---- events ------------------------------------------------------------------------------------------------
    def subscribe(self, listener: Callable) -> Callable:
        """Call ``listener(event, **payload)`` after each change. A bound method is held weakly (its object's owner
        keeps it alive: a checker, the canvas, the inspector), so a graph and its checker form no reference cycle
        and a closed project is freed at once rather than by a full garbage collection."""
        self._listeners.append(weakref.WeakMethod(listener) if inspect.ismethod(listener) else _Strong(listener))
        return listener

    def unsubscribe(self, listener: Callable) -> None:
        self._listeners = [ref for ref in self._listeners if ref() is not None and ref() != listener]

    def _emit(self, event: str, **payload) -> None:
        for ref in list(self._listeners):
            listener = ref()
            if listener is not None:
                listener(event, **payload)

    # ---- queries -----------------------------------------------------------------------------------------------
    @property
    def nodes(self) -> list[Node]:
        return list(self._nodes.values())

    def node_ids(self) -> list[str]:
        """The blocks' ids in file order."""
        return list(self._nodes)

    @property
    def edges(self) -> list[Edge]:
        return list(self._edges)

    @property
    def nx(self) -> "networkx.MultiDiGraph":
        """A networkx view of the topology (read only; edge keys are ``Edge.key``), rebuilt after changes."""
        if self._nx_cache is None:
            import networkx as nx
            g = nx.MultiDiGraph()
            g.add_nodes_from(self._nodes)
            g.add_edges_from((e.source, e.target, e.key) for e in self._edges)
            self._nx_cache = g
        return self._nx_cache

    def successors(self, node_id: str) -> list[str]:
        return list(self._succ.get(node_id, ()))

    def predecessors(self, node_id: str) -> list[str]:
        return list(self._pred.get(node_id, ()))

    def __contains__(self, node_id) -> bool:
        return node_id in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def node(self, node_id: str) -> Node:
        try:
            return self._nodes[node_id]
        except KeyError:
            raise GraphError(f"there is no block '{node_id}'") from None

    def get(self, node_id: str) -> Node | None:
        return self._nodes.get(node_id)

    def index_of(self, node_id: str) -> int:
        return list(self._nodes).index(node_id)

    def edge_index(self, edge: Edge) -> int:
        return self._edges.index(edge)

    def in_edges(self, node_id: str) -> list[Edge]:
        return list(self._in_e.get(node_id, ()))

    def out_edges(self, node_id: str) -> list[Edge]:
        return list(self._out_e.get(node_id, ()))

    def has_out_edges(self, node_id: str) -> bool:
        return bool(self._succ.get(node_id))

    def edge_into(self, node_id: str, port: str) -> Edge | None:
        return self._into.get((node_id, port))

    def input_ports(self, node_id: str) -> list[str] | None:
        """The node's input port names; None when its type is unknown (any port is then accepted)."""
        node = self.node(node_id)
        return self.catalog.input_ports(node.type, node.params) if self.catalog else None

    def output_ports(self, node_id: str) -> list[str] | None:
        node = self.node(node_id)
        return self.catalog.output_ports(node.type, node.params) if self.catalog else None

    def topological_order(self) -> list[str]:
        """Node ids in an order where each node follows its inputs; ties keep file order."""
        if self._order_cache is None:
            # Kahn's algorithm, taking the ready node that comes first in the file
            index = {nid: i for i, nid in enumerate(self._nodes)}
            missing = {nid: sum(self._pred[nid].values()) for nid in self._nodes}
            ready = [(index[nid], nid) for nid, n in missing.items() if n == 0]
            heapq.heapify(ready)
            order = []
            while ready:
                _, nid = heapq.heappop(ready)
                order.append(nid)
                for succ, count in self._succ[nid].items():
                    missing[succ] -= count
                    if missing[succ] == 0:
                        heapq.heappush(ready, (index[succ], succ))
            if len(order) != len(self._nodes):
                raise GraphError("the graph has a cycle")
            self._order_cache = order
        return list(self._order_cache)

    def descendants(self, node_id: str) -> set[str]:
        return self._reach(node_id, self._succ)

    def ancestors(self, node_id: str) -> set[str]:
        return self._reach(node_id, self._pred)

    def _reach(self, node_id: str, adjacency: dict) -> set[str]:
        seen: set[str] = set()
        stack = list(adjacency.get(node_id, ()))
        while stack:
            nid = stack.pop()
            if nid not in seen:
                seen.add(nid)
                stack.extend(adjacency[nid])
        return seen

    def nodes_of_type(self, *types: str) -> list[Node]:
        return [n for n in self._nodes.values() if n.type in types]

    def new_id(self, type_name: str, taken: set | None = None) -> str:
        """A fresh id like ``conv1``, ``conv2`` for a block of this type."""
        prefix = self.catalog.id_prefix(type_name) if self.catalog else re.sub(r"\W", "", type_name.lower()) or "node"
        taken = set(self._nodes) | (taken or set())
        i = 1
        while f"{prefix}{i}" in taken:
            i += 1
        return f"{prefix}{i}"

    # ---- checks ------------------------------------------------------------------------------------------------
    def why_not_connect(self, edge: Edge, replacing: Edge | None = None) -> str | None:
        """The reason this edge cannot be added, or None when it can.

        ``replacing`` is a wire into the same input that goes away in the same step (re-wiring an input): the input
        then counts as free.
        """
        if edge.source not in self._nodes:
            return f"there is no block '{edge.source}'"
        if edge.target not in self._nodes:
            return f"there is no block '{edge.target}'"
        if edge.source == edge.target:
            return f"a block cannot feed itself ('{edge.source}')"
        problem = self.port_problem(edge)
        if problem:
            return problem
        if edge.source in self._reach(edge.target, self._succ):
            return f"connecting '{edge.source}' to '{edge.target}' would make a cycle"
        existing = self.edge_into(edge.target, edge.target_port)
        if existing is not None and existing != replacing:
            return (f"input '{edge.target_port}' of '{edge.target}' is already fed by '{existing.source}'; "
                    f"disconnect it first")
        return None

    def port_problem(self, edge: Edge) -> str | None:
        """Why ``edge``'s ports do not exist on its blocks (as their params are now), or None when they do."""
        outs = self.output_ports(edge.source)
        if outs is not None and edge.source_port not in outs:
            have = ", ".join(outs) or "none"
            return f"'{edge.source}' has no output port '{edge.source_port}' (its outputs: {have})"
        ins = self.input_ports(edge.target)
        if ins is not None and edge.target_port not in ins:
            have = ", ".join(ins) or "none"
            return f"'{edge.target}' has no input port '{edge.target_port}' (its inputs: {have})"
        return None

    # ---- low-level mutations (used by edits; each emits one event) -----------------------------------------------
    def insert_node(self, node: Node, index: int | None = None) -> None:
        if not valid_id(node.id):
            raise GraphError(f"'{node.id}' is not a valid block id (a Python identifier, not a reserved word)")
        if node.id in self._nodes:
            raise GraphError(f"a block named '{node.id}' already exists")
        if index is None or index >= len(self._nodes):
            index = len(self._nodes)
            self._nodes[node.id] = node  # appending (loading, adding a block) keeps the dict: O(1)
        else:  # putting a removed block back in its place (undo) rebuilds the order once
            items = list(self._nodes.items())
            items.insert(index, (node.id, node))
            self._nodes = dict(items)
        self._succ[node.id], self._pred[node.id] = {}, {}
        self._in_e[node.id], self._out_e[node.id] = [], []
        self._structure_changed()
        self._emit("node_added", node=node, index=index)

    def delete_node(self, node_id: str) -> Node:
        node = self.node(node_id)
        if self._succ[node_id] or self._pred[node_id]:
            raise GraphError(f"'{node_id}' still has connections")
        del self._nodes[node_id]
        del self._succ[node_id], self._pred[node_id]
        del self._in_e[node_id], self._out_e[node_id]
        self._structure_changed()
        self._emit("node_removed", node=node)
        return node

    def rename_node(self, old: str, new: str) -> None:
        """Give block ``old`` the id ``new``: same place in the file, same params, every wire kept where it was in
        the edge list. Emits one ``node_renamed`` event (old, new, node, edges: [(old edge, new edge)])."""
        node = self.node(old)
        problem = id_problem(new)
        if problem:
            raise GraphError(f"'{new}' is not a valid block id: {problem}")
        if new in self._nodes:
            raise GraphError(f"a block named '{new}' already exists")
        renamed = node.copy()
        renamed.id = new
        moved = [(i, e) for i, e in enumerate(self._edges) if old in (e.source, e.target)]
        for _, e in moved:
            self._link(e, -1)
        self._nodes = {(new if k == old else k): (renamed if k == old else v) for k, v in self._nodes.items()}
        del self._succ[old], self._pred[old]
        del self._in_e[old], self._out_e[old]
        self._succ[new], self._pred[new] = {}, {}
        self._in_e[new], self._out_e[new] = [], []
        pairs = []
        for i, e in moved:
            e2 = Edge(new if e.source == old else e.source, new if e.target == old else e.target,
                      e.source_port, e.target_port)
            self._edges[i] = e2
            self._link(e2, +1, appended=False)  # in place: the neighbours' wire lists keep file order
            pairs.append((e, e2))
        self._structure_changed()
        self._emit("node_renamed", old=old, new=new, node=renamed, edges=pairs)

    def insert_edge(self, edge: Edge, index: int | None = None, check: bool = True) -> None:
        if check:
            reason = self.why_not_connect(edge)
            if reason:
                raise GraphError(reason)
        appended = index is None or index >= len(self._edges)
        index = len(self._edges) if appended else index
        self._edges.insert(index, edge)
        self._link(edge, +1, appended)
        self._emit("edge_added", edge=edge)

    def delete_edge(self, edge: Edge) -> int:
        try:
            index = self._edges.index(edge)
        except ValueError:
            raise GraphError(f"there is no connection {edge}") from None
        del self._edges[index]
        self._link(edge, -1)
        self._emit("edge_removed", edge=edge)
        return index

    def _link(self, edge: Edge, step: int, appended: bool = True) -> None:
        """Keep the adjacency maps in step with one added (+1) or removed (-1) edge; ``appended``: the added
        edge is the last of the file (else the two nodes' wire lists are rebuilt in file order)."""
        for table, a, b in ((self._succ, edge.source, edge.target), (self._pred, edge.target, edge.source)):
            n = table[a].get(b, 0) + step
            if n:
                table[a][b] = n
            else:
                table[a].pop(b, None)
        if step > 0:
            self._into[(edge.target, edge.target_port)] = edge
            if appended:
                self._out_e[edge.source].append(edge)
                self._in_e[edge.target].append(edge)
            else:
                self._out_e[edge.source] = [e for e in self._edges if e.source == edge.source]
                self._in_e[edge.target] = [e for e in self._edges if e.target == edge.target]
        else:
            self._into.pop((edge.target, edge.target_port), None)
            self._out_e[edge.source].remove(edge)
            self._in_e[edge.target].remove(edge)
        self._structure_changed()

    def _structure_changed(self) -> None:
        self._order_cache = None
        self._nx_cache = None

    def replace_params(self, node_id: str, params: dict) -> None:
        node = self.node(node_id)
        old = node.params
        node.params = copy.deepcopy(params)
        self._emit("params_changed", node_id=node_id, old=old, new=node.params)

    def set_position(self, node_id: str, position) -> None:
        node = self.node(node_id)
        old = node.position
        node.position = None if position is None else tuple(position)
        self._emit("node_moved", node_id=node_id, old=old, new=node.position)

    def set_meta(self, key: str, value) -> None:
        """Change ``name`` or ``training``."""
        if key not in ("name", "training"):
            raise GraphError(f"unknown graph attribute '{key}'")
        setattr(self, key, copy.deepcopy(value))
        self._emit("meta_changed", key=key)

    def clear(self) -> None:
        self._nodes.clear()
        self._edges.clear()
        self._succ.clear()
        self._pred.clear()
        self._into.clear()
        self._in_e.clear()
        self._out_e.clear()
        self._structure_changed()
        self._emit("reset")

    def copy(self) -> "Graph":
        """A detached deep copy (no listeners), e.g. the snapshot that a training run trains."""
        g = Graph(self.catalog, self.name)
        g.training = copy.deepcopy(self.training)
        g.extra = copy.deepcopy(self.extra)
        for n in self._nodes.values():
            g.insert_node(n.copy())
        for e in self._edges:
            g.insert_edge(e, check=False)
        return g
