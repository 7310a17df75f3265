"""The fx-compiled model: nodes that know their block, errors that name the block, device-agnostic code, and a
generated forward() that reads like a commented, hand-written one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import torch.fx

from hybrid_studio.blocks import CATALOG, checker_for, new_graph
from hybrid_studio.compile import BlockRuntimeError, CompileError, compile_graph, generate, locate_failure
from hybrid_studio.graph import AddNode, Connect, Edge, GraphError, Node, SetParams

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "resources" / "templates"
TEMPLATES = sorted(p.name[: -len(".hsproj.json")] for p in TEMPLATES_DIR.glob("*.hsproj.json"))
CALLS = ("call_module", "call_function", "call_method")


def seed_by_hand():
    """The seed CNN -> LSTM, built with edits (the same graph as the seed template)."""
    g = new_graph("seed-cnn-lstm")
    chain = [
        ("image", "Input", {"shape": [1, 28, 28], "axes": "CHW"}),
        ("conv1", "Conv2d", {"out_channels": 32, "kernel_size": 3, "activation": "relu"}),
        ("pool1", "MaxPool2d", {"kernel_size": 2}),
        ("conv2", "Conv2d", {"out_channels": 64, "kernel_size": 3, "activation": "relu"}),
        ("pool2", "MaxPool2d", {"kernel_size": 2}),
        ("seq", "ToSequence", {"axis": "spatial"}),
        ("lstm", "LSTM", {"hidden_size": 128}),
        ("fc", "Linear", {"out_features": 10}),
        ("out", "Output", {"task": "classification"}),
    ]
    for nid, type_name, params in chain:
        AddNode(Node(nid, type_name, params)).apply(g)
    for (a, *_), (b, *_) in zip(chain, chain[1:]):
        Connect(Edge(a, b)).apply(g)
    return g


def load(name: str):
    """A template's graph; the seed is built by hand when the project reader is missing."""
    try:
        from hybrid_studio.project import load_project
    except ImportError:  # pragma: no cover - only before the project package exists
        if name != "seed-cnn-lstm":
            pytest.skip("hybrid_studio.project is not there yet")
        return seed_by_hand()
    return load_project(TEMPLATES_DIR / f"{name}.hsproj.json")


def example_inputs(graph, batch=2, dtype=torch.float32):
    ck = checker_for(graph)
    torch.manual_seed(0)
    xs = []
    for n in graph.nodes:
        if n.type == "Input":
            spec = ck.result(n.id).output
            xs.append(torch.randn(batch, *(8 if s is None else s for s in spec.shape), dtype=dtype))
    return xs


def test_templates_are_there():
    assert "seed-cnn-lstm" in TEMPLATES and len(TEMPLATES) >= 3, TEMPLATES


def test_hand_built_seed_equals_the_template():
    """The fallback above is the seed template: same generated model."""
    def code(graph):
        return generate(graph).source.split('"""', 2)[2]  # after the docstring

    assert code(seed_by_hand()) == code(load("seed-cnn-lstm"))


# ---- block ids on fx nodes -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", TEMPLATES)
def test_every_fx_node_carries_its_block_id(name):
    graph = load(name)
    gm = compile_graph(graph)
    assert isinstance(gm, torch.fx.GraphModule)
    ids = {n.id for n in graph.nodes}
    calls = [n for n in gm.graph.nodes if n.op in CALLS]
    assert calls
    for node in calls:
        bid = node.meta.get("block_id")
        assert bid in ids, (node.op, node.target, bid)
        if node.op == "call_module":
            # a block's module is held as self.<id>, so the module a node calls is its block's own
            assert node.target == bid, (node.target, bid)
    # every block with weights or a computation shows up in the trace, in an order that respects the edges
    first = {}
    for i, node in enumerate(calls):
        first.setdefault(node.meta["block_id"], i)
    modules = {name for name, _ in gm.named_children()}
    for n in graph.nodes:
        if n.id in modules:
            assert n.id in first, n.id
    for e in graph.edges:
        if e.source in first and e.target in first:
            assert first[e.source] < first[e.target], e
    # placeholders are the Inputs, in file order
    assert [n.target for n in gm.graph.nodes if n.op == "placeholder"] == [
        n.id for n in graph.nodes if n.type == "Input"]


# ---- locate_failure ------------------------------------------------------------------------------------------------

