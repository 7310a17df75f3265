"""LSTM, GRU, RNN and Embedding: shapes, PyTorch's parameter counts, h_n semantics, fx tracing and diagnostics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hybrid_studio.blocks import CATALOG, checker_for, new_graph
from hybrid_studio.compile import compile_graph, generate
from hybrid_studio.graph import AddNode, Connect, Edge, Node, TensorSpec


def chain(input_params: dict, *blocks):
    """Input -> blocks... -> Output; returns (graph, checker)."""
    g = new_graph()
    ck = checker_for(g)
    AddNode(Node("x_in", "Input", input_params)).apply(g)
    prev = "x_in"
    for i, (type_name, params) in enumerate(blocks):
        nid = f"b{i}"
        AddNode(Node(nid, type_name, params)).apply(g)
        Connect(Edge(prev, nid)).apply(g)
        prev = nid
    AddNode(Node("out", "Output", {})).apply(g)
    Connect(Edge(prev, "out")).apply(g)
    ck.flush()
    return g, ck


SEQ = {"shape": [7, 5], "axes": "TF"}


@pytest.mark.parametrize("type_name,torch_cls", [("LSTM", torch.nn.LSTM), ("GRU", torch.nn.GRU),
                                                 ("RNN", torch.nn.RNN)])
@pytest.mark.parametrize("layers,bi,bias", [(1, False, True), (2, True, True), (3, True, False), (2, False, False)])
def test_param_count_is_pytorchs(type_name, torch_cls, layers, bi, bias):
    g, ck = chain(SEQ, (type_name, {"hidden_size": 6, "num_layers": layers, "bidirectional": bi, "bias": bias}))
    ref = torch_cls(5, 6, num_layers=layers, bidirectional=bi, bias=bias, batch_first=True)
    assert ck.result("b0").params == sum(p.numel() for p in ref.parameters())


@pytest.mark.parametrize("type_name", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("bi,merge,seq,expected", [
    (False, "concat", False, ("F", (6,))),
    (False, "concat", True, ("TF", (7, 6))),
    (True, "concat", False, ("F", (12,))),
    (True, "concat", True, ("TF", (7, 12))),
    (True, "sum", False, ("F", (6,))),
    (True, "sum", True, ("TF", (7, 6))),
    (False, "sum", True, ("TF", (7, 6))),  # sum only matters with two directions
])
def test_output_shapes(type_name, bi, merge, seq, expected):
    params = {"hidden_size": 6, "bidirectional": bi, "merge_mode": merge, "return_sequences": seq, "num_layers": 2}
    g, ck = chain(SEQ, (type_name, params))
    assert ck.result("b0").output == TensorSpec(*expected)
    y = compile_graph(g, ck)(torch.randn(3, 7, 5))
    assert tuple(y.shape) == (3, *expected[1])


def test_unknown_time_keeps_none_and_macs_unknown():
    g, ck = chain({"shape": [None, 5], "axes": "TF"}, ("LSTM", {"hidden_size": 4, "return_sequences": True}))
    assert ck.result("b0").output == TensorSpec("TF", (None, 4))
    assert ck.result("b0").macs is None
    y = compile_graph(g, ck)(torch.randn(2, 11, 5))
    assert tuple(y.shape) == (2, 11, 4)


def test_macs_estimate():
    g, ck = chain(SEQ, ("GRU", {"hidden_size": 4, "num_layers": 2, "bidirectional": True}))
    # per direction: layer 0 reads F=5, layer 1 reads both directions (8); 3 gates
    assert ck.result("b0").macs == 7 * 2 * (3 * 4 * (5 + 4) + 3 * 4 * (8 + 4))


def _module_and_model(type_name, params, t=7, features=5):
    g, ck = chain({"shape": [t, features], "axes": "TF"}, (type_name, params))
    gm = compile_graph(g, ck)
    return gm.b0, gm


@pytest.mark.parametrize("type_name", ["LSTM", "GRU", "RNN"])
def test_final_state_is_h_n_not_last_output(type_name):
    """Bidirectional, no sequences: forward h_n[-2] and backward h_n[-1], not out[:, -1]."""
    rnn, gm = _module_and_model(type_name, {"hidden_size": 4, "num_layers": 2, "bidirectional": True})
    x = torch.randn(3, 7, 5)
    out, h = rnn(x)
    h_n = h[0] if type_name == "LSTM" else h
    y = gm(x)
    assert torch.allclose(y, torch.cat([h_n[-2], h_n[-1]], dim=1))
    # the backward half of out[:, -1] has seen one step only: it differs from the backward h_n
    assert not torch.allclose(y[:, 4:], out[:, -1, 4:])


@pytest.mark.parametrize("type_name", ["LSTM", "GRU", "RNN"])
def test_sum_merge(type_name):
    rnn, gm = _module_and_model(type_name, {"hidden_size": 4, "bidirectional": True, "merge_mode": "sum"})
    x = torch.randn(2, 7, 5)
    out, h = rnn(x)
    h_n = h[0] if type_name == "LSTM" else h
    assert torch.allclose(gm(x), h_n[-2] + h_n[-1])
    rnn, gm = _module_and_model(type_name, {"hidden_size": 4, "bidirectional": True, "merge_mode": "sum",
                                            "return_sequences": True})
    out, _ = rnn(x)
    assert torch.allclose(gm(x), out[..., :4] + out[..., 4:])



# ---- GRU with reset_after=false (Keras's reset_after=False, ONNX's linear_before_reset=0) ---------------------------

def _onnx_gru_reference(module, x, bidirectional: bool, bias: bool):
    """onnxruntime's GRU op (linear_before_reset=0) on ``x`` with ``module``'s weights: (every step, final states)."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    hs = module.hidden_size
    sfx = ("", "_reverse") if bidirectional else ("",)

    def zrh(w):  # the studio's gate order r, z, n -> ONNX's z, r, h
        return torch.cat([w[hs:2 * hs], w[:hs], w[2 * hs:]]).detach().numpy()

    W = np.stack([zrh(getattr(module, f"weight_ih_l0{s}")) for s in sfx])
    R = np.stack([zrh(getattr(module, f"weight_hh_l0{s}")) for s in sfx])
    inits = [numpy_helper.from_array(W, "W"), numpy_helper.from_array(R, "R")]
    ins = ["X", "W", "R"]
    if bias:
        B = np.stack([np.concatenate([zrh(getattr(module, f"bias_l0{s}")), np.zeros(3 * hs, np.float32)])
                      for s in sfx])
        inits.append(numpy_helper.from_array(B, "B"))
        ins.append("B")
    node = helper.make_node("GRU", ins, ["Y", "Y_h"], hidden_size=hs, linear_before_reset=0,
                            direction="bidirectional" if bidirectional else "forward")
    graph = helper.make_graph([node], "gru", [helper.make_tensor_value_info("X", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None),
                               helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, None)], inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    y, y_h = sess.run(None, {"X": x.transpose(0, 1).numpy()})  # ONNX reads (T, N, F)
    # Y: (T, directions, N, H) -> (N, T, directions * H)
    return torch.from_numpy(y).permute(2, 0, 1, 3).flatten(2), torch.from_numpy(y_h)


