"""Tiny runs trained once per session on generated .npz data with known answers (each a second or two)."""

from __future__ import annotations

import numpy as np
import pytest
from hybrid_studio.blocks import new_graph
from hybrid_studio.graph import AddNode, Connect, Edge, Node
from hybrid_studio.project import graph_to_dict


def build(nodes, edges, name="tiny"):
    """A graph from (id, type, params) triples and (source, target[, target_port]) pairs."""
    g = new_graph(name)
    for nid, type_name, params in nodes:
        AddNode(Node(nid, type_name, dict(params))).apply(g)
    for e in edges:
        Connect(Edge(e[0], e[1], "out", e[2] if len(e) > 2 else "in")).apply(g)
    return g


def train(graph, data_path, runs, epochs=15, lr=3e-3, weight_decay=0.0):
    from hybrid_studio.train.engine import train_in_process
    summary = train_in_process(graph_to_dict(graph), str(data_path), {"epochs": epochs, "num_threads": 1, "lr": lr, "weight_decay": weight_decay,
                                                                      "batch_size": 32}, runs)
    return summary["run_dir"]


@pytest.fixture(scope="session")
def two_input_run(tmp_path_factory):
    """Inputs a and b (8 features each); the label is the sign of a's sum: b is pure noise."""
    tmp = tmp_path_factory.mktemp("two")
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(400, 8)).astype("float32"), rng.normal(size=(400, 8)).astype("float32")
    y = (a.sum(1) > 0).astype("int64")
    np.savez(tmp / "two.npz", x0=a, x1=b, y=y)
    g = build([("a", "Input", {"shape": [8], "axes": "F"}), ("b", "Input", {"shape": [8], "axes": "F"}),
               ("cat", "Concat", {}), ("h", "Linear", {"out_features": 16, "activation": "relu"}),
               ("fc", "Linear", {"out_features": 2}), ("out", "Output", {})],
              [("a", "cat", "in0"), ("b", "cat", "in1"), ("cat", "h"), ("h", "fc"), ("fc", "out")], "two")
    return train(g, tmp / "two.npz", tmp / "runs")


@pytest.fixture(scope="session")
def window_run(tmp_path_factory):
    """A series of 100 steps; the label is the sign of the mean of steps 40-59, every other step is noise."""
    tmp = tmp_path_factory.mktemp("window")
    rng = np.random.default_rng(1)
    n = 1200
    y = (np.arange(n) % 2).astype("int64")
    x = rng.normal(0, 0.5, (n, 100, 1)).astype("float32")
    x[:, 40:60, 0] += np.where(y == 1, 1.0, -1.0)[:, None]
    np.savez(tmp / "series.npz", x=x, y=y)
    g = build([("series", "Input", {"shape": [100, 1], "axes": "TF"}), ("flat", "Reshape", {"shape": [100], "axes": "F"}),
               ("h", "Linear", {"out_features": 8, "activation": "relu"}),
               ("fc", "Linear", {"out_features": 2}), ("out", "Output", {})],
              [("series", "flat"), ("flat", "h"), ("h", "fc"), ("fc", "out")], "window")
    # weight decay: with 100 noisy steps and few samples an unregularised net also fits the noise
    return train(g, tmp / "series.npz", tmp / "runs", epochs=12, weight_decay=5e-2)


@pytest.fixture(scope="session")
def image_run(tmp_path_factory):
    """8x8 images; the class is whether the top-left 3x3 corner is bright. A Conv2d for Grad-CAM."""
    tmp = tmp_path_factory.mktemp("image")
    rng = np.random.default_rng(2)
    n = 200
    y = (np.arange(n) % 2).astype("int64")
    x = rng.uniform(0, 0.3, (n, 1, 8, 8)).astype("float32")
    x[y == 1, 0, :3, :3] += 0.7
    np.savez(tmp / "img.npz", x=x, y=y)
    g = build([("image", "Input", {"shape": [1, 8, 8], "axes": "CHW"}),
               ("conv1", "Conv2d", {"out_channels": 4, "kernel_size": 3, "padding": 1, "activation": "relu"}),
               ("flat", "Flatten", {}), ("fc", "Linear", {"out_features": 2}), ("out", "Output", {})],
              [("image", "conv1"), ("conv1", "flat"), ("flat", "fc"), ("fc", "out")], "img")
    return train(g, tmp / "img.npz", tmp / "runs", epochs=10)


