"""Attributions with known answers (issue 10): tiny models trained here on data whose label depends on one input or
on one time window; the attributions must say so, and a re-initialised model's must not (Adebayo et al. 2018)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from hybrid_studio.blocks import new_graph
from hybrid_studio.cli import main
from hybrid_studio.graph import AddNode, Connect, Edge, Node
from hybrid_studio.project import graph_to_dict
from hybrid_studio.train.engine import train_in_process
from hybrid_studio.train.predict import load_run_model

pytest.importorskip("captum")
CFG = {"batch_size": 32, "lr": 0.01, "num_threads": 1, "device": "cpu"}


def build(nodes, edges):
    g = new_graph("t")
    for nid, t, p in nodes:
        AddNode(Node(nid, t, p)).apply(g)
    for e in edges:
        Connect(Edge(e[0], e[1], "out", e[2] if len(e) > 2 else "in")).apply(g)
    return g


@pytest.fixture(scope="module")
def two_input_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("two")
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(600, 16)).astype(np.float32), rng.normal(size=(600, 16)).astype(np.float32)
    y = (a[:, :4].sum(1) > 0).astype(np.int64)  # only input a decides
    np.savez(tmp / "two.npz", x0=a, x1=b, y=y)
    g = build([("a", "Input", {"shape": [16], "axes": "F"}), ("b", "Input", {"shape": [16], "axes": "F"}),
               ("cat", "Concat", {}), ("h", "Linear", {"out_features": 16, "activation": "relu"}),
               ("fc", "Linear", {"out_features": 2}), ("out", "Output", {})],
              [("a", "cat", "in0"), ("b", "cat", "in1"), ("cat", "h"), ("h", "fc"), ("fc", "out")])
    s = train_in_process(graph_to_dict(g), str(tmp / "two.npz"), {**CFG, "epochs": 15}, tmp / "runs")
    assert s["val_accuracy"] > 0.85
    return s["run_dir"]


@pytest.fixture(scope="module")
def window_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("window")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(800, 100, 1)).astype(np.float32)
    y = (x[:, 40:60, 0].mean(1) > 0).astype(np.int64)  # only steps 40-59 decide
    np.savez(tmp / "window.npz", x=x, y=y, axes=np.array("TF"))
    g = build([("series", "Input", {"shape": [100, 1], "axes": "TF"}),
               ("flat", "Reshape", {"shape": [100], "axes": "F"}),
               ("fc", "Linear", {"out_features": 2}), ("out", "Output", {})],
              [("series", "flat"), ("flat", "fc"), ("fc", "out")])
    s = train_in_process(graph_to_dict(g), str(tmp / "window.npz"), {**CFG, "epochs": 20, "weight_decay": 1e-3},
                         tmp / "runs")
    assert s["val_accuracy"] > 0.85
    return s["run_dir"]


def explain_json(capsys, run_dir, *args):
    code = main(["explain", str(run_dir), "--json", *args])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


@pytest.mark.parametrize("method", ["integrated-gradients", "saliency"])
def test_the_input_that_decides_gets_the_share(two_input_run, capsys, method):
    report = explain_json(capsys, two_input_run, "--method", method)
    shares = {k: v["share"] for k, v in report["inputs"].items()}
    assert report["method"] == method and report["samples"] == 32
    assert shares["a"] >= 0.8 and abs(sum(shares.values()) - 1) < 1e-6
    # and within it, the 4 features that decide
    assert sum(report["inputs"]["a"]["profile"]["F"][:4]) >= 0.6


def test_the_time_window_that_decides_gets_the_profile(window_run, capsys):
    report = explain_json(capsys, window_run)
    t = report["inputs"]["series"]["profile"]["T"]
    assert len(t) == 100 and abs(sum(t) - 1) < 1e-4  # (6 decimals per entry in the JSON)
    assert sum(t[40:60]) >= 0.6


def test_a_reinitialised_model_explains_differently(window_run):
    from hybrid_studio.compile import compile_graph
    from hybrid_studio.explain.engine import explain

    loaded = load_run_model(window_run)
    trained = np.array(explain(loaded, 32).inputs["series"].profile["T"])
    import torch
    torch.manual_seed(123)
    random = dataclasses.replace(loaded, model=compile_graph(loaded.graph).eval())
    rand = np.array(explain(random, 32).inputs["series"].profile["T"])
    assert rand[40:60].sum() < 0.4 and np.abs(trained - rand).sum() > 0.5
    assert np.corrcoef(trained, rand)[0, 1] < 0.5


def test_bad_requests_name_what_to_pick(two_input_run, tmp_path, capsys):
    code = main(["explain", str(two_input_run), "--method", "grad-cam"])
    err = capsys.readouterr().err
    assert code == 2 and "grad-cam needs a convolution block" in err
    code = main(["explain", str(two_input_run), "--method", "grad-cam", "--block", "h"])
    err = capsys.readouterr().err
    assert code == 2 and "'h' is a Linear block" in err
    code = main(["explain", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "is not a run folder" in err


def test_grad_cam_and_the_png_report(tmp_path, capsys):
    rng = np.random.default_rng(2)
    x = rng.normal(0, 0.3, (300, 1, 12, 12)).astype(np.float32)
    y = rng.integers(0, 2, 300)
    x[y == 1, 0, 2:6, 2:6] += 2.0  # a bright square top-left means class 1
    np.savez(tmp_path / "img.npz", x=x, y=y.astype(np.int64))
    g = build([("image", "Input", {"shape": [1, 12, 12], "axes": "CHW"}),
               ("conv", "Conv2d", {"out_channels": 4, "kernel_size": 3, "padding": 1, "activation": "relu"}),
               ("gap", "GlobalAvgPool", {}), ("fc", "Linear", {"out_features": 2}), ("out", "Output", {})],
              [("image", "conv"), ("conv", "gap"), ("gap", "fc"), ("fc", "out")])
    s = train_in_process(graph_to_dict(g), str(tmp_path / "img.npz"), {**CFG, "epochs": 10}, tmp_path / "runs")
    png = tmp_path / "cam.png"
    report = explain_json(capsys, s["run_dir"], "--method", "grad-cam", "-o", str(png))
    cam = np.array(report["cam"])
    assert report["block"] == "conv" and cam.shape == (12, 12)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    png2 = tmp_path / "ig.png"
    explain_json(capsys, s["run_dir"], "-o", str(png2))
    assert png2.stat().st_size > 1000
