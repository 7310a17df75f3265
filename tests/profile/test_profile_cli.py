"""`hybrid-studio profile` and `hybrid-studio quantize`: the contract's JSON, exit codes and messages."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from hybrid_studio.cli import main  # noqa: E402
from hybrid_studio.project import load_template, save_project  # noqa: E402
from profile_helpers import lstm_heavy_graph, train_run  # noqa: E402


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A small LSTM-heavy model trained one epoch on digits-as-sequences."""
    return train_run(lstm_heavy_graph(hidden=64), "digits-seq", tmp_path_factory.mktemp("runs"), epochs=1)


def test_profile_json_of_a_project(tmp_path, capsys):
    path = tmp_path / "m.hsproj.json"
    save_project(load_template("rnn-cnn"), path)
    assert main(["profile", str(path), "--batch-size", "3", "--json", "--no-onnx"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["device"] == "cpu" and report["batch_size"] == 3
    assert set(report["total"]) == {"forward_ms", "train_step_ms", "param_bytes", "peak_bytes"}
    assert set(report["blocks"]["conv"]) == {"forward_ms", "share", "output_bytes", "params", "macs"}
    assert report["blocks"]["lstm"]["output_bytes"] == 3 * 128 * 32 * 4


def test_profile_text_of_a_run_folder(tiny_run, capsys):
    assert main(["profile", str(tiny_run), "--batch-size", "2", "--no-onnx"]) == 0
    out = capsys.readouterr().out
    assert "batch 2" in out and "lstm1" in out and "train step" in out


@pytest.mark.parametrize("argv, code, message", [
    (["--device", "cuda:9"], 2, "cuda:9"),
    (["--device", "tpu"], 2, "expected cpu, cuda or cuda:I"),
    (["--batch-size", "0"], 2, "at least 1"),
])
def test_profile_bad_input(tmp_path, capsys, argv, code, message):
    if argv[1] == "cuda:9" and torch.cuda.device_count() > 9:
        pytest.skip("this machine has a cuda:9")
    path = tmp_path / "m.hsproj.json"
    save_project(load_template("rnn-cnn"), path)
    assert main(["profile", str(path), "--no-onnx", *argv]) == code
    assert message in capsys.readouterr().err


def test_profile_invalid_graph_and_unreadable_file(tmp_path, capsys):
    graph = load_template("rnn-cnn")
    graph.node("fc").params["out_features"] = 0
    path = tmp_path / "bad.hsproj.json"
    save_project(graph, path)
    assert main(["profile", str(path), "--json", "--no-onnx"]) == 1
    captured = capsys.readouterr()
    assert "fc" in captured.err and "error" in json.loads(captured.out)
    (tmp_path / "junk.hsproj.json").write_text("{not json")
    assert main(["profile", str(tmp_path / "junk.hsproj.json")]) == 2
    assert main(["profile", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_profile_batch_that_does_not_fit(tmp_path, capsys):
    path = tmp_path / "m.hsproj.json"
    save_project(load_template("seed-cnn-lstm"), path)
    assert main(["profile", str(path), "--batch-size", str(10**9), "--no-onnx"]) == 1
    err = capsys.readouterr().err
    assert "does not fit" in err and "--batch-size 250000000" in err


def test_quantize_writes_a_file_plain_pytorch_loads(tiny_run, tmp_path, capsys):
    out = tmp_path / "q.pt"
    assert main(["quantize", str(tiny_run), "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["output"] == str(out) and out.is_file()
    assert report["blocks"] == {"digits": "float32", "lstm1": "dynamic int8", "lstm2": "dynamic int8",
                                "fc": "dynamic int8", "out": "float32"}
    assert report["after"]["size_bytes"] == out.stat().st_size < report["before"]["size_bytes"]
    assert report["before"]["metric"]["name"] == "accuracy"
    assert abs(report["after"]["metric"]["value"] - report["before"]["metric"]["value"]) <= 0.05
    assert report["before"]["latency_ms"] > 0 and report["after"]["latency_ms"] > 0
    # a fresh interpreter with nothing but torch (no hybrid_studio on the path) runs it at another batch size
    code = ("import torch, sys; m = torch.jit.load(sys.argv[1]); y = m(torch.randn(5, 8, 8)); "
            "print(tuple(y.shape))")
    done = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    assert done.stdout.strip() == "(5, 10)", done.stderr


def test_quantize_onnx_with_onnxruntime(tiny_run, tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime")
    out = tmp_path / "q.onnx"
    assert main(["quantize", str(tiny_run), "-o", str(out)]) == 0
    assert "size" in capsys.readouterr().out
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    import numpy as np
    assert session.run(None, {"digits": np.zeros((3, 8, 8), np.float32)})[0].shape == (3, 10)
    ops = {n.op_type for n in __import__("onnx").load(str(out)).graph.node}
    assert ops & {"DynamicQuantizeLSTM", "MatMulInteger", "DynamicQuantizeMatMul"}


def test_quantize_bad_input(tmp_path, capsys):
    assert main(["quantize", str(tmp_path / "nope")]) == 2
    assert "not a run folder" in capsys.readouterr().err
    (tmp_path / "project.json").write_text("{}")
    assert main(["quantize", str(tmp_path)]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_block_paths_name_what_torch_actually_quantises():
    """Dynamic int8 covers nn.LSTM/nn.GRU/nn.Linear; a GRU with reset_after false is the studio's own loop and
    stays float32, and so does the plain RNN block."""
    from hybrid_studio.profile.quantize import block_paths

    graph = lstm_heavy_graph(hidden=8)
    paths = block_paths(graph)
    assert {paths[n.id] for n in graph.nodes if n.type in ("LSTM", "Linear")} == {"dynamic int8"}
    lstm2 = graph.node("lstm2")
    lstm2.type = "GRU"
    assert block_paths(graph)["lstm2"] == "dynamic int8"
    lstm2.params["reset_after"] = False
    assert block_paths(graph)["lstm2"] == "float32"
    lstm2.type = "RNN"
    assert block_paths(graph)["lstm2"] == "float32"
