"""Edits for the canvas's gestures and Edit-menu commands: wiring and re-wiring, delete, copy / paste / duplicate,
add a block, drop onto a wire.

Plain functions from (graph, selection) to an Edit, so they are testable without a scene. The clipboard holds the
nodes and the edges between them in the project file's JSON layout.
"""

from __future__ import annotations

import copy
import json

from hybrid_studio.blocks import CATALOG
from hybrid_studio.graph import AddNode, Batch, Connect, Disconnect, Edge, Graph, Node, RemoveNode, insert_between
from hybrid_studio.project import edge_dict, node_dict

CLIPBOARD_MIME = "application/x-hybrid-studio-graph"
BLOCK_MIME = "application/x-hybrid-studio-block"


def delete_edit(graph: Graph, node_ids, edges=(), checker=None) -> Batch | None:
    """One undo step removing blocks (with their wires) and wires.

    With ``checker``, deleting one block that sat on a wire (one wire in, wires out) also joins its neighbours
    (the block before feeds the blocks after) when their shapes allow it, in the same step, as a node editor's
    "delete and reconnect" does: taking a Dropout out of a chain leaves the chain whole.
    """
    node_ids = [n for n in node_ids if n in graph]
    gone = set(node_ids)
    edits = [Disconnect(e) for e in edges if e.source not in gone and e.target not in gone and e in graph.edges]
    edits += [RemoveNode(n) for n in node_ids]
    if not edits:
        return None
    label = f"Delete {node_ids[0]}" if len(edits) == 1 and node_ids else f"Delete {len(edits)} items"
    if checker is not None and len(node_ids) == 1 and len(edits) == 1:
        joins = reconnect_edges(graph, checker, node_ids[0])
        if joins:
            targets = ", ".join(e.target for e in joins)
            return Batch(edits + [Connect(e) for e in joins],
                         f"Delete {node_ids[0]} (reconnect {joins[0].source} \u2192 {targets})")
    return Batch(edits, label)


def reconnect_edges(graph: Graph, checker, node_id: str) -> list[Edge]:
    """The wires that would join ``node_id``'s neighbours once it is gone: its one input's source to each block it
    fed. Empty unless the block had exactly one wire in, some wires out, and every join is allowed and takes the
    source's tensor."""
    ins, outs = graph.in_edges(node_id), graph.out_edges(node_id)
    if len(ins) != 1 or not outs:
        return []
    src = ins[0]
    joins = []
    for out in outs:
        edge = Edge(src.source, out.target, src.source_port, out.target_port)
        if graph.why_not_connect(edge, replacing=out) is not None or not shape_accepts(graph, checker, edge):
            return []
        joins.append(edge)
    return joins


def shape_accepts(graph: Graph, checker, edge: Edge) -> bool:
    """Whether ``edge``'s target block can take the tensor its source gives, by the target's own shape rule (the
    checker's ``rules.evaluate``). True when it cannot tell yet (the source's shape or another input is unknown);
    False only for a definite error (a 4-D image into an LSTM), not for a warning."""
    from hybrid_studio.graph.diagnostics import ShapeError

    result = checker.results.get(edge.source)
    spec = result.output if result is not None else None
    if spec is None or edge.target not in graph:
        return True
    node = graph.node(edge.target)
    rules = checker.rules
    try:
        ports = rules.input_ports(node.type, node.params) or []
    except Exception:  # noqa: BLE001 - bad params: the checker reports them, wiring should not guess
        return True
    specs = []
    for port in ports:
        if port == edge.target_port:
            specs.append(spec)
            continue
        fed = graph.edge_into(node.id, port)
        other = checker.results.get(fed.source) if fed is not None and fed.source != node.id else None
        if other is None or other.output is None:
            return True  # depends on an input not known yet
        specs.append(other.output)
    try:
        rules.evaluate(node, specs)
    except ShapeError as e:
        return e.severity != "error" or e.code == "param"  # a bad param is the block's problem, not the wire's
    except Exception:  # noqa: BLE001 - a rule's bug is reported by the checker, not here
        return True
    return True


def copy_payload(graph: Graph, node_ids) -> dict:
    """The selected blocks and the wires between them, written as the project file writes them."""
    ids = set(node_ids)
    nodes = [copy.deepcopy(node_dict(n)) for n in graph.nodes if n.id in ids]
    edges = [edge_dict(e) for e in graph.edges if e.source in ids and e.target in ids]
    return {"format": "hybrid-studio-clipboard", "nodes": nodes, "edges": edges}


def dumps_payload(payload: dict) -> str:
    return json.dumps(payload)


def loads_payload(text: str) -> dict | None:
    """The clipboard payload in ``text``; None when it is not one of ours."""
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") not in ("hybrid-studio-clipboard", "hybrid-studio"):
        return None
    if not isinstance(data.get("nodes"), list) or not isinstance(data.get("edges"), list):
        return None
    return data


