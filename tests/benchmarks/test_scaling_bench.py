"""Scaling of the graph core (issue 14, and issue 15's re-check): load + full check of a chain and of unconnected
blocks at 1k, 10k and 100k, and the re-check after one param edit at each size.

Run on demand: ``pytest -m benchmark -s tests/benchmarks/test_scaling_bench.py``. Prints the curve; asserts the
targets (100k < 10 s, 10k < 1 s, edit at 100k < 50 ms and < 2 ms) on this process's CPU time, and that 10x the
blocks costs at most 15x the time (linear, with room for noise; it was quadratic: 8k unconnected took 246 s). The
10k and 100k sizes are measured in ROUNDS interleaved rounds and compared by their medians.
"""

from __future__ import annotations

import gc
import json
import statistics
import time

import pytest

from hybrid_studio.blocks import checker_for
from hybrid_studio.graph import SetParams
from hybrid_studio.project import loads_project

pytestmark = pytest.mark.benchmark
SIZES = (1_000, 10_000, 100_000)
ROUNDS = 3


def chain(n: int) -> str:
    nodes = [{"id": "x", "type": "Input", "params": {"shape": [8], "axes": "F"}}]
    edges, prev = [], "x"
    for i in range(n - 2):
        nodes.append({"id": f"l{i}", "type": "Linear", "params": {"out_features": 8}})
        edges.append({"source": prev, "target": f"l{i}"})
        prev = f"l{i}"
    nodes.append({"id": "out", "type": "Output", "params": {}})
    edges.append({"source": prev, "target": "out"})
    return json.dumps({"format": "hybrid-studio", "version": 1, "name": "chain", "nodes": nodes, "edges": edges})


def unconnected(n: int) -> str:
    nodes = [{"id": f"l{i}", "type": "Linear", "params": {"out_features": 8}} for i in range(n)]
    return json.dumps({"format": "hybrid-studio", "version": 1, "name": "loose", "nodes": nodes, "edges": []})


def measure(text: str, n: int) -> tuple[float, float]:
    """(CPU s of load + full check, median CPU ms of the re-check after one param edit)."""
    # free the previous size's graph first: its collection otherwise lands in this measurement (1k blocks after
    # 100k read 1.5 s instead of 0.06 s)
    gc.collect()
    start = time.process_time()
    graph = loads_project(text)
    checker = checker_for(graph)
    checker.flush()
    checker.diagnostics()
    load_check = time.process_time() - start
    mid = graph.nodes[n // 2].id
    edits = []
    for value in range(9, 20):
        t = time.process_time()
        SetParams(mid, {"out_features": value}).apply(graph)
        checker.flush()
        edits.append(time.process_time() - t)
    return load_check, statistics.median(edits) * 1000


@pytest.mark.parametrize("kind", ["chain", "unconnected"])
def test_load_check_and_edit_scale_linearly(kind):
    make = chain if kind == "chain" else unconnected
    texts = {n: make(n) for n in SIZES}
    rounds: dict[int, list[tuple[float, float]]] = {n: [] for n in SIZES}
    for r in range(ROUNDS):
        for n in SIZES if r == 0 else SIZES[1:]:  # 1k is only printed: once is enough
            rounds[n].append(measure(texts[n], n))
    results = {n: (statistics.median(m[0] for m in rounds[n]), statistics.median(m[1] for m in rounds[n]))
               for n in SIZES}
    for n in SIZES:
        spread = ", ".join(f"{m[0]:.3f}" for m in rounds[n])
        print(f"\n{kind:11s} {n:7,d} blocks: load + check {results[n][0]:7.3f} s CPU "
              f"({results[n][0] / n * 1e6:5.1f} us/block; rounds {spread}), "
              f"re-check after an edit {results[n][1]:.3f} ms", end="")
    print()
    assert results[100_000][0] < 10 and results[10_000][0] < 1.0
    assert results[100_000][1] < 2.0
    ratio = results[100_000][0] / results[10_000][0]
    print(f"{kind}: 100k / 10k = {ratio:.1f}x (medians of {ROUNDS} interleaved rounds)")
    # linear work costs 10x; measured medians were 10.7x (chain) and 12.6x (unconnected): the json parse itself
    # grows 15-20x (the graph no longer fits the CPU caches). Single rounds on the shared machine scattered from 11x
    # to 16x, which is why one round against 15x was flaky and medians are compared instead. n log n would be
    # ~12.5x, quadratic 100x (8k unconnected blocks took 246 s before the linear core).
    assert ratio < 15
