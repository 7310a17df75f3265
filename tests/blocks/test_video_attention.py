"""The v2 blocks against torch itself: ConvLSTM2d, Conv3d, AttentionPool, MultiheadAttention and Permute.

Counts are compared with the modules PyTorch builds for the same settings (and ConvLSTM2d's with the Keras formula,
and with Keras's own ConvLSTM2D in a slow test), shapes and numbers with direct calls of the torch operations, and
each common mistake's diagnostic with the graph its one-click fix gives.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from block_helpers import chain, diag, out_spec, run_and_compare
from hybrid_studio.blocks import CATALOG, checker_for, new_graph
from hybrid_studio.compile import compile_graph, generate
from hybrid_studio.graph import AddNode, Connect, Edge, Node


def keras_convlstm_params(c, hidden, kh, kw, bias=True):
    """Keras ConvLSTM2D's count: a kernel (kh, kw, C, 4C'), a recurrent kernel (kh, kw, C', 4C') and a bias 4C'."""
    return kh * kw * c * 4 * hidden + kh * kw * hidden * 4 * hidden + (4 * hidden if bias else 0)


def apply_first_fix(g, ck, node="b"):
    d = ck.result(node).diagnostics[0]
    d.fixes[0].edit(g).apply(g)
    ck.flush()
    return d


# ---- ConvLSTM2d --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("c, hidden, k, bias", [(1, 8, 3, True), (3, 5, [3, 5], True), (4, 2, 1, False),
                                                (2, 16, [2, 2], True)])
def test_convlstm_count_is_keras_formula_and_torch_numel(c, hidden, k, bias):
    params = {"hidden_channels": hidden, "kernel_size": k, "bias": bias}
    _, _, gm = run_and_compare((3, c, 7, 6), "TCHW", "ConvLSTM2d", params)
    kh, kw = (k, k) if isinstance(k, int) else k
    real = sum(p.numel() for p in gm.parameters())
    assert real == 4 * kh * kw * (c + hidden) * hidden + (4 * hidden if bias else 0)
    assert real == keras_convlstm_params(c, hidden, kh, kw, bias)
    assert dict(gm.named_parameters())["b.conv.weight"].shape == (4 * hidden, c + hidden, kh, kw)


def reference_convlstm(x, weight, bias, hidden):
    """The contract's definition, step by step: one convolution over [input, hidden state] gives i, f, g, o."""
    n, steps, _, h, w = x.shape
    hs = torch.zeros(n, hidden, h, w)
    cs = torch.zeros_like(hs)
    out = []
    for t in range(steps):
        gates = torch.nn.functional.conv2d(torch.cat([x[:, t], hs], 1), weight, bias, padding="same")
        i, f, g, o = gates.chunk(4, 1)
        cs = torch.sigmoid(f) * cs + torch.sigmoid(i) * torch.tanh(g)
        hs = torch.sigmoid(o) * torch.tanh(cs)
        out.append(hs)
    return torch.stack(out, 1)


