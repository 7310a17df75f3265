"""Diagnostics speak in axis terms and come with fixes that are edits: applying one removes its diagnostic."""

from __future__ import annotations

import pytest

from hybrid_studio.blocks import checker_for, new_graph
from hybrid_studio.graph import AddNode, Connect, Edge, Node, TensorSpec


def build(nodes: list[tuple], edges: list[tuple]):
    """nodes: (id, type, params); edges: (source, target[, target_port])."""
    g = new_graph()
    ck = checker_for(g)
    for nid, t, p in nodes:
        AddNode(Node(nid, t, p)).apply(g)
    for e in edges:
        Connect(Edge(e[0], e[1], target_port=e[2] if len(e) > 2 else "in")).apply(g)
    ck.flush()
    return g, ck


def chain(input_params: dict, *blocks, output=True):
    nodes = [("x_in", "Input", input_params)] + [(f"b{i}", t, p) for i, (t, p) in enumerate(blocks)]
    if output:
        nodes.append(("out", "Output", {}))
    ids = [n[0] for n in nodes]
    return build(nodes, list(zip(ids, ids[1:])))


def only(ck, nid=None, code=None):
    """The one diagnostic of node ``nid`` (graph-level when None)."""
    ds = [d for d in ck.diagnostics() if d.node == nid and (code is None or d.code == code)]
    assert len(ds) == 1, ck.diagnostics()
    return ds[0]


def apply(g, ck, fix):
    fix.edit(g).apply(g)
    ck.flush()


def fix_with(d, text):
    found = [f for f in d.fixes if text in f.label]
    assert found, [f.label for f in d.fixes]
    return found[0]


# ---- convolution and pooling sizes ---------------------------------------------------------------------------------

def test_conv_output_too_small_names_the_axis_and_sizes():
    g, ck = chain({"shape": [1, 2, 2], "axes": "CHW"}, ("Conv2d", {"out_channels": 4, "kernel_size": 3}))
    d = only(ck, "b0")
    assert d.severity == "error"
    assert "height (H)" in d.message and "H=2" in d.message and "kernel 3" in d.message
    apply(g, ck, fix_with(d, 'padding to "same"'))
    assert ck.valid, ck.diagnostics()
    assert ck.result("b0").output == TensorSpec("CHW", (4, 2, 2))


def test_pool_output_too_small_names_the_axis():
    g, ck = chain({"shape": [3, 9], "axes": "CL"}, ("Conv1d", {"out_channels": 2, "kernel_size": 5, "stride": 2}),
                  ("MaxPool1d", {"kernel_size": 4}))
    d = only(ck, "b1")
    assert "(L)" in d.message and "L=3" in d.message
    assert d.fixes, "a pool that does not fit should offer a fix"
    apply(g, ck, d.fixes[0])
    assert not [x for x in ck.diagnostics() if x.node == "b1" and x.message == d.message]


# ---- recurrent inputs ----------------------------------------------------------------------------------------------

def test_image_into_lstm_inserts_to_sequence():
    g, ck = chain({"shape": [1, 28, 28], "axes": "CHW"}, ("LSTM", {"hidden_size": 16}), ("Linear", {}))
    d = only(ck, "b0")
    assert "image" in d.message and "(N, T, F)" in d.message and "W=28" in d.message
    fix = d.fixes[0]
    assert fix.label == 'insert ToSequence(axis="width") before b0'
    apply(g, ck, fix)
    assert ck.valid, ck.diagnostics()
    assert len(g.nodes_of_type("ToSequence")) == 1
    assert ck.result("b0").inputs["in"] == TensorSpec("TF", (28, 28))


def test_video_into_lstm_flattens_each_step():
    g, ck = chain({"shape": [None, 3, 8, 8], "axes": "TCHW"}, ("GRU", {"hidden_size": 16}))
    d = only(ck, "b0")
    assert "video" in d.message and "T=?" in d.message and "C, H, W" in d.message
    apply(g, ck, fix_with(d, "Flatten"))
    assert ck.valid, ck.diagnostics()
    assert ck.result("b0").inputs["in"] == TensorSpec("TF", (None, 192))


