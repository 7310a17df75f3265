"""Shape blocks (Flatten, Reshape, ToSequence): shape rules, diagnostics, element order, compiled behaviour."""

import pytest

from hybrid_studio.blocks import CATALOG
from hybrid_studio.compile import generate
from hybrid_studio.graph import Node, SetParams, TensorSpec

from block_helpers import chain, diag, out_spec
from block_helpers import run_and_compare as compiled_run


def run_and_compare(shape, axes, type_name, params=None, batch=2):
    """The shared compiled-run check; shape blocks also hold no weights."""
    x, y, gm = compiled_run(shape, axes, type_name, params, batch)
    assert sum(p.numel() for p in gm.parameters()) == 0
    return x, y


# ---- Flatten -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, axes, expected", [
    ([3, 28, 28], "CHW", TensorSpec("F", (3 * 28 * 28,))),
    ([7, 3, 28, 28], "TCHW", TensorSpec("TF", (7, 3 * 28 * 28))),
    ([None, 3, 28, 28], "TCHW", TensorSpec("TF", (None, 3 * 28 * 28))),
    ([4, 50], "CL", TensorSpec("F", (200,))),
    ([None, 4, 50], "TCL", TensorSpec("TF", (None, 200))),
    ([None, 16], "TF", TensorSpec("TF", (None, 16))),           # passes through
    ([64], "F", TensorSpec("F", (64,))),                         # passes through
    ([3, None, 28], "CHW", TensorSpec("F", (None,))),            # an unknown size makes F unknown
    ([None], "T", TensorSpec("TF", (None, 1))),                  # each step becomes a one-feature vector
])
def test_flatten_shapes(shape, axes, expected):
    assert out_spec(shape, axes, "Flatten") == expected


def test_flatten_refuses_time_behind_other_axes():
    d = diag([4, 10], "CT", "Flatten")
    assert "time axis T" in d.message and "(N, C=4, T=10)" in d.message


@pytest.mark.parametrize("shape, axes", [
    ([3, 8, 8], "CHW"), ([None, 3, 8, 8], "TCHW"), ([4, 50], "CL"), ([None, 4, 6], "TCL"), ([None, 16], "TF"),
    ([64], "F"), ([None], "T"), ([3, None, 4], "CHW"),
])
def test_flatten_compiles_row_major(shape, axes):
    import torch
    x, y = run_and_compare(shape, axes, "Flatten")
    keep = 2 if axes[0] == "T" else 1
    assert torch.equal(y, x.reshape(*x.shape[:keep], -1))


# ---- Reshape -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, axes, params, expected", [
    ([784], "F", {"shape": [1, 28, 28], "axes": "CHW"}, TensorSpec("CHW", (1, 28, 28))),
    ([784], "F", {"shape": [-1, 28], "axes": "TF"}, TensorSpec("TF", (28, 28))),
    ([3, 28, 28], "CHW", {}, TensorSpec("F", (3 * 28 * 28,))),                  # default: shape [-1], axes F
    ([None, 16], "TF", {"shape": [-1, 4, 4], "axes": "TCL"}, TensorSpec("TCL", (None, 4, 4))),
    ([None, 16], "TF", {"shape": [4, 4], "axes": "HW"}, TensorSpec("HW", (4, 4))),   # count unknown: trusted
])
def test_reshape_shapes(shape, axes, params, expected):
    assert out_spec(shape, axes, "Reshape", params) == expected


def test_reshape_count_mismatch_names_both_sides_and_offers_minus_one():
    g, ck = chain([3, 28, 28], "CHW", "Reshape", {"shape": [3, 27, 28], "axes": "CHW"})
    d = ck.result("b").diagnostics[0]
    assert d.code == "reshape-count"
    assert "(C=3, H=27, W=28)" in d.message and "2268" in d.message
    assert "an image (N, C=3, H=28, W=28)" in d.message and "2352" in d.message
    # 2352 is not a multiple of 27 * 28, so the -1 goes where it divides: the 27
    assert [f.label for f in d.fixes] == ["set b.shape to [3, -1, 28]"]
    d.fixes[0].edit(g).apply(g)
    ck.flush()
    assert ck.valid
    assert ck.result("b").output == TensorSpec("CHW", (3, 28, 28))


