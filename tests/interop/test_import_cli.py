"""``hybrid-studio import`` (contract 5.3) and ``train --init-weights``."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

from hybrid_studio.cli import main
from hybrid_studio.compile import compile_graph
from hybrid_studio.project import load_project


@pytest.fixture
def small_keras(keras, tmp_path):
    L = keras.layers
    m = keras.Sequential([keras.Input((6, 3)), L.LSTM(4), L.Dense(3, activation="softmax")])
    m.save(tmp_path / "small.keras")
    return tmp_path / "small.keras", m


def test_import_writes_project_and_weights(small_keras, tmp_path, capsys):
    src, kmodel = small_keras
    out = tmp_path / "proj" / "small.hsproj.json"
    out.parent.mkdir()
    assert main(["import", str(src), "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    weights = tmp_path / "proj" / "small.weights.pt"
    assert report["project"] == str(out) and report["weights"] == str(weights)
    assert report["unsupported"] == []
    assert [c["source"] for c in report["converted"]][1:] == [layer.name for layer in kmodel.layers]
    assert all(c["blocks"] for c in report["converted"])
    assert set(report) == {"project", "weights", "converted", "unsupported"}
    graph = load_project(out)
    assert all(n.position is not None for n in graph.nodes)  # laid out for the canvas
    assert graph.training["init_weights"] == "small.weights.pt"
    state = torch.load(weights, weights_only=True)
    model = compile_graph(graph)
    assert set(state) == set(model.state_dict())
    model.load_state_dict(state)
    x = np.random.default_rng(1).standard_normal((2, 6, 3)).astype("float32")
    np.testing.assert_allclose(model(torch.from_numpy(x)).detach().numpy(), kmodel.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-5)
    # the project checks valid, without torch, like any other
    assert main(["check", str(out)]) == 0


def test_partial_import_exits_1_and_unreadable_exits_2(keras, tmp_path, capsys):
    L = keras.layers
    m = keras.Sequential([keras.Input((6, 3)), L.SimpleRNN(4, activation="sigmoid"), L.Dense(2)])
    m.save(tmp_path / "rnn.keras")
    out = tmp_path / "rnn.hsproj.json"
    assert main(["import", str(tmp_path / "rnn.keras"), "-o", str(out), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    (bad,) = report["unsupported"]
    assert bad["op"] == "SimpleRNN" and "rnn.keras" in bad["reason"]
    assert out.exists() and (tmp_path / "rnn.weights.pt").exists()
    assert main(["check", str(out)]) == 1  # the placeholder is an error the user fixes on the canvas
    assert "placeholder for SimpleRNN layer" in capsys.readouterr().out
    (tmp_path / "junk.keras").write_bytes(b"PK\x03\x04 not really a zip")
    assert main(["import", str(tmp_path / "junk.keras"), "-o", str(tmp_path / "j.hsproj.json")]) == 2
    err = capsys.readouterr().err
    assert "junk.keras" in err and "Traceback" not in err
    assert not (tmp_path / "j.hsproj.json").exists() and not (tmp_path / "j.weights.pt").exists()


def _train_args(project, dataset, out, **kw):
    base = {"project": str(project), "dataset": str(dataset), "epochs": 1, "batch_size": 16, "lr": 1e-9,
            "device": "cpu", "out": str(out), "resume": None, "nproc_per_node": None, "init_weights": None}
    base.update(kw)
    return argparse.Namespace(**base)


def test_train_starts_from_imported_weights(small_keras, tmp_path, capsys):
    from hybrid_studio.train import cli_train
    from hybrid_studio.train.runs import list_runs

    src, _ = small_keras
    out = tmp_path / "small.hsproj.json"
    assert main(["import", str(src), "-o", str(out)]) == 0
    data = tmp_path / "seq.npz"
    rng = np.random.default_rng(0)
    np.savez(data, x=rng.standard_normal((40, 6, 3)).astype("float32"), y=rng.integers(0, 3, 40))
    imported = torch.load(tmp_path / "small.weights.pt", weights_only=True)
    # from the project's training section (init_weights, relative to the project)
    assert cli_train(_train_args(out, data, tmp_path / "runs")) == 0
    (run,) = list_runs(tmp_path / "runs")
    trained = torch.load(f"{run.path}/checkpoints/last.pt", weights_only=True)["model"]
    key = next(k for k in imported if k.endswith("weight_hh_l0"))
    # lr 1e-9: one epoch barely moves the weights, so they are still the imported ones
    assert torch.allclose(trained[key], imported[key], atol=1e-6)
    # a file made for another graph: exit 2, the keys and shapes named
    other = dict(imported)
    other[key] = torch.zeros(3, 3)
    torch.save(other, tmp_path / "other.pt")
    assert cli_train(_train_args(out, data, tmp_path / "runs2", init_weights=str(tmp_path / "other.pt"))) == 2
    err = capsys.readouterr()
    text = err.out + err.err
    assert "other.pt" in text and key in text and "(3, 3)" in text and "(16, 4)" in text
    assert cli_train(_train_args(out, data, tmp_path / "runs3", init_weights=str(tmp_path / "nope.pt"))) == 2
