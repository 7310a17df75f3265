"""The acceptance figures of the video-prediction and attention-fusion templates, trained as shipped (their own
training sections) on their built-in datasets: slow, run with ``-m slow``. The benchmark
``tests/benchmarks/test_template_figures_bench.py`` trains them through the command line and prints the figures."""

from __future__ import annotations

import pytest

from hybrid_studio.project import graph_to_dict, load_template

pytestmark = pytest.mark.slow


def train_template(name, tmp_path):
    from hybrid_studio.train.engine import train_in_process

    graph = load_template(name)
    training = dict(graph.training)
    return train_in_process(graph_to_dict(graph), training.pop("dataset"), dict(training, num_threads=1),
                            tmp_path / "runs")


def test_convlstm_template_beats_copying_the_last_frame_twice_over(tmp_path):
    s = train_template("convlstm-next-frame", tmp_path)
    assert s["status"] == "finished" and s["dataset"] == "moving-shapes-next"
    ratio = s["baseline_val_loss"] / s["best_metric"]
    print(f"\nconvlstm-next-frame: validation MSE {s['best_metric']:.5f}, copy-last-frame {s['baseline_val_loss']:.5f}, "
          f"{ratio:.1f}x better, {s['epochs']} epochs in {s['duration_s']:.0f} s")
    assert s["best_metric_name"] == "val_loss"
    assert ratio >= 2


def test_attention_fusion_template_reaches_95_percent(tmp_path):
    s = train_template("attention-fusion", tmp_path)
    assert s["status"] == "finished" and s["dataset"] == "image+series"
    print(f"\nattention-fusion: best validation accuracy {s['best_metric']:.1%} (epoch {s['best_epoch']}), "
          f"{s['epochs']} epochs in {s['duration_s']:.0f} s")
    assert s["best_metric_name"] == "val_accuracy"
    assert s["best_metric"] >= 0.95
