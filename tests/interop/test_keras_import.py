"""Keras import: every covered layer gives the same outputs as Keras's own predict (within 1e-4), for Sequential
and functional models, from .keras, .h5 and to_json files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from interop_helpers import assert_matches_keras, needs, randomize

from hybrid_studio.interop import import_model
from hybrid_studio.project import load_project, templates_dir


def seed_model(keras):
    L = keras.layers
    return keras.Sequential([keras.Input((28, 28, 1)), L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2),
                             L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(2), L.Reshape((25, 64)),
                             L.LSTM(128), L.Dense(10)])


@pytest.mark.parametrize("fmt", [".keras", ".h5"])
def test_seed_example_imports_as_the_seed_template(keras, rng, tmp_path, fmt):
    model = seed_model(keras)
    x = rng.standard_normal((3, 28, 28, 1)).astype("float32")
    result = assert_matches_keras(model, x, tmp_path / "seed", fmt)
    # the same blocks as the seed template, in the same order (Keras's reshape to 25 steps is ToSequence(spatial))
    seed = load_project(templates_dir() / "seed-cnn-lstm.hsproj.json")
    assert [n.type for n in result.graph.nodes] == [n.type for n in seed.nodes]
    for got, want in zip(result.graph.nodes, seed.nodes):
        assert {k: v for k, v in got.params.items() if k != "task"} == \
            {k: v for k, v in want.params.items() if k != "task"}, got.id


def test_to_json_gives_the_graph_without_weights(keras, tmp_path):
    path = tmp_path / "seed.json"
    path.write_text(seed_model(keras).to_json())
    result = import_model(path)
    assert not result.has_weights and result.weights == {} and not result.unsupported
    assert [n.type for n in result.graph.nodes][-3:] == ["LSTM", "Linear", "Output"]


def test_convolution_pooling_normalisation_and_activations(keras, rng, tmp_path):
    needs("Permute")
    L = keras.layers
    m = keras.Sequential([keras.Input((7, 7, 3)), L.Conv2D(4, 3, padding="same", strides=2),
                          L.BatchNormalization(), L.Activation("relu"), L.Conv2D(5, 2, padding="same", use_bias=False,
                                                                                  activation="elu"),
                          L.AveragePooling2D(2, strides=1), L.ReLU(), L.Dropout(0.3), L.SpatialDropout2D(0.1),
                          L.Flatten(), L.Dense(6, activation="gelu"), L.LeakyReLU(negative_slope=0.01), L.ELU(),
                          L.Dense(5, activation="softmax")])
    randomize(m, rng)
    assert_matches_keras(m, rng.standard_normal((2, 7, 7, 3)).astype("float32"), tmp_path / "cnn")


def test_dense_on_images_layer_norm_reshape_conv1d_and_gru(keras, rng, tmp_path):
    needs("Permute")
    L = keras.layers
    m = keras.Sequential([keras.Input((8, 8, 3)), L.Conv2D(4, 3, padding="same", activation="silu"),
                          L.MaxPooling2D(2), L.Dense(3, activation="sigmoid"), L.LayerNormalization(),
                          L.Reshape((16, 3)), L.GRU(5, return_sequences=True), L.Conv1D(3, 2, activation="tanh"),
                          L.MaxPooling1D(2), L.AveragePooling1D(2, strides=1), L.BatchNormalization(),
                          L.GlobalAveragePooling1D(), L.Softmax()])
    randomize(m, rng)
    assert_matches_keras(m, rng.standard_normal((2, 8, 8, 3)).astype("float32"), tmp_path / "mix", ".h5")


def test_recurrent_layers_and_bidirectional_merge_modes(keras, rng, tmp_path):
    L = keras.layers
    m = keras.Sequential([keras.Input((6, 4)),
                          L.Bidirectional(L.LSTM(3, return_sequences=True), merge_mode="sum"),
                          L.Bidirectional(L.GRU(3, return_sequences=True), merge_mode="concat"),
                          L.LSTM(4, return_sequences=True, use_bias=False), L.GRU(3, reset_after=True),
                          L.Dense(2, activation="tanh")])
    randomize(m, rng)
    assert_matches_keras(m, rng.standard_normal((2, 6, 4)).astype("float32"), tmp_path / "rnn")
    m = keras.Sequential([keras.Input((5, 3)), L.Bidirectional(L.LSTM(2)), L.Dense(2)])
    randomize(m, rng)
    assert_matches_keras(m, rng.standard_normal((2, 5, 3)).astype("float32"), tmp_path / "bi", ".h5")



@pytest.mark.parametrize("fmt", [".keras", ".h5"])
def test_gru_reset_after_false_in_both_directions_and_both_returns(keras, rng, tmp_path, fmt):
    """Keras's reset_after=False GRU (one bias per gate, reset before the recurrent matrix) imports exactly."""
    L = keras.layers
    m = keras.Sequential([keras.Input((7, 4)),
                          L.GRU(5, reset_after=False, return_sequences=True),
                          L.Bidirectional(L.GRU(3, reset_after=False, return_sequences=True), merge_mode="sum"),
                          L.Bidirectional(L.GRU(4, reset_after=False), merge_mode="concat"),
                          L.Dense(2)])
    randomize(m, rng)
    result = assert_matches_keras(m, rng.standard_normal((3, 7, 4)).astype("float32"), tmp_path / "gru", fmt)
    grus = [n for n in result.graph.nodes if n.type == "GRU"]
    assert [n.params.get("reset_after") for n in grus] == [False] * 3
    assert result.weights[f"{grus[0].id}.bias_l0"].shape == (15,)  # one bias per gate, not two
    # without bias, and the final state of a single direction
    m = keras.Sequential([keras.Input((5, 3)), L.GRU(4, reset_after=False, use_bias=False), L.Dense(2)])
    randomize(m, rng)
    assert_matches_keras(m, rng.standard_normal((2, 5, 3)).astype("float32"), tmp_path / "gru_nobias", fmt)


