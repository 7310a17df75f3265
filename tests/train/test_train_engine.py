"""The training loop in-process: learning, run folders, checkpoints, exact resume, failures, settings."""

from __future__ import annotations

import csv
import json
import pickle

import numpy as np
import pytest
import torch
from train_helpers import build, seq_data, tiny_mlp_graph, tiny_seq_graph

from hybrid_studio.compile import generate
from hybrid_studio.project import graph_to_dict
from hybrid_studio.train.engine import Control, InputProblem, RunFailure, train_in_process
from hybrid_studio.train.events import CheckpointSaved, EpochEnd, Failed, Finished, Log, Started, Step
from hybrid_studio.train.runs import list_runs, load_metrics, load_run_graph

CFG = {"epochs": 2, "batch_size": 32, "lr": 0.01, "seed": 3}


def run(graph, data, runs, config=None, **kw):
    events = []
    summary = train_in_process(graph_to_dict(graph), str(data), {**CFG, **(config or {})}, runs, emit=events.append,
                               **kw)
    return summary, events


def epoch_rows(run_dir):
    return [r for r in load_metrics(run_dir) if r["scope"] == "epoch"]


def test_learns_and_writes_the_run_folder(tmp_path, seq_npz):
    summary, events = run(tiny_seq_graph(), seq_npz, tmp_path / "runs", {"epochs": 4})
    assert summary["status"] == "finished" and summary["val_accuracy"] >= 0.9
    kinds = [type(e) for e in events]
    assert kinds[0] is Started and kinds[-1] is Finished
    assert kinds.count(EpochEnd) == 4 and Step in kinds and CheckpointSaved in kinds
    started = events[0]
    assert started.steps_per_epoch == 4 and started.train_samples == 128 and started.val_samples == 32
    ends = [e for e in events if isinstance(e, EpochEnd)]
    assert ends[-1].train_loss < ends[0].train_loss
    steps = [e for e in events if isinstance(e, Step)]
    assert steps[0].step == 1 and steps[-1].step == 16 and all(s.samples_per_s > 0 and s.lr == 0.01 for s in steps)

    run_dir = tmp_path / "runs" / summary["run_id"]
    assert summary["run_dir"] == str(run_dir)
    for name in ("project.json", "config.json", "metrics.csv", "status.json", "checkpoints/last.pt",
                 "checkpoints/best.pt"):
        assert (run_dir / name).is_file(), name
    assert not list(run_dir.rglob("*.tmp"))
    status = json.loads((run_dir / "status.json").read_text())
    assert status["status"] == "finished" and status["epoch"] == 4 and status["best_metric"] == summary["best_metric"]
    assert json.loads((run_dir / "config.json").read_text())["dataset"] == str(seq_npz)
    assert load_run_graph(run_dir)["nodes"][1]["type"] == "GRU"
    with open(run_dir / "metrics.csv") as f:
        header = next(csv.reader(f))
    assert header[:5] == ["epoch", "step", "split", "loss", "accuracy"]  # the contract's columns, in its order
    rows = epoch_rows(run_dir)
    assert [(r["epoch"], r["split"]) for r in rows] == [(e, s) for e in range(1, 5) for s in ("train", "val")]
    assert rows[-1]["accuracy"] == pytest.approx(summary["val_accuracy"])
    (info,) = list_runs(tmp_path / "runs")
    assert info.status == "finished" and info.best_metric == summary["best_metric"] and info.device == "cpu"


def test_checkpoint_loads_with_weights_only_into_the_exported_model(tmp_path, seq_npz):
    graph = tiny_seq_graph()
    summary, _ = run(graph, seq_npz, tmp_path, {"epochs": 1})
    ck = torch.load(tmp_path / summary["run_id"] / "checkpoints" / "last.pt", weights_only=True)
    assert ck["epoch"] == 1 and ck["step"] == 4 and ck["batch"] == 0
    assert {"model", "optimizer", "scheduler", "rng"} <= set(ck) and isinstance(ck["rng"]["torch"], torch.Tensor)
    namespace = {}
    exec(generate(graph).source, namespace)  # the standalone exported file
    model = namespace["Model"]()
    assert set(model.state_dict()) == set(ck["model"])
    model.load_state_dict(ck["model"])
    x, _ = seq_data(4)
    assert model(torch.from_numpy(x)).shape == (4, 2)