def test_convlstm_computes_the_one_convolution_recurrence():
    torch.manual_seed(0)
    x, y, gm = run_and_compare((4, 2, 6, 5), "TCHW", "ConvLSTM2d", {"hidden_channels": 3, "kernel_size": [3, 5]})
    with torch.no_grad():
        want = reference_convlstm(x, gm.b.conv.weight, gm.b.conv.bias, 3)
    torch.testing.assert_close(y, want, atol=1e-5, rtol=1e-5)
    # the last hidden state alone, with the same weights
    g, ck = chain((4, 2, 6, 5), "TCHW", "ConvLSTM2d", {"hidden_channels": 3, "kernel_size": [3, 5],
                                                        "return_sequences": False})
    last = compile_graph(g, ck).eval()
    last.load_state_dict(gm.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(last(x), want[:, -1], atol=1e-5, rtol=1e-5)
    assert ck.result("b").output.axes == "CHW"


def test_convlstm_valid_padding_shrinks_the_state_and_unknown_t_propagates():
    spec = out_spec((None, 2, 9, 7), "TCHW", "ConvLSTM2d", {"hidden_channels": 4, "kernel_size": [3, 5],
                                                             "padding": "valid"})
    assert spec.axes == "TCHW" and spec.shape == (None, 4, 7, 3)
    run_and_compare((None, 2, 9, 7), "TCHW", "ConvLSTM2d", {"hidden_channels": 4, "kernel_size": [3, 5],
                                                            "padding": "valid"})
    d = diag((3, 2, 4, 4), "TCHW", "ConvLSTM2d", {"padding": "valid", "kernel_size": 5})
    assert "smaller than the kernel 5" in d.message and d.fixes[0].label.endswith('padding to "same"')


def test_convlstm_fed_an_image_offers_a_one_frame_clip():
    g, ck = chain((3, 8, 8), "CHW", "ConvLSTM2d", {"hidden_channels": 4})
    d = apply_first_fix(g, ck)
    assert "no time axis T" in d.message and "(N, C=3, H=8, W=8)" in d.message
    assert ck.valid
    assert ck.result("b").output.shape == (1, 4, 8, 8)


def test_convlstm_on_a_sequence_says_what_it_needs():
    d = diag((5, 6), "TF", "ConvLSTM2d")
    assert "video (N, T, C, H, W)" in d.message and "each time step must be an image" in d.message
    assert d.fixes == []  # 6 features make no square frame
    g, ck = chain((None, 16), "TF", "ConvLSTM2d", {"hidden_channels": 2})  # 16 features: 4x4 frames
    apply_first_fix(g, ck)
    assert ck.valid and ck.result("b").output.shape == (None, 2, 4, 4)


def test_module_spec_builds_helper_classes():
    from hybrid_studio.blocks.attention import ATTENTION_POOL_SOURCE
    from hybrid_studio.blocks.base import ModuleSpec

    spec = ModuleSpec("AttentionPool", (6,), {"attention_size": 5}, helper=ATTENTION_POOL_SOURCE)
    assert spec.source() == "AttentionPool(6, attention_size=5)"
    m = spec.build()
    assert sum(t.numel() for t in m.parameters()) == 5 * 6 + 5 + 5
    assert m(torch.randn(2, 4, 6)).shape == (2, 6)
    assert ModuleSpec("Linear", (3, 2)).source() == "nn.Linear(3, 2)"


# ---- Conv3d ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("params", [{"out_channels": 4}, {"out_channels": 2, "kernel_size": [2, 3, 1], "stride": [1, 2, 1],
                                                          "padding": [1, 0, 2], "dilation": [1, 1, 2]},
                                    {"out_channels": 3, "padding": "same", "bias": False}])
