"""Variable-length inputs (issue 8): a padded batch gives every sample the result it gets alone (to 1e-5), in the
compiled (fx) model and in the exported model.py; lengths follow each block's rule, the same in plain Python; blocks
that cannot honour lengths are diagnostics naming them."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from hybrid_studio.blocks import checker_for, new_graph
from hybrid_studio.compile import compile_graph, generate
from hybrid_studio.compile.export import export_python
from hybrid_studio.compile.lengths import length_plan
from hybrid_studio.graph import AddNode, Connect, Edge, Node


def build(nodes, edges):
    g = new_graph("varlen")
    for nid, type_name, params in nodes:
        AddNode(Node(nid, type_name, dict(params))).apply(g)
    for a, b in edges:
        Connect(Edge(a, b, "out", "in")).apply(g)
    return g


def chain(*nodes):
    return build(nodes, [(a[0], b[0]) for a, b in zip(nodes, nodes[1:])])


def conv_bigru(variable=True):
    """Conv1d front end (stride 2, then 'same') + bidirectional GRU + per-step Linear + ctc: the speech shape."""
    return chain(("audio", "Input", {"shape": [30, 6], "axes": "TF", "variable_length": variable}),
                 ("conv1", "Conv1d", {"out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1,
                                      "activation": "relu"}),
                 ("conv2", "Conv1d", {"out_channels": 8, "kernel_size": 3, "padding": "same", "activation": "relu"}),
                 ("pool", "AvgPool1d", {"kernel_size": 2, "padding": 1}),
                 ("rnn", "GRU", {"hidden_size": 10, "bidirectional": True, "return_sequences": True}),
                 ("fc", "Linear", {"out_features": 5}),
                 ("out", "Output", {"task": "ctc"}))


def lstm_final_state():
    """Stacked bidirectional LSTM whose final state (no time axis) feeds a classifier."""
    return chain(("series", "Input", {"shape": [None, 4], "axes": "TF", "variable_length": True}),
                 ("ln", "LayerNorm", {}),
                 ("rnn", "LSTM", {"hidden_size": 7, "num_layers": 2, "bidirectional": True}),
                 ("fc", "Linear", {"out_features": 3}),
                 ("out", "Output", {}))


def padded_batch(n, t, f, lengths, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, t, f, generator=g)
    for i, n_i in enumerate(lengths):
        x[i, n_i:] = 5.0 + torch.randn(t - n_i, f, generator=g)  # loud padding: it must not leak
    return x, torch.tensor(lengths)


def assert_alone_equals_batched(model, x, lengths, per_step):
    with torch.no_grad():
        batched = model(x, lengths)
        for i, n in enumerate(lengths.tolist()):
            alone = model(x[i:i + 1, :n])
            if per_step:  # the sample's own steps of the padded output
                assert alone.shape[1] <= batched.shape[1]
                got = batched[i:i + 1, :alone.shape[1]]
            else:
                got = batched[i:i + 1]
            assert (alone - got).abs().max().item() < 1e-5, (i, n)


@pytest.mark.parametrize("make, per_step", [(conv_bigru, True), (lstm_final_state, False)])
def test_a_padded_batch_gives_each_sample_its_result_alone(make, per_step):
    torch.manual_seed(0)
    model = compile_graph(make()).eval()
    x, lengths = padded_batch(5, 30, 6 if per_step else 4, [30, 17, 9, 4, 23])
    assert_alone_equals_batched(model, x, lengths, per_step)
    with torch.no_grad():  # lengths left out: every sample is full length
        assert torch.equal(model(x), model(x, torch.full((5,), 30)))


def test_the_exported_model_py_takes_lengths_too(tmp_path):
    graph = conv_bigru()
    path = tmp_path / "model.py"
    export_python(graph, path)
    spec = importlib.util.spec_from_file_location("exported_varlen", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    exported = module.Model().eval()
    compiled = compile_graph(graph).eval()
    exported.load_state_dict(compiled.state_dict())  # the same keys
    x, lengths = padded_batch(4, 30, 6, [30, 11, 5, 26], seed=3)
    assert_alone_equals_batched(exported, x, lengths, True)
    with torch.no_grad():
        assert (exported(x, audio_lengths=lengths) - compiled(x, lengths)).abs().max().item() < 1e-6


def test_state_dict_keys_do_not_change_with_variable_length():
    fixed, varied = compile_graph(conv_bigru(False)), compile_graph(conv_bigru(True))
    assert list(fixed.state_dict()) == list(varied.state_dict())
    varied.load_state_dict(fixed.state_dict())


def test_plain_python_lengths_follow_the_models_rule():
    """compile.lengths gives the output length the model itself computes for each sample (what CTC is fed)."""
    graph = conv_bigru()
    plan = length_plan(graph, checker_for(graph))
    assert plan.inputs == ["audio"]
    model = compile_graph(graph).eval()
    given = np.arange(1, 31)
    steps = plan.output_lengths({"audio": given}, ["out"])["out"]
    with torch.no_grad():
        for n, s in zip(given, steps):
            assert model(torch.randn(1, int(n), 6)).shape[1] == s
    assert plan.output_lengths({"audio": torch.tensor([30, 7])}, ["out"])["out"].tolist() == [8, 3]  # 30->15->15->8
    source = generate(graph).source
    assert "def forward(self, audio, audio_lengths=None):" in source and "PackedGRU" in source


def diagnostics(graph, node):
    ck = checker_for(graph)
    ck.flush()
    return ck.result(node).diagnostics


@pytest.mark.parametrize("block, params, words", [
    ("AttentionPool", {"attention_size": 8}, "AttentionPool cannot honour per-sample lengths"),
    ("MaxPool1d", {"kernel_size": 3, "padding": 1}, "use padding 0"),
])
def test_blocks_that_would_read_the_padding_are_named(block, params, words):
    graph = chain(("seq", "Input", {"shape": [20, 4], "axes": "TF", "variable_length": True}),
                  ("b", block, params), ("out", "Output", {}))
    (d,) = diagnostics(graph, "b")
    assert d.node == "b" and d.code == "lengths" and words in d.message
    if block == "MaxPool1d":  # one click: padding 0, after which it honours the lengths
        edit = d.fixes[0].edit(graph)
        edit.apply(graph)
        assert diagnostics(graph, "b") == []


def test_variable_length_needs_time_first_and_a_ctc_output_per_step():
    graph = chain(("img", "Input", {"shape": [1, 8, 8], "axes": "CHW", "variable_length": True}),
                  ("out", "Output", {}))
    (d,) = diagnostics(graph, "img")
    assert "time axis T first" in d.message
    d.fixes[0].edit(graph).apply(graph)
    assert diagnostics(graph, "img") == []
    graph = chain(("seq", "Input", {"shape": [20, 4], "axes": "TF", "variable_length": True}),
                  ("rnn", "GRU", {"hidden_size": 4, "return_sequences": True}), ("out", "Output", {}))
    (d,) = diagnostics(graph, "out")
    assert "would train on the padding" in d.message and "return_sequences" in d.fixes[0].label