def test_same_seed_same_metrics(tmp_path, seq_npz):
    a, _ = run(tiny_seq_graph(), seq_npz, tmp_path / "a")
    b, _ = run(tiny_seq_graph(), seq_npz, tmp_path / "b")
    c, _ = run(tiny_seq_graph(), seq_npz, tmp_path / "c", {"seed": 4})
    keys = ("train_loss", "val_loss", "val_accuracy", "weights_checksum")
    assert [a[k] for k in keys] == [b[k] for k in keys]
    assert a["weights_checksum"] != c["weights_checksum"]
    # the whole curve, not only the end: every epoch row of metrics.csv is identical
    curve = [[(r["epoch"], r["split"], r["loss"], r["accuracy"]) for r in epoch_rows(tmp_path / d / s["run_id"])]
             for d, s in (("a", a), ("b", b))]
    assert curve[0] == curve[1] and len(curve[0]) == 4


def test_resume_continues_exactly(tmp_path, seq_npz):
    """4 epochs straight == 2 epochs, then resume to 4 (same seed, CPU)."""
    graph = tiny_seq_graph()
    cfg = {"scheduler": "step", "step_size": 1, "gamma": 0.7, "optimizer": "adamw", "weight_decay": 0.01}
    straight, _ = run(graph, seq_npz, tmp_path / "a", {**cfg, "epochs": 4})
    first, _ = run(graph, seq_npz, tmp_path / "b", {**cfg, "epochs": 2})
    run_dir = tmp_path / "b" / first["run_id"]
    events = []
    second = train_in_process(None, None, {**CFG, **cfg, "epochs": 4}, resume=run_dir, emit=events.append)
    (started,) = [e for e in events if isinstance(e, Started)]
    assert started.start_epoch == 2 and any(isinstance(e, Log) and "resuming" in e.message for e in events)
    assert second["run_dir"] == str(run_dir) and second["epochs"] == 4 and second["step"] == straight["step"]
    for key in ("train_loss", "val_loss", "val_accuracy", "train_accuracy", "weights_checksum"):
        assert second[key] == pytest.approx(straight[key], abs=1e-6), key
    a, b = epoch_rows(tmp_path / "a" / straight["run_id"]), epoch_rows(run_dir)
    assert len(a) == len(b) == 8
    for ra, rb in zip(a, b):
        assert (ra["epoch"], ra["split"]) == (rb["epoch"], rb["split"])
        assert rb["loss"] == pytest.approx(ra["loss"], abs=1e-6) and rb["lr"] == pytest.approx(ra["lr"])


def test_stop_mid_epoch_then_resume_is_exact(tmp_path, seq_npz):
    graph = tiny_seq_graph()
    straight, _ = run(graph, seq_npz, tmp_path / "a", {"epochs": 2, "scheduler": "onecycle"})
    control = Control()

    def emit(event):
        if isinstance(event, Step) and event.step == 6:  # epoch 2, batch 2 of 4
            control.stop.set()

    stopped = train_in_process(graph_to_dict(graph), str(seq_npz), {**CFG, "scheduler": "onecycle"}, tmp_path / "b",
                               emit=emit, control=control, report_interval=0)
    assert stopped["status"] == "stopped" and stopped["step"] == 6 and stopped["epochs"] == 1
    run_dir = tmp_path / "b" / stopped["run_id"]
    assert json.loads((run_dir / "status.json").read_text())["status"] == "stopped"
    ck = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert (ck["epoch"], ck["step"], ck["batch"]) == (1, 6, 2)
    ends = []
    resumed = train_in_process(None, None, {**CFG, "scheduler": "onecycle"}, resume=run_dir,
                               emit=lambda e: ends.append(e) if isinstance(e, EpochEnd) else None)
    for key in ("train_loss", "val_loss", "weights_checksum"):
        assert resumed[key] == pytest.approx(straight[key], abs=1e-6), key
    # the resumed epoch's samples per second count only what was trained after the resume (its last 2 batches,
    # at most as many samples as the 2 full batches before the stop), over the time since the resume
    (row,) = [r for r in load_metrics(run_dir) if r["scope"] == "epoch" and r["split"] == "train" and r["epoch"] == 2]
    (end,) = [e for e in ends if e.epoch == 2]
    before_stop = ck["partial"][1]
    assert 0 < row["samples_per_s"] * end.duration_s <= before_stop * 1.01


