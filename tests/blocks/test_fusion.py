"""Concat, Add, Multiply: ports, shapes (unknown sizes match), run-time agreement and diagnostics."""

from __future__ import annotations

import pytest
import torch

from hybrid_studio.blocks import CATALOG, checker_for, new_graph
from hybrid_studio.compile import compile_graph
from hybrid_studio.graph import AddNode, Connect, Edge, GraphError, Node, TensorSpec


def fused(type_name: str, params: dict, inputs: list[dict], chains: dict | None = None):
    """Inputs a0, a1, ... (each optionally through a chain of blocks) -> fusion block ``f`` -> Output."""
    g = new_graph()
    ck = checker_for(g)
    AddNode(Node("f", type_name, params)).apply(g)
    for i, ip in enumerate(inputs):
        AddNode(Node(f"a{i}", "Input", ip)).apply(g)
        prev = f"a{i}"
        for j, (t, p) in enumerate((chains or {}).get(i, [])):
            nid = f"c{i}_{j}"
            AddNode(Node(nid, t, p)).apply(g)
            Connect(Edge(prev, nid)).apply(g)
            prev = nid
        Connect(Edge(prev, "f", target_port=f"in{i}")).apply(g)
    AddNode(Node("out", "Output", {})).apply(g)
    Connect(Edge("f", "out")).apply(g)
    ck.flush()
    return g, ck


def img(c, h, w):
    return {"shape": [c, h, w], "axes": "CHW"}


def seq(t, f):
    return {"shape": [t, f], "axes": "TF"}


def vec(f):
    return {"shape": [f], "axes": "F"}


def test_ports_follow_the_inputs_param():
    cat = CATALOG.get("Concat")
    assert cat.inputs(cat.resolve({})[0]) == ["in0", "in1"]
    assert cat.inputs(cat.resolve({"inputs": 4})[0]) == ["in0", "in1", "in2", "in3"]
    assert CATALOG.input_ports("Add", {"inputs": 3}) == ["in0", "in1", "in2"]
    assert CATALOG.input_ports("Multiply", {"inputs": 99}) == ["in0", "in1"]  # out of range: falls back
    g = new_graph()
    AddNode(Node("a", "Input", vec(3))).apply(g)
    AddNode(Node("m", "Multiply", {})).apply(g)
    assert "no input port 'in2'" in g.why_not_connect(Edge("a", "m", target_port="in2"))
    with pytest.raises(GraphError):
        Connect(Edge("a", "m")).apply(g)  # fusion has no port "in"


def test_concat_images_along_channels_runs():
    g, ck = fused("Concat", {}, [img(2, 5, 6), img(3, 5, 6)])
    assert ck.result("f").output == TensorSpec("CHW", (5, 5, 6))
    gm = compile_graph(g, ck)
    a, b = torch.randn(2, 2, 5, 6), torch.randn(2, 3, 5, 6)
    assert torch.equal(gm(a, b), torch.cat([a, b], 1))


def test_concat_three_sequences_along_features_and_time():
    g, ck = fused("Concat", {"inputs": 3}, [seq(4, 2), seq(4, 3), seq(None, 5)])
    assert ck.result("f").output == TensorSpec("TF", (4, 10))  # the unknown T matches and takes the known one
    g, ck = fused("Concat", {"axis": "time"}, [seq(4, 3), seq(None, 3)])
    assert ck.result("f").output == TensorSpec("TF", (None, 3))  # unknown length: unknown sum
    g, ck = fused("Concat", {"axis": "time"}, [seq(4, 3), seq(6, 3)])
    assert ck.result("f").output == TensorSpec("TF", (10, 3))
    a, b = torch.randn(2, 4, 3), torch.randn(2, 6, 3)
    assert torch.equal(compile_graph(g, ck)(a, b), torch.cat([a, b], 1))


def test_concat_video_features_use_channels():
    g, ck = fused("Concat", {}, [{"shape": [3, 2, 4, 4], "axes": "TCHW"}, {"shape": [3, 5, 4, 4], "axes": "TCHW"}])
    assert ck.result("f").output == TensorSpec("TCHW", (3, 7, 4, 4))
    assert tuple(compile_graph(g, ck)(torch.randn(1, 3, 2, 4, 4), torch.randn(1, 3, 5, 4, 4)).shape) == (1, 3, 7, 4, 4)


@pytest.mark.parametrize("type_name,op", [("Add", torch.add), ("Multiply", torch.mul)])
def test_elementwise_runs(type_name, op):
    g, ck = fused(type_name, {}, [img(2, 3, 3), img(2, 3, 3)])
    assert ck.result("f").output == TensorSpec("CHW", (2, 3, 3))
    assert ck.result("f").params == 0
    a, b = torch.randn(2, 2, 3, 3), torch.randn(2, 2, 3, 3)
    assert torch.allclose(compile_graph(g, ck)(a, b), op(a, b))


