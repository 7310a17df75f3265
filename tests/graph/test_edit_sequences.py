"""Random edit sequences: undo-all gives back the original file, redo-all the final one; the checker's results and
the whole-graph answers it keeps as it goes (totals, error count, the diagnostics list) match a fresh full check."""

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from hybrid_studio.blocks import CATALOG, checker_for, new_graph
from hybrid_studio.graph import (ERROR, AddNode, Connect, Disconnect, Edge, GraphError, Move, Node, RemoveNode,
                                 RenameNode, SetParams, bypass, insert_between)

try:
    from hybrid_studio.project import dumps_project as serialize
except ImportError:  # the project package is optional for this test's purpose
    def serialize(g):
        return repr(([(n.id, n.type, n.params, n.position) for n in g.nodes], [e.key for e in g.edges]))

TYPES = ["Input", "Conv2d", "Linear", "Output"] + [t for t in ("Dropout", "Flatten", "LSTM", "Concat", "MaxPool2d")
                                                    if t in CATALOG]


def seed_graph():
    g = new_graph("seed")
    for e in [AddNode(Node("image", "Input", {"shape": [1, 8, 8], "axes": "CHW"}, (0.0, 0.0))),
              AddNode(Node("conv1", "Conv2d", {"out_channels": 4}, (200.0, 0.0))),
              AddNode(Node("out", "Output", {}, (400.0, 0.0))),
              Connect(Edge("image", "conv1")), Connect(Edge("conv1", "out"))]:
        e.apply(g)
    return g


class EditSequence(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.graph = seed_graph()
        self.checker = checker_for(self.graph)
        self.original = serialize(self.graph)
        self.done = []
        self.undone = []  # reverted edits, most recent last (redo puts them back)

    def _do(self, edit):
        try:
            edit.apply(self.graph)
        except GraphError:
            return
        self.done.append(edit)
        self.undone.clear()

    @precondition(lambda self: self.done)
    @rule(queried=st.booleans())
    def undo(self, queried):
        edit = self.done.pop()
        edit.revert(self.graph)
        self.undone.append(edit)
        if queried:  # a query between an edit and its flush re-checks early (the status bar asks at any time)
            self.checker.total_params()

    @precondition(lambda self: self.undone)
    @rule()
    def redo(self):
        edit = self.undone.pop()
        edit.apply(self.graph)
        self.done.append(edit)

    @precondition(lambda self: len(self.graph) > 0)
    @rule(data=st.data())
    def rename(self, data):
        nid = data.draw(st.sampled_from([n.id for n in self.graph.nodes]))
        self._do(RenameNode(nid, nid + "_r"))

    @rule(type_name=st.sampled_from(TYPES), x=st.floats(-500, 500, allow_nan=False))
    def add(self, type_name, x):
        self._do(AddNode(Node(self.graph.new_id(type_name), type_name, {}, (x, 10.0))))

    @precondition(lambda self: len(self.graph) > 0)
    @rule(data=st.data())
    def remove(self, data):
        nid = data.draw(st.sampled_from([n.id for n in self.graph.nodes]))
        self._do(RemoveNode(nid))

    @precondition(lambda self: len(self.graph) > 1)
    @rule(data=st.data())
    def connect(self, data):
        ids = [n.id for n in self.graph.nodes]
        src, dst = data.draw(st.sampled_from(ids)), data.draw(st.sampled_from(ids))
        ports = self.graph.input_ports(dst) or ["in"]
        self._do(Connect(Edge(src, dst, "out", data.draw(st.sampled_from(ports)))))

    @precondition(lambda self: len(self.graph.edges) > 0)
    @rule(data=st.data())
    def disconnect(self, data):
        self._do(Disconnect(data.draw(st.sampled_from(self.graph.edges))))

    @precondition(lambda self: len(self.graph.edges) > 0)
    @rule(data=st.data())
    def insert(self, data):
        edge = data.draw(st.sampled_from(self.graph.edges))
        self._do(insert_between(self.graph, edge, Node(self.graph.new_id("Linear"), "Linear", {"out_features": 3})))

    @precondition(lambda self: len(self.graph) > 0)
    @rule(data=st.data(), value=st.integers(-2, 64))
    def set_param(self, data, value):
        node = data.draw(st.sampled_from(self.graph.nodes))
        spec = CATALOG.get(node.type).params if node.type in CATALOG else ()
        ints = [p.name for p in spec if p.kind == "int"]
        if ints:
            self._do(SetParams(node.id, {data.draw(st.sampled_from(ints)): value}))

    @precondition(lambda self: len(self.graph) > 0)
    @rule(data=st.data(), x=st.floats(-1e3, 1e3, allow_nan=False), y=st.floats(-1e3, 1e3, allow_nan=False))
    def move(self, data, x, y):
        self._do(Move({data.draw(st.sampled_from([n.id for n in self.graph.nodes])): (x, y)}))

    @precondition(lambda self: len(self.graph) > 0)
    @rule(data=st.data())
    def bypass_node(self, data):
        self._do(bypass(self.graph, data.draw(st.sampled_from([n.id for n in self.graph.nodes]))))

    @invariant()
    def checker_never_raises_and_matches_a_fresh_one(self):
        self.checker.flush()
        fresh = checker_for(self.graph)
        fresh.flush()
        for n in self.graph.nodes:
            assert self.checker.result(n.id).same_as(fresh.result(n.id))

    @invariant()
    def kept_totals_and_diagnostics_match_a_recount(self):
        # the checker keeps these as results change (no pass over the blocks per edit): they must never drift
        ck = self.checker
        fresh = checker_for(self.graph)
        recount = [r for r in (fresh.result(n.id) for n in self.graph.nodes)]
        assert ck.total_params() == sum(r.params or 0 for r in recount) == fresh.total_params()
        assert ck.total_macs() == sum(r.macs or 0 for r in recount) == fresh.total_macs()
        listed = [d for d in fresh.graph_diagnostics] + [d for r in recount for d in r.diagnostics]
        assert [(str(d), [f.label for f in d.fixes]) for d in ck.diagnostics()] == \
            [(str(d), [f.label for f in d.fixes]) for d in listed]
        assert ck.error_count() == len(ck.errors()) == sum(d.severity == ERROR for d in listed)
        assert ck.valid == (not any(d.severity == ERROR for d in listed))

    def teardown(self):
        final = serialize(self.graph)
        for edit in reversed(self.done):
            edit.revert(self.graph)
        assert serialize(self.graph) == self.original
        for edit in self.done:
            edit.apply(self.graph)
        assert serialize(self.graph) == final


EditSequence.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None,
                                          suppress_health_check=[HealthCheck.too_slow])
TestEditSequence = EditSequence.TestCase
