"""Graph model and reversible edits, without Qt or torch."""

import pytest

from hybrid_studio.blocks import checker_for, new_graph
from hybrid_studio.graph import (AddNode, Batch, Connect, Disconnect, Edge, GraphError, Move, Node, RemoveNode,
                                 RenameNode, SetMeta, SetParams, bypass, insert_between, valid_id)


def state(g):
    return ([(n.id, n.type, n.params, n.position) for n in g.nodes], [e.key for e in g.edges], g.name, g.training)


@pytest.fixture
def chain():
    g = new_graph()
    for e in [AddNode(Node("image", "Input", {"shape": [1, 28, 28], "axes": "CHW"}, (0, 0))),
              AddNode(Node("conv1", "Conv2d", {}, (200, 0))),
              AddNode(Node("fc1", "Linear", {}, (400, 0))),
              AddNode(Node("out", "Output", {}, (600, 0))),
              Connect(Edge("image", "conv1")), Connect(Edge("conv1", "fc1")), Connect(Edge("fc1", "out"))]:
        e.apply(g)
    return g


def test_ids_are_identifiers_and_fresh(chain):
    assert chain.new_id("Conv2d") == "conv2"
    assert chain.new_id("Linear") == "fc2"
    assert valid_id("conv_1") and not valid_id("1conv") and not valid_id("class") and not valid_id("self")
    with pytest.raises(GraphError, match="not a valid block id"):
        AddNode(Node("my block", "Linear")).apply(chain)
    with pytest.raises(GraphError, match="already exists"):
        AddNode(Node("conv1", "Linear")).apply(chain)


def test_refused_connections_say_why(chain):
    with pytest.raises(GraphError, match="cycle"):
        Connect(Edge("fc1", "conv1", target_port="in")).apply(chain)
    AddNode(Node("conv2", "Conv2d")).apply(chain)
    with pytest.raises(GraphError, match="already fed by 'image'"):
        Connect(Edge("conv2", "conv1")).apply(chain)
    with pytest.raises(GraphError, match="no input port 'in3'"):
        Connect(Edge("image", "conv2", target_port="in3")).apply(chain)
    with pytest.raises(GraphError, match="no output port"):
        Connect(Edge("out", "conv2")).apply(chain)
    with pytest.raises(GraphError, match="no block 'ghost'"):
        Connect(Edge("ghost", "conv2")).apply(chain)
    with pytest.raises(GraphError, match="feed itself"):
        Connect(Edge("conv2", "conv2")).apply(chain)


def test_remove_node_takes_edges_and_undo_restores_order(chain):
    before = state(chain)
    edit = RemoveNode("conv1")
    edit.apply(chain)
    assert "conv1" not in chain and all("conv1" not in (e.source, e.target) for e in chain.edges)
    edit.revert(chain)
    assert state(chain) == before


def test_every_edit_reverts_exactly(chain):
    before = state(chain)
    edits = [SetParams("conv1", {"out_channels": 8}), SetParams("conv1", {}, drop=("out_channels",)),
             SetParams("conv1", {"kernel_size": 5}, replace=True), Move({"conv1": (1, 2), "fc1": (3, 4)}),
             Disconnect(Edge("conv1", "fc1")), SetMeta("name", "other"), SetMeta("training", {"epochs": 3}),
             bypass(chain, "conv1"),
             insert_between(chain, Edge("image", "conv1"), Node("drop1", "Dropout"))]
    for edit in edits:
        edit.apply(chain)
        assert state(chain) != before or isinstance(edit, SetParams)
        edit.revert(chain)
        assert state(chain) == before, edit


def test_batch_is_all_or_nothing(chain):
    before = state(chain)
    with pytest.raises(GraphError):
        Batch([SetParams("conv1", {"out_channels": 4}), Connect(Edge("fc1", "conv1"))]).apply(chain)
    assert state(chain) == before


