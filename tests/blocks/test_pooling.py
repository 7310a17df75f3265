"""Pooling blocks: shape rules for every accepted input, diagnostics, exported code, and compiled behaviour."""

import pytest

from hybrid_studio.compile import generate
from hybrid_studio.graph import SetParams, TensorSpec

from block_helpers import RUNTIME_T, chain, diag, out_spec, run_and_compare




# ---- shape rules -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("type_name", ["MaxPool2d", "AvgPool2d"])
@pytest.mark.parametrize("shape, axes, params, expected", [
    ([3, 28, 28], "CHW", {}, (3, 14, 14)),                                         # stride defaults to kernel
    ([3, 28, 28], "CHW", {"kernel_size": 3, "stride": 1}, (3, 26, 26)),
    ([3, 28, 28], "CHW", {"kernel_size": 3, "stride": 2, "padding": 1}, (3, 14, 14)),
    ([3, 28, 20], "CHW", {"kernel_size": [2, 4]}, (3, 14, 5)),
    ([3, 28, 20], "CHW", {"kernel_size": [3, 2], "stride": [1, 2], "padding": [1, 0]}, (3, 28, 10)),
    ([7, 3, 28, 28], "TCHW", {}, (7, 3, 14, 14)),                                  # per frame
    ([None, 3, 28, 28], "TCHW", {}, (None, 3, 14, 14)),                            # variable T
    ([3, None, 28], "CHW", {}, (3, None, 14)),                                     # unknown height stays unknown
    ([None, 28, 28], "CHW", {}, (None, 14, 14)),                                   # channels kept, even unknown
])
def test_pool2d_shapes(type_name, shape, axes, params, expected):
    assert out_spec(shape, axes, type_name, params) == TensorSpec(axes, expected)


@pytest.mark.parametrize("type_name", ["MaxPool1d", "AvgPool1d"])
@pytest.mark.parametrize("shape, axes, params, expected_axes, expected", [
    ([4, 100], "CL", {}, "CL", (4, 50)),
    ([4, 100], "CL", {"kernel_size": 3, "stride": 1, "padding": 1}, "CL", (4, 100)),
    ([6, 4, 100], "TCL", {"kernel_size": 4}, "TCL", (6, 4, 25)),
    ([None, 4, 100], "TCL", {}, "TCL", (None, 4, 50)),
    ([20, 8], "TF", {}, "TF", (10, 8)),                                            # over time, features kept
    ([None, 8], "TF", {"kernel_size": 3}, "TF", (None, 8)),
    ([20, None], "TF", {}, "TF", (10, None)),
])
def test_pool1d_shapes(type_name, shape, axes, params, expected_axes, expected):
    assert out_spec(shape, axes, type_name, params) == TensorSpec(expected_axes, expected)


@pytest.mark.parametrize("shape, axes, expected", [
    ([16, 7, 7], "CHW", TensorSpec("F", (16,))),
    ([16, 50], "CL", TensorSpec("F", (16,))),
    ([30, 64], "TF", TensorSpec("F", (64,))),
    ([None, 64], "TF", TensorSpec("F", (64,))),
    ([5, 16, 7, 7], "TCHW", TensorSpec("TF", (5, 16))),
    ([None, 16, 7, 7], "TCHW", TensorSpec("TF", (None, 16))),
    ([5, 16, 50], "TCL", TensorSpec("TF", (5, 16))),
    ([16, None, None], "CHW", TensorSpec("F", (16,))),
])
def test_global_avg_pool_shapes(shape, axes, expected):
    assert out_spec(shape, axes, "GlobalAvgPool") == expected


def test_param_edit_reinfers_downstream():
    g, ck = chain([3, 28, 28], "CHW", "MaxPool2d")
    SetParams("b", {"kernel_size": 4}).apply(g)
    ck.flush()
    assert ck.result("b").output == TensorSpec("CHW", (3, 7, 7))
    assert ck.result("out").output == TensorSpec("CHW", (3, 7, 7))


def test_counts():
    g, ck = chain([3, 28, 28], "CHW", "MaxPool2d")
    r = ck.result("b")
    assert r.params == 0 and r.macs == 3 * 14 * 14 * 4
    g, ck = chain([None, 8], "TF", "AvgPool1d")
    assert ck.result("b").params == 0 and ck.result("b").macs is None
    g, ck = chain([16, 7, 7], "CHW", "GlobalAvgPool")
    assert ck.result("b").macs == 16 * 7 * 7


