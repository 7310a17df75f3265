"""Settings of a process that only trains (procenv): glibc malloc's thresholds, so that a training loop reuses
its freed memory instead of having the kernel map and zero-fill it again at every step."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from hybrid_studio.train import procenv

ROOT = Path(__file__).resolve().parents[2]

# One "step" allocates, touches and frees three 16 MiB buffers (activations of a training step); the script
# prints the minor page faults of 20 steps after a first one. With glibc's moving thresholds the freed heap top is
# trimmed (given back to the kernel) and faulted in again each step, which is what made the worker process's
# epochs up to ~30% slower in system time (tests/benchmarks/README.md, train section).
STEPS = """
import resource, sys
import numpy as np
if sys.argv[1] == "tuned":
    from hybrid_studio.train.procenv import tune_allocator
    print(tune_allocator(), file=sys.stderr)
def step():
    bufs = [np.ones(4 * 2 ** 20, dtype=np.float32) for _ in range(3)]
    return sum(float(b[-1]) for b in bufs)
step()
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
"""


def faults(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", STEPS, mode], env=env, capture_output=True, text=True, timeout=60,
                         check=True)
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_tuned_allocator_reuses_freed_memory_across_steps():
    default = faults("default")
    if default < 5000:
        pytest.skip(f"this glibc does not trim the heap in this pattern ({default} faults untuned)")
    tuned = faults("tuned")
    # 20 steps of 48 MiB are 245,760 pages; untuned they were ~20,000 faults here, tuned none
    assert tuned < 500, (default, tuned)


def test_user_malloc_settings_win(monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1000000")
    note = procenv._tune()
    if sys.platform.startswith("linux"):
        assert note == "allocator: as set by MALLOC_TRIM_THRESHOLD_"
    else:
        assert "default" in note
