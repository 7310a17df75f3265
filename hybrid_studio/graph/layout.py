"""Auto-layout: a layered (left-to-right) layout of the graph in readable rows, applied as one undoable ``Move``.

1. Layers: the longest path from an input (over networkx's topological order of ``graph.nx``, ties in file order),
   so every wire points right; then every block that could sit later without passing its consumers moves up to
   just before them, so a short branch (a second input and its few blocks) ends beside the block it joins instead
   of starting at the far left with one long wire.
2. Tracks: the longest chain of blocks is track 0 (one straight line); each further chain, longest first, takes the
   first track that is free over its layers, so parallel branches stack vertically under the main line.
3. Rows: a long graph is wrapped into rows that read left to right like text (every row starts at the left; only
   the wire that continues on the next row points back). The row width is chosen for the view: the fewest rows
   whose layout, fitted to the view, shows blocks at a readable zoom (``READABLE_ZOOM``); if none does, the row
   count with the largest zoom at fit.
   A row prefers to end where the fewest wires cross to the next one, and a row count whose breaks cut a branch
   in two counts as a smaller zoom (``CUT_BRANCH_COST`` per extra wire sent back), so branches stay in one row.

Block sizes come from ``size_of`` (the canvas passes its items' sizes); the estimate without it counts a block's
wired ports the way the canvas sizes blocks. Nothing overlaps: tracks are as tall as their tallest block.
"""

from __future__ import annotations

import math
from typing import Callable

from hybrid_studio.graph import Batch, Graph, Move

COLUMN_GAP = 330.0   # block width (184) plus room for a shape label on the wire
ROW_GAP = 110.0      # track pitch for blocks of the usual height (74)
TRACK_GAP = 36.0     # vertical room between two blocks stacked in a row
BAND_GAP = 70.0      # between two rows of a wrapped layout (the wrap wire runs through it)
WIRE_CLEARANCE = 16.0  # a wire running through that gap keeps this far from the blocks above it
NODE_W = 184.0       # the canvas's block width (``ui.canvas.node_item.NODE_W``)
#: the canvas area of the window at its default size, in pixels: what a layout is fitted to when the caller does
#: not say (the importer, a project opened without positions)
DEFAULT_VIEW = (900.0, 640.0)
FIT_MARGIN = 60.0    # the view's fit() leaves this much around the blocks
#: a zoom at which a block's detailed face reads well: the fewest rows that reach it win (each row break is a wire
#: going back); when no row count reaches it, the largest zoom wins
READABLE_ZOOM = 0.75
#: the zoom factor a row break is worth for each wire beyond the first that it sends back (a cut branch)
CUT_BRANCH_COST = 0.8
#: a row may end this many layers early (as a share of its width) to end where fewer wires cross to the next row
BREAK_SLACK = 0.34
#: the most layers a row may hold unless the caller says (``max_columns``): no cap, the view decides
MAX_COLUMNS = None


def _block_height(ports: int) -> float:
    """The canvas's block height for a block with ``ports`` ports on its fuller side (``NodeItem``'s rule)."""
    return 26.0 + 12.0 + max(ports, 2) * 22.0 - 8.0


def _port_y(height: float) -> float:
    """Where a block's (middle) port sits below its top edge: the middle of its body, under the 26 px header."""
    return (26.0 + height) / 2


def _estimated_size(graph: Graph) -> Callable[[str], tuple[float, float]]:
    ins: dict[str, set] = {}
    outs: dict[str, set] = {}
    for e in graph.edges:
        outs.setdefault(e.source, set()).add(e.source_port)
        ins.setdefault(e.target, set()).add(e.target_port)
    return lambda nid: (NODE_W, _block_height(max(len(ins.get(nid, ())), len(outs.get(nid, ())))))


