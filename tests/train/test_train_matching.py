"""Dataset vs graph: mismatches are Diagnostics naming the block, with fixes that are edits."""

from __future__ import annotations

from hybrid_studio.blocks import checker_for
from hybrid_studio.graph import Batch, SetParams
from hybrid_studio.project import load_template
from hybrid_studio.train.datasets import get_dataset
from hybrid_studio.train.matching import adapt_graph_edit, match_dataset

from train_helpers import build, tiny_mlp_graph, tiny_seq_graph


def errors(diags):
    return [d for d in diags if d.severity == "error"]


def test_seed_template_fits_digits():
    assert match_dataset(load_template("seed-cnn-lstm"), get_dataset("digits")) == []


def test_wrong_input_shape_has_a_set_shape_fix():
    g = load_template("seed-cnn-lstm")
    SetParams("image", {"shape": [1, 32, 32]}).apply(g)
    (d,) = match_dataset(g, get_dataset("digits"))
    assert d.node == "image" and d.severity == "error"
    assert "image expects CHW 1x32x32" in d.message and "CHW 1x28x28" in d.message
    assert [f.label for f in d.fixes] == ["set image.shape to [1, 28, 28]"]
    d.fixes[0].edit(g).apply(g)
    assert match_dataset(g, get_dataset("digits")) == []


def test_wrong_axes_sets_shape_and_axes():
    g = tiny_seq_graph(t=8, f=8, classes=10)
    SetParams("series", {"shape": [64], "axes": "F"}).apply(g)
    (d,) = match_dataset(g, get_dataset("digits-seq"))
    assert d.fixes[0].label == 'set series.shape to [8, 8] and series.axes to "TF"'


def test_variable_length_input_accepts_any_length():
    g = tiny_seq_graph(t=8, f=8, classes=10)
    SetParams("series", {"shape": [None, 8]}).apply(g)
    assert errors(match_dataset(g, get_dataset("digits-seq"))) == []


def test_class_count_mismatch_fixes_the_linear():
    g = tiny_seq_graph(t=8, f=8, classes=3)
    (d,) = match_dataset(g, get_dataset("digits-seq"))
    assert d.node == "out" and "3 values" in d.message and "10 classes" in d.message
    assert d.fixes[0].label == "set fc.out_features to 10"
    assert d.fixes[1].label == "insert Linear(out_features=10) before out"
    edit = d.fixes[1].edit(g)
    edit.apply(g)
    assert match_dataset(g, get_dataset("digits-seq")) == []
    edit.revert(g)
    assert [n.id for n in g.nodes] == ["series", "rnn", "fc", "out"]


def test_task_and_dtype_mismatches():
    g = tiny_mlp_graph(f=2, out=1, task="regression")
    ds = get_dataset("digits-seq")
    diags = match_dataset(g, ds)
    labels = [f.label for d in diags for f in d.fixes]
    assert 'set out.task to "classification"' in labels
    assert 'set x.shape to [8, 8] and x.axes to "TF"' in labels
    tokens = build([("ids", "Input", {"shape": [8], "axes": "T", "dtype": "int64"}),
                    ("emb", "Embedding", {"num_embeddings": 20, "embedding_dim": 8}),
                    ("rnn", "GRU", {"hidden_size": 4}), ("fc", "Linear", {"out_features": 10}), ("out", "Output", {})],
                   [("ids", "emb"), ("emb", "rnn"), ("rnn", "fc"), ("fc", "out")])
    d = [d for d in match_dataset(tokens, ds) if "int64" in d.message]
    assert d and d[0].fixes[0].label == 'set ids.dtype to "float32"'


def test_two_inputs_are_paired_by_name():
    g = load_template("parallel-cnn-lstm")
    ds = get_dataset("image+series")
    # the Inputs are listed image, series in the file; the dataset serves them under the same names
    assert errors(match_dataset(g, ds)) == []
    one = tiny_seq_graph(t=8, f=8, classes=10)
    (d,) = errors(match_dataset(one, ds))
    assert d.node is None and "2 inputs" in d.message and "1 Input block" in d.message


def test_output_must_be_a_vector_of_classes():
    g = build([("image", "Input", {"shape": [1, 28, 28], "axes": "CHW"}),
               ("conv", "Conv2d", {"out_channels": 10, "kernel_size": 28}), ("out", "Output", {})],
              [("image", "conv"), ("conv", "out")])
    (d,) = match_dataset(g, get_dataset("digits"))
    assert d.node == "out" and "Flatten or GlobalAvgPool" in d.message


def test_sequence_output_is_a_warning():
    g = tiny_seq_graph(t=8, f=8, classes=10)
    SetParams("rnn", {"return_sequences": True}).apply(g)
    (d,) = match_dataset(g, get_dataset("digits-seq"))
    assert d.severity == "warning" and "per time step" in d.message


def test_adapt_graph_edit_is_one_undoable_batch():
    g = load_template("seed-cnn-lstm")
    SetParams("image", {"shape": [1, 32, 32]}).apply(g)
    SetParams("fc", {"out_features": 7}).apply(g)
    ds = get_dataset("digits")
    before = [(n.id, dict(n.params)) for n in g.nodes]
    edit = adapt_graph_edit(g, ds)
    assert isinstance(edit, Batch) and all(isinstance(e, SetParams) for e in edit.edits)
    assert "digits" in edit.text
    edit.apply(g)
    assert match_dataset(g, ds) == []
    assert checker_for(g).valid
    edit.revert(g)
    assert [(n.id, n.params) for n in g.nodes] == before
    assert adapt_graph_edit(load_template("seed-cnn-lstm"), ds) is None


def test_adapt_follows_a_changed_input_to_the_output():
    # digits-seq into a graph built for waveforms: the input changes, then the output size
    g = load_template("rnn-cnn")
    ds = get_dataset("digits-seq")
    edit = adapt_graph_edit(g, ds)
    edit.apply(g)
    assert errors(match_dataset(g, ds)) == []
    assert g.node("fc").params["out_features"] == 10 and g.node("wave").params["shape"] == [8, 8]
