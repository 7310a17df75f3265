"""Normalisation and regularisation blocks (BatchNorm, LayerNorm, Dropout, Activation)."""

import pytest

from hybrid_studio.blocks import CATALOG
from hybrid_studio.compile import compile_graph, generate
from hybrid_studio.graph import SetParams, TensorSpec

from block_helpers import RUNTIME_T, chain, diag


def run_and_compare(shape, axes, type_name, params=None, batch=3, train=False):
    """Compile Input -> block -> Output, run it, and check the real shape and parameter count against the checker."""
    import torch
    g, ck = chain(shape, axes, type_name, params)
    r = ck.result("b")
    assert not r.diagnostics, [d.message for d in r.diagnostics]
    assert r.output == TensorSpec(axes, tuple(shape))  # every block here keeps the shape
    gm = compile_graph(g, ck)
    gm.train(train)
    torch.manual_seed(0)
    x = torch.randn(batch, *[RUNTIME_T if s is None else s for s in shape])
    y = gm(x)
    assert tuple(y.shape) == tuple(x.shape)
    assert sum(p.numel() for p in gm.parameters()) == r.params
    return x, y, gm, r


KINDS = [([3, 8, 8], "CHW"), ([None, 3, 8, 8], "TCHW"), ([4, 20], "CL"), ([2, 4, 20], "TCL"), ([None, 6], "TF"),
         ([6], "F")]


# ---- BatchNorm ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, axes, module, features", [
    ([3, 8, 8], "CHW", "BatchNorm2d", 3), ([None, 3, 8, 8], "TCHW", "BatchNorm2d", 3),
    ([4, 20], "CL", "BatchNorm1d", 4), ([2, 4, None], "TCL", "BatchNorm1d", 4),
    ([None, 6], "TF", "BatchNorm1d", 6), ([6], "F", "BatchNorm1d", 6), ([3, None, None], "CHW", "BatchNorm2d", 3),
])
def test_batchnorm_normalises_channels_or_features(shape, axes, module, features):
    g, ck = chain(shape, axes, "BatchNorm")
    r = ck.result("b")
    assert r.output == TensorSpec(axes, tuple(shape))
    assert r.params == 2 * features
    n = TensorSpec(axes, tuple(shape)).numel()
    assert r.macs == n  # None when a size is unknown
    assert f"self.b = nn.{module}({features})" in generate(g).source


def test_batchnorm_writes_only_non_default_kwargs():
    g, _ = chain([3, 8, 8], "CHW", "BatchNorm", {"eps": 1e-3, "momentum": 0.01})
    assert "nn.BatchNorm2d(3, eps=0.001, momentum=0.01)" in generate(g).source
    assert CATALOG.get("BatchNorm").defaults() == {"eps": 1e-5, "momentum": 0.1}


@pytest.mark.parametrize("shape, axes, words", [
    ([4, 4], "HW", "a tensor (N, H=4, W=4)"),
    ([None, 3, 8], "TLF", "a sequence of per-frame sequences (N, T=?, L=3, F=8)"),
])
def test_batchnorm_rejects_unknown_layouts(shape, axes, words):
    d = diag(shape, axes, "BatchNorm")
    assert words in d.message and "images (N, C, H, W)" in d.message and "sequences (N, T, F)" in d.message


@pytest.mark.parametrize("shape, axes, axis", [([None, 8, 8], "CHW", "channel (C)"), ([10, None], "TF",
                                                                                          "feature (F)")])
def test_batchnorm_needs_a_known_size(shape, axes, axis):
    d = diag(shape, axes, "BatchNorm")
    assert d.code == "unknown-size" and axis in d.message


@pytest.mark.parametrize("params, name", [({"momentum": 1.5}, "momentum"), ({"eps": 0.0}, "eps"),
                                          ({"eps": "small"}, "eps")])
def test_batchnorm_param_ranges(params, name):
    d = diag([3, 8, 8], "CHW", "BatchNorm", params)
    assert d.code == "param" and name in d.message


@pytest.mark.parametrize("shape, axes", KINDS)
def test_batchnorm_compiles(shape, axes):
    run_and_compare(shape, axes, "BatchNorm", train=True)
    run_and_compare(shape, axes, "BatchNorm", train=False)


def test_batchnorm_on_a_sequence_normalises_each_feature_over_batch_and_time():
    import torch
    x, y, _, _ = run_and_compare([None, 6], "TF", "BatchNorm", train=True)
    mean = x.mean(dim=(0, 1))
    var = x.var(dim=(0, 1), unbiased=False)
    assert torch.allclose(y, (x - mean) / torch.sqrt(var + 1e-5), atol=1e-5)