def test_conv3d_matches_torch_conv3d(params):
    torch.manual_seed(1)
    x, y, gm = run_and_compare((5, 2, 7, 8), "TCHW", "Conv3d", params)
    p = CATALOG.get("Conv3d").resolve(params)[0]
    as_arg = (lambda v: tuple(v) if isinstance(v, list) else v)
    ref = torch.nn.Conv3d(2, p["out_channels"], as_arg(p["kernel_size"]), stride=as_arg(p["stride"]),
                          padding=as_arg(p["padding"]), dilation=as_arg(p["dilation"]), bias=p["bias"])
    assert sum(t.numel() for t in ref.parameters()) == sum(t.numel() for t in gm.parameters())
    ref.load_state_dict(gm.b.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(y, ref(x.transpose(1, 2)).transpose(1, 2))
    kt, kh, kw = (p["kernel_size"],) * 3 if isinstance(p["kernel_size"], int) else p["kernel_size"]
    assert sum(t.numel() for t in gm.parameters()) == kt * kh * kw * 2 * p["out_channels"] + \
        (p["out_channels"] if p["bias"] else 0)


def test_conv3d_unknown_t_and_too_short_clips():
    assert out_spec((None, 1, 8, 8), "TCHW", "Conv3d", {"out_channels": 2}).shape == (None, 2, 6, 6)
    d = diag((2, 1, 8, 8), "TCHW", "Conv3d", {"out_channels": 2})
    assert "time (T) would be 0" in d.message and d.fixes[0].label.endswith('padding to "same"')
    g, ck = chain((3, 8, 8), "CHW", "Conv3d", {"out_channels": 2})
    d = apply_first_fix(g, ck)
    assert "no time axis T" in d.message
    assert ck.valid and ck.result("b").output.shape == (1, 2, 6, 6)  # a clip of one frame, a kernel one frame deep
    assert "[t, h, w]" in diag((2, 1, 8, 8), "TCHW", "Conv3d", {"kernel_size": [3, 3]}).message


# ---- AttentionPool -----------------------------------------------------------------------------------------------

def test_attention_pool_is_the_additive_attention_formula():
    torch.manual_seed(2)
    x, y, gm = run_and_compare((None, 6), "TF", "AttentionPool", {"attention_size": 5})
    assert sum(t.numel() for t in gm.parameters()) == 5 * 6 + 5 + 5
    m = gm.b
    with torch.no_grad():
        scores = torch.tanh(x @ m.proj.weight.T + m.proj.bias) @ m.score.weight.T  # (N, T, 1)
        weights = torch.softmax(scores.squeeze(-1), 1)
        torch.testing.assert_close(y, (weights[..., None] * x).sum(1))
        torch.testing.assert_close(m.weights(x).sum(1), torch.ones(len(x)))


def test_attention_pool_fixes():
    g, ck = chain((3, 4, 5), "CHW", "AttentionPool")
    d = apply_first_fix(g, ck)
    assert "sequences (N, T, F)" in d.message
    assert ck.valid and ck.result("b").output.shape == (3,)  # every position a step of C features
    d = diag((6,), "F", "AttentionPool")
    assert "no time axis T" in d.message


# ---- MultiheadAttention ------------------------------------------------------------------------------------------

def cross_graph(q_shape, kv_shape, params):
    g = new_graph()
    ck = checker_for(g)
    AddNode(Node("q", "Input", {"shape": list(q_shape), "axes": "TF"})).apply(g)
    AddNode(Node("kv", "Input", {"shape": list(kv_shape), "axes": "TF"})).apply(g)
    AddNode(Node("b", "MultiheadAttention", dict(params))).apply(g)
    AddNode(Node("out", "Output", {})).apply(g)
    Connect(Edge("q", "b", target_port="in0")).apply(g)
    Connect(Edge("kv", "b", target_port="in1")).apply(g)
    Connect(Edge("b", "out")).apply(g)
    ck.flush()
    return g, ck


@pytest.mark.parametrize("f, f2, heads, bias", [(8, 8, 2, True), (6, 4, 3, True), (4, 10, 1, False),
                                                (12, 5, 4, False)])
def test_multihead_attention_matches_torch(f, f2, heads, bias):
    torch.manual_seed(3)
    g, ck = cross_graph((None, f), (7, f2), {"num_heads": heads, "bias": bias})
    res = ck.result("b")
    assert ck.valid and res.output.axes == "TF" and res.output.shape == (None, f)
    ref = torch.nn.MultiheadAttention(f, heads, bias=bias, kdim=f2, vdim=f2, batch_first=True)
    assert res.params == sum(t.numel() for t in ref.parameters())
    gm = compile_graph(g, ck).eval()
    assert sum(t.numel() for t in gm.parameters()) == res.params
    ref.load_state_dict(gm.b.state_dict())
    ref.eval()
    q, kv = torch.randn(2, 5, f), torch.randn(2, 7, f2)
    with torch.no_grad():
        torch.testing.assert_close(gm(q, kv), ref(q, kv, kv)[0])


def test_self_attention_has_one_port_in():
    block = CATALOG.get("MultiheadAttention")
    assert block.inputs(block.resolve({"inputs": 1})[0]) == ["in"]
    assert block.inputs(block.resolve({})[0]) == ["in0", "in1"]
    torch.manual_seed(4)
    x, y, gm = run_and_compare((None, 8), "TF", "MultiheadAttention", {"inputs": 1, "num_heads": 4})
    ref = torch.nn.MultiheadAttention(8, 4, batch_first=True).eval()
    ref.load_state_dict(gm.b.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(y, ref(x, x, x)[0])


def test_heads_that_do_not_divide_f_offer_divisors():
    g, ck = chain((5, 6), "TF", "MultiheadAttention", {"inputs": 1, "num_heads": 4})
    d = ck.result("b").diagnostics[0]
    assert "num_heads 4 does not divide the query's features F=6" in d.message
    assert [f.label for f in d.fixes] == ["set b.num_heads to 3", "set b.num_heads to 1", "set b.num_heads to 6"]
    apply_first_fix(g, ck)
    assert ck.valid and g.node("b").params["num_heads"] == 3


def test_cross_attention_wrong_inputs_name_the_port():
    g, ck = cross_graph((5, 6), (7, 4), {})
    assert ck.valid
    g2 = new_graph()
    ck2 = checker_for(g2)
    AddNode(Node("q", "Input", {"shape": [5, 6], "axes": "TF"})).apply(g2)
    AddNode(Node("img", "Input", {"shape": [2, 4, 4], "axes": "CHW"})).apply(g2)
    AddNode(Node("b", "MultiheadAttention", {})).apply(g2)
    Connect(Edge("q", "b", target_port="in0")).apply(g2)
    Connect(Edge("img", "b", target_port="in1")).apply(g2)
    ck2.flush()
    d = ck2.result("b").diagnostics[0]
    assert "on 'in1' (the keys and values)" in d.message and "an image" in d.message
    d.fixes[0].edit(g2).apply(g2)
    ck2.flush()
    assert not ck2.result("b").diagnostics
    assert ck2.result("b").output.shape == (5, 6)  # the image's 16 positions are the keys


# ---- Permute -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, axes, order", [((3, 4, 5), "CHW", "HWC"), ((None, 2, 4, 5), "TCHW", "CTHW"),
                                                ((6, 7), "TF", "FT"), ((6, 7), "TF", "TF")])