def _layers(graph: Graph, order: list[str], preds: dict, succs: dict) -> dict[str, int]:
    layer: dict[str, int] = {}
    for nid in order:
        layer[nid] = max((layer[p] + 1 for p in preds[nid]), default=0)
    # as late as its consumers allow (sinks stay beside their producer); reverse topological order settles the
    # consumers first, so a whole side chain moves up together
    for nid in reversed(order):
        if succs[nid]:
            latest = min(layer[s] for s in succs[nid]) - 1
            if latest > layer[nid]:
                layer[nid] = latest
    return layer


def _tracks(order: list[str], index: dict, layer: dict, preds: dict, succs: dict) -> dict[str, int]:
    """Split the graph into chains (longest first) and give each the first track free over its layers."""
    track: dict[str, int] = {}
    busy: dict[int, set[int]] = {}   # track -> layers taken
    left = set(order)
    while left:
        # longest chain through blocks not placed yet (by blocks; ties: the successor earliest in the file)
        length: dict[str, int] = {}
        nxt: dict[str, str | None] = {}
        for nid in reversed(order):
            if nid not in left:
                continue
            after = [s for s in succs[nid] if s in left]
            follow = max(after, key=lambda s: (length[s], -index[s]), default=None)
            nxt[nid] = follow
            length[nid] = 1 + (length[follow] if follow is not None else 0)
        n = max(length, key=lambda n: (length[n], -index[n]))
        chain = []
        while n is not None:
            chain.append(n)
            n = nxt[n]
        span = set(range(min(layer[n] for n in chain), max(layer[n] for n in chain) + 1))
        # beside the chain it joins or leaves: search from the track of a placed neighbour, then outwards below
        near = [track[p] for n in chain for p in list(preds[n]) + list(succs[n]) if p in track]
        t = min(near) if near else 0
        while busy.get(t, set()) & span:
            t += 1
        busy.setdefault(t, set()).update(span)
        for n in chain:
            track[n] = t
            left.discard(n)
    return track


def _rows(n_layers: int, n_rows: int, crossing: list[int]) -> list[tuple[int, int]]:
    """Cut layers 0..n_layers-1 into about ``n_rows`` rows of even width (no lone block on a last row), each
    ending where the fewest wires cross to the next row (the latest such place on a tie)."""
    rows, start = [], 0
    while start < n_layers:
        left = max(1, n_rows - len(rows))
        width = math.ceil((n_layers - start) / left)
        end = min(start + width, n_layers) - 1
        if end < n_layers - 1:
            earliest = max(start, end - int(width * BREAK_SLACK))
            end = min(range(earliest, end + 1), key=lambda c: (crossing[c], -c))
        rows.append((start, end))
        start = end + 1
    return rows


