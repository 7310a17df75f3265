"""ONNX export of the v2 blocks (ConvLSTM2d, Conv3d, AttentionPool, MultiheadAttention, Permute, GRU with
reset_after=false, RNN): onnxruntime gives
torch's numbers at other batch sizes, and at other lengths where a length is variable (docs/blocks.md says which
block exports how)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
pytest.importorskip("torch")

from hybrid_studio.compile import CompileError  # noqa: E402
from hybrid_studio.compile.onnx_export import export_onnx  # noqa: E402
from hybrid_studio.project import loads_project  # noqa: E402

from test_onnx_export import check_against_torch  # noqa: E402  (pytest puts this folder on sys.path)


def project(inputs: list, chain: list, extra_edges=()) -> str:
    """Inputs (id, shape, axes), then a chain of (id, type, params) fed by the first input, ending in an Output."""
    nodes = [{"id": i, "type": "Input", "params": {"shape": s, "axes": a}} for i, s, a in inputs]
    nodes += [{"id": i, "type": t, "params": p} for i, t, p in chain]
    nodes.append({"id": "out", "type": "Output", "params": {"task": "regression"}})
    ids = [inputs[0][0]] + [c[0] for c in chain] + ["out"]
    edges = [{"source": a, "target": b} for a, b in zip(ids, ids[1:])]
    edges = [e for e in edges if not any(x["target"] == e["target"] for x in extra_edges)] + list(extra_edges)
    return json.dumps({"format": "hybrid-studio", "version": 1, "name": "onnx-new", "nodes": nodes, "edges": edges})


CASES = {
    "convlstm": project([("video", [4, 2, 6, 6], "TCHW")],
                        [("cl", "ConvLSTM2d", {"hidden_channels": 3}),
                         ("cl2", "ConvLSTM2d", {"hidden_channels": 2, "kernel_size": [3, 2], "padding": "valid",
                                                "return_sequences": False})]),
    "conv3d": project([("video", [None, 2, 6, 6], "TCHW")],
                      [("c3", "Conv3d", {"out_channels": 3, "kernel_size": [2, 3, 3], "padding": [1, 1, 1],
                                         "activation": "relu"})]),
    "attention": project([("series", [None, 6], "TF")],
                         [("sa", "MultiheadAttention", {"inputs": 1, "num_heads": 2}),
                          ("pool", "AttentionPool", {"attention_size": 5})]),
    "cross": project([("q", [5, 6], "TF"), ("kv", [None, 4], "TF")],
                     [("mha", "MultiheadAttention", {"num_heads": 3})],
                     [{"source": "q", "target": "mha", "target_port": "in0"},
                      {"source": "kv", "target": "mha", "target_port": "in1"},
                      {"source": "mha", "target": "out"}]),
    "permute": project([("image", [3, 4, 5], "CHW")],
                       [("p", "Permute", {"axes": "HWC"}), ("fc", "Linear", {"out_features": 2})]),
    "gru_reset_before": project([("series", [None, 4], "TF")],
                                [("g1", "GRU", {"hidden_size": 3, "reset_after": False, "bidirectional": True,
                                                "num_layers": 2, "return_sequences": True}),
                                 ("g2", "GRU", {"hidden_size": 2, "reset_after": False, "bias": False})]),
    "rnn": project([("series", [None, 4], "TF")],
                   [("r1", "RNN", {"hidden_size": 3, "bidirectional": True, "return_sequences": True,
                                   "merge_mode": "sum"}),
                    ("r2", "RNN", {"hidden_size": 2, "nonlinearity": "relu"})]),
}
#: (batch, length for variable sizes) pairs each case runs at.
SIZES = {"convlstm": [(1, 0), (3, 0)], "conv3d": [(1, 3), (2, 7)], "attention": [(1, 4), (3, 9)],
         "cross": [(1, 3), (2, 8)], "permute": [(1, 0), (4, 0)], "gru_reset_before": [(1, 3), (3, 11)],
         "rnn": [(1, 3), (2, 9)]}


@pytest.mark.parametrize("name", list(CASES))
def test_new_blocks_export_and_match_torch(name, tmp_path):
    check_against_torch(loads_project(CASES[name]), tmp_path / f"{name}.onnx", SIZES[name])


def test_convlstm_over_a_variable_length_is_refused_and_nothing_is_written(tmp_path):
    """Its loop would be unrolled at the example's length: a model that fails at any other T must not be written."""
    graph = loads_project(project([("video", [None, 2, 6, 6], "TCHW")],
                                  [("cl", "ConvLSTM2d", {"hidden_channels": 3, "return_sequences": False})]))
    target = tmp_path / "cl.onnx"
    with pytest.raises(CompileError, match=r"block 'cl' \(ConvLSTM2d\).*fixed T"):
        export_onnx(graph, target)
    assert not target.exists()



def test_gru_reset_before_exports_as_onnxs_gru_op(tmp_path):
    """ONNX's GRU with linear_before_reset=0 is the same form: one op per layer and direction pair, any length."""
    import onnx
    check_against_torch(loads_project(CASES["gru_reset_before"]), tmp_path / "gru.onnx", [(2, 5)])
    grus = [n for n in onnx.load(str(tmp_path / "gru.onnx")).graph.node if n.op_type == "GRU"]
    assert len(grus) == 3  # two layers of g1, one of g2
    for node in grus:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert attrs.get("linear_before_reset", 0) == 0
    assert [len(n.input) for n in grus] == [4, 4, 3]  # g2 has no bias


def test_the_command_line_names_the_block_that_cannot_be_exported(tmp_path, capsys):
    from hybrid_studio.cli import main
    path = tmp_path / "cl.hsproj.json"
    path.write_text(project([("video", [None, 2, 6, 6], "TCHW")],
                            [("cl", "ConvLSTM2d", {"hidden_channels": 3, "return_sequences": False})]))
    code = main(["export", str(path), "--format", "onnx", "-o", str(tmp_path / "cl.onnx")])
    err = capsys.readouterr().err
    assert code == 1 and "block 'cl' (ConvLSTM2d)" in err and "fixed T" in err, err
    assert not (tmp_path / "cl.onnx").exists()
