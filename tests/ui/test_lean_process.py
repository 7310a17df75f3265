"""Issue 15: the idle UI process with the CRNN template open and the training dock loaded holds neither torch nor
scikit-learn, scipy, pandas or joblib (devices are listed and datasets built in child processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = Path(__file__).with_name("lean_probe.py")
ROOT = Path(__file__).resolve().parents[2]


def run_probe(*args: str) -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, str(PROBE), *args], capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_idle_window_with_training_dock_imports_no_heavy_module():
    r = run_probe()
    assert r["ready"] and r["dataset"], r  # the dock really loaded its lists and the dataset preview
    assert r["heavy"] == [], f"the idle UI process imported {r['heavy']}"
