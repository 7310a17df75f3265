"""``hybrid-studio explain`` on the seed template's digits run: under 20 s for 32 samples (issue 10).

The run is trained here for one epoch (the timed part is the explanation only, in a fresh process as a user runs
it, startup and imports included). Prints the median of 3 rounds per method.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.benchmark
ROOT = Path(__file__).resolve().parents[2]


def test_explain_seed_digits_run_under_20s(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "hybrid_studio"]
    subprocess.run([*cmd, "train", str(ROOT / "resources/templates/seed-cnn-lstm.hsproj.json"), "--dataset",
                    "digits", "--epochs", "1", "--out", str(tmp_path / "runs")], check=True, env=env,
                   capture_output=True)
    run = next((tmp_path / "runs").iterdir())
    figures = {}
    for method in ("integrated-gradients", "saliency", "grad-cam"):
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run([*cmd, "explain", str(run), "--samples", "32", "--method", method, "--json"], check=True,
                           env=env, capture_output=True)
            times.append(time.perf_counter() - t0)
        figures[method] = statistics.median(times)
        print(f"explain --method {method} --samples 32: median {figures[method]:.2f} s of {times}")
    print(f"integrated-gradients / saliency: {figures['integrated-gradients'] / figures['saliency']:.2f}x")
    assert figures["integrated-gradients"] < 20.0
