"""Auto-layout (issue 13 point 7): templates and long chains come out in readable rows that fit the view, branches
stacked, nothing overlapping, wires forward within a row, the same positions every time."""

from __future__ import annotations

import pytest

from hybrid_studio.blocks import new_graph
from hybrid_studio.graph import AddNode, Connect, Edge, Node
from hybrid_studio.graph.layout import (COLUMN_GAP, DEFAULT_VIEW, FIT_MARGIN, NODE_W, _estimated_size,
                                        _port_y, auto_layout_edit, layered_positions)
from hybrid_studio.project import list_templates, load_template

TEMPLATES = [t if isinstance(t, str) else getattr(t, "name", t) for t in list_templates()]


def _chain(n: int, view=None):
    g = new_graph("chain")
    AddNode(Node("x", "Input", {"shape": [16, 64], "axes": "CL"})).apply(g)
    prev = "x"
    for i in range(n - 2):
        AddNode(Node(f"b{i}", "Activation", {"function": "relu"})).apply(g)
        Connect(Edge(prev, f"b{i}")).apply(g)
        prev = f"b{i}"
    AddNode(Node("out", "Output", {"task": "regression"})).apply(g)
    Connect(Edge(prev, "out")).apply(g)
    return g


def _rects(g, pos):
    size = _estimated_size(g)
    return {n: (x, y, x + size(n)[0], y + size(n)[1]) for n, (x, y) in pos.items()}


def _overlaps(rects):
    items = sorted(rects.items())
    bad = []
    for i, (a, ra) in enumerate(items):
        for b, rb in items[i + 1:]:
            if ra[0] < rb[2] and rb[0] < ra[2] and ra[1] < rb[3] and rb[1] < ra[3]:
                bad.append((a, b))
    return bad


def _rows_of(pos):
    """Row index of each block: rows are separated by vertical gaps larger than a block's track pitch."""
    ys = sorted({y for _, y in pos.values()})
    return ys


def _fit_zoom(rects, view):
    x0 = min(r[0] for r in rects.values())
    y0 = min(r[1] for r in rects.values())
    x1 = max(r[2] for r in rects.values())
    y1 = max(r[3] for r in rects.values())
    return min(1.0, view[0] / (x1 - x0 + 2 * FIT_MARGIN), view[1] / (y1 - y0 + 2 * FIT_MARGIN))


@pytest.mark.parametrize("name", TEMPLATES)
def test_templates_lay_out_without_overlaps_deterministically_and_forward(name):
    g = load_template(name)
    pos = layered_positions(g)
    assert set(pos) == {n.id for n in g.nodes}
    rects = _rects(g, pos)
    assert not _overlaps(rects), name
    # the same positions every time, also from a fresh copy of the graph
    assert layered_positions(g) == pos
    assert layered_positions(load_template(name)) == pos
    # within a row every wire points right; a wire that points back is a row break (a wrap), and there are few
    backward = [e for e in g.edges if pos[e.target][0] <= pos[e.source][0]]
    forward = len(g.edges) - len(backward)
    assert forward >= 2 * len(backward), (name, backward)
    # rows read left to right: each wire that goes back lands on the left edge of the next row, below its source
    for e in backward:
        assert pos[e.target][0] == 0.0 and pos[e.target][1] > pos[e.source][1], (name, str(e))
    # fitted to the default canvas, a template is shown at a zoom where the detailed block faces read
    assert _fit_zoom(rects, DEFAULT_VIEW) >= 0.55, name


@pytest.mark.parametrize("name", TEMPLATES)
def test_a_wrapped_wire_runs_through_the_gap_between_rows(name):
    """The canvas routes a wire that goes back through the middle height of its ends: that height is on no block."""
    g = load_template(name)
    pos = layered_positions(g)
    size = _estimated_size(g)
    rects = _rects(g, pos)
    for e in g.edges:
        a, b = pos[e.source], pos[e.target]
        if b[0] >= a[0]:
            continue
        ym = (a[1] + _port_y(size(e.source)[1]) + b[1] + _port_y(size(e.target)[1])) / 2
        hit = [n for n, r in rects.items() if r[1] - 8 <= ym <= r[3] + 8]
        assert not hit, (name, str(e), hit)