def test_add_three_with_unknown_time():
    g, ck = fused("Add", {"inputs": 3}, [seq(None, 4), seq(5, 4), seq(None, 4)])
    assert ck.result("f").output == TensorSpec("TF", (5, 4))
    xs = [torch.randn(2, 5, 4) for _ in range(3)]
    assert torch.allclose(compile_graph(g, ck)(*xs), xs[0] + xs[1] + xs[2])


def test_add_shape_mismatch_names_axis_and_projects():
    g, ck = fused("Add", {}, [seq(5, 4), seq(5, 6)])
    (d,) = ck.result("f").diagnostics
    assert "features (F)" in d.message and "in0 has F=4" in d.message and "in1 has F=6" in d.message
    assert d.fixes[0].label.startswith("insert Linear(out_features=4) before f.in1")
    d.fixes[0].edit(g).apply(g)
    ck.flush()
    assert ck.valid, ck.diagnostics()


def test_add_kinds_differ_says_which_arrived_where():
    g, ck = fused("Multiply", {}, [img(2, 3, 3), seq(3, 3)])
    (d,) = ck.result("f").diagnostics
    assert "in0 got image (N, C=2, H=3, W=3)" in d.message and "in1 got sequence (N, T=3, F=3)" in d.message
    assert [f.label for f in d.fixes] == ["insert GlobalAvgPool() before f.in0", "insert GlobalAvgPool() before f.in1"]


def apply_all(g, ck, node="f"):
    """Apply the first fix of ``node``'s diagnostic until it has none; returns the labels applied."""
    applied = []
    for _ in range(5):
        ds = ck.result(node).diagnostics
        if not ds:
            return applied
        assert ds[0].fixes, ds[0].message
        applied.append(ds[0].fixes[0].label)
        ds[0].fixes[0].edit(g).apply(g)
        ck.flush()
    raise AssertionError(f"still failing after {applied}")


def test_concat_image_next_to_sequence_reduces_both_to_vectors():
    g, ck = fused("Concat", {}, [img(4, 6, 6), seq(None, 5)])
    (d,) = ck.result("f").diagnostics
    assert "feature vectors (N, F)" in d.message
    assert [f.label for f in d.fixes] == ["insert GlobalAvgPool() before f.in0", "insert GlobalAvgPool() before f.in1"]
    assert apply_all(g, ck) == ["insert GlobalAvgPool() before f.in0", "insert GlobalAvgPool() before f.in1"]
    assert ck.valid, ck.diagnostics()
    assert ck.result("f").output == TensorSpec("F", (9,))


def test_concat_video_next_to_sequence_pools_every_frame():
    g, ck = fused("Concat", {}, [{"shape": [3, 2, 4, 4], "axes": "TCHW"}, seq(3, 5)])
    (d,) = ck.result("f").diagnostics
    assert "sequences (N, T, F)" in d.message
    assert [f.label for f in d.fixes] == ["insert GlobalAvgPool() before f.in0"]
    apply_all(g, ck)
    assert ck.valid and ck.result("f").output == TensorSpec("TF", (3, 7))


def test_concat_sequences_of_other_lengths_offer_the_final_state():
    g, ck = fused("Concat", {}, [seq(4, 3), seq(6, 2)], chains={1: [("LSTM", {"hidden_size": 4,
                                                                              "return_sequences": True})]})
    (d,) = ck.result("f").diagnostics
    assert "time (T)" in d.message and "in0 has T=4, in1 has T=6" in d.message
    assert [f.label for f in d.fixes] == ["set c1_0.return_sequences to false", "insert GlobalAvgPool() before f.in1"]
    assert apply_all(g, ck) == ["set c1_0.return_sequences to false", "insert GlobalAvgPool() before f.in0"]
    assert ck.valid and ck.result("f").output == TensorSpec("F", (7,))


def test_concat_images_of_other_heights_offer_global_pooling():
    g, ck = fused("Concat", {}, [img(2, 8, 8), img(3, 4, 8)])
    (d,) = ck.result("f").diagnostics
    assert [f.label for f in d.fixes] == ["insert GlobalAvgPool() before f.in1"]
    apply_all(g, ck)
    assert ck.valid and ck.result("f").output == TensorSpec("F", (5,))