def test_reshape_minus_one_must_divide():
    d = diag([10], "F", "Reshape", {"shape": [-1, 3], "axes": "TF"})
    assert d.code == "reshape-count" and "multiple of 3" in d.message and "(N, F=10)" in d.message


@pytest.mark.parametrize("params, words", [
    ({"shape": [2, 5], "axes": "F"}, "one axis letter per size"),
    ({"shape": [-1, -1], "axes": "TF"}, "only one size can be inferred"),
    ({"shape": [0, 10], "axes": "TF"}, "must be positive"),
    ({"shape": [-3, 10], "axes": "TF"}, "must be positive"),
    ({"shape": [None, 10], "axes": "TF"}, "write -1"),
    ({"shape": [], "axes": ""}, "at least one size"),
])
def test_reshape_bad_params(params, words):
    d = diag([10], "F", "Reshape", params)
    assert words in d.message


def test_reshape_bad_axis_letters_is_a_param_error():
    d = diag([10], "F", "Reshape", {"shape": [10], "axes": "Q"})
    assert d.code == "param" and "axes" in d.message


def test_reshape_null_fix_writes_minus_one():
    g, ck = chain([10], "F", "Reshape", {"shape": [None, 5], "axes": "TF"})
    ck.result("b").diagnostics[0].fixes[0].edit(g).apply(g)
    ck.flush()
    assert ck.result("b").output == TensorSpec("TF", (2, 5))


@pytest.mark.parametrize("shape, axes, params", [
    ([784], "F", {"shape": [1, 28, 28], "axes": "CHW"}),
    ([3, 4, 5], "CHW", {"shape": [-1, 5], "axes": "TF"}),
    ([None, 16], "TF", {"shape": [-1, 4, 4], "axes": "TCL"}),
])
def test_reshape_compiles(shape, axes, params):
    import torch
    x, y = run_and_compare(shape, axes, "Reshape", params)
    assert torch.equal(y.reshape(-1), x.reshape(-1))


def test_reshape_then_conv_chain_is_valid():
    g, ck = chain([784], "F", "Reshape", {"shape": [1, 28, 28], "axes": "CHW"})
    from hybrid_studio.graph import insert_after
    insert_after(g, "b", Node("conv2", "Conv2d", {"out_channels": 4})).apply(g)
    ck.flush()
    assert ck.valid
    assert ck.result("conv2").output == TensorSpec("CHW", (4, 26, 26))
    SetParams("b", {"shape": [4, 14, 14]}).apply(g)
    ck.flush()
    assert ck.result("conv2").output == TensorSpec("CHW", (4, 12, 12))


# ---- ToSequence --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("axis, expected", [
    ("width", (20, 3 * 10)), ("height", (10, 3 * 20)), ("spatial", (10 * 20, 3)),
])
def test_to_sequence_shapes(axis, expected):
    assert out_spec([3, 10, 20], "CHW", "ToSequence", {"axis": axis}) == TensorSpec("TF", expected)


def test_to_sequence_unknown_sizes():
    assert out_spec([3, 10, None], "CHW", "ToSequence", {"axis": "width"}) == TensorSpec("TF", (None, 30))
    assert out_spec([3, 10, None], "CHW", "ToSequence", {"axis": "height"}) == TensorSpec("TF", (10, None))
    assert out_spec([3, None, 4], "CHW", "ToSequence", {"axis": "spatial"}) == TensorSpec("TF", (None, 3))


def test_to_sequence_on_a_signal_makes_length_time():
    assert out_spec([4, 50], "CL", "ToSequence") == TensorSpec("TF", (50, 4))


