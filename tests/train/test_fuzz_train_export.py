"""Fuzzing the ``export`` and ``train`` commands (issue 14): mutated project files go through the command line
(``cli.main``, in this process: a traceback would fail the test) and must end with an exit code of the contract,
within a bounded time, and never with a traceback on stderr.

- export: 0 means the file was written and ``Model()`` builds and runs one batch (16 exported models once failed at
  ``Model()`` although export exited 0); 1 an invalid graph (diagnostics printed); 2 an unreadable file.
- train: one step (``--epochs 1`` and a batch larger than the data) on the small built-in ``digits-seq``; 0 a
  finished run, 1 a failed run, 2 bad input (an invalid graph, a graph that does not fit the data).

Mutated numbers are small (0..64), negative, or far past every bound (10**30, 10**2200, 1e300): never the
in-between sizes that a check rightly calls valid but that would take this machine's memory to build.
The default suite runs a few examples; ``-m slow`` runs a larger budget.
"""

from __future__ import annotations

import importlib.util
import json
import signal
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from hybrid_studio.cli import main
from hybrid_studio.project import list_templates

EXIT_CODES = {0, 1, 2}
#: seconds one example may take (one CLI call plus the model built from an export); a hang is cut at this
PER_CASE_S = 60


def tiny_seq_project() -> dict:
    """Input (8 steps x 8 features, digits-seq's shape) -> LSTM -> Linear -> Output."""
    return {"format": "hybrid-studio", "version": 1, "name": "fuzz",
            "nodes": [{"id": "rows", "type": "Input", "params": {"shape": [8, 8], "axes": "TF"}},
                      {"id": "rnn", "type": "LSTM", "params": {"hidden_size": 8}},
                      {"id": "norm", "type": "LayerNorm", "params": {}},
                      {"id": "fc", "type": "Linear", "params": {"out_features": 10}},
                      {"id": "out", "type": "Output", "params": {"task": "classification"}}],
            "edges": [{"source": "rows", "target": "rnn"}, {"source": "rnn", "target": "norm"},
                      {"source": "norm", "target": "fc"}, {"source": "fc", "target": "out"}],
            "training": {"epochs": 1, "batch_size": 4096, "num_threads": 1}}


HUGE = ["10" + "0" * 2200, "1" + "0" * 30, "1e300", "-5", "-1e30", "NaN", "Infinity"]
odd = st.one_of(st.integers(-3, 0), st.sampled_from([0.0, 0.5, 1.5, -1, True, None, "same", "relu", "TF", "",
                                                         [2, 2], [8, 8], [None, 8], "in", "out", "LSTM", "ctc"]))
#: mostly values of the right kind, so that most mutated files load and reach the shape check and the build
small = st.one_of(st.integers(1, 64), st.integers(1, 16), st.floats(0, 1), odd)
#: block types a node may become
TYPES = ["Linear", "LSTM", "GRU", "Conv1d", "Dropout", "LayerNorm", "BatchNorm", "Flatten", "Activation",
         "AttentionPool", "GlobalAvgPool", "Embedding", "Output", "Input", "Nonsense"]


@st.composite
def mutated_project(draw, base: dict) -> str:
    """The text of ``base`` with 1-2 mutations: a param set to a small, odd or huge value, a param or key dropped,
    a node's type changed, an edge dropped or duplicated, a training setting changed."""
    data = json.loads(json.dumps(base))
    huge = {}  # placeholder -> the raw JSON number text (json.dumps cannot write 10**2200 or NaN as we want)
    for _ in range(draw(st.integers(1, 2))):
        op = draw(st.sampled_from(["param", "param", "param", "param", "huge", "drop", "type", "edge", "training"]))
        node = draw(st.sampled_from(data["nodes"])) if data["nodes"] else None
        if op in ("param", "huge", "drop") and node is not None:
            params = node.setdefault("params", {}) if isinstance(node.get("params", {}), dict) else {}
            name = draw(st.sampled_from(sorted(params) + ["hidden_size", "num_layers", "out_features", "shape",
                                                          "p", "eps", "kernel_size", "dtype", "task"]))
            if op == "drop":
                params.pop(name, None)
            elif op == "huge":
                key = f"@HUGE{len(huge)}@"
                huge[key] = draw(st.sampled_from(HUGE))
                params[name] = draw(st.sampled_from([key, [key, 8], [8, key]]))
            else:
                params[name] = draw(small)
        elif op == "type" and node is not None:
            node["type"] = draw(st.sampled_from(TYPES))
        elif op == "edge" and data["edges"]:
            i = draw(st.integers(0, len(data["edges"]) - 1))
            if draw(st.booleans()):
                data["edges"].pop(i)
            else:
                data["edges"].append(dict(data["edges"][i]))
        elif op == "training":
            name = draw(st.sampled_from(["lr", "epochs", "seed", "num_threads", "batch_size", "optimizer",
                                         "divergence", "val_split"]))
            key = f"@HUGE{len(huge)}@"
            huge[key] = draw(st.sampled_from(HUGE))
            data.setdefault("training", {})[name] = draw(st.one_of(small, st.just(key)))
    text = json.dumps(data)
    for key, raw in huge.items():
        text = text.replace(f'"{key}"', raw)
    return text


