"""The catalog against contract section 2: every block type, its params and defaults; and catalog-level messages."""

from __future__ import annotations

import pytest
import torch

from hybrid_studio.blocks import CATALOG, checker_for, new_graph
from hybrid_studio.compile import compile_graph
from hybrid_studio.graph import AddNode, Connect, Edge, Node, TensorSpec

REQUIRED = object()  # a param the contract names without a default

#: Contract section 2, as written there: type -> {param: default}.
CONTRACT = {
    "Input": {"shape": REQUIRED, "axes": REQUIRED, "dtype": "float32"},
    "Conv1d": {"out_channels": REQUIRED, "kernel_size": REQUIRED, "stride": 1, "padding": 0, "dilation": 1,
               "bias": True, "activation": None},
    "Conv2d": {"out_channels": REQUIRED, "kernel_size": REQUIRED, "stride": 1, "padding": 0, "dilation": 1,
               "bias": True, "activation": None},
    **{t: {"kernel_size": REQUIRED, "stride": None, "padding": 0}  # stride None: the kernel size
       for t in ("MaxPool1d", "AvgPool1d", "MaxPool2d", "AvgPool2d")},
    "GlobalAvgPool": {},
    "BatchNorm": {"eps": REQUIRED, "momentum": REQUIRED},
    "LayerNorm": {"eps": REQUIRED},
    "Dropout": {"p": 0.5},
    "Activation": {"function": REQUIRED},
    "Flatten": {},
    "Reshape": {"shape": REQUIRED, "axes": REQUIRED},
    "ToSequence": {"axis": REQUIRED},
    "Embedding": {"num_embeddings": REQUIRED, "embedding_dim": REQUIRED},
    **{t: {"hidden_size": REQUIRED, "num_layers": 1, "bidirectional": False, "merge_mode": "concat",
           "return_sequences": False, "dropout": 0, "bias": True} for t in ("LSTM", "GRU")},
    "Linear": {"out_features": REQUIRED, "bias": True, "activation": None},
    "Concat": {"inputs": 2, "axis": "features"},
    "Add": {"inputs": 2},
    "Multiply": {"inputs": 2},
    "Output": {"task": REQUIRED},
}
CHOICES = {
    ("Activation", "function"): {"relu", "leaky_relu", "elu", "gelu", "silu", "tanh", "sigmoid", "hardtanh",
                                 "softmax"},
    ("ToSequence", "axis"): {"width", "height", "spatial"},
    ("Output", "task"): {"classification", "regression", "ctc"},  # ctc: contract 5.1
    ("Input", "dtype"): {"float32", "int64"},
    ("LSTM", "merge_mode"): {"concat", "sum"},
    ("Concat", "axis"): {"features", "time"},
}


@pytest.mark.parametrize("type_name", sorted(CONTRACT))
def test_contract_block_has_its_params_and_defaults(type_name):
    assert type_name in CATALOG
    block = CATALOG.get(type_name)
    names = [p.name for p in block.params]
    for name, default in CONTRACT[type_name].items():
        assert name in names, f"{type_name} lacks {name}"
        if default is not REQUIRED:
            assert block.param(name).default == default, (type_name, name)
    for (t, name), allowed in CHOICES.items():
        if t == type_name:
            assert set(block.param(name).choices) - {None} == allowed


def test_conv_padding_same_and_valid_and_pairs_are_accepted():
    conv2d, conv1d = CATALOG.get("Conv2d"), CATALOG.get("Conv1d")
    for value in (1, "same", "valid", [1, 2]):
        assert not conv2d.resolve({"padding": value, "kernel_size": [3, 1], "stride": [1, 1]})[1], value
    assert not conv1d.resolve({"padding": "same"})[1]
    assert conv1d.resolve({"padding": [1, 2]})[1]  # Conv1d has one spatial axis


