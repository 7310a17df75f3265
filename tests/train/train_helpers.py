"""Small graphs and data for the training tests: tiny models, few samples, so each test takes a second or two."""

from __future__ import annotations

import numpy as np
from hybrid_studio.blocks import new_graph
from hybrid_studio.graph import AddNode, Connect, Edge, Node


def build(nodes, edges, name="tiny"):
    """A graph from (id, type, params) triples and (source, target[, target_port]) pairs."""
    g = new_graph(name)
    for nid, type_name, params in nodes:
        AddNode(Node(nid, type_name, dict(params))).apply(g)
    for e in edges:
        Connect(Edge(e[0], e[1], "out", e[2] if len(e) > 2 else "in")).apply(g)
    return g


def tiny_seq_graph(t=8, f=4, classes=2, hidden=8, name="tiny"):
    """series (T, F) -> GRU -> Linear -> Output."""
    return build([("series", "Input", {"shape": [t, f], "axes": "TF"}),
                  ("rnn", "GRU", {"hidden_size": hidden}),
                  ("fc", "Linear", {"out_features": classes}),
                  ("out", "Output", {})],
                 [("series", "rnn"), ("rnn", "fc"), ("fc", "out")], name)


def tiny_mlp_graph(f=6, out=2, task="classification", name="mlp"):
    return build([("x", "Input", {"shape": [f], "axes": "F"}),
                  ("h", "Linear", {"out_features": 16, "activation": "relu"}),
                  ("fc", "Linear", {"out_features": out}),
                  ("out", "Output", {"task": task})],
                 [("x", "h"), ("h", "fc"), ("fc", "out")], name)


def seq_data(n=160, t=8, f=4, seed=0):
    """Two classes of sequences: rising or falling ramps plus noise (easy for a GRU)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    ramp = np.linspace(-1, 1, t)[None, :, None]
    x = np.where(y[:, None, None] == 1, ramp, -ramp) + rng.normal(0, 0.3, (n, t, f))
    return x.astype(np.float32), y.astype(np.int64)




def spell_symbols(rng, x, y, i) -> int:
    """Write 2-3 symbols of {1, 2, 3} into sample ``i``: symbol s lights feature s of ``x`` for 3 steps, every 4
    steps, and is listed in ``y[i]``. Returns how many symbols were written."""
    k = int(rng.integers(2, 4))
    for j in range(k):
        s = int(rng.integers(1, 4))
        y[i, j] = s
        x[i, 4 * j:4 * j + 3, s] += 1.0
    return k
