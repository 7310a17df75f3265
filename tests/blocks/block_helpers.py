"""Helpers shared by the per-family block tests: a one-block graph, its check, and a compiled run."""

from hybrid_studio.blocks import checker_for, new_graph
from hybrid_studio.compile import compile_graph
from hybrid_studio.graph import AddNode, Connect, Edge, Node

RUNTIME_T = 5  # the size given to unknown (None) axes when a compiled model runs


def chain(shape, axes, type_name, params=None):
    """Input -> block 'b' -> Output, checked."""
    g = new_graph()
    ck = checker_for(g)
    AddNode(Node("x", "Input", {"shape": list(shape), "axes": axes})).apply(g)
    AddNode(Node("b", type_name, dict(params or {}))).apply(g)
    AddNode(Node("out", "Output", {})).apply(g)
    Connect(Edge("x", "b")).apply(g)
    Connect(Edge("b", "out")).apply(g)
    ck.flush()
    return g, ck


def out_spec(shape, axes, type_name, params=None):
    g, ck = chain(shape, axes, type_name, params)
    r = ck.result("b")
    assert not r.diagnostics, [d.message for d in r.diagnostics]
    return r.output


def diag(shape, axes, type_name, params=None):
    g, ck = chain(shape, axes, type_name, params)
    ds = ck.result("b").diagnostics
    assert len(ds) == 1, ds
    return ds[0]


def run_and_compare(shape, axes, type_name, params=None, batch=2):
    """Compile Input -> block -> Output, run it, and check the real shape and parameter count against the checker."""
    import torch
    g, ck = chain(shape, axes, type_name, params)
    r = ck.result("b")
    assert not r.diagnostics, [d.message for d in r.diagnostics]
    gm = compile_graph(g, ck)
    gm.eval()
    x = torch.randn(batch, *[RUNTIME_T if s is None else s for s in shape])
    y = gm(x)
    assert y.dim() == 1 + r.output.rank
    for real, inferred in zip(y.shape[1:], r.output.shape):
        if inferred is not None:
            assert real == inferred, (tuple(y.shape), r.output)
    assert y.shape[0] == batch
    assert sum(p.numel() for p in gm.parameters()) == r.params
    return x, y, gm