# ---- diagnostics -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("type_name", ["MaxPool2d", "AvgPool2d"])
def test_pool2d_rejects_sequences_and_points_to_pool1d(type_name):
    d = diag([20, 8], "TF", type_name)
    assert "images (N, C, H, W)" in d.message
    assert "a sequence (N, T=20, F=8)" in d.message
    assert type_name.replace("2d", "1d") in d.message
    assert d.code == "pool-input"


def test_pool2d_on_a_vector_offers_removal():
    d = diag([64], "F", "MaxPool2d")
    assert "a feature vector (N, F=64)" in d.message and "no height or width" in d.message
    assert [f.label for f in d.fixes] == ["remove b"]


@pytest.mark.parametrize("type_name", ["MaxPool1d", "AvgPool1d"])
def test_pool1d_on_a_vector_offers_a_reshape_that_works(type_name):
    g, ck = chain([64], "F", type_name)
    d = ck.result("b").diagnostics[0]
    assert "a feature vector (N, F=64)" in d.message
    fix = next(f for f in d.fixes if f.label.startswith("insert Reshape"))
    fix.edit(g).apply(g)
    ck.flush()
    assert ck.valid, [str(x) for x in ck.diagnostics()]
    assert ck.result("b").output == TensorSpec("CL", (1, 32))


@pytest.mark.parametrize("type_name", ["MaxPool1d", "AvgPool1d"])
def test_pool1d_rejects_images(type_name):
    d = diag([3, 28, 28], "CHW", type_name)
    assert "signals (N, C, L) or sequences (N, T, F)" in d.message
    assert "an image (N, C=3, H=28, W=28)" in d.message
    assert type_name.replace("1d", "2d") in d.message


def test_kernel_larger_than_input_names_the_axis():
    d = diag([3, 1, 28], "CHW", "MaxPool2d")
    assert d.code == "too-small"
    assert "height (H)" in d.message and "H=1" in d.message and "kernel 2" in d.message
    d = diag([3, 8], "TF", "AvgPool1d", {"kernel_size": 4})
    assert "time (T)" in d.message and "T=3" in d.message


def test_padding_more_than_half_the_kernel_is_refused_with_a_fix():
    g, ck = chain([3, 28, 28], "CHW", "MaxPool2d", {"kernel_size": 3, "padding": 2})
    d = ck.result("b").diagnostics[0]
    assert d.code == "pool-padding" and "half the kernel" in d.message
    d.fixes[0].edit(g).apply(g)
    ck.flush()
    assert g.node("b").params["padding"] == 1
    assert ck.result("b").output == TensorSpec("CHW", (3, 10, 10))


@pytest.mark.parametrize("kernel, padding", [(2, 1), (2, 2), (3, 1), (3, 2), (4, 2), (4, 3), (5, 2), (5, 3)])
@pytest.mark.parametrize("type_name", ["MaxPool1d", "AvgPool1d"])
def test_padding_rule_matches_pytorch(type_name, kernel, padding):
    import torch
    torch_ok = True
    try:
        getattr(torch.nn, type_name)(kernel, padding=padding)(torch.zeros(1, 1, 12))
    except RuntimeError:
        torch_ok = False
    g, ck = chain([1, 12], "CL", type_name, {"kernel_size": kernel, "padding": padding})
    assert ck.valid == torch_ok


@pytest.mark.parametrize("shape, axes, what", [
    ([64], "F", "a feature vector (N, F=64)"),
    ([4, 4], "HW", "a tensor (N, H=4, W=4)"),
])
def test_global_avg_pool_rejects(shape, axes, what):
    d = diag(shape, axes, "GlobalAvgPool")
    assert what in d.message and "images (N, C, H, W)" in d.message


def test_global_avg_pool_on_a_vector_offers_removal():
    g, ck = chain([64], "F", "GlobalAvgPool")
    d = ck.result("b").diagnostics[0]
    assert "already a feature vector" in d.message
    d.fixes[0].edit(g).apply(g)
    ck.flush()
    assert ck.valid and "b" not in [n.id for n in g.nodes]


def test_null_stride_is_allowed_but_zero_kernel_is_not():
    assert out_spec([3, 28, 28], "CHW", "MaxPool2d", {"stride": None}) == TensorSpec("CHW", (3, 14, 14))
    d = diag([3, 28, 28], "CHW", "MaxPool2d", {"kernel_size": 0})
    assert d.code == "param" and "kernel_size" in d.message


# ---- code --------------------------------------------------------------------------------------------------------