class _Hang(BaseException):
    """Raised by the per-example alarm (a BaseException, so that no `except Exception` of the app swallows it)."""


def _bounded(fn):
    """Run fn() with an alarm at PER_CASE_S; returns (result, seconds); a hang fails the test by name."""
    fired = []

    def on_alarm(signum, frame):
        fired.append(True)
        raise _Hang()
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, PER_CASE_S)
    start = time.monotonic()
    try:
        result = fn()
    except _Hang:
        result = None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert not fired, f"the command took more than {PER_CASE_S} s"
    return result, time.monotonic() - start


def _export_and_build(tmp_path: Path, text: str, capsys) -> None:
    project = tmp_path / "fuzz.hsproj.json"
    project.write_text(text, encoding="utf-8")
    target = tmp_path / "model.py"
    target.unlink(missing_ok=True)
    rc, _ = _bounded(lambda: main(["export", str(project), "--format", "python", "-o", str(target)]))
    err = capsys.readouterr().err
    event(f"export exit {rc}")
    assert rc in EXIT_CODES and "Traceback" not in err, (rc, err[-2000:])
    if rc != 0:
        assert not target.exists() and err.strip(), "a refused export says why and writes nothing"
        return
    import torch

    spec = importlib.util.spec_from_file_location(f"fuzz_model_{time.monotonic_ns()}", target)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model, _ = _bounded(module.Model)
    graph = json.loads(text)
    inputs = []
    for node in graph["nodes"]:
        if node["type"] == "Input":  # export exited 0: the Inputs are valid, with concrete sizes or null (use 3)
            shape = [3 if s is None else s for s in node.get("params", {}).get("shape", [1, 28, 28])]
            dtype = node.get("params", {}).get("dtype", "float32")
            inputs.append(torch.zeros(2, *shape, dtype=getattr(torch, dtype)))
    with torch.no_grad():
        model.eval()
        model(*inputs)


SOURCES = [tiny_seq_project()] + [json.loads(t.path.read_text(encoding="utf-8")) for t in list_templates()]
FUZZ = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                     HealthCheck.too_slow])
FUZZ_SLOW = settings(FUZZ, max_examples=60)


@st.composite
def any_source_mutated(draw):
    return draw(mutated_project(draw(st.sampled_from(SOURCES))))


@FUZZ
@given(text=any_source_mutated())
@example(text=json.dumps(tiny_seq_project()))  # the unmutated file: export 0 and a model that runs, every time
def test_export_of_a_mutated_project_gives_a_contract_exit_and_a_model_that_builds(tmp_path, capsys, text):
    _export_and_build(tmp_path, text, capsys)


@pytest.mark.slow
@FUZZ_SLOW
@given(text=any_source_mutated())
def test_export_fuzz_larger_budget(tmp_path, capsys, text):
    _export_and_build(tmp_path, text, capsys)


def _one_step_train(tmp_path: Path, text: str, capsys) -> None:
    project = tmp_path / "fuzz.hsproj.json"
    project.write_text(text, encoding="utf-8")
    runs = tmp_path / "runs"
    rc, _ = _bounded(lambda: main(["train", str(project), "--dataset", "digits-seq", "--epochs", "1",
                                   "--batch-size", "4096", "--device", "cpu", "--out", str(runs)]))
    out, err = capsys.readouterr()
    event(f"train exit {rc}")
    assert rc in EXIT_CODES and "Traceback" not in err, (rc, err[-2000:])
    if rc != 0:
        assert err.strip(), "a refused or failed run says why"
    runs_made = [d for d in runs.iterdir()] if runs.is_dir() else []
    if rc == 0:
        (run,) = runs_made
        assert json.loads((run / "status.json").read_text())["status"] == "finished"
        assert (run / "checkpoints" / "last.pt").is_file()
    for run in runs_made:  # whatever happened, the folder tells the truth: never "running" after the command
        status = json.loads((run / "status.json").read_text())["status"]
        assert status in ("finished", "failed", "stopped"), status


@FUZZ
@given(text=mutated_project(tiny_seq_project()))
@example(text=json.dumps(tiny_seq_project()))  # the unmutated file: one finished step, every time
def test_one_step_train_of_a_mutated_project_gives_a_contract_exit(tmp_path_factory, capsys, text):
    _one_step_train(tmp_path_factory.mktemp("train"), text, capsys)


@pytest.mark.slow
@FUZZ_SLOW
@given(text=mutated_project(tiny_seq_project()))
def test_train_fuzz_larger_budget(tmp_path_factory, capsys, text):
    _one_step_train(tmp_path_factory.mktemp("train"), text, capsys)