def test_a_long_chain_wraps_into_even_rows_that_fit_the_view():
    g = _chain(24)
    pos = layered_positions(g, view=(900, 640))
    ys = _rows_of(pos)
    rows = {y: sorted(x for x, yy in pos.values() if yy == y) for y in ys}
    assert 3 <= len(rows) <= 8
    widths = [len(xs) for xs in rows.values()]
    assert max(widths) - min(widths) <= 1            # even rows: no lone block on the last one
    for xs in rows.values():                         # every row starts at the left and steps right evenly
        assert xs == [i * COLUMN_GAP for i in range(len(xs))]
    # the order along the chain is reading order: row by row, left to right
    ids = ["x"] + [f"b{i}" for i in range(22)] + ["out"]
    assert sorted(ids, key=lambda n: (pos[n][1], pos[n][0])) == ids
    # wrapped, the chain shows at a much larger zoom than on one line
    rects = _rects(g, pos)
    one_line = {n: (i * COLUMN_GAP, 0.0, i * COLUMN_GAP + NODE_W, 74.0) for i, n in enumerate(ids)}
    assert _fit_zoom(rects, (900, 640)) >= 2 * _fit_zoom(one_line, (900, 640))
    assert not _overlaps(rects)


def test_row_width_follows_the_view_aspect():
    g = _chain(30)

    def n_rows(view):
        return len({y for _, y in layered_positions(g, view=view).values()})
    wide, default, tall = n_rows((2400, 500)), n_rows((900, 640)), n_rows((500, 1400))
    assert wide < default < tall
    # a short chain in a roomy view stays on one line
    assert len({y for _, y in layered_positions(_chain(4), view=(1400, 800)).values()}) == 1


def test_branches_stack_vertically_next_to_the_block_they_join():
    g = load_template("parallel-cnn-lstm")
    pos = layered_positions(g, view=(900, 640))
    cat, lstm, series = pos["cat"], pos["lstm"], pos["series"]
    # the recurrent branch ends beside the Concat it feeds, in the same row, stacked under the image branch
    assert lstm[0] == cat[0] - COLUMN_GAP and series[0] == lstm[0] - COLUMN_GAP
    assert lstm[1] > cat[1] and series[1] == lstm[1]
    assert pos["gap"][1] == cat[1]                    # the main line stays straight into the Concat
    assert not _overlaps(_rects(g, pos))


def test_tall_blocks_get_room():
    """A Concat with four wired inputs is taller than ROW_GAP: the block under it moves down."""
    g = new_graph("tall")
    for i in range(4):
        AddNode(Node(f"in{i}", "Input", {"shape": [8], "axes": "F"})).apply(g)
    AddNode(Node("cat", "Concat", {"inputs": 4})).apply(g)
    for i in range(4):
        Connect(Edge(f"in{i}", "cat", target_port=f"in{i}")).apply(g)
    AddNode(Node("out", "Output", {"task": "regression"})).apply(g)
    Connect(Edge("cat", "out")).apply(g)
    AddNode(Node("side", "Input", {"shape": [8], "axes": "F"})).apply(g)
    AddNode(Node("side_out", "Output", {"task": "regression"})).apply(g)
    Connect(Edge("side", "side_out")).apply(g)
    pos = layered_positions(g)
    assert _estimated_size(g)("cat")[1] > 110
    assert not _overlaps(_rects(g, pos))


def test_auto_layout_edit_is_one_undoable_step_and_none_when_laid_out():
    g = load_template("attention-fusion")
    for i, n in enumerate(g.nodes):   # shipped laid out: first put it the way a user might leave it
        n.position = (220.0 * i, 40.0 * (i % 3))
    before = {n.id: n.position for n in g.nodes}
    edit = auto_layout_edit(g, view=(900, 640))
    assert edit is not None
    edit.apply(g)
    assert {n.id: tuple(n.position) for n in g.nodes} == layered_positions(g, view=(900, 640))
    assert auto_layout_edit(g, view=(900, 640)) is None
    edit.revert(g)
    assert {n.id: n.position for n in g.nodes} == before