def test_to_sequence_default_and_summary():
    b = CATALOG.get("ToSequence")
    assert b.defaults() == {"axis": "width"} and b.summary({"axis": "spatial"}) == "spatial"
    assert b.id_prefix == "toseq" and b.category == "Shape"


@pytest.mark.parametrize("shape, axes, words", [
    ([None, 16], "TF", "already a sequence"),
    ([64], "F", "a feature vector (N, F=64)"),
])
def test_to_sequence_rejects(shape, axes, words):
    d = diag(shape, axes, "ToSequence")
    assert words in d.message and "an image (N, C, H, W)" in d.message
    assert d.code == "toseq-input"


def test_to_sequence_bad_axis_is_a_param_error():
    d = diag([3, 8, 8], "CHW", "ToSequence", {"axis": "depth"})
    assert d.code == "param" and "'width'" in d.message


@pytest.mark.parametrize("axis, reference", [
    ("width", lambda x: x.permute(0, 3, 1, 2).flatten(2)),
    ("height", lambda x: x.permute(0, 2, 1, 3).flatten(2)),
    ("spatial", lambda x: x.flatten(2).transpose(1, 2)),
])
def test_to_sequence_feature_order(axis, reference):
    import torch
    x, y = run_and_compare([3, 4, 6], "CHW", "ToSequence", {"axis": axis})
    assert torch.equal(y, reference(x))
    n, c, h, w = x.shape
    if axis == "width":    # step t is column t; feature c*H + h
        assert torch.equal(y[:, 5, 2 * h + 1], x[:, 2, 1, 5])
    elif axis == "height":  # step t is row t; feature c*W + w
        assert torch.equal(y[:, 3, 1 * w + 4], x[:, 1, 3, 4])
    else:                   # step h*W + w; feature c
        assert torch.equal(y[:, 2 * w + 3, 1], x[:, 1, 2, 3])


def test_to_sequence_signal_compiles():
    import torch
    x, y = run_and_compare([4, None], "CL", "ToSequence")
    assert torch.equal(y, x.transpose(1, 2))


def test_shape_blocks_export_readable_code():
    src = generate(chain([784], "F", "Reshape", {"shape": [1, 28, 28], "axes": "CHW"})[0]).source
    assert "b = x.reshape(x.shape[0], 1, 28, 28)" in src
    src = generate(chain([3, 8, 8], "CHW", "Flatten")[0]).source
    assert "b = x.flatten(1)" in src
    assert all(CATALOG.get(t).category == "Shape" for t in ("Flatten", "Reshape", "ToSequence"))


@pytest.mark.parametrize("axis, steps, features", [("width", 6, 3 * 4), ("height", 4, 3 * 6), ("spatial", 24, 3)])
def test_to_sequence_on_video_works_per_frame(axis, steps, features):
    """Per time step, like every spatial block: each frame's own sequence runs along L."""
    import torch
    assert out_spec([None, 3, 4, 6], "TCHW", "ToSequence", {"axis": axis}) == TensorSpec("TLF", (None, steps, features))
    frame = {"width": lambda f: f.permute(0, 3, 1, 2).flatten(2), "height": lambda f: f.permute(0, 2, 1, 3).flatten(2),
             "spatial": lambda f: f.flatten(2).transpose(1, 2)}[axis]
    x, y = run_and_compare([5, 3, 4, 6], "TCHW", "ToSequence", {"axis": axis})
    for t in range(5):
        assert torch.equal(y[:, t], frame(x[:, t]))


def test_per_frame_sequences_flatten_into_one_sequence_for_an_lstm():
    assert out_spec([None, 2, 4], "TCL", "ToSequence") == TensorSpec("TLF", (None, 4, 2))
    d = diag([None, 4, 8], "TLF", "LSTM")
    assert "per-frame sequences" in d.message and any("Flatten" in f.label for f in d.fixes)
    assert out_spec([None, 4, 8], "TLF", "Flatten") == TensorSpec("TF", (None, 32))