def test_concat_axes_differ_in_kind():
    g, ck = fused("Concat", {}, [img(2, 3, 3), {"shape": [2, 9], "axes": "CL"}])
    (d,) = ck.result("f").diagnostics
    assert "in0 got image" in d.message and "in1 got signal" in d.message


def test_concat_other_axis_mismatch_message():
    g, ck = fused("Concat", {}, [img(2, 8, 8), img(3, 4, 8)])
    (d,) = ck.result("f").diagnostics
    assert "channels (C)" in d.message and "height (H)" in d.message
    assert "in0 has H=8, in1 has H=4" in d.message


def test_concat_image_next_to_vector_inserts_global_pool():
    g, ck = fused("Concat", {}, [img(4, 6, 6), vec(3)])
    (d,) = ck.result("f").diagnostics
    assert "in0 got image" in d.message and "in1 got vector" in d.message
    assert d.fixes[0].label == "insert GlobalAvgPool() before f.in0"
    d.fixes[0].edit(g).apply(g)
    ck.flush()
    assert ck.valid and ck.result("f").output == TensorSpec("F", (7,))


def test_concat_recurrent_sequence_next_to_vector_sets_return_sequences():
    g, ck = fused("Concat", {}, [vec(3), seq(5, 2)], chains={1: [("GRU", {"hidden_size": 4,
                                                                          "return_sequences": True})]})
    (d,) = ck.result("f").diagnostics
    assert "in1 got sequence" in d.message
    assert d.fixes[0].label == "set c1_0.return_sequences to false"
    d.fixes[0].edit(g).apply(g)
    ck.flush()
    assert ck.valid and ck.result("f").output == TensorSpec("F", (7,))


def test_concat_plain_sequence_next_to_vector_pools_over_time():
    g, ck = fused("Concat", {}, [vec(3), seq(5, 2)])
    (d,) = ck.result("f").diagnostics
    assert [f.label for f in d.fixes] == ["insert GlobalAvgPool() before f.in1"]  # an Input has no return_sequences
    d.fixes[0].edit(g).apply(g)
    ck.flush()
    assert ck.valid and ck.result("f").output == TensorSpec("F", (5,))


def test_time_concat_feature_mismatch_inserts_linear():
    g, ck = fused("Concat", {"axis": "time"}, [seq(4, 3), seq(6, 5)])
    (d,) = ck.result("f").diagnostics
    assert "time (T)" in d.message and "features (F)" in d.message and "in1 has F=5" in d.message
    assert d.fixes[0].label == "insert Linear(out_features=3) before f.in1"
    d.fixes[0].edit(g).apply(g)
    ck.flush()
    assert ck.valid and ck.result("f").output == TensorSpec("TF", (10, 3))


def test_concat_suggests_the_other_axis_when_only_it_differs():
    g, ck = fused("Concat", {}, [seq(4, 3), seq(6, 3)])
    (d,) = ck.result("f").diagnostics
    assert "time (T)" in d.message
    assert d.fixes[-1].label == 'set f.axis to "time"'
    d.fixes[-1].edit(g).apply(g)
    ck.flush()
    assert ck.valid and ck.result("f").output == TensorSpec("TF", (10, 3))


def test_time_concat_without_time_axis():
    g, ck = fused("Concat", {"axis": "time"}, [vec(3), vec(4)])
    (d,) = ck.result("f").diagnostics
    assert "time axis T" in d.message
    d.fixes[0].edit(g).apply(g)
    ck.flush()
    assert ck.valid and ck.result("f").output == TensorSpec("F", (7,))


def test_unconnected_fusion_port():
    g = new_graph()
    ck = checker_for(g)
    AddNode(Node("a", "Input", vec(3))).apply(g)
    AddNode(Node("f", "Add", {})).apply(g)
    Connect(Edge("a", "f", target_port="in0")).apply(g)
    ck.flush()
    (d,) = ck.result("f").diagnostics
    assert "'in1'" in d.message and "not connected" in d.message


def test_summaries_and_prefixes():
    cat = CATALOG.get("Concat")
    assert cat.summary(cat.defaults()) == "features"
    assert cat.summary(cat.resolve({"axis": "time", "inputs": 3})[0]) == "time, 3 inputs"
    assert CATALOG.get("Add").summary(CATALOG.get("Add").defaults()) == "sum of 2 inputs"
    mul = CATALOG.get("Multiply")
    assert mul.summary(mul.resolve({"inputs": 3})[0]) == "product of 3 inputs"
    g = new_graph()
    assert [g.new_id(t) for t in ("Concat", "Add", "Multiply")] == ["cat1", "add1", "mul1"]
    assert {CATALOG.get(t).category for t in ("Concat", "Add", "Multiply")} == {"Fusion"}