def test_pause_holds_the_loop(tmp_path, seq_npz):
    import threading
    import time

    control = Control()
    seen = []

    def emit(event):
        seen.append((time.monotonic(), event))
        if isinstance(event, Step) and event.step == 2 and not control.pause.is_set() and len(seen) < 10:
            control.pause.set()
            threading.Timer(0.5, control.pause.clear).start()

    train_in_process(graph_to_dict(tiny_seq_graph()), str(seq_npz), {**CFG, "epochs": 1}, tmp_path,
                     emit=emit, control=control, report_interval=0)
    logs = [(t, e.message) for t, e in seen if isinstance(e, Log)]
    assert [m.split(" at")[0] for _, m in logs] == ["paused", "resumed"]
    assert logs[1][0] - logs[0][0] >= 0.4


def test_nan_loss_stops_and_names_the_step(tmp_path):
    x, y = seq_data(64)
    x[:] = 1e38  # the first forward pass overflows
    p = tmp_path / "huge.npz"
    np.savez(p, x=x, y=y)
    events = []
    graph = tiny_mlp_graph(f=4)
    graph = build([("series", "Input", {"shape": [8, 4], "axes": "TF"}), ("flat", "Flatten", {}),
                   ("fc", "Linear", {"out_features": 2}), ("out", "Output", {})],
                  [("series", "flat"), ("flat", "fc"), ("fc", "out")])
    with pytest.raises(RunFailure, match=r"loss became (nan|inf) at step 1 \(epoch 1\).*learning rate.*clipping"):
        train_in_process(graph_to_dict(graph), str(p), CFG, tmp_path / "runs", emit=events.append)
    assert isinstance(events[-1], Failed) and "step 1" in events[-1].message and events[-1].traceback
    (info,) = list_runs(tmp_path / "runs")
    assert info.status == "failed" and "step 1" in info.message
    for name in ("project.json", "config.json", "metrics.csv", "status.json"):  # the failed run's folder stays
        assert (tmp_path / "runs" / info.run_id / name).is_file(), name
    # ... with the checkpoints every run folder holds (the initial weights: it failed before its first epoch ended)
    for name in ("last.pt", "best.pt"):
        ck = torch.load(tmp_path / "runs" / info.run_id / "checkpoints" / name, weights_only=True)
        assert (ck["epoch"], ck["step"]) == (0, 0) and torch.isfinite(ck["model"]["fc.weight"]).all()


def test_mismatch_is_caught_before_the_first_step(tmp_path, seq_npz):
    events = []
    graph = tiny_seq_graph(t=8, f=5)
    with pytest.raises(InputProblem, match=r"series expects TF 8x5.*fix: set series.shape to \[8, 4\]"):
        train_in_process(graph_to_dict(graph), str(seq_npz), CFG, tmp_path / "runs", emit=events.append)
    assert [type(e) for e in events] == [Failed]
    assert not (tmp_path / "runs").exists()