def test_simple_rnn_tanh_relu_and_bidirectional(keras, rng, tmp_path):
    L = keras.layers
    m = keras.Sequential([keras.Input((6, 4)),
                          L.SimpleRNN(5, return_sequences=True),
                          L.Bidirectional(L.SimpleRNN(3, activation="relu", return_sequences=True), merge_mode="sum"),
                          L.Bidirectional(L.SimpleRNN(2)),
                          L.Dense(2)])
    randomize(m, rng)
    result = assert_matches_keras(m, rng.standard_normal((3, 6, 4)).astype("float32") * 0.5, tmp_path / "srnn")
    rnns = [n for n in result.graph.nodes if n.type == "RNN"]
    assert [n.params.get("nonlinearity", "tanh") for n in rnns] == ["tanh", "relu", "tanh"]
    m = keras.Sequential([keras.Input((5, 3)), L.SimpleRNN(4, use_bias=False), L.Dense(1)])
    randomize(m, rng)
    assert_matches_keras(m, rng.standard_normal((2, 5, 3)).astype("float32"), tmp_path / "srnn_nobias", ".h5")

def test_embedding_and_flatten_of_a_sequence(keras, rng, tmp_path):
    L = keras.layers
    m = keras.Sequential([keras.Input((5,), dtype="int32"), L.Embedding(20, 6), L.LSTM(4, return_sequences=True),
                          L.Flatten(), L.Dense(3)])
    result = assert_matches_keras(m, rng.integers(0, 20, (2, 5)).astype("int64"), tmp_path / "emb")
    assert result.graph.nodes_of_type("Input")[0].params["dtype"] == "int64"


