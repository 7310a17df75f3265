"""The checker re-checks only what an edit can change."""

from hybrid_studio.blocks import checker_for, new_graph
from hybrid_studio.graph import AddNode, Connect, Edge, Node, SetParams


def long_chain(n):
    g = new_graph()
    AddNode(Node("x", "Input", {"shape": [16], "axes": "F"})).apply(g)
    prev = "x"
    for i in range(n):
        AddNode(Node(f"fc{i}", "Linear", {"out_features": 16})).apply(g)
        Connect(Edge(prev, f"fc{i}")).apply(g)
        prev = f"fc{i}"
    AddNode(Node("out", "Output")).apply(g)
    Connect(Edge(prev, "out")).apply(g)
    return g


def test_shape_preserving_edit_checks_one_block():
    g = long_chain(50)
    ck = checker_for(g)
    ck.flush()
    assert ck.last_checked == 52
    SetParams("fc10", {"bias": False}).apply(g)
    changed = ck.flush()
    assert changed == {"fc10"} and ck.last_checked == 1
    assert ck.result("fc10").params == 16 * 16


def test_shape_changing_edit_stops_where_shapes_agree_again():
    g = long_chain(50)
    ck = checker_for(g)
    ck.flush()
    SetParams("fc10", {"out_features": 4}).apply(g)
    changed = ck.flush()
    # fc10's output changes; fc11 gets a new input and param count but the same output; nothing further
    assert changed == {"fc10", "fc11"}
    assert ck.last_checked == 2
    assert ck.result("fc11").params == 4 * 16 + 16


def test_incremental_equals_full_check():
    g = long_chain(20)
    ck = checker_for(g)
    ck.flush()
    SetParams("fc3", {"out_features": 7}).apply(g)
    SetParams("fc9", {"out_features": 0}).apply(g)  # out of range: a diagnostic, not an exception
    ck.flush()
    fresh = checker_for(g)
    fresh.flush()
    for n in g.nodes:
        assert ck.result(n.id).same_as(fresh.result(n.id)), n.id
    assert any("out_features" in d.message for d in ck.diagnostics())


def _recount(g):
    """Totals and diagnostics of a fresh full check of ``g``, the way they were computed before being kept."""
    fresh = checker_for(g)
    fresh.flush()
    results = [fresh.result(n.id) for n in g.nodes]
    diags = list(fresh.graph_diagnostics) + [d for r in results for d in r.diagnostics]
    return (sum(r.params or 0 for r in results), sum(r.macs or 0 for r in results),
            _listed(diags), sum(d.severity == "error" for d in diags))


def _listed(diagnostics):
    return [(str(d), [f.label for f in d.fixes]) for d in diagnostics]


def _kept(ck):
    return ck.total_params(), ck.total_macs(), _listed(ck.diagnostics()), ck.error_count()


def test_kept_totals_and_diagnostics_follow_edits_undo_and_redo_in_file_order():
    """A few problems among many valid blocks (the diagnostics list is then put together from the blocks that have
    problems, sorted by their place in the file): after each edit, undo and redo it matches a full recount."""
    from hybrid_studio.graph import Disconnect, RemoveNode, RenameNode

    g = long_chain(60)
    ck = checker_for(g)
    ck.flush()
    assert _kept(ck) == _recount(g) and not ck.diagnostics()
    base_params = ck.total_params()
    steps = [
        SetParams("fc40", {"out_features": 0}),                  # an error late in the file
        SetParams("fc5", {"out_features": 0}),                   # and one early: listed before it
        AddNode(Node("loose", "Linear", {"out_features": 3})),   # an unconnected block at the end
        RemoveNode("loose"),
        Disconnect(g.edge_into("fc20", "in")),                   # fc20 loses its input: a problem in the middle
        RenameNode("fc5", "zz_first"),                           # renamed: keeps its place in the file
        SetParams("fc40", {"out_features": 16}),                 # fixed again
    ]
    done = []
    for step in steps:
        step.apply(g)
        done.append(step)
        assert _kept(ck) == _recount(g), step
    kept = _kept(ck)
    assert kept[3] == 2 and kept[2][0][0].startswith("error: zz_first") and "fc20" in kept[2][1][0]
    for step in reversed(done):  # undo all: a removed block comes back at its old place in the file
        step.revert(g)
        assert _kept(ck) == _recount(g), f"undo {step}"
    assert ck.total_params() == base_params and not ck.diagnostics() and ck.valid
    for step in done:
        step.apply(g)
        assert _kept(ck) == _recount(g), f"redo {step}"
    # a removed block with a problem, put back by undo, is listed at its old place again
    remove = RemoveNode("zz_first")
    for e in g.in_edges("zz_first") + g.out_edges("zz_first"):
        Disconnect(e).apply(g)
    remove.apply(g)
    assert _kept(ck) == _recount(g)
    remove.revert(g)
    assert _kept(ck) == _recount(g)
