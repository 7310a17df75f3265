"""Diagnostics: what is wrong with a block, in the user's terms, and the fixes that are edits.

Shape rules stay pure: they raise ``ShapeError`` with *fix specs* (plain data such as "insert ToSequence before in").
The checker turns each spec into a ``Fix`` bound to the node, whose ``edit(graph)`` builds the Edit the app applies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable

from .edits import Batch, Connect, Disconnect, Edit, SetParams, bypass, insert_after, insert_between
from .model import Edge, Graph, Node

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class FixSpec:
    """A fix described as data, independent of any node id.

    kinds: ``set_param`` (name, value) on this block; ``insert_before`` (port, type, params): a new block on the wire
    into ``port``; ``set_upstream_param`` (port, name, value) on the block feeding ``port``; ``remove``: bypass this
    block; ``add_after`` (type, params): a new block after this one; ``connect_from`` (source, port).
    """

    kind: str
    args: tuple = ()

    @staticmethod
    def set_param(name, value):
        return FixSpec("set_param", (name, _freeze(value)))

    @staticmethod
    def insert_before(port, type_name, params=None):
        return FixSpec("insert_before", (port, type_name, _freeze(params or {})))

    @staticmethod
    def set_upstream_param(port, name, value):
        return FixSpec("set_upstream_param", (port, name, _freeze(value)))

    @staticmethod
    def remove():
        return FixSpec("remove")

    @staticmethod
    def add_after(type_name, params=None):
        return FixSpec("add_after", (type_name, _freeze(params or {})))

    @staticmethod
    def drop_param(name):
        """Remove a param from the block (e.g. one its type does not have)."""
        return FixSpec("drop_param", (name,))

    @staticmethod
    def both(*specs: "FixSpec"):
        """Several fixes applied together as one edit (e.g. insert a Reshape and set a kernel size)."""
        return FixSpec("all", tuple(specs))

    @staticmethod
    def connect_from(source, port):
        return FixSpec("connect_from", (source, port))


def _freeze(v):
    if isinstance(v, dict):
        return tuple(sorted((k, _freeze(x)) for k, x in v.items()))
    if isinstance(v, list):
        return ("__list__",) + tuple(_freeze(x) for x in v)
    return v


def _thaw(v):
    if isinstance(v, tuple) and v and v[0] == "__list__":
        return [_thaw(x) for x in v[1:]]
    if isinstance(v, tuple):
        return {k: _thaw(x) for k, x in v}
    return v


def _show(v) -> str:
    return json.dumps(v)


def _params_text(params: dict) -> str:
    return ", ".join(f"{k}={v if isinstance(v, (int, float)) else _show(v)}" for k, v in params.items())


@dataclass
class Fix:
    """A one-click fix: a label for people and a function that builds the Edit against the current graph."""

    label: str
    edit: Callable[[Graph], Edit]

    def __str__(self):
        return self.label


@dataclass
class Diagnostic:
    node: str | None
    severity: str
    message: str
    fixes: list = field(default_factory=list)
    code: str = "shape"

    def to_json(self) -> dict:
        return {"node": self.node, "severity": self.severity, "message": self.message,
                "fixes": [f.label for f in self.fixes]}

    def __str__(self):
        where = f"{self.node}: " if self.node else ""
        return f"{self.severity}: {where}{self.message}"


class ShapeError(Exception):
    """Raised by a shape rule: what the block expected and what arrived, plus fix specs."""

    def __init__(self, message: str, fixes=(), code: str = "shape", severity: str = ERROR):
        super().__init__(message)
        self.message = message
        self.fixes = tuple(fixes)
        self.code = code
        self.severity = severity


def _between(graph: Graph, a: str, b: str):
    pa, pb = graph.node(a).position, graph.node(b).position
    if pa is None or pb is None:
        return None
    return ((float(pa[0]) + float(pb[0])) / 2, (float(pa[1]) + float(pb[1])) / 2)


def bind_fix(graph: Graph, node_id: str, spec: FixSpec) -> Fix | None:
    """Turn a fix spec into a Fix for ``node_id``; None when it does not apply to this graph."""
    kind, args = spec.kind, spec.args
    if kind == "set_param":
        name, value = args[0], _thaw(args[1])
        return Fix(f"set {node_id}.{name} to {_show(value)}", lambda g: SetParams(node_id, {name: value}))
    if kind == "insert_before":
        port, type_name, params = args[0], args[1], _thaw(args[2])
        if graph.edge_into(node_id, port) is None:
            return None
        where = f"{node_id}.{port}" if port != "in" else node_id
        # a block of that type already on the canvas but wired to nothing is what the user meant to put there
        spare = next((n.id for n in graph.nodes if n.type == type_name and not graph.in_edges(n.id)
                      and not graph.out_edges(n.id)), None)
        if spare is not None:
            label = f"wire {spare} in before {where}" + (f" ({_params_text(params)})" if params else "")

            def reuse(g: Graph):
                edge = g.edge_into(node_id, port)
                edits = [Disconnect(edge), Connect(Edge(edge.source, spare, edge.source_port, "in")),
                         Connect(Edge(spare, node_id, "out", port))]
                if params:
                    edits.insert(0, SetParams(spare, dict(params)))
                return Batch(edits, label[0].upper() + label[1:])
            return Fix(label, reuse)
        label = f"insert {type_name}({_params_text(params)}) before {where}"

        def build(g: Graph):
            edge = g.edge_into(node_id, port)
            new = Node(g.new_id(type_name), type_name, dict(params), _between(g, edge.source, node_id))
            return insert_between(g, edge, new, label=label[0].upper() + label[1:])
        return Fix(label, build)
    if kind == "set_upstream_param":
        port, name, value = args[0], args[1], _thaw(args[2])
        edge = graph.edge_into(node_id, port)
        if edge is None:
            return None
        src = edge.source
        has_param = getattr(graph.catalog, "has_param", None)
        if has_param is not None and not has_param(graph.node(src).type, name):
            return None  # e.g. return_sequences offered for a block that is not recurrent
        return Fix(f"set {src}.{name} to {_show(value)}", lambda g: SetParams(src, {name: value}))
    if kind == "remove":
        return Fix(f"remove {node_id}", lambda g: bypass(g, node_id))
    if kind == "add_after":
        type_name, params = args[0], _thaw(args[1])
        label = f"add {type_name}({_params_text(params)}) after {node_id}"

        def build(g: Graph):
            pos = g.node(node_id).position
            pos = None if pos is None else (float(pos[0]) + 220.0, float(pos[1]))
            new = Node(g.new_id(type_name), type_name, dict(params), pos)
            return insert_after(g, node_id, new, label=label[0].upper() + label[1:])
        return Fix(label, build)
    if kind == "connect_from":
        source, port = args
        return Fix(f"connect {source} to {node_id}" + (f".{port}" if port != "in" else ""),
                   lambda g: Batch([Connect(Edge(source, node_id, "out", port))], f"Connect {source} to {node_id}"))
    if kind == "drop_param":
        (name,) = args
        return Fix(f"remove {node_id}.{name}", lambda g: SetParams(node_id, {}, drop=(name,)))
    if kind == "all":
        parts = [bind_fix(graph, node_id, spec) for spec in args]
        if not parts or any(f is None for f in parts):
            return None
        label = " and ".join(f.label for f in parts)
        return Fix(label, lambda g: Batch([f.edit(g) for f in parts], label[0].upper() + label[1:]))
    raise ValueError(f"unknown fix kind {kind}")