def test_events_are_emitted(chain):
    seen = []
    chain.subscribe(lambda event, **kw: seen.append(event))
    RemoveNode("fc1").apply(chain)
    assert seen == ["edge_removed", "edge_removed", "node_removed"]


def test_a_bound_method_listener_is_held_weakly_and_a_function_strongly(chain):
    """A graph and its checker (a bound-method listener) form no reference cycle: the checker is freed with its
    owner, and stops hearing events; a plain function or closure is kept by the graph; unsubscribe removes either."""
    import gc
    import weakref

    class Listener:
        def __init__(self):
            self.seen = []

        def on_event(self, event, **kw):
            self.seen.append(event)

    kept = Listener()
    chain.subscribe(kept.on_event)
    gone = Listener()
    chain.subscribe(gone.on_event)
    ref = weakref.ref(gone)
    seen = []
    chain.subscribe(lambda event, **kw: seen.append(event))   # only the graph holds this one
    gc.disable()   # freed by reference counting alone
    try:
        del gone
        assert ref() is None
    finally:
        gc.enable()
    Move({"fc1": (5.0, 5.0)}).apply(chain)
    assert kept.seen == ["node_moved"] and seen == ["node_moved"]
    chain.unsubscribe(kept.on_event)
    Move({"fc1": (6.0, 6.0)}).apply(chain)
    assert kept.seen == ["node_moved"] and seen == ["node_moved", "node_moved"]
    checker = checker_for(chain)
    cref = weakref.ref(checker)
    gc.disable()
    try:
        del checker
        assert cref() is None
    finally:
        gc.enable()


def test_set_params_merge_keeps_one_step(chain):
    a = SetParams("conv1", {"out_channels": 1})
    a.apply(chain)
    b = SetParams("conv1", {"out_channels": 12})
    b.apply(chain)
    assert a.merge(b, chain)
    assert a.changes == {"out_channels": 12}


def test_copy_is_detached(chain):
    snap = chain.copy()
    SetParams("conv1", {"out_channels": 3}).apply(chain)
    assert snap.node("conv1").params == {}
    assert [e.key for e in snap.edges] == [e.key for e in chain.edges]


def test_checker_follows_edits_and_undo(chain):
    ck = checker_for(chain)
    assert ck.result("fc1").output.shape == (32, 26, 10)
    edit = SetParams("conv1", {"out_channels": 8})
    edit.apply(chain)
    ck.flush()
    assert ck.result("fc1").inputs["in"].shape == (8, 26, 26)
    edit.revert(chain)
    ck.flush()
    assert ck.result("fc1").inputs["in"].shape == (32, 26, 26)
    assert ck.valid and ck.total_params() == 320 + 270


def test_reserved_ids_cover_every_module_attribute():
    """A block id becomes ``self.<id>`` in the generated model, so it must not shadow a Module attribute."""
    import torch.fx
    import torch.nn as nn

    attrs = set(dir(torch.fx.GraphModule)) | set(dir(nn.Module())) | set(vars(nn.Module()))
    clashing = sorted(a for a in attrs if not a.startswith("__") and valid_id(a))
    assert clashing == [], f"add to RESERVED_IDS: {clashing}"
    assert not valid_id("zero_grad") and not valid_id("graph") and not valid_id("__init__")


def test_a_wire_that_replaces_the_one_into_an_input_is_allowed(chain):
    AddNode(Node("conv2", "Conv2d")).apply(chain)
    new = Edge("conv2", "conv1")
    existing = chain.edge_into("conv1", "in")
    assert "already fed" in chain.why_not_connect(new)
    assert chain.why_not_connect(new, replacing=existing) is None
    # every other rule still holds
    assert "cycle" in chain.why_not_connect(Edge("fc1", "conv1"), replacing=existing)


