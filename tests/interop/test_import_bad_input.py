"""Unsupported layers become placeholders (the rest imports); unreadable files give one clear message, never a
traceback, and nothing in a file ever runs."""

from __future__ import annotations

import json
import zipfile

import h5py
import numpy as np
import pytest
from hybrid_studio.blocks import checker_for
from hybrid_studio.interop import ImportFailure, import_model
from hybrid_studio.interop.result import PLACEHOLDER


def _small(keras, middle):
    L = keras.layers
    return keras.Sequential([keras.Input((6, 3)), L.LSTM(4, return_sequences=True), middle, L.Dense(2)])


def test_gru_with_relu_becomes_a_placeholder_with_the_reason(keras, tmp_path):
    L = keras.layers
    m = _small(keras, L.GRU(4, activation="relu", return_sequences=True))
    m.save(tmp_path / "g.keras")
    result = import_model(tmp_path / "g.keras")
    (bad,) = result.unsupported
    assert bad.op == "GRU" and "activation='relu'" in bad.reason and "g.keras" in bad.reason
    ph = result.graph.node(bad.blocks[0])
    assert ph.type == PLACEHOLDER and ph.params["source"] == bad.source
    # the layers around it are converted with their weights
    assert [n.type for n in result.graph.nodes] == ["Input", "LSTM", PLACEHOLDER, "Linear", "Output"]
    lstm = result.graph.nodes[1].id
    assert result.weights[f"{lstm}.weight_hh_l0"].shape == (16, 4)
    assert any(k.endswith(".weight") and k.startswith(result.graph.nodes[3].id) for k in result.weights)
    # and the checker shows the placeholder's reason as its diagnostic
    checker = checker_for(result.graph)
    checker.flush()
    (diag,) = [d for d in checker.diagnostics() if d.node == ph.id]
    assert "placeholder for GRU layer" in diag.message and "activation='relu'" in diag.message


def test_lambda_layer_is_never_run(keras, tmp_path):
    L = keras.layers
    marker = tmp_path / "ran.txt"

    def side_effect(x, path=str(marker)):
        open(path, "w").write("ran")
        return x * 2

    m = _small(keras, L.Lambda(side_effect))
    m.save(tmp_path / "lam.keras")
    marker.unlink()  # Keras ran it while building the model
    result = import_model(tmp_path / "lam.keras")
    (bad,) = result.unsupported
    assert bad.op == "Lambda" and "Python code" in bad.reason and "never runs" in bad.reason
    assert not marker.exists()


def test_custom_and_unknown_layers_become_placeholders(keras, tmp_path):
    L = keras.layers

    @keras.saving.register_keras_serializable(package="mypkg")
    class Doubler(L.Layer):
        def call(self, x):
            return x * 2

    m = keras.Sequential([keras.Input((6, 3)), Doubler(), L.SimpleRNN(3, activation="sigmoid"), L.Dense(2)])
    m.save(tmp_path / "custom.keras")
    result = import_model(tmp_path / "custom.keras")
    reasons = {e.op: e.reason for e in result.unsupported}
    assert "mypkg>Doubler" in reasons["Doubler"] and "never run" in reasons["Doubler"]
    assert "tanh or relu" in reasons["SimpleRNN"]
    assert [e.op for e in result.converted] == ["InputLayer", "Dense"]


def test_placeholder_projects_still_compile_once_replaced(keras, tmp_path):
    """Replacing the placeholder with a real block gives a model the imported weights load into."""
    from hybrid_studio.graph import Edge, Node
    L = keras.layers
    m = _small(keras, L.GRU(4, activation="relu", return_sequences=True))
    m.save(tmp_path / "g.h5")
    result = import_model(tmp_path / "g.h5")
    g = result.graph
    ph = result.unsupported[0].blocks[0]
    edges = g.in_edges(ph) + g.out_edges(ph)
    for e in edges:
        g.delete_edge(e)
    g.delete_node(ph)
    g.insert_node(Node(ph, "GRU", {"hidden_size": 4, "return_sequences": True}), 2)
    for e in edges:
        g.insert_edge(Edge(e.source, e.target, e.source_port, "in"))
    import torch

    from hybrid_studio.compile import compile_graph
    model = compile_graph(g)
    missing = model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in result.weights.items()},
                                    strict=False)
    assert all(k.startswith(ph + ".") for k in missing.missing_keys) and not missing.unexpected_keys


def _message(path) -> str:
    with pytest.raises(ImportFailure) as info:
        import_model(path)
    return str(info.value)


def test_unreadable_files_name_the_file(keras, tmp_path):
    L = keras.layers
    m = _small(keras, L.Dropout(0.1))
    m.save(tmp_path / "ok.keras")
    data = (tmp_path / "ok.keras").read_bytes()
    (tmp_path / "cut.keras").write_bytes(data[: len(data) // 2])
    assert "cut.keras" in _message(tmp_path / "cut.keras") and "zip" in _message(tmp_path / "cut.keras")
    (tmp_path / "bad.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    assert "bad.h5" in _message(tmp_path / "bad.h5") and "HDF5" in _message(tmp_path / "bad.h5")
    (tmp_path / "layer.json").write_text(json.dumps({"class_name": "Dense", "config": {"units": 3}}))
    msg = _message(tmp_path / "layer.json")
    assert "layer.json" in msg and "'Dense'" in msg and "not a Keras model" in msg
    with zipfile.ZipFile(tmp_path / "nocfg.keras", "w") as z:
        z.writestr("metadata.json", "{}")
    assert "no config.json" in _message(tmp_path / "nocfg.keras")
    with h5py.File(tmp_path / "weights_only.h5", "w") as f:
        f.create_dataset("w", data=np.zeros(3))
    assert "weights only" in _message(tmp_path / "weights_only.h5")
    (tmp_path / "text.json").write_text("not json at all")
    assert "not JSON" in _message(tmp_path / "text.json")
    assert "no such file" in _message(tmp_path / "missing.keras")


def test_pickled_content_is_refused_not_loaded(tmp_path):
    import pickle
    (tmp_path / "model.keras").write_bytes(pickle.dumps({"class_name": "Sequential"}))
    assert "not a Keras model" in _message(tmp_path / "model.keras")


def test_weight_shapes_that_disagree_with_the_config_name_both(keras, tmp_path):
    L = keras.layers
    m = keras.Sequential([keras.Input((5,)), L.Dense(4), L.Dense(2)])
    m.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r+") as f:
        cfg = json.loads(f.attrs["model_config"])
        cfg["config"]["layers"][1]["config"]["units"] = 3  # the file's kernel is (5, 4)
        f.attrs["model_config"] = json.dumps(cfg)
    result = import_model(tmp_path / "m.h5")
    bad = result.unsupported[0]
    assert "(5, 4)" in bad.reason and "(5, 3)" in bad.reason and "kernel" in bad.reason
