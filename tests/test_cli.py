"""The `hybrid-studio` command: check (text, --json, exit codes, no torch), export, and the train/gui hand-offs."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from hybrid_studio.cli import main
from hybrid_studio.project import list_templates, load_template

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = {t.name: t.path for t in list_templates()}
SEED = TEMPLATES["seed-cnn-lstm"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def subprocess_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture
def broken(tmp_path):
    """The seed template without its ToSequence: the LSTM receives an image."""
    data = json.loads(SEED.read_text())
    data["nodes"] = [n for n in data["nodes"] if n["id"] != "seq"]
    data["edges"] = [e for e in data["edges"] if "seq" not in (e["source"], e["target"])]
    data["edges"].append({"source": "pool2", "target": "lstm"})
    path = tmp_path / "broken.hsproj.json"
    path.write_text(json.dumps(data))
    return path


# ---- check -----------------------------------------------------------------------------------------------------------
def test_check_json_for_the_seed_template(capsys):
    code, out, _ = run(capsys, "check", SEED, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["valid"] is True and report["total_params"] == 119434
    assert report["nodes"]["conv1"] == {"type": "Conv2d", "shape": [None, 32, 26, 26], "axes": "NCHW",
                                        "params": 320, "macs": 194688}
    assert report["nodes"]["seq"]["shape"] == [None, 25, 64] and report["nodes"]["seq"]["axes"] == "NTF"
    assert report["outputs"] == {"out": [None, 10]}
    assert report["diagnostics"] == []
    assert list(report["nodes"]) == [n.id for n in load_template("seed-cnn-lstm").nodes]


def test_check_text_for_the_seed_template(capsys):
    code, out, _ = run(capsys, "check", SEED)
    assert code == 0
    assert out.splitlines()[0] == f"{SEED}: valid"
    assert "119,434 parameters" in out
    conv1 = next(ln for ln in out.splitlines() if ln.split()[:1] == ["conv1"])
    assert conv1.split() == ["conv1", "Conv2d", "(N,", "32,", "26,", "26)", "320", "194,688"]
    assert "outputs: out (N, 10)" in out


def test_check_invalid_graph_exits_1_with_diagnostics_and_fixes(capsys, broken):
    code, out, _ = run(capsys, "check", broken)
    assert code == 1
    assert "INVALID (1 error)" in out
    assert "error: lstm: " in out and "fix: insert ToSequence" in out
    code, out, _ = run(capsys, "check", broken, "--json")
    assert code == 1
    report = json.loads(out)
    assert report["valid"] is False and report["outputs"] == {"out": None}
    (diag,) = report["diagnostics"]
    assert diag["node"] == "lstm" and diag["severity"] == "error" and diag["message"]
    assert any(f.startswith("insert ToSequence") for f in diag["fixes"])
    assert report["nodes"]["lstm"]["shape"] is None and report["nodes"]["conv1"]["params"] == 320


def test_check_graph_without_output_is_invalid(capsys, tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"format": "hybrid-studio", "version": 1, "nodes": [
        {"id": "x", "type": "Input", "params": {"shape": [4], "axes": "F"}}]}))
    code, out, _ = run(capsys, "check", path, "--json")
    assert code == 1 and json.loads(out)["diagnostics"][0]["node"] is None


def test_check_unreadable_files_exit_2_naming_the_file(capsys, tmp_path):
    code, out, err = run(capsys, "check", tmp_path / "missing.hsproj.json")
    assert code == 2 and "missing.hsproj.json: no such file" in err
    bad = tmp_path / "bad.hsproj.json"
    bad.write_text('{"format": "hybrid-studio", "version": 1, "nodes": [{"id": "c", "type": "Conv2d", '
                   '"params": {"kernel_size": "x"}}]}')
    code, out, err = run(capsys, "check", bad)
    assert code == 2
    assert f"{bad}: nodes[0].params.kernel_size: expected an integer or [h, w], got \"x\"" in err
    code, out, err = run(capsys, "check", bad, "--json")
    assert code == 2 and json.loads(out)["valid"] is False and "kernel_size" in json.loads(out)["error"]


def test_bad_usage_exits_2(capsys):
    assert run(capsys, "check")[0] == 2
    assert run(capsys, "check", SEED, "--frobnicate")[0] == 2
    assert run(capsys, "export", SEED)[0] == 2  # -o is required
    assert run(capsys, "--no-such-option")[0] == 2
    assert run(capsys, "--help")[0] == 0


def test_check_runs_in_a_subprocess_without_importing_torch():
    probe = ("import sys, json\n"
             "from hybrid_studio.cli import main\n"
             "code = main(['check', sys.argv[1], '--json'])\n"
             "heavy = [m for m in ('torch', 'PySide6', 'pyqtgraph') if m in sys.modules]\n"
             "print(json.dumps({'code': code, 'heavy': heavy}))\n")
    proc = subprocess.run([sys.executable, "-c", probe, str(SEED)], capture_output=True, text=True,
                          env=subprocess_env(), cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    first, last = proc.stdout.strip().splitlines()
    assert json.loads(first)["total_params"] == 119434
    assert json.loads(last) == {"code": 0, "heavy": []}


def test_python_dash_m_entry_point(broken):
    proc = subprocess.run([sys.executable, "-m", "hybrid_studio", "check", str(broken), "--json"],
                          capture_output=True, text=True, env=subprocess_env(), cwd=ROOT, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["valid"] is False


# ---- export python ---------------------------------------------------------------------------------------------------
ALLOWED_IMPORTS = {"torch"}


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_export_python_is_standalone_and_matches_check(name, tmp_path, capsys):
    import torch

    from hybrid_studio.compile import compile_graph

    code, out, _ = run(capsys, "check", TEMPLATES[name], "--json")
    report = json.loads(out)
    target = tmp_path / f"{name.replace('-', '_')}_model.py"
    code, out, err = run(capsys, "export", TEMPLATES[name], "--format", "python", "-o", target)
    assert code == 0, err
    assert f"wrote {target}" in out

    source = target.read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported, "the file imports torch"
    assert all(m in ALLOWED_IMPORTS or m in sys.stdlib_module_names for m in imported), imported

    spec = importlib.util.spec_from_file_location(target.stem, target)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.Model().eval()
    graph = load_template(name)
    compiled = compile_graph(graph)
    assert list(model.state_dict()) == list(compiled.state_dict())
    assert sum(p.numel() for p in model.parameters()) == report["total_params"]

    inputs = []
    for node in graph.nodes:
        if node.type == "Input":
            shape = report["nodes"][node.id]["shape"]
            inputs.append(torch.randn(3, *[8 if s is None else s for s in shape[1:]]))
    with torch.no_grad():
        result = model(*inputs)
    results = result if isinstance(result, tuple) else (result,)
    assert len(results) == len(report["outputs"])
    for tensor, shape in zip(results, report["outputs"].values()):
        assert list(tensor.shape) == [3, *shape[1:]]
    # the app's weights load into the exported class
    model.load_state_dict(compiled.state_dict())


TWO_OUTPUTS = {"format": "hybrid-studio", "version": 1, "name": "two-out", "nodes": [
    {"id": "out_b", "type": "Output", "params": {"task": "regression"}},
    {"id": "sig", "type": "Input", "params": {"shape": [None, 6], "axes": "TF"}},
    {"id": "out_a", "type": "Output", "params": {}},
    {"id": "img", "type": "Input", "params": {"shape": [2, 8, 8], "axes": "CHW"}},
    {"id": "gap", "type": "GlobalAvgPool", "params": {}},
    {"id": "rnn", "type": "GRU", "params": {"hidden_size": 5}},
    {"id": "fc", "type": "Linear", "params": {"out_features": 3}}],
    "edges": [{"source": "img", "target": "gap"}, {"source": "gap", "target": "out_a"},
              {"source": "sig", "target": "rnn"}, {"source": "rnn", "target": "fc"},
              {"source": "fc", "target": "out_b"}]}


def test_several_inputs_and_outputs_follow_file_order(capsys, tmp_path):
    """Inputs and Outputs listed in an order that differs from the data flow: file order wins everywhere."""
    import torch

    project = tmp_path / "two.hsproj.json"
    project.write_text(json.dumps(TWO_OUTPUTS))
    code, out, _ = run(capsys, "check", project, "--json")
    assert code == 0
    report = json.loads(out)
    assert list(report["outputs"].items()) == [("out_b", [None, 3]), ("out_a", [None, 2])]
    assert report["nodes"]["sig"] == {"type": "Input", "shape": [None, None, 6], "axes": "NTF", "params": 0,
                                      "macs": 0}
    assert report["nodes"]["rnn"]["macs"] is None  # unknown T: MACs unknown, parameters known
    target = tmp_path / "two_model.py"
    assert run(capsys, "export", project, "--format", "python", "-o", target)[0] == 0
    spec = importlib.util.spec_from_file_location("two_model", target)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.Model()
    assert sum(p.numel() for p in model.parameters()) == report["total_params"] == 213
    sig, img = torch.randn(4, 7, 6), torch.randn(4, 2, 8, 8)
    result = model(sig, img)  # one tensor per Input, in file order: sig, then img
    assert isinstance(result, tuple) and [tuple(t.shape) for t in result] == [(4, 3), (4, 2)]
    assert torch.equal(result[1], img.mean(dim=(2, 3)))


def test_export_format_from_suffix_and_errors(capsys, tmp_path, broken):
    code, out, err = run(capsys, "export", SEED, "-o", tmp_path / "m.py")
    assert code == 0 and (tmp_path / "m.py").read_text().startswith('"""seed-cnn-lstm')
    code, out, err = run(capsys, "export", SEED, "-o", tmp_path / "m.weird")
    assert code == 2 and "--format" in err
    code, out, err = run(capsys, "export", broken, "--format", "python", "-o", tmp_path / "b.py")
    assert code == 1 and "lstm" in err and "fix: insert ToSequence" in err
    assert not (tmp_path / "b.py").exists()
    code, out, err = run(capsys, "export", tmp_path / "nope.json", "--format", "python", "-o", tmp_path / "c.py")
    assert code == 2 and "nope.json: no such file" in err
    code, out, err = run(capsys, "export", SEED, "--format", "python", "-o", tmp_path / "no" / "dir" / "m.py")
    assert code == 2 and "cannot write" in err


