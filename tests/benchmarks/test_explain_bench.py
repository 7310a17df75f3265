"""``explain`` on the seed template's digits run (issue 10: < 20 s for 32 samples on this CPU).

Run on demand: ``pytest -m benchmark -s tests/benchmarks/test_explain_bench.py``; prints the wall and CPU time of the
whole command (model load, dataset, 32 samples of integrated gradients) as a fresh process runs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hybrid_studio import RESOURCES

pytestmark = pytest.mark.benchmark
ROOT = Path(__file__).resolve().parents[2]


def test_explain_the_seed_template_in_under_20_s(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    project = RESOURCES / "templates" / "seed-cnn-lstm.hsproj.json"
    subprocess.run([sys.executable, "-m", "hybrid_studio", "train", str(project), "--dataset", "digits", "--epochs",
                    "2", "--out", str(tmp_path / "runs")], check=True, capture_output=True, env=env)
    run = next((tmp_path / "runs").iterdir())
    times = []
    for _ in range(3):
        start, cpu = time.perf_counter(), os.times()
        proc = subprocess.run([sys.executable, "-m", "hybrid_studio", "explain", str(run), "--samples", "32",
                               "--json"], capture_output=True, text=True, env=env)
        end = os.times()
        assert proc.returncode == 0, proc.stderr
        times.append((time.perf_counter() - start, end.children_user - cpu.children_user))
    wall = sorted(t[0] for t in times)[1]
    print(f"\nexplain, seed template on digits, 32 samples of integrated gradients: median {wall:.1f} s wall "
          f"({', '.join(f'{w:.1f} s wall / {c:.1f} s CPU' for w, c in times)})")
    assert wall < 20
