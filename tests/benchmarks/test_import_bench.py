"""Benchmark of the Keras import (run on demand: ``python -m pytest -m benchmark -s tests/benchmarks/test_import_bench.py``).

A real Keras file (built with Keras on the torch backend, saved as ``.keras`` and ``.h5``) of 1,000 layers: a
Conv1D stem, then Dense / BatchNormalization / Activation / Dropout units, with an LSTM at the end. Target: the
import (read the file, convert every layer with its weights, check the graph) under 2 s, median of 5 rounds, for
both formats. Baseline in the same process, interleaved: loading the imported project back from its
``.hsproj.json`` (the studio's own reader plus a full shape check), so the printout shows what reading the Keras
file costs on top of reading a project of the same size.
"""

from __future__ import annotations

import os
import statistics
import time

import pytest

from hybrid_studio.blocks import checker_for
from hybrid_studio.interop import import_model
from hybrid_studio.project import load_project, save_project

pytestmark = pytest.mark.benchmark
LAYERS = 1000


def _keras_model():
    os.environ["KERAS_BACKEND"] = "torch"
    keras = pytest.importorskip("keras")
    L = keras.layers
    layers = [keras.Input((16, 4)), L.Conv1D(8, 3, padding="same", activation="relu")]
    kinds = [lambda: L.Dense(8), L.BatchNormalization, lambda: L.Activation("tanh"), lambda: L.Dropout(0.1)]
    while len(layers) < LAYERS - 2:
        layers.append(kinds[(len(layers) - 2) % 4]())
    layers += [L.LSTM(8), L.Dense(3)]
    import sys
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(20000)  # Keras walks its own graph recursively, one frame per layer (not the import)
    try:
        model = keras.Sequential(layers)
    finally:
        sys.setrecursionlimit(old)
    assert len(model.layers) == LAYERS - 1  # plus the InputLayer
    return model


def test_import_of_a_1000_layer_keras_file(tmp_path):
    model = _keras_model()
    for fmt in (".keras", ".h5"):
        path = tmp_path / f"big{fmt}"
        import sys
        old = sys.getrecursionlimit()
        sys.setrecursionlimit(20000)
        try:
            model.save(path)
        finally:
            sys.setrecursionlimit(old)
        result = import_model(path)  # warm-up (first use imports h5py, numpy paths)
        assert not result.unsupported and len(result.entries) == LAYERS
        project = tmp_path / f"big{fmt.replace('.', '_')}.hsproj.json"
        save_project(result.graph, project)
        imports, loads = [], []
        for _ in range(5):
            t0 = time.perf_counter()
            r = import_model(path)
            checker = checker_for(r.graph)
            checker.flush()
            imports.append(time.perf_counter() - t0)
            assert checker.valid
            t0 = time.perf_counter()
            g = load_project(project)
            c = checker_for(g)
            c.flush()
            loads.append(time.perf_counter() - t0)
        med, base = statistics.median(imports), statistics.median(loads)
        print(f"\nimport of a {LAYERS}-layer Keras {fmt} file ({path.stat().st_size / 1e6:.1f} MB, "
              f"{len(r.graph.nodes)} blocks, {len(r.weights)} weight tensors): median {med * 1000:.0f} ms "
              f"(rounds {', '.join(f'{x * 1000:.0f}' for x in imports)}); loading the same project: "
              f"{base * 1000:.0f} ms; ratio {med / base:.1f}x")
        assert med < 2.0