def layered_positions(graph: Graph, origin=(0.0, 0.0), max_columns: int | None = MAX_COLUMNS,
                      view: tuple[float, float] | None = None,
                      size_of: Callable[[str], tuple[float, float]] | None = None,
                      ) -> dict[str, tuple[float, float]]:
    """id -> (x, y) (top-left of each block) of a layered layout of the whole graph, wrapped into rows that fit
    ``view`` (the canvas size in pixels; ``DEFAULT_VIEW`` when not given). ``max_columns`` caps a row's layers;
    ``size_of(id) -> (w, h)`` gives the blocks' sizes (estimated from their wired ports when not given)."""
    import networkx as nx  # imported here: the app starts without it and loads it on the first layout

    if not len(graph):
        return {}
    nxg = graph.nx
    index = {nid: i for i, nid in enumerate(n.id for n in graph.nodes)}
    order = list(nx.lexicographical_topological_sort(nxg, key=index.__getitem__))
    preds = {n: sorted(set(nxg.predecessors(n)), key=index.__getitem__) for n in order}
    succs = {n: sorted(set(nxg.successors(n)), key=index.__getitem__) for n in order}
    layer = _layers(graph, order, preds, succs)
    track = _tracks(order, index, layer, preds, succs)
    size_of = size_of or _estimated_size(graph)
    heights = {n: float(size_of(n)[1]) for n in order}

    n_layers = max(layer.values()) + 1
    # wires crossing each boundary between layer c and c + 1 (a row ending at c cuts these)
    crossing = [0] * n_layers
    for e in graph.edges:
        for c in range(layer[e.source], layer[e.target]):
            crossing[c] += 1

    by_layer: dict[int, list[str]] = {}
    for n in order:
        by_layer.setdefault(layer[n], []).append(n)

    def arrange(rows):
        """(positions, width, height) for these rows: each row's tracks compressed to those it uses."""
        pos, width = {}, 0.0
        row_of: dict[str, int] = {}
        y = bottom = 0.0
        for i, (start, end) in enumerate(rows):
            pitch: dict[int, float] = {}
            for c in range(start, end + 1):
                for n in by_layer.get(c, ()):
                    pitch[track[n]] = max(pitch.get(track[n], ROW_GAP), heights[n] + TRACK_GAP)
            rel, top = {}, 0.0
            for t in sorted(pitch):
                rel[t] = top
                top += pitch[t]
            if i:
                y = bottom + BAND_GAP
                # the canvas runs a wire that wraps to the next row through the middle height of its two ends:
                # start this row low enough that the middle falls in the gap between the rows, not on a block
                for c in range(start, end + 1):
                    for n in by_layer.get(c, ()):
                        for p in preds[n]:
                            if row_of.get(p) == i - 1:
                                a = pos[p][1] + _port_y(heights[p])
                                b = rel[track[n]] + _port_y(heights[n])
                                y = max(y, 2 * (bottom + WIRE_CLEARANCE) - a - b)
            for c in range(start, end + 1):
                for n in by_layer.get(c, ()):
                    pos[n] = ((c - start) * COLUMN_GAP, y + rel[track[n]])
                    row_of[n] = i
            bottom = y + top - TRACK_GAP
            width = max(width, (end - start) * COLUMN_GAP + NODE_W)
        return pos, width, bottom

    vw, vh = view or DEFAULT_VIEW
    cap = max(1, int(max_columns)) if max_columns else n_layers
    best = None
    # every distinct row width ceil(n / rows), each with the fewest rows giving it: O(sqrt(n)) candidates, the
    # widest (fewest rows) first
    widths = sorted({min(cap, math.ceil(n_layers / r)) for r in range(1, n_layers + 1)}, reverse=True)
    for width in widths:
        rows = _rows(n_layers, math.ceil(n_layers / width), crossing)
        pos, w, h = arrange(rows)
        zoom = min(1.0, vw / (w + 2 * FIT_MARGIN), vh / (h + 2 * FIT_MARGIN))
        # a row break where more than one wire crosses (a branch cut in two) sends extra wires back: it counts as
        # a loss of zoom, so a slightly smaller layout that breaks only the main line wins
        extra = sum(crossing[end] for _, end in rows[:-1]) - (len(rows) - 1)
        score = zoom * CUT_BRANCH_COST ** extra
        if best is None or score > best[0] * 1.02:   # a near-tie keeps the fewer rows
            best = (score, len(rows), pos)
        if best[0] >= READABLE_ZOOM:
            break
    ox, oy = origin
    pos = best[2]
    return {nid: (round(ox + pos[nid][0], 1), round(oy + pos[nid][1], 1)) for nid in order}


def auto_layout_edit(graph: Graph, view: tuple[float, float] | None = None,
                     size_of: Callable[[str], tuple[float, float]] | None = None) -> Batch | None:
    """One undo step ("Auto-layout": a Move) placing every block by ``layered_positions``; None if nothing moves.
    ``view``: the canvas size in pixels the rows should fit."""
    positions = layered_positions(graph, view=view, size_of=size_of)
    changed = {nid: pos for nid, pos in positions.items()
               if graph.node(nid).position is None or tuple(graph.node(nid).position) != pos}
    if not changed:
        return None
    return Batch([Move(changed)], "Auto-layout")