@pytest.fixture(scope="session")
def branch_run(tmp_path_factory, two_input_run):
    """The two-input data with a Linear per branch before the Concat (branches whose sources are modules)."""
    import json
    from pathlib import Path
    data = json.loads((Path(two_input_run) / "config.json").read_text())["dataset"]
    g = build([("a", "Input", {"shape": [8], "axes": "F"}), ("b", "Input", {"shape": [8], "axes": "F"}),
               ("la", "Linear", {"out_features": 8, "activation": "relu"}),
               ("lb", "Linear", {"out_features": 8, "activation": "relu"}),
               ("cat", "Concat", {}), ("fc", "Linear", {"out_features": 2}), ("out", "Output", {})],
              [("a", "la"), ("b", "lb"), ("la", "cat", "in0"), ("lb", "cat", "in1"), ("cat", "fc"), ("fc", "out")],
              "branches")
    return train(g, data, tmp_path_factory.mktemp("branches") / "runs")


def _bright_corner_video(seed: int, n: int = 240):
    """(x, y, rng): n clips of 4 frames of 8x8 in [0, 0.3); class 1 has frame 2's top-left corner brightened. The
    generator is returned so a caller can draw more from the same stream."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 2).astype("int64")
    x = rng.uniform(0, 0.3, (n, 4, 1, 8, 8)).astype("float32")
    x[y == 1, 2, 0, :3, :3] += 0.7
    return x, y, rng


@pytest.fixture(scope="session")
def video_run(tmp_path_factory):
    """4 frames of 8x8; the class is whether frame 2's top-left corner is bright (a CNN per frame, then a GRU)."""
    tmp = tmp_path_factory.mktemp("video")
    x, y, _ = _bright_corner_video(seed=3)
    np.savez(tmp / "video.npz", x=x, y=y)
    g = build([("video", "Input", {"shape": [4, 1, 8, 8], "axes": "TCHW"}),
               ("conv1", "Conv2d", {"out_channels": 4, "kernel_size": 3, "padding": 1, "activation": "relu"}),
               ("flat", "Flatten", {}), ("rnn", "GRU", {"hidden_size": 8}),
               ("fc", "Linear", {"out_features": 2}), ("out", "Output", {})],
              [("video", "conv1"), ("conv1", "flat"), ("flat", "rnn"), ("rnn", "fc"), ("fc", "out")], "video")
    return train(g, tmp / "video.npz", tmp / "runs", epochs=15)


@pytest.fixture(scope="session")
def convlstm_run(tmp_path_factory):
    """Video as in ``video_run`` through a per-frame Conv2d, a ConvLSTM2d (every step) and a GRU; one label in five
    is flipped, so that a trained model still gets some validation samples wrong (the app's "wrong" filter)."""
    tmp = tmp_path_factory.mktemp("convlstm")
    x, y, rng = _bright_corner_video(seed=4)
    flip = rng.random(len(y)) < 0.2
    y[flip] = 1 - y[flip]
    np.savez(tmp / "video.npz", x=x, y=y)
    g = build([("video", "Input", {"shape": [4, 1, 8, 8], "axes": "TCHW"}),
               ("conv1", "Conv2d", {"out_channels": 4, "kernel_size": 3, "padding": 1, "activation": "relu"}),
               ("convlstm", "ConvLSTM2d", {"hidden_channels": 3}),
               ("flat", "Flatten", {}), ("rnn", "GRU", {"hidden_size": 6}),
               ("fc", "Linear", {"out_features": 2}), ("out", "Output", {})],
              [("video", "conv1"), ("conv1", "convlstm"), ("convlstm", "flat"), ("flat", "rnn"), ("rnn", "fc"),
               ("fc", "out")], "convlstm")
    return train(g, tmp / "video.npz", tmp / "runs", epochs=12)