def test_locate_failure_names_the_first_conv_on_a_wrong_channel_count():
    gm = compile_graph(load("seed-cnn-lstm")).eval()
    good = torch.randn(2, 1, 28, 28)
    assert locate_failure(gm, good) is None
    err = locate_failure(gm, torch.randn(2, 3, 28, 28))
    assert isinstance(err, BlockRuntimeError)
    assert err.block_id == "conv1"
    assert "conv1" in str(err)
    assert isinstance(err.original, RuntimeError)
    assert "channels" in str(err.original)


def test_locate_failure_names_the_per_frame_conv_of_a_video_model():
    graph = load("lrcn-video")
    gm = compile_graph(graph).eval()
    (x,) = example_inputs(graph)
    assert locate_failure(gm, x) is None
    bad = torch.randn(x.shape[0], x.shape[1], x.shape[2] + 2, *x.shape[3:])
    err = locate_failure(gm, bad)
    assert isinstance(err, BlockRuntimeError) and err.block_id == "conv1", err


def test_locate_failure_names_the_branch_that_fails_in_a_two_input_model():
    graph = load("parallel-cnn-lstm")
    gm = compile_graph(graph).eval()
    image, series = example_inputs(graph)
    assert locate_failure(gm, image, series) is None
    err = locate_failure(gm, image, torch.randn(series.shape[0], series.shape[1], series.shape[2] + 1))
    assert isinstance(err, BlockRuntimeError) and err.block_id == "lstm", err
    assert "lstm" in str(err)


# ---- CompileError --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("trace", [True, False])
def test_compiling_an_invalid_graph_raises_compile_error_naming_the_block(trace):
    graph = load("seed-cnn-lstm")
    SetParams("conv2", {"kernel_size": 20}).apply(graph)  # 13 x 13 after pool1: too small
    with pytest.raises(CompileError) as info:
        compile_graph(graph, trace=trace)
    nodes = [d.node for d in info.value.diagnostics]
    assert "conv2" in nodes, nodes
    assert all(d.severity == "error" for d in info.value.diagnostics)
    assert "conv2" in str(info.value)


def test_compile_error_for_a_wrong_kind_and_an_unconnected_port():
    graph = load("seed-cnn-lstm")
    # an LSTM fed an image, and a Concat with one input left open
    AddNode(Node("lstm2", "LSTM", {"hidden_size": 4})).apply(graph)
    Connect(Edge("image", "lstm2")).apply(graph)
    AddNode(Node("cat", "Concat", {})).apply(graph)
    Connect(Edge("fc", "cat", target_port="in0")).apply(graph)
    with pytest.raises(CompileError) as info:
        compile_graph(graph)
    by_node = {d.node: d.message for d in info.value.diagnostics}
    assert set(by_node) == {"lstm2", "cat"}, by_node
    assert "in1" in by_node["cat"]
    assert "ToSequence" in " ".join(f.label for d in info.value.diagnostics for f in d.fixes if d.node == "lstm2") \
        or "sequence" in by_node["lstm2"]


def test_compile_error_without_an_output():
    graph = new_graph()
    AddNode(Node("x", "Input", {"shape": [4], "axes": "F"})).apply(graph)
    AddNode(Node("fc", "Linear", {"out_features": 2})).apply(graph)
    Connect(Edge("x", "fc")).apply(graph)
    with pytest.raises(CompileError) as info:
        compile_graph(graph)
    assert any(d.node is None and "Output" in d.message for d in info.value.diagnostics)


def test_unknown_block_type_is_a_compile_error_naming_it():
    graph = load("seed-cnn-lstm")
    AddNode(Node("mystery", "NoSuchBlock", {})).apply(graph)
    Connect(Edge("fc", "mystery")).apply(graph)
    with pytest.raises(CompileError) as info:
        compile_graph(graph)
    assert [d.node for d in info.value.diagnostics] == ["mystery"]


# ---- device and dtype ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", TEMPLATES)
def test_model_is_device_agnostic(name):
    graph = load(name)
    gen = generate(graph)
    # nothing in the code pins a device or a dtype
    for pinned in (".cuda(", ".cpu(", "device=", "torch.device", "dtype=", ".float(", ".double("):
        assert pinned not in gen.source, pinned
    xs = example_inputs(graph)
    ck = checker_for(graph)
    out_shapes = [(2, *(8 if s is None else s for s in ck.result(o).output.shape)) for o in gen.output_ids]

    gm = compile_graph(graph).eval()
    with torch.no_grad():
        y32 = gm(*xs)
    meta = compile_graph(graph).to("meta").eval()
    assert all(p.device.type == "meta" for p in meta.parameters())
    with torch.no_grad():
        ym = meta(*[x.to("meta") for x in xs])
    ym = ym if isinstance(ym, tuple) else (ym,)
    assert [tuple(y.shape) for y in ym] == out_shapes
    assert all(y.device.type == "meta" for y in ym)

    gm64 = compile_graph(graph).eval()
    gm64.load_state_dict(gm.state_dict())
    gm64 = gm64.to(torch.float64)
    with torch.no_grad():
        y64 = gm64(*[x.double() for x in xs])
    assert y64.dtype == torch.float64 and tuple(y64.shape) == out_shapes[0]
    torch.testing.assert_close(y64.float(), y32, atol=1e-4, rtol=1e-4)


