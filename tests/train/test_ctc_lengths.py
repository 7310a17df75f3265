"""ctc data with ``x_lengths`` (padded variable-length sequences, issue 8): validated naming the file, checked
against each sample's own output length before training, and trained through the CLI."""

from __future__ import annotations

import argparse
import csv

import numpy as np
import pytest
from train_helpers import build, spell_symbols

from hybrid_studio.graph import WARNING
from hybrid_studio.project import dumps_project
from hybrid_studio.train import cli_train
from hybrid_studio.train.ctc import greedy_decode
from hybrid_studio.train.datasets import DatasetError, get_dataset
from hybrid_studio.train.matching import adapt_graph_edit, match_dataset
from hybrid_studio.train.runs import list_runs


def varlen_data(n=160, t=16, seed=0):
    """Sequences (T<=16, F=4) of 2-3 symbols of {1, 2, 3}, each 3 steps long; every sample padded to 16 with junk."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.1, (n, t, 4)).astype(np.float32)
    y = np.zeros((n, 3), np.int64)
    lengths = np.zeros(n, np.int64)
    for i in range(n):
        k = spell_symbols(rng, x, y, i)
        lengths[i] = 4 * k + int(rng.integers(0, 3))
        x[i, lengths[i]:] = 3.0  # padding that is not zero: the model must not read it
    return x, y, lengths


def varlen_graph(variable=True, stride=1):
    nodes = [("series", "Input", {"shape": [16, 4], "axes": "TF", "variable_length": variable}),
             ("conv", "Conv1d", {"out_channels": 12, "kernel_size": 3, "padding": 1, "stride": stride,
                                 "activation": "relu"}),
             ("rnn", "GRU", {"hidden_size": 16, "return_sequences": True, "bidirectional": True}),
             ("fc", "Linear", {"out_features": 4}), ("out", "Output", {"task": "ctc"})]
    return build(nodes, [("series", "conv"), ("conv", "rnn"), ("rnn", "fc"), ("fc", "out")], "varlen")


def test_a_ctc_npz_with_x_lengths_trains_one_epoch_through_the_cli(tmp_path, capsys):
    x, y, lengths = varlen_data()
    data = tmp_path / "spell.npz"
    np.savez(data, x=x, y=y, task=np.array("ctc"), x_lengths=lengths)
    ds = get_dataset(str(data), val_split=0.25)
    assert ds.train.lengths[0] is not None and len(ds.train.lengths[0]) == len(ds.train)
    graph = varlen_graph()
    assert match_dataset(graph, ds) == []
    graph.training = {"num_threads": 1, "val_split": 0.25, "seed": 1}
    project = tmp_path / "varlen.hsproj.json"
    project.write_text(dumps_project(graph))
    code = cli_train(argparse.Namespace(project=str(project), dataset=str(data), epochs=1, batch_size=16, lr=0.01,
                                        device="cpu", out=str(tmp_path / "runs"), resume=None,
                                        nproc_per_node=None))
    out = capsys.readouterr().out
    assert code == 0, out
    assert "epoch 1/1" in out and "cer" in out
    (run,) = list_runs(tmp_path / "runs")
    assert run.status == "finished"
    preds = list(csv.DictReader(open(f"{run.path}/predictions.csv")))
    assert len(preds) == len(ds.val)


@pytest.mark.parametrize("extra, words", [
    ({"x_lengths": np.full(20, 17)}, "'x_lengths' is longer than 'x': sample 0 has length 17 but 'x' holds 16"),
    ({"x_lengths": np.full(20, 5.0)}, "'x_lengths' must hold integers"),
    ({"x_lengths": np.full(19, 5)}, "'x_lengths' must be shaped (N,) = (20,)"),
    ({"x_lengths": np.zeros(20, np.int64)}, "'x_lengths' must be 1..16: sample 0 has length 0"),
    ({"x1_lengths": np.full(20, 5)}, "x1_lengths names no input array"),
])
def test_bad_x_lengths_are_errors_naming_the_file(tmp_path, extra, words):
    x, y, _ = varlen_data(n=20)
    path = tmp_path / "bad.npz"
    np.savez(path, x=x, y=y, task=np.array("ctc"), **extra)
    with pytest.raises(DatasetError) as e:
        get_dataset(str(path))
    assert str(path) in str(e.value) and words in str(e.value)


def test_lengths_of_a_given_validation_set_are_required_with_the_training_ones(tmp_path):
    x, y, lengths = varlen_data(n=20)
    path = tmp_path / "val.npz"
    np.savez(path, x=x, y=y, x_val=x, y_val=y, task=np.array("ctc"), x_lengths=lengths)
    with pytest.raises(DatasetError, match="x_lengths_val"):
        get_dataset(str(path))
    np.savez(path, x=x, y=y, x_val=x[:5], y_val=y[:5], task=np.array("ctc"), x_lengths=lengths,
             x_lengths_val=lengths[:5])
    ds = get_dataset(str(path))
    assert ds.val.lengths[0].tolist() == lengths[:5].tolist()


def test_a_label_longer_than_its_samples_output_is_named_with_both_lengths(tmp_path):
    x, y, lengths = varlen_data(n=40)
    y[7] = [1, 2, 3]
    lengths[7] = 5  # stride 2: 5 steps -> 3 output steps, enough for 3 labels
    y[9] = [2, 2, 1]
    lengths[9] = 6  # 6 -> 3 output steps, but 2, 2, 1 needs 4 (a blank between the repeats)
    path = tmp_path / "short.npz"
    np.savez(path, x=x, y=y, task=np.array("ctc"), x_lengths=lengths)
    ds = get_dataset(str(path), val_split=0)
    msgs = [d.message for d in match_dataset(varlen_graph(stride=2), ds)]
    assert any("sample 9" in m and "needs 4 output steps" in m and "gives it 3 steps" in m
               and "series length 6" in m for m in msgs), msgs
    assert not any("sample 7 " in m for m in msgs)


def test_data_with_lengths_for_a_fixed_length_input_offers_to_make_it_variable(tmp_path):
    x, y, lengths = varlen_data(n=40)
    path = tmp_path / "spell.npz"
    np.savez(path, x=x, y=y, task=np.array("ctc"), x_lengths=lengths)
    ds = get_dataset(str(path))
    graph = varlen_graph(variable=False)
    (d,) = match_dataset(graph, ds)
    assert d.severity == WARNING and d.node == "series" and "read the padding as data" in d.message
    adapt_graph_edit(graph, ds).apply(graph)
    assert graph.node("series").params["variable_length"] is True
    assert match_dataset(graph, ds) == []


def test_greedy_decoding_stops_at_each_samples_length():
    scores = np.zeros((2, 5, 3))
    scores[:, :, 0] = 1  # blanks
    scores[0, 1, 1] = scores[1, 1, 2] = 5
    scores[:, 4, 2] = 5  # a symbol in the padding
    assert greedy_decode(scores) == [[1, 2], [2, 2]]
    assert greedy_decode(scores, np.array([3, 4])) == [[1], [2]]
