"""Small trained runs for the profile and quantisation tests."""

from __future__ import annotations

from hybrid_studio.blocks import new_graph
from hybrid_studio.graph import AddNode, Connect, Edge, Node
from hybrid_studio.project.writer import graph_to_dict


def build(nodes, edges, name="tiny"):
    """A graph from (id, type, params) triples and (source, target) pairs."""
    g = new_graph(name)
    for nid, type_name, params in nodes:
        AddNode(Node(nid, type_name, dict(params))).apply(g)
    for source, target in edges:
        Connect(Edge(source, target, "out", "in")).apply(g)
    return g


def lstm_heavy_graph(hidden=128):
    """digits as 8-step sequences -> two stacked LSTMs -> Linear: nearly every weight is in an LSTM."""
    return build([("digits", "Input", {"shape": [8, 8], "axes": "TF"}),
                  ("lstm1", "LSTM", {"hidden_size": hidden, "return_sequences": True}),
                  ("lstm2", "LSTM", {"hidden_size": hidden}),
                  ("fc", "Linear", {"out_features": 10}),
                  ("out", "Output", {})],
                 [("digits", "lstm1"), ("lstm1", "lstm2"), ("lstm2", "fc"), ("fc", "out")], "lstm-heavy")


def train_run(graph, dataset, runs_dir, epochs=2, batch_size=32, lr=3e-3):
    """Train ``graph`` on a built-in dataset in process; the run folder's path."""
    from hybrid_studio.train.engine import train_in_process

    summary = train_in_process(graph_to_dict(graph), dataset,
                               {"epochs": epochs, "batch_size": batch_size, "lr": lr, "device": "cpu",
                                "dataset": dataset}, runs_dir=runs_dir)
    return summary["run_dir"]