def test_bad_inputs_are_input_problems(tmp_path, seq_npz):
    g = graph_to_dict(tiny_seq_graph())
    with pytest.raises(InputProblem, match="unknown dataset"):
        train_in_process(g, "no-such-data", CFG, tmp_path)
    with pytest.raises(InputProblem, match="optimizer"):
        train_in_process(g, str(seq_npz), {"optimizer": "rmsprop"}, tmp_path)
    with pytest.raises(InputProblem, match="no dataset"):
        train_in_process(g, None, {}, tmp_path)
    broken = tiny_seq_graph()
    broken.node("fc").params["out_features"] = 0
    with pytest.raises(InputProblem):
        train_in_process(graph_to_dict(broken), str(seq_npz), CFG, tmp_path)
    with pytest.raises(InputProblem, match="no checkpoints"):
        train_in_process(None, None, CFG, resume=tmp_path)


def test_regression_reports_mae(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6)).astype(np.float32)
    y = (x @ rng.normal(size=(6, 2))).astype(np.float32)
    p = tmp_path / "reg.npz"
    np.savez(p, x=x, y=y)
    summary, events = run(tiny_mlp_graph(f=6, out=2, task="regression"), p, tmp_path / "runs", {"epochs": 6})
    ends = [e for e in events if isinstance(e, EpochEnd)]
    assert ends[0].val_acc is None and ends[0].train_acc is None and ends[-1].val_mae < ends[0].val_mae
    assert summary["best_metric_name"] == "val_loss" and summary["val_mae"] == ends[-1].val_mae
    rows = epoch_rows(tmp_path / "runs" / summary["run_id"])
    assert rows[-1]["mae"] == pytest.approx(ends[-1].val_mae) and rows[-1]["accuracy"] is None


def test_per_time_step_labels(tmp_path):
    x, _ = seq_data(96)
    y = (x[:, :, 0] > 0).astype(np.int64)  # a class per step
    p = tmp_path / "steps.npz"
    np.savez(p, x=x, y=y)
    graph = tiny_seq_graph()
    graph.node("rnn").params["return_sequences"] = True
    summary, _ = run(graph, p, tmp_path, {"epochs": 3})
    assert summary["val_accuracy"] > 0.7


def test_sequence_output_with_one_label_per_sample(tmp_path, seq_npz):
    graph = tiny_seq_graph()
    graph.node("rnn").params["return_sequences"] = True
    summary, _ = run(graph, seq_npz, tmp_path, {"epochs": 2})
    assert summary["status"] == "finished" and 0 <= summary["val_accuracy"] <= 1


def test_two_inputs_in_file_order(tmp_path):
    rng = np.random.default_rng(0)
    n = 128
    y = np.arange(n) % 2
    seq = rng.normal(size=(n, 6, 3)).astype(np.float32)
    vec = (rng.normal(size=(n, 5)) + 2 * y[:, None]).astype(np.float32)  # only the vector knows the class
    p = tmp_path / "two.npz"
    np.savez(p, x0=seq, x1=vec, y=y)
    graph = build([("s", "Input", {"shape": [6, 3], "axes": "TF"}), ("v", "Input", {"shape": [5], "axes": "F"}),
                   ("rnn", "GRU", {"hidden_size": 4}), ("cat", "Concat", {}), ("fc", "Linear", {"out_features": 2}),
                   ("out", "Output", {})],
                  [("s", "rnn"), ("rnn", "cat", "in0"), ("v", "cat", "in1"), ("cat", "fc"), ("fc", "out")])
    summary, _ = run(graph, p, tmp_path, {"epochs": 4})
    assert summary["val_accuracy"] >= 0.9


@pytest.mark.parametrize("cfg", [
    {"optimizer": "sgd", "scheduler": "cosine", "grad_clip": 0.5},
    {"optimizer": "adamw", "scheduler": "onecycle"},
    {"optimizer": "adam", "scheduler": "step", "step_size": 1, "gamma": 0.5},
])
def test_optimizers_and_schedules(tmp_path, seq_npz, cfg):
    summary, events = run(tiny_seq_graph(), seq_npz, tmp_path, cfg, report_interval=0)
    lrs = [e.lr for e in events if isinstance(e, Step)]
    assert summary["status"] == "finished" and len(lrs) == 8
    if cfg["scheduler"] == "step":
        assert lrs[:4] == [0.01] * 4 and lrs[4:] == [0.005] * 4
    else:
        assert len(set(lrs)) > 4  # changes every step