def test_fix_edit_is_undoable():
    g, ck = chain({"shape": [1, 8, 8], "axes": "CHW"}, ("LSTM", {"hidden_size": 4}))
    before = ([(n.id, n.type, n.params) for n in g.nodes], g.edges)
    edit = only(ck, "b0").fixes[0].edit(g)
    edit.apply(g)
    ck.flush()
    assert ck.valid
    edit.revert(g)
    ck.flush()
    assert ([(n.id, n.type, n.params) for n in g.nodes], g.edges) == before
    assert not ck.valid


# ---- vectors into convolutions -------------------------------------------------------------------------------------

def test_vector_into_conv1d_reshapes():
    g, ck = chain({"shape": [20], "axes": "F"}, ("Conv1d", {"out_channels": 4, "kernel_size": 3}))
    d = only(ck, "b0")
    assert "feature vector" in d.message and "F=20" in d.message and "(N, C, L)" in d.message
    apply(g, ck, fix_with(d, "Reshape"))
    assert ck.valid, ck.diagnostics()
    assert ck.result("b0").output == TensorSpec("CL", (4, 18))


def test_vector_into_conv2d_reshapes():
    g, ck = chain({"shape": [64], "axes": "F"}, ("Conv2d", {"out_channels": 4, "kernel_size": 3}))
    d = only(ck, "b0")
    assert "feature vector" in d.message and "F=64" in d.message and "(N, C, H, W)" in d.message
    apply(g, ck, fix_with(d, "Reshape"))
    assert ck.valid, ck.diagnostics()
    assert ck.result("b0").output == TensorSpec("CHW", (4, 6, 6))


def test_vector_into_conv2d_without_square_size_becomes_a_one_pixel_wide_image():
    g, ck = chain({"shape": [20], "axes": "F"}, ("Conv2d", {"out_channels": 4}))
    d = only(ck, "b0")
    assert "feature vector" in d.message
    fix = fix_with(d, "Reshape")
    assert "kernel_size to [3, 1]" in fix.label
    apply(g, ck, fix)
    assert ck.valid, ck.diagnostics()
    assert ck.result("b0").output == TensorSpec("CHW", (4, 18, 1))


def test_unknown_param_can_be_removed():
    g, ck = chain({"shape": [1, 8, 8], "axes": "CHW"}, ("Conv2d", {"out_channels": 4, "colour": 3}))
    d = only(ck, "b0")
    assert "colour" in d.message
    apply(g, ck, fix_with(d, "remove b0.colour"))
    assert ck.valid and "colour" not in g.node("b0").params


# ---- fusion --------------------------------------------------------------------------------------------------------

CONCAT_CASES = {
    "image next to vector": (
        [("a", "Input", {"shape": [4, 6, 6], "axes": "CHW"}), ("v", "Input", {"shape": [3], "axes": "F"})],
        [("a", "cat", "in0"), ("v", "cat", "in1")], {}, "GlobalAvgPool", ["image", "vector", "in0", "in1"]),
    "recurrent sequence next to vector": (
        [("s", "Input", {"shape": [None, 5], "axes": "TF"}),
         ("rnn", "LSTM", {"hidden_size": 8, "return_sequences": True}), ("v", "Input", {"shape": [3], "axes": "F"})],
        [("s", "rnn"), ("rnn", "cat", "in0"), ("v", "cat", "in1")], {}, "rnn.return_sequences to false",
        ["sequence", "vector"]),
    "time concat with different F": (
        [("s", "Input", {"shape": [4, 3], "axes": "TF"}), ("t", "Input", {"shape": [6, 7], "axes": "TF"})],
        [("s", "cat", "in0"), ("t", "cat", "in1")], {"axis": "time"}, "Linear(out_features=3)",
        ["features (F)", "F=3", "F=7"]),
}


