"""A tiny project and dataset for sweep tests: each trial trains in about a second."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

TINY = {
    "format": "hybrid-studio", "version": 1, "name": "tiny",
    "nodes": [
        {"id": "series", "type": "Input", "params": {"shape": [8, 4], "axes": "TF"}},
        {"id": "rnn", "type": "GRU", "params": {"hidden_size": 8}},
        {"id": "fc", "type": "Linear", "params": {"out_features": 2}},
        {"id": "out", "type": "Output", "params": {}},
    ],
    "edges": [{"source": "series", "target": "rnn"}, {"source": "rnn", "target": "fc"},
              {"source": "fc", "target": "out"}],
    "training": {"epochs": 2, "batch_size": 32, "num_threads": 1},
}


def write_project(folder: Path, data: dict | None = None, name: str = "tiny.hsproj.json") -> Path:
    path = Path(folder) / name
    path.write_text(json.dumps(data or TINY))
    return path


def write_data(folder: Path, n: int = 160, seed: int = 0) -> Path:
    """Two classes of sequences: rising or falling ramps plus noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    ramp = np.linspace(-1, 1, 8)[None, :, None]
    x = np.where(y[:, None, None] == 1, ramp, -ramp) + rng.normal(0, 0.3, (n, 8, 4))
    path = Path(folder) / "ramps.npz"
    np.savez(path, x=x.astype(np.float32), y=y.astype(np.int64))
    return path