def test_batchnorm_on_video_normalises_each_channel_over_batch_time_and_space():
    import torch
    x, y, _, _ = run_and_compare([2, 3, 4, 4], "TCHW", "BatchNorm", train=True)
    dims = (0, 1, 3, 4)
    ref = (x - x.mean(dim=dims, keepdim=True)) / torch.sqrt(x.var(dim=dims, unbiased=False, keepdim=True) + 1e-5)
    assert torch.allclose(y, ref, atol=1e-5)


# ---- LayerNorm ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, axes", KINDS)
def test_layernorm_normalises_the_last_axis(shape, axes):
    import torch
    x, y, gm, r = run_and_compare(shape, axes, "LayerNorm")
    assert r.params == 2 * shape[-1]
    ref = torch.nn.functional.layer_norm(x, (shape[-1],))
    assert torch.allclose(y, ref, atol=1e-5)


def test_layernorm_needs_the_last_size():
    d = diag([10, None], "CL", "LayerNorm")
    assert d.code == "unknown-size" and "last axis (L)" in d.message and "(N, C=10, L=?)" in d.message


def test_layernorm_code_and_eps():
    g, ck = chain([None, 16], "TF", "LayerNorm")
    assert "self.b = nn.LayerNorm(16)" in generate(g).source
    assert ck.result("b").macs is None
    SetParams("b", {"eps": 1e-6}).apply(g)
    ck.flush()
    assert "nn.LayerNorm(16, eps=1e-06)" in generate(g, ck).source


# ---- Dropout -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, axes", KINDS)
def test_dropout_keeps_the_shape(shape, axes):
    import torch
    x, y, _, r = run_and_compare(shape, axes, "Dropout")
    assert r.params == 0 and r.macs == 0
    assert torch.equal(x, y)  # identity in evaluation


def test_dropout_trains_with_p():
    import torch
    x, y, _, _ = run_and_compare([1000], "F", "Dropout", {"p": 0.2}, train=True)
    zeroed = (y == 0).float().mean().item()
    assert 0.12 < zeroed < 0.28
    kept = y != 0
    assert torch.allclose(y[kept], x[kept] / 0.8, atol=1e-5)


def test_dropout_code_and_range():
    g, ck = chain([10], "F", "Dropout")
    assert "self.b = nn.Dropout()" in generate(g).source
    SetParams("b", {"p": 0.25}).apply(g)
    assert "self.b = nn.Dropout(p=0.25)" in generate(g).source
    SetParams("b", {"p": 1.5}).apply(g)
    ck.flush()
    d = ck.result("b").diagnostics[0]
    assert d.code == "param" and "p must be at most 1" in d.message
    d.fixes[0].edit(g).apply(g)
    ck.flush()
    assert ck.valid and g.node("b").params["p"] == 0.5


# ---- Activation --------------------------------------------------------------------------------------------------

FUNCTIONS = ["relu", "leaky_relu", "elu", "gelu", "silu", "tanh", "sigmoid", "hardtanh", "softmax"]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_activation_choices_match_the_contract(function):
    assert function in CATALOG.get("Activation").param("function").choices


@pytest.mark.parametrize("function", FUNCTIONS)
def test_activation_applies_the_function(function):
    import torch
    import torch.nn.functional as F
    x, y, _, r = run_and_compare([None, 6], "TF", "Activation", {"function": function})
    fn = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "softmax": lambda t: F.softmax(t, dim=2)}.get(
        function) or getattr(F, function)
    assert torch.allclose(y, fn(x), atol=1e-6)
    assert r.params == 0


@pytest.mark.parametrize("shape, axes", KINDS)
def test_softmax_normalises_channels_of_images_else_the_last_axis(shape, axes):
    import torch
    x, y, _, _ = run_and_compare(shape, axes, "Activation", {"function": "softmax"})
    dim = 1 + axes.index("C") if "C" in axes else x.dim() - 1
    assert torch.allclose(y.sum(dim=dim), torch.ones(()), atol=1e-5)


def test_activation_rejects_unknown_function():
    d = diag([10], "F", "Activation", {"function": "swish"})
    assert d.code == "param" and "function" in d.message and "'relu'" in d.message


def test_block_metadata():
    cat = "Normalisation & regularisation"
    for name, prefix, summary in [("BatchNorm", "bn", "momentum 0.1"), ("LayerNorm", "ln", "eps 1e-05"),
                                  ("Dropout", "drop", "p=0.5"), ("Activation", "act", "relu")]:
        b = CATALOG.get(name)
        assert b.category == cat and b.id_prefix == prefix and b.help
        assert b.summary(b.defaults()) == summary
        assert all(pr.help for pr in b.params)