def test_time_distributed(keras, rng, tmp_path):
    needs("Permute")
    L = keras.layers
    m = keras.Sequential([keras.Input((3, 8, 8, 2)), L.TimeDistributed(L.Conv2D(3, 3, activation="relu")),
                          L.TimeDistributed(L.MaxPooling2D()), L.TimeDistributed(L.BatchNormalization()),
                          L.TimeDistributed(L.Flatten()), L.TimeDistributed(L.Dense(5)), L.LSTM(4)])
    randomize(m, rng)
    assert_matches_keras(m, rng.standard_normal((2, 3, 8, 8, 2)).astype("float32"), tmp_path / "td")
    m = keras.Sequential([keras.Input((3, 6, 6, 2)), L.TimeDistributed(L.Conv2D(3, 3)),
                          L.TimeDistributed(L.GlobalAveragePooling2D()), L.GRU(2)])
    randomize(m, rng)
    assert_matches_keras(m, rng.standard_normal((2, 3, 6, 6, 2)).astype("float32"), tmp_path / "td2")


def test_conv_lstm_and_conv3d(keras, rng, tmp_path):
    needs("ConvLSTM2d", "Conv3d")
    L = keras.layers
    m = keras.Sequential([keras.Input((3, 6, 6, 2)), L.ConvLSTM2D(3, 3, padding="same", return_sequences=True),
                          L.Conv3D(2, 2, activation="relu"), L.ConvLSTM2D(2, 3), L.GlobalAveragePooling2D()])
    randomize(m, rng)
    assert_matches_keras(m, rng.standard_normal((2, 3, 6, 6, 2)).astype("float32"), tmp_path / "convlstm")


def test_functional_model_with_several_inputs_and_outputs(keras, rng, tmp_path):
    L = keras.layers
    image = keras.Input((8, 8, 1), name="image")
    series = keras.Input((6, 3), name="series")
    a = L.GlobalAveragePooling2D()(L.Conv2D(4, 3, activation="relu")(image))
    b = L.LSTM(4)(series)
    added = L.Add()([a, b])
    mult = L.Multiply()([a, b, added])
    joined = L.Concatenate()([added, mult, b])
    cls = L.Dense(3, activation="softmax", name="cls")(joined)
    reg = L.Dense(1, name="reg")(L.Concatenate(axis=1)([L.GRU(2, return_sequences=True)(series),
                                                       L.Dense(2)(series)]))
    m = keras.Model([image, series], [cls, reg])
    randomize(m, rng)
    xs = [rng.standard_normal((2, 8, 8, 1)).astype("float32"), rng.standard_normal((2, 6, 3)).astype("float32")]
    result = assert_matches_keras(m, xs, tmp_path / "multi")
    g = result.graph
    assert [n.id for n in g.nodes if n.type == "Input"] == ["image", "series"]
    assert [n.id for n in g.nodes if n.type == "Output"] == ["cls_out", "reg_out"]
    assert g.node("cls_out").params["task"] == "classification"
    assert_matches_keras(m, xs, tmp_path / "multi", ".h5")


def test_attention_and_permute(keras, rng, tmp_path):
    needs("MultiheadAttention", "Permute")
    L = keras.layers
    q, kv = keras.Input((5, 8)), keras.Input((4, 6))
    cross = L.MultiHeadAttention(2, 4)(q, kv)
    self_ = L.MultiHeadAttention(4, 2)(q, q)
    x = L.Add()([cross, self_])
    y = L.Permute((2, 1))(x)
    out = L.Dense(3)(L.Flatten()(y))
    m = keras.Model([q, kv], [L.GlobalAveragePooling1D()(x), out])
    randomize(m, rng)
    assert_matches_keras(m, [rng.standard_normal((2, 5, 8)).astype("float32"),
                             rng.standard_normal((2, 4, 6)).astype("float32")], tmp_path / "att")


def test_report_lists_every_layer(keras, tmp_path):
    m = seed_model(keras)
    m.save(tmp_path / "s.keras")
    result = import_model(tmp_path / "s.keras")
    names = [layer.name for layer in m.layers]
    assert [e.source for e in result.entries][1:] == names
    assert all(e.blocks for e in result.entries)
    text = result.report_text()
    assert "8 layer(s) converted, 0 not converted" in text and f"{names[4]} (Reshape) -> {names[4]}" in text
    assert json.loads(json.dumps(result.report_json())) == result.report_json()
