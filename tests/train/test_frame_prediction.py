"""Next-frame prediction end to end: the moving-shapes-next dataset, its copy-last-frame baseline, matching an Output
to an image-shaped target, a real (tiny) ConvLSTM run, and the predictions the results view draws."""

from __future__ import annotations

import numpy as np
import pytest

from hybrid_studio.project import graph_to_dict
from hybrid_studio.train.builtin import moving_shapes_next
from hybrid_studio.train.datasets import get_dataset, list_datasets
from hybrid_studio.train.matching import match_dataset

from train_helpers import build


def centre(frames):
    """Centre of brightness (row, col) of each frame (N, 1, H, W)."""
    w = np.clip(frames[:, 0], 0, None)
    rows, cols = np.mgrid[0:w.shape[1], 0:w.shape[2]]
    total = w.sum((1, 2))
    return np.stack([(w * rows).sum((1, 2)) / total, (w * cols).sum((1, 2)) / total], 1)


def test_moving_shapes_next_targets_are_the_next_frame_of_a_straight_motion():
    raw = moving_shapes_next(3, n=60)
    x, y = raw.x[0], raw.y
    assert x.shape == (60, 6, 1, 20, 20) and y.shape == (60, 1, 20, 20) and y.dtype == np.float32
    assert raw.task == "regression" and raw.target_axes == "CHW" and raw.baseline == "copy-last-frame"
    # the target is clean, the inputs are noisy; the shape is whole in every frame (nothing leaves the picture)
    assert y.min() == 0 and 0.6 <= y.max() <= 1
    assert np.all((y > 0).sum((1, 2, 3)) >= 5)
    # constant velocity: the target's centre is the last frame's centre plus the last step (noise aside)
    clean = np.where(x > 0.3, x, 0)
    last, before = centre(clean[:, -1]), centre(clean[:, -2])
    np.testing.assert_allclose(centre(y), 2 * last - before, atol=0.6)
    assert np.abs(last - before).max() >= 1.5  # some shapes move two pixels a frame
    np.testing.assert_array_equal(moving_shapes_next(3, n=60).x[0], x)  # deterministic per seed


def test_dataset_entry_and_copy_last_frame_baseline():
    assert "moving-shapes-next" in [d.name for d in list_datasets()]
    ds = get_dataset("moving-shapes-next")
    assert ds.task == "regression" and ds.target_axes == "CHW" and ds.num_targets == 400
    assert ds.inputs[0].shape == (6, 1, 20, 20) and ds.inputs[0].name == "video"
    assert "regression to CHW 1x20x20" in ds.describe()
    manual = float(np.mean((ds.x_val[0][:, -1].astype(np.float64) - ds.y_val) ** 2))
    assert ds.baseline_loss() == pytest.approx(manual)
    assert 0.005 < ds.baseline_loss() < 0.05
    assert get_dataset("digits").baseline_loss() is None


def frame_graph(hidden=2, out_channels=1, flatten=False):
    nodes = [("video", "Input", {"shape": [6, 1, 20, 20], "axes": "TCHW"}),
             ("cl", "ConvLSTM2d", {"hidden_channels": hidden, "return_sequences": False}),
             ("frame", "Conv2d", {"out_channels": out_channels, "kernel_size": 1}),
             ("out", "Output", {"task": "regression"})]
    edges = [("video", "cl"), ("cl", "frame"), ("frame", "out")]
    if flatten:
        nodes.insert(3, ("flat", "Flatten", {}))
        edges = [("video", "cl"), ("cl", "frame"), ("frame", "flat"), ("flat", "out")]
    return build(nodes, edges, "next-frame")


def test_an_output_must_give_the_target_frame():
    ds = get_dataset("moving-shapes-next")
    assert match_dataset(frame_graph(), ds) == []
    (d,) = match_dataset(frame_graph(out_channels=3), ds)
    assert d.node == "out" and "(N, C=3, H=20, W=20)" in d.message and "(C=1, H=20, W=20)" in d.message
    assert "out_channels=1" in d.message
    (d,) = match_dataset(frame_graph(flatten=True), ds)
    assert "(N, F=400)" in d.message


def test_a_convlstm_run_reports_the_baseline_and_predicts_frames(tmp_path):
    from hybrid_studio.train.engine import train_in_process
    from hybrid_studio.train.events import Started
    from hybrid_studio.train.predict import predict_run

    events = []
    summary = train_in_process(graph_to_dict(frame_graph()), "moving-shapes-next",
                               {"epochs": 1, "batch_size": 50, "num_threads": 1}, tmp_path / "runs",
                               emit=events.append)
    baseline = get_dataset("moving-shapes-next").baseline_loss()
    started = next(e for e in events if isinstance(e, Started))
    assert started.baseline == "copy-last-frame" and started.baseline_loss == pytest.approx(baseline)
    assert summary["status"] == "finished" and summary["baseline_val_loss"] == pytest.approx(baseline)
    p = predict_run(summary["run_dir"])
    assert p.y_true.shape == p.y_pred.shape == (200, 1, 20, 20)
    assert p.target_axes == "CHW" and p.baseline_loss == pytest.approx(baseline)
    assert p.mse() == pytest.approx(summary["val_loss"], rel=1e-3)  # the best (only) epoch's validation MSE