def test_permute_is_torch_permute(shape, axes, order):
    x, y, _ = run_and_compare(shape, axes, "Permute", {"axes": order})
    spec = out_spec(shape, axes, "Permute", {"axes": order})
    assert spec.axes == order
    assert spec.shape == tuple(shape[axes.index(a)] for a in order)
    torch.testing.assert_close(y, x.permute(0, *[axes.index(a) + 1 for a in order]))


def test_permute_with_letters_the_input_lacks_offers_the_nearest_order():
    g, ck = chain((2, 4, 5, 6), "TCHW", "Permute", {"axes": "HWC"})
    d = apply_first_fix(g, ck)
    assert "it leaves out T" in d.message
    assert g.node("b").params["axes"] == "HWCT" and ck.valid


# ---- generated code ------------------------------------------------------------------------------------------------

def test_helper_classes_are_written_once_into_a_standalone_model(tmp_path):
    """Two ConvLSTM2d blocks and an AttentionPool: each class once in model.py, which imports only torch, has the
    compiled module's state_dict keys and gives its numbers."""
    g = new_graph()
    AddNode(Node("video", "Input", {"shape": [3, 1, 6, 6], "axes": "TCHW"})).apply(g)
    for nid, t, p in (("cl1", "ConvLSTM2d", {"hidden_channels": 2}), ("cl2", "ConvLSTM2d", {"hidden_channels": 3}),
                      ("flat", "Flatten", {}), ("att", "AttentionPool", {"attention_size": 4}),
                      ("out", "Output", {})):
        AddNode(Node(nid, t, p)).apply(g)
    for a, b in (("video", "cl1"), ("cl1", "cl2"), ("cl2", "flat"), ("flat", "att"), ("att", "out")):
        Connect(Edge(a, b)).apply(g)
    src = generate(g).source
    assert src.count("class ConvLSTM2d(nn.Module)") == 1 and src.count("class AttentionPool(nn.Module)") == 1
    path = tmp_path / "model.py"
    path.write_text(src)
    code = (f"import sys, torch; sys.path.insert(0, {str(tmp_path)!r}); import model; "
            f"m = model.Model(); print(sorted(m.state_dict()))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    gm = compile_graph(g).eval()
    assert eval(out.stdout) == sorted(gm.state_dict())  # noqa: S307 - a list of strings we printed
    # fx keeps the helpers as single calls, tagged with their block
    calls = {n.target: n.meta.get("block_id") for n in gm.graph.nodes if n.op == "call_module"}
    assert calls == {"cl1": "cl1", "cl2": "cl2", "att": "att"}


# ---- Keras -------------------------------------------------------------------------------------------------------

KERAS_CHECK = textwrap.dedent("""
    import json, sys
    import numpy as np
    import keras
    cases = json.loads(sys.argv[1])
    counts = []
    for c, hidden, kh, kw in cases:
        layer = keras.layers.ConvLSTM2D(hidden, (kh, kw), padding="same", return_sequences=True)
        layer.build((None, 4, 6, 5, c))
        counts.append(layer.count_params())
    # numbers: the first case with given weights on a given clip
    c, hidden, kh, kw = cases[0]
    data = np.load(sys.argv[2])
    layer = keras.layers.ConvLSTM2D(hidden, (kh, kw), padding="same", return_sequences=True)
    layer.build((None, 4, 6, 5, c))
    layer.set_weights([data["kernel"], data["recurrent"], data["bias"]])
    y = keras.ops.convert_to_numpy(layer(data["x"]))
    np.save(sys.argv[3], y)
    print(json.dumps(counts))
""")


@pytest.mark.slow
def test_convlstm_equals_keras_convlstm2d(tmp_path):
    """Keras 3 (torch backend) counts the same parameters and, with the same weights, computes the same sequence."""
    import numpy as np

    cases = [(2, 3, 3, 3), (1, 8, 5, 3), (4, 2, 1, 1)]
    torch.manual_seed(5)
    c, hidden, kh, kw = cases[0]
    x, y, gm = run_and_compare((4, c, 6, 5), "TCHW", "ConvLSTM2d", {"hidden_channels": hidden,
                                                                     "kernel_size": [kh, kw]})
    w = gm.b.conv.weight.detach().numpy()  # (4C', C + C', kh, kw) -> Keras's (kh, kw, in, 4C')
    np.savez(tmp_path / "w.npz", kernel=w[:, :c].transpose(2, 3, 1, 0), recurrent=w[:, c:].transpose(2, 3, 1, 0),
             bias=gm.b.conv.bias.detach().numpy(), x=x.numpy().transpose(0, 1, 3, 4, 2))
    env = dict(os.environ, KERAS_BACKEND="torch")
    out = subprocess.run([sys.executable, "-c", KERAS_CHECK, json.dumps(cases), str(tmp_path / "w.npz"),
                          str(tmp_path / "y.npy")], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    counts = json.loads(out.stdout.strip().splitlines()[-1])
    ours = [keras_convlstm_params(ch, h, a, b) for ch, h, a, b in cases]
    assert counts == ours
    for (ch, h, a, b), n in zip(cases, counts):
        _, _, m = run_and_compare((2, ch, 6, 5), "TCHW", "ConvLSTM2d", {"hidden_channels": h, "kernel_size": [a, b]})
        assert sum(t.numel() for t in m.parameters()) == n
    keras_y = np.load(tmp_path / "y.npy").transpose(0, 1, 4, 2, 3)
    np.testing.assert_allclose(y.detach().numpy(), keras_y, atol=1e-5, rtol=1e-4)
