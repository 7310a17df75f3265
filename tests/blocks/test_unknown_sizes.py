"""Every block type, fed every kind of tensor with each size in turn unknown (null in the file): the checker gives
a shape or a diagnostic, never a crash (a Conv2d on [null, 28, 28] once raised a TypeError in `check`)."""

import pytest

from hybrid_studio.blocks import CATALOG, checker_for, new_graph
from hybrid_studio.graph import AddNode, Connect, Edge, Node
from hybrid_studio.graph.checker import INTERNAL

FORMS = {"CHW": [3, 16, 16], "TCHW": [4, 3, 16, 16], "TF": [8, 6], "CL": [3, 20], "TCL": [4, 3, 20], "F": [12]}


def _graph(block_type, axes, shape):
    g = new_graph()
    ports = CATALOG.input_ports(block_type, {}) or []
    for k, _ in enumerate(ports):
        params = {"shape": shape, "axes": axes}
        if block_type == "Embedding":
            params["dtype"] = "int64"
        AddNode(Node(f"x{k}", "Input", params)).apply(g)
    AddNode(Node("b", block_type, {})).apply(g)
    for k, port in enumerate(ports):
        Connect(Edge(f"x{k}", "b", target_port=port)).apply(g)
    return g


@pytest.mark.parametrize("block_type", [t for t in CATALOG.types() if t != "Input"])
def test_unknown_sizes_give_a_shape_or_a_diagnostic(block_type):
    for axes, shape in FORMS.items():
        for unknown in range(len(shape)):
            sizes = list(shape)
            sizes[unknown] = None
            checker = checker_for(_graph(block_type, axes, sizes))
            checker.flush()
            result = checker.result("b")
            internal = [d.message for d in checker.diagnostics() if d.code == INTERNAL]
            assert not internal, (axes, sizes, internal)
            # a shape, or a problem said on the block, or on its Input (which may refuse the form itself, e.g.
            # integer images: then the block has no input to check)
            inputs_refused = any(d.node and d.node.startswith("x") for d in checker.diagnostics())
            assert result.output is not None or result.diagnostics or inputs_refused, (axes, sizes)


def test_a_conv_needs_a_known_channel_count():
    checker = checker_for(_graph("Conv2d", "CHW", [None, 28, 28]))
    checker.flush()
    (d,) = checker.result("b").diagnostics
    assert d.code == "unknown-size" and "channels C" in d.message and "give the Input a fixed C" in d.message
