"""Benchmark of issue 12's acceptance sweep (run on demand: ``pytest -m benchmark -s tests/benchmarks/test_sweep_bench.py``).

A 12-trial sweep of the seed template on digits, 2 epochs per trial, ``--parallel 2``, over the LSTM's hidden size
and the learning rate; beside it, in the same run, a plain ``train`` of the template as shipped (2 epochs). Prints
the wall time, every trial, the best and the baseline; asserts that the sweep finishes, that its best is at least
as good as the template's own settings, and that ``optuna.load_study`` opens the study.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hybrid_studio import RESOURCES

pytestmark = pytest.mark.benchmark
ROOT = Path(__file__).resolve().parents[2]


def _run(args, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "hybrid_studio", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=3600)
    return proc, time.perf_counter() - start


def test_twelve_trial_sweep_of_the_seed_template(tmp_path):
    optuna = pytest.importorskip("optuna")
    project = RESOURCES / "templates" / "seed-cnn-lstm.hsproj.json"
    plain, plain_s = _run(["train", str(project), "--dataset", "digits", "--epochs", "2", "--out",
                           str(tmp_path / "plain")], tmp_path)
    assert plain.returncode == 0, plain.stderr
    plain_run = next((tmp_path / "plain").iterdir())
    status = json.loads((plain_run / "status.json").read_text())
    baseline = status["best_metric"]
    proc, sweep_s = _run(["sweep", str(project), "--dataset", "digits", "--trials", "12", "--epochs", "2",
                          "--parallel", "2", "--param", "lstm.hidden_size=16..128", "--param",
                          "training.lr=3e-4..1e-2:log", "--out", str(tmp_path / "runs"), "--seed", "0", "--json"],
                         tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    print(f"\nplain train (template settings, 2 epochs): val_accuracy {baseline:.4f} in {plain_s:.1f} s")
    print(f"12-trial sweep, --parallel 2: {sweep_s:.1f} s wall ({sweep_s / 12:.1f} s per trial)")
    for t in report["trials"]:
        print(f"  trial {t['number']:2d} {t['state']:8s} {t['value'] if t['value'] is None else round(t['value'], 4)}"
              f"  {t['params']}")
    best = report["best"]
    print(f"best: {best['value']:.4f} {best['params']}  (template: {baseline:.4f}, "
          f"{best['value'] - baseline:+.4f}); importances {report['importances']}")
    assert len(report["trials"]) == 12
    assert best["value"] >= baseline
    study = optuna.load_study(study_name=report["study"], storage=report["storage"])
    assert len(study.trials) == 12
