"""The figures of the video-prediction and attention-fusion templates, trained through the command line as a user
would (``hybrid-studio train TEMPLATE --dataset NAME``, the template's own settings): run on demand with
``pytest -m benchmark -s tests/benchmarks/test_template_figures_bench.py``. Prints the validation figure, the
baseline it is compared with, and the wall time."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import hybrid_studio

pytestmark = pytest.mark.benchmark
ROOT = Path(hybrid_studio.__file__).resolve().parents[1]


def cli_train(template: str, dataset: str, out: Path) -> tuple[dict, float]:
    """Train a template with the CLI; (the run's last validation row of metrics.csv, wall seconds)."""
    path = ROOT / "resources" / "templates" / f"{template}.hsproj.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "hybrid_studio", "train", str(path), "--dataset", dataset,
                           "--device", "cpu", "--out", str(out)], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    assert done.returncode == 0, done.stderr[-2000:]
    run = next(out.iterdir())
    rows = [r for r in csv.DictReader(open(run / "metrics.csv")) if r["split"] == "val"]
    print(done.stdout.strip().splitlines()[-3])
    return rows, wall


def test_convlstm_next_frame_vs_copy_last_frame(tmp_path):
    from hybrid_studio.train.datasets import get_dataset

    config = json.loads((ROOT / "resources" / "templates" / "convlstm-next-frame.hsproj.json").read_text())
    seed = config["training"].get("seed", 0)
    baseline = get_dataset("moving-shapes-next", seed=seed).baseline_loss()
    rows, wall = cli_train("convlstm-next-frame", "moving-shapes-next", tmp_path)
    best = min(float(r["loss"]) for r in rows)
    print(f"convlstm-next-frame on moving-shapes-next: best validation MSE {best:.5f}, copy-last-frame "
          f"{baseline:.5f}: {baseline / best:.1f}x better (target >= 2x); {len(rows)} epochs, {wall:.0f} s wall")
    assert baseline / best >= 2


def test_attention_fusion_accuracy(tmp_path):
    rows, wall = cli_train("attention-fusion", "image+series", tmp_path)
    best = max(float(r["accuracy"]) for r in rows)
    print(f"attention-fusion on image+series: best validation accuracy {best:.1%} (target >= 95%); "
          f"{len(rows)} epochs, {wall:.0f} s wall")
    assert best >= 0.95