def _fusion_graph():
    """a, b, c (Input) -> cat (Concat, 3 inputs) -> out; the wire c -> cat.in2 sits in the middle of the edge list."""
    from hybrid_studio.project import dumps_project
    g = new_graph()
    for nid in ("a", "b", "c"):
        AddNode(Node(nid, "Input", {"shape": [8], "axes": "F"})).apply(g)
    AddNode(Node("cat", "Concat", {"inputs": 3, "axis": "features"})).apply(g)
    AddNode(Node("out", "Output", {})).apply(g)
    for e in (Edge("a", "cat", target_port="in0"), Edge("c", "cat", target_port="in2"),
              Edge("b", "cat", target_port="in1"), Edge("cat", "out")):
        Connect(e).apply(g)
    return g, dumps_project


def test_params_that_take_a_port_away_take_its_wire_and_undo_brings_it_back():
    from hybrid_studio.project import loads_project
    g, dumps = _fusion_graph()
    before = dumps(g)
    edit = SetParams("cat", {"inputs": 2})
    edit.apply(g)
    assert [e.key for e in g.edges if e.target == "cat"] == [("a", "out", "cat", "in0"), ("b", "out", "cat", "in1")]
    assert edit.removed_edges == [Edge("c", "cat", target_port="in2")]
    assert edit.side_effects() == ["removed the wire c \u2192 cat: 'cat' has no port 'in2' now"]
    assert "removes 1 wire" in edit.text
    loads_project(dumps(g), "after.hsproj.json")  # the file it saves loads again
    checker = checker_for(g)
    assert not checker.errors()
    edit.revert(g)
    assert dumps(g) == before  # the wire is back, at its place in the edge list


def test_a_merged_round_where_a_port_comes_back_keeps_its_wire():
    g, dumps = _fusion_graph()
    before = dumps(g)
    down, up = SetParams("cat", {"inputs": 2}), SetParams("cat", {"inputs": 3})
    down.apply(g)
    up.apply(g)
    assert down.merge(up, g) and down.is_noop(g)
    assert dumps(g) == before
    down.revert(g)
    down.apply(g)
    assert dumps(g) == before


def test_merged_typing_steps_that_remove_wires_undo_as_one():
    g, dumps = _fusion_graph()
    AddNode(Node("d", "Input", {"shape": [8], "axes": "F"})).apply(g)
    SetParams("cat", {"inputs": 4}).apply(g)
    Connect(Edge("d", "cat", target_port="in3")).apply(g)
    before = dumps(g)
    first, second = SetParams("cat", {"inputs": 3}), SetParams("cat", {"inputs": 2})
    first.apply(g)
    second.apply(g)
    assert first.merge(second, g)  # replayed as one change from 4 inputs to 2
    assert [e.target_port for e in first.removed_edges] == ["in3", "in2"]
    first.revert(g)
    assert dumps(g) == before
    first.apply(g)  # redo of the merged step
    assert [e.target_port for e in g.edges if e.target == "cat"] == ["in0", "in1"]


def test_rename_keeps_the_place_params_and_wire_order_and_reverts_exactly(chain):
    from hybrid_studio.project import dumps_project
    before = dumps_project(chain)
    events = []
    chain.subscribe(lambda event, **kw: events.append(event))
    edit = RenameNode("conv1", "features")
    edit.apply(chain)
    assert events == ["node_renamed"]  # one event, after the graph is whole again
    assert [n.id for n in chain.nodes] == ["image", "features", "fc1", "out"]
    assert [e.key for e in chain.edges] == [("image", "out", "features", "in"), ("features", "out", "fc1", "in"),
                                            ("fc1", "out", "out", "in")]
    assert chain.predecessors("fc1") == ["features"] and chain.edge_into("features", "in") is not None
    checker = checker_for(chain)
    assert checker.result("features").output is not None
    edit.revert(chain)
    assert dumps_project(chain) == before
    with pytest.raises(GraphError, match="already exists"):
        RenameNode("conv1", "fc1").apply(chain)
    with pytest.raises(GraphError, match="not a valid block id"):
        RenameNode("conv1", "class").apply(chain)
    assert dumps_project(chain) == before