def run_chain(input_params: dict, block: tuple):
    g = new_graph()
    ck = checker_for(g)
    AddNode(Node("x", "Input", input_params)).apply(g)
    AddNode(Node("b", *block)).apply(g)
    AddNode(Node("out", "Output", {})).apply(g)
    Connect(Edge("x", "b")).apply(g)
    Connect(Edge("b", "out")).apply(g)
    ck.flush()
    return g, ck


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
@pytest.mark.parametrize("input_params,block,expected", [
    ({"shape": [1, 1, 2], "axes": "CHW"}, ("Conv2d", {"out_channels": 3, "kernel_size": 4, "padding": "same"}),
     TensorSpec("CHW", (3, 1, 2))),
    ({"shape": [2, 1], "axes": "CL"}, ("Conv1d", {"out_channels": 3, "kernel_size": 4, "padding": "same",
                                                  "dilation": 2}), TensorSpec("CL", (3, 1))),
    ({"shape": [2, 3], "axes": "TF"}, ("Conv1d", {"out_channels": 5, "kernel_size": 6, "padding": "same"}),
     TensorSpec("TF", (2, 5))),
])
def test_padding_same_fits_any_input_size(input_params, block, expected):
    # PyTorch pads "same" unevenly where it must, so even an input smaller than the kernel keeps its size
    g, ck = run_chain(input_params, block)
    assert ck.valid, ck.diagnostics()
    assert ck.result("b").output == expected
    x = torch.randn(2, *input_params["shape"])
    assert tuple(compile_graph(g, ck)(x).shape) == (2, *expected.shape)


def test_too_small_message_names_dilation_only_when_it_is_used():
    _, ck = run_chain({"shape": [1, 4, 4], "axes": "CHW"}, ("Conv2d", {"kernel_size": 5}))
    (d,) = ck.diagnostics()
    assert d.message == "the output height (H) would be 0: H=4 is too small for the kernel 5, stride 1, padding 0"
    _, ck = run_chain({"shape": [1, 4, 8], "axes": "CHW"}, ("Conv2d", {"kernel_size": 3, "dilation": [2, 1]}))
    (d,) = ck.diagnostics()
    assert "H=4" in d.message and d.message.endswith("dilation 2")


def test_param_and_token_messages_do_not_repeat_the_block_id():
    _, ck = run_chain({"shape": [1, 8, 8], "axes": "CHW"}, ("Conv2d", {"out_channels": 0}))
    (d,) = ck.diagnostics()
    assert str(d) == "error: b: out_channels must be at least 1"
    _, ck = run_chain({"shape": [8], "axes": "T", "dtype": "int64"}, ("Linear", {}))
    (d,) = ck.diagnostics()
    assert d.message.startswith("Linear received int64 tokens (N, T=8) on 'in'")


def test_defaults_are_fresh_copies_and_ports_follow_params_where_a_block_says_so():
    # defaults() is built from a per-class table: a caller changing its lists must not change the next block's
    a = CATALOG.get("Input").defaults()
    a["shape"].append(99)
    assert 99 not in CATALOG.get("Input").defaults()["shape"]
    assert a is not CATALOG.get("Input").defaults()
    # ports skip resolving params only for blocks whose ports never read them
    assert CATALOG.input_ports("Linear", {"out_features": -3}) == ["in"]
    assert CATALOG.output_ports("Linear", {}) == ["out"]
    assert CATALOG.output_ports("Output", {}) == CATALOG.get("Output").outputs(CATALOG.get("Output").defaults())
    assert CATALOG.input_ports("Input", {}) == CATALOG.get("Input").inputs(CATALOG.get("Input").defaults())
    for b in CATALOG:
        assert CATALOG.input_ports(b.type_name, {}) == b.inputs(b.defaults()), b.type_name
        assert CATALOG.output_ports(b.type_name, {}) == b.outputs(b.defaults()), b.type_name


@pytest.mark.parametrize("type_name", sorted(CATALOG.types()))
def test_every_block_face_has_a_summary_line(type_name):
    # a blank summary showed as "—" on the block's face (Add, Multiply, Flatten, GlobalAvgPool did)
    block = CATALOG.get(type_name)
    assert block.summary(block.defaults()).strip() not in ("", "-", "—")