@pytest.mark.parametrize("case", list(CONCAT_CASES))
def test_concat_mismatch_fixes(case):
    nodes, edges, params, fix_text, words = CONCAT_CASES[case]
    g, ck = build(nodes + [("cat", "Concat", params), ("out", "Output", {})], edges + [("cat", "out")])
    d = only(ck, "cat")
    for w in words:
        assert w in d.message
    apply(g, ck, fix_with(d, fix_text))
    assert ck.valid, ck.diagnostics()


# ---- tokens --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("block", [("Linear", {"out_features": 3}), ("LSTM", {"hidden_size": 4}),
                                   ("Conv1d", {"out_channels": 2, "kernel_size": 1}), ("Concat", {})])
def test_int64_tokens_into_anything_but_embedding(block):
    t, p = block
    tokens = {"shape": [12], "axes": "T", "dtype": "int64"}
    if t == "Concat":
        g, ck = build([("x_in", "Input", tokens), ("x2", "Input", tokens), ("b0", t, p), ("out", "Output", {})],
                      [("x_in", "b0", "in0"), ("x2", "b0", "in1"), ("b0", "out")])
    else:
        g, ck = chain(tokens, block)
    d = only(ck, "b0")
    assert "int64" in d.message and "Embedding" in d.message and "T=12" in d.message
    apply(g, ck, fix_with(d, "Embedding"))
    if t == "Concat":  # one fix per port: the second port still carries tokens
        d2 = only(ck, "b0")
        assert "'in1'" in d2.message
        apply(g, ck, fix_with(d2, "Embedding"))
    assert ck.valid, ck.diagnostics()


def test_embedding_takes_tokens():
    g, ck = chain({"shape": [12], "axes": "T", "dtype": "int64"}, ("Embedding", {"embedding_dim": 8}))
    assert ck.valid
    assert ck.result("b0").output == TensorSpec("TF", (12, 8))


# ---- graph structure -----------------------------------------------------------------------------------------------

def test_unconnected_input_port_offers_a_connection():
    g, ck = build([("x_in", "Input", {"shape": [6], "axes": "F"}), ("fc", "Linear", {"out_features": 2}),
                   ("out", "Output", {})], [("fc", "out")])
    d = only(ck, "fc")
    assert d.code == "unconnected" and "'in'" in d.message and "not connected" in d.message
    fix = fix_with(d, "connect x_in")
    apply(g, ck, fix)
    assert ck.valid, ck.diagnostics()
    assert g.edge_into("fc", "in").source == "x_in"


def test_graph_without_output_adds_one():
    g, ck = chain({"shape": [6], "axes": "F"}, ("Linear", {"out_features": 2}), output=False)
    d = only(ck, None)
    assert d.code == "no-output" and "Output" in d.message
    apply(g, ck, fix_with(d, "b0"))
    assert ck.valid, ck.diagnostics()
    (out,) = g.nodes_of_type("Output")
    assert g.edge_into(out.id, "in").source == "b0"


def test_fix_wires_in_a_spare_block_of_the_right_type_instead_of_adding_another():
    """A user who placed a ToSequence but forgot to wire it gets it wired in, not a second one."""
    g = new_graph()
    ck = checker_for(g)
    for e in [AddNode(Node("image", "Input", {"shape": [4, 8, 8], "axes": "CHW"})),
              AddNode(Node("seq", "ToSequence", {"axis": "spatial"})),
              AddNode(Node("lstm", "LSTM", {"hidden_size": 8})), AddNode(Node("out", "Output")),
              Connect(Edge("image", "lstm")), Connect(Edge("lstm", "out"))]:
        e.apply(g)
    ck.flush()
    d = only(ck, "lstm")
    fix = fix_with(d, "wire seq in before lstm")
    apply(g, ck, fix)
    assert ck.valid, ck.diagnostics()
    assert [n.id for n in g.nodes] == ["image", "seq", "lstm", "out"]
    assert g.node("seq").params == {"axis": "width"}  # the fix's own settings win
    assert ck.result("lstm").inputs["in"] == TensorSpec("TF", (8, 32))