@pytest.mark.parametrize("bi,bias", [(False, True), (True, True), (True, False)])
def test_gru_reset_before_matches_onnxruntimes_gru_op(bi, bias):
    """An independent implementation of the same equations: ONNX's GRU with linear_before_reset=0."""
    torch.manual_seed(0)
    rnn, gm = _module_and_model("GRU", {"hidden_size": 4, "bidirectional": bi, "bias": bias, "reset_after": False,
                                        "return_sequences": True})
    assert type(rnn).__name__ == "GRUResetBefore"
    x = torch.randn(3, 7, 5)
    want_seq, want_h = _onnx_gru_reference(rnn, x, bi, bias)
    with torch.no_grad():
        out, h_n = rnn(x)
        torch.testing.assert_close(gm(x), want_seq, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out, want_seq, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(h_n, want_h, atol=1e-5, rtol=1e-5)
    # and it differs from PyTorch's reset-after GRU with the same weights (the form really changed)
    ref = torch.nn.GRU(5, 4, batch_first=True, bidirectional=bi, bias=bias)
    with torch.no_grad():
        for name, w in rnn.named_parameters():
            if name.startswith("bias"):
                getattr(ref, name.replace("bias", "bias_ih")).copy_(w)
                getattr(ref, name.replace("bias", "bias_hh")).zero_()
            else:
                getattr(ref, name).copy_(w)
        assert not torch.allclose(ref(x)[0], want_seq, atol=1e-3)


@pytest.mark.parametrize("layers,bi,bias", [(1, False, True), (2, True, True), (3, True, False), (2, False, False)])
def test_gru_reset_before_count_and_stacked_layers(layers, bi, bias):
    params = {"hidden_size": 6, "num_layers": layers, "bidirectional": bi, "bias": bias, "reset_after": False}
    g, ck = chain(SEQ, ("GRU", params))
    model = compile_graph(g, ck)
    counted = ck.result("b0").params
    assert counted == sum(p.numel() for p in model.parameters())
    ref = torch.nn.GRU(5, 6, num_layers=layers, bidirectional=bi, bias=bias)
    # one bias per gate instead of PyTorch's two
    assert counted == sum(p.numel() for p in ref.parameters()) - (layers * (2 if bi else 1) * 18 if bias else 0)
    x = torch.randn(2, 7, 5)
    out, h_n = model.b0(x)
    assert tuple(out.shape) == (2, 7, 6 * (2 if bi else 1)) and tuple(h_n.shape) == (layers * (2 if bi else 1), 2, 6)
    assert torch.allclose(model(x), h_n[-2:].permute(1, 0, 2).flatten(1) if bi else h_n[-1])


def test_gru_reset_before_stacked_equals_its_layers_chained():
    torch.manual_seed(1)
    two, _ = _module_and_model("GRU", {"hidden_size": 3, "num_layers": 2, "bidirectional": True,
                                       "reset_after": False, "return_sequences": True})
    one, _ = _module_and_model("GRU", {"hidden_size": 3, "bidirectional": True, "reset_after": False,
                                       "return_sequences": True})
    upper, _ = _module_and_model("GRU", {"hidden_size": 3, "bidirectional": True, "reset_after": False,
                                         "return_sequences": True}, features=6)
    state = two.state_dict()
    one.load_state_dict({k: v for k, v in state.items() if "_l0" in k})
    upper.load_state_dict({k.replace("_l1", "_l0"): v for k, v in state.items() if "_l1" in k})
    x = torch.randn(2, 7, 5)
    with torch.no_grad():
        lower_out, lower_h = one(x)
        upper_out, upper_h = upper(lower_out)
        out, h_n = two(x)
    torch.testing.assert_close(out, upper_out)
    torch.testing.assert_close(h_n, torch.cat([lower_h, upper_h]))


def test_gru_reset_before_source_is_standalone_and_readable(tmp_path):
    g, ck = chain(SEQ, ("GRU", {"hidden_size": 4, "reset_after": False, "bidirectional": True}))
    src = generate(g, ck).source
    assert "class GRUResetBefore(nn.Module):" in src
    assert "self.b0 = GRUResetBefore(5, 4, bidirectional=True)" in src
    assert "nn.GRU(" not in src and "import hybrid_studio" not in src
    # the written file runs on its own, with the compiled model's weights (same state_dict keys)
    path = tmp_path / "model.py"
    path.write_text(src)
    import importlib.util
    spec = importlib.util.spec_from_file_location("exported_gru", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    gm = compile_graph(g, ck)
    standalone = mod.Model()
    standalone.load_state_dict(gm.state_dict())
    x = torch.randn(2, 7, 5)
    torch.testing.assert_close(standalone(x), gm(x))
    p = CATALOG.get("GRU").resolve({"hidden_size": 4, "reset_after": False})[0]
    assert CATALOG.get("GRU").summary(p) == "4, reset before"


def test_rnn_relu_is_torchs_rnn_and_in_the_source():
    g, ck = chain(SEQ, ("RNN", {"hidden_size": 4, "nonlinearity": "relu", "return_sequences": True}))
    assert "self.b0 = nn.RNN(5, 4, batch_first=True, nonlinearity='relu')" in generate(g, ck).source
    gm = compile_graph(g, ck)
    assert gm.b0.nonlinearity == "relu"
    x = torch.randn(2, 7, 5)
    assert (gm(x) >= 0).all() and torch.allclose(gm(x), gm.b0(x)[0])
    assert CATALOG.get("RNN").category == "Recurrent" and new_graph().new_id("RNN") == "rnn1"


def test_unidirectional_final_state_is_last_layer():
    rnn, gm = _module_and_model("LSTM", {"hidden_size": 3, "num_layers": 3})
    x = torch.randn(2, 7, 5)
    out, (h_n, _) = rnn(x)
    assert torch.allclose(gm(x), h_n[-1])
    assert torch.allclose(gm(x), out[:, -1])  # one direction: the last step is the final state


def test_generated_source_indexes_instead_of_unpacking_and_omits_defaults():
    g2, ck2 = chain(SEQ, ("LSTM", {"hidden_size": 8, "return_sequences": True}),
                    ("GRU", {"hidden_size": 4, "num_layers": 2, "dropout": 0.2, "bidirectional": True,
                             "bias": False}))
    src = generate(g2, ck2).source
    assert "self.b0 = nn.LSTM(5, 8, batch_first=True)" in src
    assert "self.b1 = nn.GRU(8, 4, num_layers=2, bias=False, batch_first=True, dropout=0.2, bidirectional=True)" \
        in src
    assert "self.b0(x_in)[0]" in src and "self.b1(b0)[1]" in src
    assert ", _ =" not in src
    assert ck2.valid


def test_dropout_left_out_for_a_single_layer():
    """PyTorch warns about (and ignores) dropout on one layer; the generated module leaves it out."""
    g, ck = chain(SEQ, ("GRU", {"hidden_size": 4, "dropout": 0.5}))
    assert "dropout" not in generate(g, ck).source


def test_summary():
    lstm = CATALOG.get("LSTM")
    p = lstm.resolve({"hidden_size": 128, "bidirectional": True, "return_sequences": True})[0]
    assert lstm.summary(p) == "128, bi, seq"
    p = lstm.resolve({"hidden_size": 64, "num_layers": 2, "bidirectional": True, "merge_mode": "sum"})[0]
    assert lstm.summary(p) == "64 x2, bi sum"
    assert CATALOG.get("GRU").summary(CATALOG.get("GRU").defaults()) == "128"


def test_categories_and_prefixes():
    assert CATALOG.get("LSTM").category == CATALOG.get("GRU").category == "Recurrent"
    g = new_graph()
    assert (g.new_id("LSTM"), g.new_id("GRU"), g.new_id("Embedding")) == ("lstm1", "gru1", "embed1")


# ---- diagnostics ---------------------------------------------------------------------------------------------------

def _diag(ck, nid="b0"):
    ds = ck.result(nid).diagnostics
    assert len(ds) == 1, ds
    return ds[0]


def _apply_fix(g, ck, fix):
    fix.edit(g).apply(g)
    ck.flush()


@pytest.mark.parametrize("type_name", ["LSTM", "GRU"])
def test_image_gets_to_sequence_fix(type_name):
    g, ck = chain({"shape": [1, 28, 28], "axes": "CHW"}, (type_name, {"hidden_size": 8}))
    d = _diag(ck)
    assert "image" in d.message and "C=1" in d.message and "H=28" in d.message and "W=28" in d.message
    assert "(N, T, F)" in d.message
    fix = d.fixes[0]
    assert "ToSequence" in fix.label and "width" in fix.label
    _apply_fix(g, ck, fix)
    assert ck.valid, ck.diagnostics()
    assert ck.result("b0").output == TensorSpec("F", (8,))


def test_video_gets_flatten_fix():
    g, ck = chain({"shape": [5, 3, 4, 4], "axes": "TCHW"}, ("LSTM", {"hidden_size": 8}))
    d = _diag(ck)
    assert "video" in d.message and "T=5" in d.message and "flatten" in d.message.lower()
    assert "Flatten" in d.fixes[0].label
    _apply_fix(g, ck, d.fixes[0])
    assert ck.valid, ck.diagnostics()
    assert ck.result("b0").inputs["in"] == TensorSpec("TF", (5, 48))


@pytest.mark.parametrize("channels", [1, 3])
def test_signal_gets_a_sequence_fix(channels):
    g, ck = chain({"shape": [channels, 50], "axes": "CL"}, ("GRU", {"hidden_size": 8}))
    d = _diag(ck)
    assert "signal" in d.message and "L=50" in d.message and "length L as time" in d.message
    assert d.fixes
    _apply_fix(g, ck, d.fixes[0])
    assert ck.valid, ck.diagnostics()
    assert ck.result("b0").inputs["in"] == TensorSpec("TF", (50, channels))  # time order kept


def test_vector_after_a_recurrent_block_sets_return_sequences():
    g, ck = chain(SEQ, ("LSTM", {"hidden_size": 8}), ("LSTM", {"hidden_size": 4}))
    d = _diag(ck, "b1")
    assert "time axis T" in d.message and "F=8" in d.message
    assert d.fixes[0].label == "set b0.return_sequences to true"
    _apply_fix(g, ck, d.fixes[0])
    assert ck.valid and ck.result("b1").inputs["in"] == TensorSpec("TF", (7, 8))


def test_vector_from_another_block_gets_a_reshape_only():
    g, ck = chain({"shape": [6], "axes": "F"}, ("Linear", {"out_features": 10}), ("GRU", {"hidden_size": 4}))
    d = _diag(ck, "b1")
    assert "time axis T" in d.message
    # Linear has no return_sequences: that fix is not offered
    assert [f.label for f in d.fixes if "return_sequences" in f.label] == []
    assert "Reshape" in d.fixes[0].label
    _apply_fix(g, ck, d.fixes[0])
    assert ck.valid, ck.diagnostics()
    assert ck.result("b1").inputs["in"] == TensorSpec("TF", (1, 10))


def test_unknown_feature_size_is_refused():
    g, ck = chain({"shape": [5, None], "axes": "TF"}, ("LSTM", {"hidden_size": 4}))
    assert "feature size F" in _diag(ck).message


def test_bad_param_values_are_diagnosed():
    g, ck = chain(SEQ, ("LSTM", {"hidden_size": 0, "merge_mode": "mean"}))
    d = _diag(ck)
    assert "hidden_size" in d.message
    g, ck = chain(SEQ, ("LSTM", {"merge_mode": "mean"}))
    assert "merge_mode" in _diag(ck).message


# ---- Embedding -----------------------------------------------------------------------------------------------------

TOKENS = {"shape": [None], "axes": "T", "dtype": "int64"}


def test_embedding_to_lstm_runs():
    g, ck = chain(TOKENS, ("Embedding", {"num_embeddings": 50, "embedding_dim": 12}), ("LSTM", {"hidden_size": 6}))
    assert ck.result("b0").output == TensorSpec("TF", (None, 12))
    assert ck.result("b0").params == 600
    assert ck.result("b1").output == TensorSpec("F", (6,))
    gm = compile_graph(g, ck)
    assert tuple(gm(torch.randint(0, 50, (3, 9))).shape) == (3, 6)
    assert sum(p.numel() for p in gm.b0.parameters()) == 600
    assert CATALOG.get("Embedding").summary({"num_embeddings": 50, "embedding_dim": 12}) == "50 -> 12"


def test_embedding_rejects_floats_with_a_dtype_fix():
    g, ck = chain({"shape": [9], "axes": "T"}, ("Embedding", {}))
    d = _diag(ck)
    assert "int64" in d.message and "float32" in d.message and "T=9" in d.message
    assert d.fixes[0].label == 'set x_in.dtype to "int64"'
    _apply_fix(g, ck, d.fixes[0])
    assert ck.valid, ck.diagnostics()
    assert ck.result("b0").output == TensorSpec("TF", (9, 64))


def test_embedding_float_fix_not_offered_for_a_non_input():
    g, ck = chain({"shape": [9], "axes": "F"}, ("Linear", {"out_features": 4}), ("Embedding", {}))
    d = _diag(ck, "b1")
    assert "int64" in d.message and d.fixes == []
