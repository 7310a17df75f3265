"""Auto-layout: a layered (left-to-right) layout of the graph, applied as one undoable ``Move``.

Layers come from the longest path from an input (over networkx's topological order of ``graph.nx``), so every
wire points right;
within a layer, blocks are sorted by the mean row of their inputs (one barycentre sweep), which removes most
crossings in the CNN/RNN graphs people draw here. A long chain is wrapped into bands of at most ``max_columns``
layers (the next band starts below, at the left), so a 20-layer CRNN stays readable when fitted to the window.
"""

from __future__ import annotations

from hybrid_studio.graph import Batch, Graph, Move

COLUMN_GAP = 330.0   # block width (184) plus room for a shape label on the wire
ROW_GAP = 110.0


MAX_COLUMNS = 5
BAND_GAP = 70.0


def layered_positions(graph: Graph, origin=(0.0, 0.0), max_columns: int | None = MAX_COLUMNS
                      ) -> dict[str, tuple[float, float]]:
    """id -> (x, y) (top-left of each block) of a layered layout of the whole graph."""
    import networkx as nx  # imported here: the app starts without it and loads it on the first layout

    nxg = graph.nx
    index = {nid: i for i, nid in enumerate(n.id for n in graph.nodes)}
    order = list(nx.lexicographical_topological_sort(nxg, key=index.__getitem__))
    layer: dict[str, int] = {}
    for nid in order:
        preds = list(nxg.predecessors(nid))
        layer[nid] = max((layer[p] + 1 for p in preds), default=0)
    # sinks (Outputs) go to the last column of their own chain only: keep longest-path layers as they are
    columns: dict[int, list[str]] = {}
    for nid in order:
        columns.setdefault(layer[nid], []).append(nid)
    row: dict[str, float] = {}
    for col in sorted(columns):
        ids = columns[col]
        if col > 0:
            def key(nid, ids=ids):
                preds = [row[p] for p in nxg.predecessors(nid) if p in row]
                return (sum(preds) / len(preds)) if preds else float(ids.index(nid))
            ids.sort(key=key)
        for i, nid in enumerate(ids):
            row[nid] = i - (len(ids) - 1) / 2
    ox, oy = origin
    # wrap long chains into bands; a graph with parallel branches stays on one band unless it is very long,
    # since wrapping would send the merge's wires back across the canvas
    branched = any(len(ids) > 1 for ids in columns.values())
    wrap = max_columns and len(columns) > (max_columns + 1 if not branched else 2 * max_columns + 2)
    per_band = max_columns if wrap else max(len(columns), 1)
    # each band is as tall as its fullest column; bands stack downwards
    band_top: dict[int, float] = {}
    y = 0.0
    for band in range((len(columns) + per_band - 1) // per_band):
        cols = [columns[c] for c in range(band * per_band, min(len(columns), (band + 1) * per_band))]
        lo = min(row[n] for ids in cols for n in ids)
        hi = max(row[n] for ids in cols for n in ids)
        band_top[band] = y - lo * ROW_GAP
        y += (hi - lo) * ROW_GAP + ROW_GAP + BAND_GAP
    return {nid: (round(ox + (layer[nid] % per_band) * COLUMN_GAP, 1),
                  round(oy + band_top[layer[nid] // per_band] + row[nid] * ROW_GAP, 1)) for nid in order}


def auto_layout_edit(graph: Graph) -> Batch | None:
    """One undo step ("Auto-layout": a Move) placing every block by ``layered_positions``; None if nothing moves."""
    positions = layered_positions(graph)
    changed = {nid: pos for nid, pos in positions.items()
               if graph.node(nid).position is None or tuple(graph.node(nid).position) != pos}
    if not changed:
        return None
    return Batch([Move(changed)], "Auto-layout")