def _is_point(pos) -> bool:
    return (isinstance(pos, (list, tuple)) and len(pos) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pos))


def paste_edit(graph: Graph, payload: dict, offset=(40.0, 40.0), anchor=None):
    """(edit, new ids) adding a copy of ``payload`` with fresh ids and its internal wires.

    Positions shift by ``offset`` (a multiple of it, when a block would land exactly on another one); with
    ``anchor`` (x, y) the copy's top-left block lands there instead.
    """
    taken: set[str] = set()
    mapping: dict[str, str] = {}
    nodes = []
    positions = [tuple(pos) for pos in (d.get("position") for d in payload["nodes"] if isinstance(d, dict))
                 if _is_point(pos)]
    if anchor is not None and positions:
        x0 = min(p[0] for p in positions)
        y0 = min(p[1] for p in positions)
        offset = (anchor[0] - x0, anchor[1] - y0)
    elif positions:
        # pasting again (or duplicating a duplicate) steps further, so no copy hides exactly under an earlier one
        occupied = {tuple(map(float, n.position)) for n in graph.nodes if n.position is not None}
        base = offset
        for k in range(1, 100):
            offset = (base[0] * k, base[1] * k)
            if not any((float(x) + offset[0], float(y) + offset[1]) in occupied for x, y in positions):
                break
    for i, d in enumerate(payload["nodes"]):
        if not isinstance(d, dict) or not isinstance(d.get("type"), str):
            continue
        new_id = graph.new_id(d["type"], taken)
        taken.add(new_id)
        mapping[d.get("id")] = new_id
        pos = d.get("position")
        if _is_point(pos):
            pos = (float(pos[0]) + offset[0], float(pos[1]) + offset[1])
        elif anchor is not None:
            pos = (anchor[0] + 30.0 * i, anchor[1] + 30.0 * i)
        else:
            pos = None
        nodes.append(Node(new_id, d["type"], copy.deepcopy(d.get("params") or {}), pos))
    edits = [AddNode(n) for n in nodes]
    for d in payload["edges"]:
        s, t = mapping.get(d.get("source")), mapping.get(d.get("target"))
        if s and t:
            edits.append(Connect(Edge(s, t, d.get("source_port", "out"), d.get("target_port", "in"))))
    if not nodes:
        return None, []
    return Batch(edits, f"Paste {len(nodes)} block{'s' if len(nodes) > 1 else ''}"), [n.id for n in nodes]


def new_block(graph: Graph, type_name: str, position) -> Node:
    """A block of ``type_name`` with default params and a fresh id at ``position``."""
    return Node(graph.new_id(type_name), type_name, {}, None if position is None else tuple(position))


def drop_edit(graph: Graph, type_name: str, position, on_edge: Edge | None = None):
    """(edit, new id) adding a block; dropped on a wire (``on_edge``) it is inserted in between when it can be."""
    node = new_block(graph, type_name, position)
    if on_edge is not None and insertable(type_name):
        block = CATALOG.get(type_name)
        p = block.safe_params({})
        ins, outs = block.inputs(p), block.outputs(p)
        return insert_between(graph, on_edge, node, ins[0], outs[0], label=f"Insert {node.id}"), node.id
    return AddNode(node), node.id


def insertable(type_name: str) -> bool:
    """Whether a block of this type can be dropped onto a wire (it has an input and an output)."""
    if type_name not in CATALOG:
        return False
    block = CATALOG.get(type_name)
    p = block.safe_params({})
    return bool(block.inputs(p)) and bool(block.outputs(p))


def wire_refusal(graph: Graph, edge: Edge) -> str | None:
    """Why the user cannot draw ``edge``; None when they can. An input that is already fed is accepted: drawing a
    wire into it replaces the old one (``connect_edit``)."""
    existing = graph.edge_into(edge.target, edge.target_port)
    return graph.why_not_connect(edge, replacing=None if existing == edge else existing)


def connect_edit(graph: Graph, edge: Edge, detached: Edge | None = None):
    """(edit, None) drawing ``edge`` as one undo step, or (None, reason) when it cannot be drawn.

    ``detached`` is the wire the user picked up from its input to re-route: it goes in the same step, and so does
    a wire already feeding ``edge``'s input. (None, None) when nothing would change.
    """
    existing = graph.edge_into(edge.target, edge.target_port)
    if existing == edge:
        return None, (None if detached == edge else f"{edge.source} already feeds {edge.target}")
    reason = wire_refusal(graph, edge)
    if reason:
        return None, reason
    removals = [Disconnect(e) for e in dict.fromkeys((detached, existing)) if e is not None]
    if not removals:
        return Connect(edge), None
    return Batch(removals + [Connect(edge)], f"Reconnect {edge.source} to {edge.target}"), None