def test_exported_modules_leave_out_pytorch_defaults():
    g, _ = chain([3, 28, 28], "CHW", "MaxPool2d")
    assert "self.b = nn.MaxPool2d(2)" in generate(g).source
    g, _ = chain([3, 28, 28], "CHW", "AvgPool2d", {"kernel_size": [3, 2], "stride": 1, "padding": [1, 0]})
    assert "self.b = nn.AvgPool2d((3, 2), stride=1, padding=(1, 0))" in generate(g).source
    g, _ = chain([1, 28, 28], "CHW", "Conv2d", {"out_channels": 32, "kernel_size": 3})
    assert "self.b = nn.Conv2d(1, 32, kernel_size=3)" in generate(g).source
    g, _ = chain([1, 28, 28], "CHW", "Conv2d", {"out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1,
                                                "dilation": [1, 2], "bias": False})
    assert "nn.Conv2d(1, 8, kernel_size=3, stride=2, padding=1, dilation=(1, 2), bias=False)" in generate(g).source
    g, _ = chain([1, 50], "CL", "Conv1d", {"out_channels": 4, "kernel_size": 5, "padding": "same"})
    assert "nn.Conv1d(1, 4, kernel_size=5, padding='same')" in generate(g).source


def test_summaries():
    from hybrid_studio.blocks import CATALOG
    b = CATALOG.get("MaxPool2d")
    assert b.summary(b.safe_params({})) == "2x2"
    assert b.summary(b.safe_params({"kernel_size": 3, "stride": 2, "padding": 1})) == "3x3 /2x2 pad 1x1"
    b = CATALOG.get("AvgPool1d")
    assert b.summary(b.safe_params({"kernel_size": 4})) == "4"
    assert CATALOG.get("GlobalAvgPool").id_prefix == "gap"
    assert {CATALOG.get(t).category for t in ("MaxPool1d", "AvgPool1d", "MaxPool2d", "AvgPool2d",
                                              "GlobalAvgPool")} == {"Pooling"}


@pytest.mark.parametrize("type_name, shape, axes, params", [
    ("MaxPool2d", [3, 28, 28], "CHW", {}),
    ("AvgPool2d", [3, 28, 20], "CHW", {"kernel_size": [3, 2], "stride": [1, 2], "padding": [1, 0]}),
    ("MaxPool2d", [None, 3, 12, 12], "TCHW", {"kernel_size": 3}),
    ("AvgPool2d", [4, 2, 9, 9], "TCHW", {"kernel_size": 3, "stride": 2, "padding": 1}),
    ("MaxPool1d", [4, 100], "CL", {"kernel_size": 3, "stride": 2}),
    ("AvgPool1d", [None, 4, 30], "TCL", {}),
    ("MaxPool1d", [None, 8], "TF", {"kernel_size": 2}),
    ("AvgPool1d", [20, 8], "TF", {"kernel_size": 3, "stride": 1, "padding": 1}),
    ("GlobalAvgPool", [16, 7, 7], "CHW", {}),
    ("GlobalAvgPool", [16, 50], "CL", {}),
    ("GlobalAvgPool", [None, 64], "TF", {}),
    ("GlobalAvgPool", [None, 16, 7, 7], "TCHW", {}),
    ("GlobalAvgPool", [3, 16, 50], "TCL", {}),
])
def test_compiled_block_matches_inferred_shape_and_params(type_name, shape, axes, params):
    run_and_compare(shape, axes, type_name, params)


def test_pool2d_on_video_pools_each_frame():
    import torch
    x, y, _ = run_and_compare([4, 2, 8, 8], "TCHW", "MaxPool2d", {"kernel_size": 2})
    for t in range(4):
        assert torch.equal(y[:, t], torch.nn.functional.max_pool2d(x[:, t], 2))


def test_pool1d_on_a_sequence_pools_over_time():
    import torch
    x, y, _ = run_and_compare([None, 3], "TF", "AvgPool1d", {"kernel_size": 2, "stride": 1})
    expected = (x[:, :-1] + x[:, 1:]) / 2
    assert y.shape == (2, RUNTIME_T - 1, 3)
    assert torch.allclose(y, expected, atol=1e-6)


@pytest.mark.parametrize("shape, axes, dims", [
    ([4, 5, 6], "CHW", (2, 3)), ([None, 6], "TF", (1,)), ([3, 4, 5, 6], "TCHW", (3, 4)), ([4, 9], "CL", (2,)),
])
def test_global_avg_pool_averages_the_right_axes(shape, axes, dims):
    import torch
    x, y, _ = run_and_compare(shape, axes, "GlobalAvgPool")
    assert torch.allclose(y, x.mean(dim=dims), atol=1e-6)