def test_early_stopping(tmp_path, seq_npz):
    summary, events = run(tiny_seq_graph(), seq_npz, tmp_path, {"epochs": 6, "lr": 1e-9, "early_stopping": 1})
    assert summary["status"] == "finished" and summary["early_stopped"] and summary["epochs"] == 2
    assert any(isinstance(e, Log) and "early stopping" in e.message for e in events)


def test_amp_and_compile_fall_back_on_cpu(tmp_path, seq_npz, monkeypatch):
    def broken_compile(*a, **k):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(torch, "compile", broken_compile)
    summary, events = run(tiny_seq_graph(), seq_npz, tmp_path, {"epochs": 1, "amp": "bf16", "compile": True})
    logs = " ".join(e.message for e in events if isinstance(e, Log))
    assert summary["status"] == "finished" and "CUDA only" in logs and "torch.compile is not available" in logs


def test_events_pickle(tmp_path, seq_npz):
    _, events = run(tiny_seq_graph(), seq_npz, tmp_path, {"epochs": 1})
    again = pickle.loads(pickle.dumps(events))
    assert [type(e) for e in again] == [type(e) for e in events] and again[-1].summary == events[-1].summary


@pytest.mark.skipif(__import__("hybrid_studio.train.builtin", fromlist=["x"]).sktime_data_dir() is None,
                    reason="BasicMotions ships with sktime, which is not installed")
def test_real_sensor_data_trains(tmp_path):
    """The rnn-cnn template, adapted to BasicMotions (T=100, F=6, 4 classes): ~100% on the official test half."""
    from hybrid_studio.project import load_template
    from hybrid_studio.train.datasets import get_dataset
    from hybrid_studio.train.matching import adapt_graph_edit

    graph = load_template("rnn-cnn")
    adapt_graph_edit(graph, get_dataset("basic-motions")).apply(graph)
    summary, _ = run(graph, "basic-motions", tmp_path, {"epochs": 40, "batch_size": 8, "lr": 3e-3})
    assert summary["val_accuracy"] >= 0.85


def test_out_of_memory_suggests_a_batch_size(tmp_path, seq_npz, monkeypatch):
    from hybrid_studio.train import engine

    def oom(self, xs, y):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(engine._Trainer, "batch_loss", oom)
    events = []
    with pytest.raises(RunFailure, match=r"ran out of memory at batch size 32: try --batch-size 16"):
        train_in_process(graph_to_dict(tiny_seq_graph()), str(seq_npz), CFG, tmp_path, emit=events.append)
    assert isinstance(events[-1], Failed)


def test_lazy_exports():
    import hybrid_studio.train as train

    for name in train.__all__:
        assert getattr(train, name) is not None, name
    with pytest.raises(AttributeError):
        train.no_such_name  # noqa: B018


def test_a_last_batch_of_one_sample_joins_the_previous_one(tmp_path):
    x, y = seq_data(41)  # 33 training samples at batch 32 would leave one sample alone
    p = tmp_path / "odd.npz"
    np.savez(p, x=x, y=y)
    graph = build([("series", "Input", {"shape": [8, 4], "axes": "TF"}), ("flat", "Flatten", {}),
                   ("bn", "BatchNorm", {}), ("fc", "Linear", {"out_features": 2}), ("out", "Output", {})],
                  [("series", "flat"), ("flat", "bn"), ("bn", "fc"), ("fc", "out")])
    summary, events = run(graph, p, tmp_path / "runs", {"epochs": 1})
    assert events[0].train_samples == 33 and events[0].steps_per_epoch == 1 and summary["step"] == 1