def test_export_onnx_from_the_command_line(capsys, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    import numpy as np

    path = tmp_path / "tiny.hsproj.json"
    path.write_text(json.dumps({"format": "hybrid-studio", "version": 1, "nodes": [
        {"id": "x", "type": "Input", "params": {"shape": [6], "axes": "F"}},
        {"id": "fc", "type": "Linear", "params": {"out_features": 3}},
        {"id": "y", "type": "Output", "params": {"task": "regression"}}],
        "edges": [{"source": "x", "target": "fc"}, {"source": "fc", "target": "y"}]}))
    code, out, err = run(capsys, "export", path, "--format", "onnx", "-o", tmp_path / "tiny.onnx")
    assert code == 0, err
    # the exporter's chatter is kept quiet; the line says which exporter and how close onnxruntime came to torch
    assert out.startswith(f"wrote {tmp_path / 'tiny.onnx'} (onnx; torchscript exporter, checked in onnxruntime: "
                          f"max |diff| from torch ") and out.count("\n") == 1 and err == ""
    session = ort.InferenceSession(str(tmp_path / "tiny.onnx"))
    assert [i.name for i in session.get_inputs()] == ["x"] and [o.name for o in session.get_outputs()] == ["y"]
    for batch in (1, 4):
        (y,) = session.run(None, {"x": np.ones((batch, 6), np.float32)})
        assert y.shape == (batch, 3)


def test_onnx_example_size_grows_to_what_the_graph_needs(capsys, tmp_path):
    """An unknown width behind a kernel 80 wide: tracing at the default 64 would fail inside torch.export."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    import numpy as np

    from hybrid_studio.compile.onnx_export import example_size
    from hybrid_studio.project import load_project

    path = tmp_path / "wide.hsproj.json"
    path.write_text(json.dumps({"format": "hybrid-studio", "version": 1, "nodes": [
        {"id": "x", "type": "Input", "params": {"shape": [1, 28, None], "axes": "CHW"}},
        {"id": "c", "type": "Conv2d", "params": {"out_channels": 2, "kernel_size": [3, 80]}},
        {"id": "g", "type": "GlobalAvgPool", "params": {}},
        {"id": "out", "type": "Output", "params": {}}],
        "edges": [{"source": "x", "target": "c"}, {"source": "c", "target": "g"}, {"source": "g", "target": "out"}]}))
    assert example_size(load_project(path), ["x"]) == 128
    code, out, err = run(capsys, "export", path, "-o", tmp_path / "wide.onnx")
    assert code == 0, err
    session = ort.InferenceSession(str(tmp_path / "wide.onnx"))
    for width in (80, 200):
        (y,) = session.run(None, {"x": np.ones((2, 1, 28, width), np.float32)})
        assert y.shape == (2, 2)


def test_export_writes_through_a_symlink_and_refuses_a_special_file(capsys, tmp_path):
    target = tmp_path / "real_model.py"
    link = tmp_path / "model.py"
    link.symlink_to(target)
    code, out, err = run(capsys, "export", SEED, "-o", link)
    assert code == 0, err
    assert link.is_symlink() and "class Model" in target.read_text()
    if hasattr(os, "mkfifo"):  # something that is not a file (as /dev/full would be): never replaced by one
        pipe = tmp_path / "pipe.py"
        os.mkfifo(pipe)
        code, out, err = run(capsys, "export", SEED, "-o", pipe)
        assert code == 2 and "not a regular file" in err
        assert pipe.is_fifo()


def test_check_warns_about_training_settings_train_would_refuse(capsys, tmp_path):
    data = json.loads(Path(SEED).read_text())
    data["training"] = {"epochs": "abc"}
    path = tmp_path / "bad_training.hsproj.json"
    path.write_text(json.dumps(data))
    code, out, err = run(capsys, "check", "--json", path)
    report = json.loads(out)
    assert code == 0 and report["valid"]  # the model is fine ...
    assert report["diagnostics"] == [{"node": None, "severity": "warning", "fixes": [], "message":
                                      "training section: training setting 'epochs' must be of type int (got 'abc')"}]


# ---- train and gui hand-offs -----------------------------------------------------------------------------------------
@pytest.fixture
def fake_train(monkeypatch):
    calls = []
    module = types.ModuleType("hybrid_studio.train")
    module.cli_train = lambda args: calls.append(args) or 0
    monkeypatch.setitem(sys.modules, "hybrid_studio.train", module)
    return calls


def test_train_parses_every_flag_and_hands_over(capsys, fake_train):
    code, _, _ = run(capsys, "train", SEED, "--dataset", "digits", "--epochs", "3", "--batch-size", "16",
                     "--lr", "0.01", "--device", "cuda:1", "--out", "runs", "--resume", "runs/r1",
                     "--nproc-per-node", "2")
    assert code == 0
    (args,) = fake_train
    assert (args.project, args.dataset, args.epochs, args.batch_size, args.lr, args.device, args.out, args.resume,
            args.nproc_per_node) == (str(SEED), "digits", 3, 16, 0.01, "cuda:1", "runs", "runs/r1", 2)


def test_train_defaults_are_none_so_project_settings_apply(capsys, fake_train):
    assert run(capsys, "train", SEED, "--dataset", "digits")[0] == 0
    args = fake_train[0]
    assert (args.epochs, args.batch_size, args.lr, args.device, args.out, args.resume, args.nproc_per_node) == \
        (None,) * 7


@pytest.mark.parametrize("bad", [["--epochs", "0"], ["--epochs", "two"], ["--lr", "-1"], ["--lr", "nan"],
                                 ["--device", "tpu"], ["--batch-size", "0"], ["--nproc-per-node", "0"]])
def test_train_bad_flags_exit_2_without_training(capsys, fake_train, bad):
    code, _, err = run(capsys, "train", SEED, "--dataset", "digits", *bad)
    assert code == 2 and "error" in err and fake_train == []


def test_train_needs_a_dataset(capsys, fake_train):
    assert run(capsys, "train", SEED)[0] == 2 and fake_train == []


def test_train_exit_code_is_passed_through(capsys, monkeypatch):
    module = types.ModuleType("hybrid_studio.train")
    module.cli_train = lambda args: 1
    monkeypatch.setitem(sys.modules, "hybrid_studio.train", module)
    assert run(capsys, "train", SEED, "--dataset", "digits")[0] == 1


@pytest.fixture
def fake_app(monkeypatch):
    calls = []
    ui = types.ModuleType("hybrid_studio.ui")
    app = types.ModuleType("hybrid_studio.ui.app")
    app.main = lambda project=None, screenshot=None: calls.append((project, screenshot)) or 0
    ui.app = app
    monkeypatch.setitem(sys.modules, "hybrid_studio.ui", ui)
    monkeypatch.setitem(sys.modules, "hybrid_studio.ui.app", app)
    return calls


def test_gui_and_bare_project_open_the_app(capsys, fake_app, tmp_path):
    assert run(capsys, SEED)[0] == 0
    assert run(capsys)[0] == 0
    assert run(capsys, "gui", "--screenshot", tmp_path / "s.png", SEED)[0] == 0
    assert run(capsys, "gui", "--screenshot", tmp_path / "t.png")[0] == 0
    assert fake_app == [(str(SEED), None), (None, None), (str(SEED), str(tmp_path / "s.png")),
                        (None, str(tmp_path / "t.png"))]


def test_gui_with_a_missing_project_exits_2(capsys, fake_app, tmp_path):
    code, _, err = run(capsys, tmp_path / "gone.hsproj.json")
    assert code == 2 and "gone.hsproj.json: no such file" in err and fake_app == []


def test_the_app_and_the_command_line_keep_unsaved_runs_in_one_place(monkeypatch, tmp_path):
    from hybrid_studio.paths import data_dir
    from hybrid_studio.train.runs import default_runs_dir
    from hybrid_studio.ui.document import Document
    from hybrid_studio.ui.files import data_dir as app_data_dir
    from hybrid_studio.ui.train.controller import runs_dir_for

    monkeypatch.delenv("HYBRID_STUDIO_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert app_data_dir() == data_dir()
    assert runs_dir_for(Document()) == default_runs_dir() == data_dir() / "runs"
    if sys.platform.startswith("linux"):
        assert data_dir() == tmp_path / "xdg" / "hybrid-studio"
