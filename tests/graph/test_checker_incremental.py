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