def test_every_run_folder_file_is_written_by_rename(tmp_path, seq_npz, monkeypatch):
    """Contract section 4: each file of the run folder lands by an atomic rename of a finished temp file."""
    import os

    renamed = []
    real_replace = os.replace

    def spy(src, dst, *a, **k):
        renamed.append(os.path.abspath(dst))
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", spy)
    summary, _ = run(tiny_seq_graph(), seq_npz, tmp_path / "runs", {"epochs": 1})
    run_dir = tmp_path / "runs" / summary["run_id"]
    # the lock file is not data: it holds the training process's pid and its OS lock
    files = {os.path.abspath(p) for p in run_dir.rglob("*") if p.is_file() and p.name != ".lock"}
    assert len(files) == 6 and files <= set(renamed)


def test_a_run_stopped_before_its_first_validation_has_both_checkpoints(tmp_path, seq_npz):
    control = Control()

    def emit(event):
        if isinstance(event, Step) and event.step == 2:
            control.stop.set()

    summary = train_in_process(graph_to_dict(tiny_seq_graph()), str(seq_npz), CFG, tmp_path, emit=emit,
                               control=control, report_interval=0)
    ck_dir = tmp_path / summary["run_id"] / "checkpoints"
    assert summary["status"] == "stopped" and sorted(p.name for p in ck_dir.iterdir()) == ["best.pt", "last.pt"]
    for name in ("last.pt", "best.pt"):
        ck = torch.load(ck_dir / name, weights_only=True)
        assert {"model", "optimizer", "scheduler", "rng", "epoch", "step"} <= set(ck)
        assert (ck["epoch"], ck["step"], ck["batch"]) == (0, 2, 2)


def test_ctrl_c_marks_the_folder_stopped_not_running(tmp_path, seq_npz, monkeypatch):
    from hybrid_studio.train import engine

    real = engine._Trainer.batch_loss
    fired = []

    def interrupt(self, xs, y):
        if self.step == 5 and not fired:  # once: the resumed run passes step 5 again
            fired.append(1)
            raise KeyboardInterrupt
        return real(self, xs, y)

    monkeypatch.setattr(engine._Trainer, "batch_loss", interrupt)
    with pytest.raises(KeyboardInterrupt):
        train_in_process(graph_to_dict(tiny_seq_graph()), str(seq_npz), CFG, tmp_path / "runs")
    (info,) = list_runs(tmp_path / "runs")
    assert info.status == "stopped" and "interrupted" in info.message
    resumed = train_in_process(None, None, CFG, resume=info.path)  # continues from epoch 1's checkpoint
    assert resumed["status"] == "finished" and resumed["epochs"] == 2


def test_unforeseen_setup_error_is_reported_not_raised_raw(tmp_path, seq_npz, monkeypatch):
    from hybrid_studio.train import engine

    def broken(self, params):
        raise RuntimeError("optimizer exploded")

    monkeypatch.setattr(engine._Trainer, "make_optimizer", broken)
    events = []
    with pytest.raises(RunFailure, match="could not start: RuntimeError: optimizer exploded"):
        train_in_process(graph_to_dict(tiny_seq_graph()), str(seq_npz), CFG, tmp_path, emit=events.append)
    assert isinstance(events[-1], Failed) and "optimizer exploded" in events[-1].traceback


def test_resume_of_an_edited_run_is_an_input_problem(tmp_path, seq_npz):
    summary, _ = run(tiny_seq_graph(), seq_npz, tmp_path, {"epochs": 1})
    run_dir = tmp_path / summary["run_id"]
    graph = load_run_graph(run_dir)
    next(n for n in graph["nodes"] if n["id"] == "rnn")["params"]["hidden_size"] = 5  # weights no longer fit
    (run_dir / "project.json").write_text(json.dumps(graph))
    with pytest.raises(InputProblem, match=r"cannot resume .*does not fit"):
        train_in_process(None, None, {**CFG, "epochs": 2}, resume=run_dir)
    assert json.loads((run_dir / "status.json").read_text())["status"] == "finished"  # left as it was
    (run_dir / "checkpoints" / "last.pt").write_bytes(b"garbage")
    with pytest.raises(InputProblem, match="cannot read"):
        train_in_process(None, None, {**CFG, "epochs": 2}, resume=run_dir)