@pytest.mark.cuda
@pytest.mark.parametrize("name", TEMPLATES)
def test_model_runs_on_cuda_with_the_cpu_numbers(name):
    graph = load(name)
    xs = example_inputs(graph)
    gm = compile_graph(graph).eval()
    with torch.no_grad():
        expected = gm(*xs)
        got = gm.to("cuda")(*[x.cuda() for x in xs])
    assert got.device.type == "cuda"
    # cuDNN and TF32 kernels differ a little from the CPU ones
    torch.testing.assert_close(got.cpu(), expected, atol=2e-3, rtol=2e-3)


# ---- the generated forward -----------------------------------------------------------------------------------------

def test_seed_forward_has_the_documented_comment_line():
    src = generate(load("seed-cnn-lstm")).source
    lines = [ln.strip() for ln in src.splitlines()]
    assert "# conv1 (Conv2d): N x 1 x 28 x 28 -> N x 32 x 26 x 26" in lines
    assert "# pool1 (MaxPool2d): N x 32 x 26 x 26 -> N x 32 x 13 x 13" in lines
    assert "# seq (ToSequence): N x 64 x 5 x 5 -> N x 25 x 64" in lines
    assert "# lstm (LSTM): N x 25 x 64 -> N x 128" in lines
    assert "# image: N x 1 x 28 x 28" in lines


@pytest.mark.parametrize("name", TEMPLATES)
def test_forward_has_one_comment_line_per_block_with_its_shapes(name):
    graph = load(name)
    ck = checker_for(graph)
    gen = generate(graph, ck)
    src_lines = gen.source.splitlines()
    start = next(i for i, ln in enumerate(src_lines) if ln.strip().startswith("def forward("))
    body = [ln.strip() for ln in src_lines[start + 1:]]
    comments = [ln for ln in body if ln.startswith("#")]
    assert len(comments) == len(graph.nodes), comments
    for n in graph.nodes:
        res = ck.result(n.id)
        if n.type == "Input":
            expected = f"# {n.id}: {res.output.describe()}"
        else:
            block = CATALOG.get(n.type)
            ports = block.inputs(block.resolve(n.params)[0])
            arrow = " + ".join(res.inputs[p].describe() for p in ports)
            expected = f"# {n.id} ({n.type}): {arrow} -> {res.output.describe()}"
        assert comments.count(expected) == 1, expected
        if n.type != "Input":
            # the comment heads the block's own lines
            lineno = start + 2 + body.index(expected)
            assert gen.line_owner.get(lineno) == n.id, (lineno, n.id)
            assert re.match(r"^# \w+ \(\w+\): N( x \w+)*( \+ N( x \w+)*)* -> N( x \w+)*$", expected), expected


# ---- ids that clash with nn.Module / fx.GraphModule attributes ----------------------------------------------------

CLASHING_IDS = ["zero_grad", "buffers", "load_state_dict", "graph", "code"]


@pytest.mark.parametrize("bid", CLASHING_IDS)
def test_block_ids_that_clash_with_module_attributes_are_refused_or_work(bid):
    graph = new_graph()
    AddNode(Node("x", "Input", {"shape": [4], "axes": "F"})).apply(graph)
    try:
        AddNode(Node(bid, "Linear", {"out_features": 3})).apply(graph)
    except GraphError:
        return  # refused up front: fine
    AddNode(Node("out", "Output", {})).apply(graph)
    Connect(Edge("x", bid)).apply(graph)
    Connect(Edge(bid, "out")).apply(graph)
    ck = checker_for(graph)
    if not ck.valid:
        assert any(d.node == bid for d in ck.errors())
        return  # diagnosed: fine
    for trace in (False, True):
        model = compile_graph(graph, trace=trace)
        y = model(torch.randn(2, 4))
        assert tuple(y.shape) == (2, 3)
        assert sorted(model.state_dict()) == [f"{bid}.bias", f"{bid}.weight"]
