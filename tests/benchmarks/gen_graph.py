"""A large, valid hybrid graph for benchmarks: ``build_graph(500)`` has exactly 500 blocks.

Two inputs feed two branches that meet at a Concat:
- an image branch of residual units (Conv2d same-padded, BatchNorm, Conv2d, Add with the unit's input, ReLU),
- a sequence branch of recurrent units (LSTM returning sequences, LayerNorm, Dropout),
then a GlobalAvgPool on each branch, Concat, Linear and Output. The Adds give the graph fan-out and fan-in, so the
shape checker sees more than a chain. Run as a script to write the graph to a file:
``python tests/benchmarks/gen_graph.py out.hsproj.json [N]``.
"""

from __future__ import annotations

import sys

from hybrid_studio.blocks import new_graph
from hybrid_studio.graph import Edge, Graph, Node

IMAGE_UNIT = 5
SEQUENCE_UNIT = 3
FIXED = 8  # 2 inputs, the stem conv, 2 global pools, concat, linear, output


def build_graph(n_blocks: int = 500, channels: int = 16, hidden: int = 16, image_size: int = 32,
                steps: int = 16) -> Graph:
    """A valid graph of exactly ``n_blocks`` blocks (at least 16)."""
    if n_blocks < FIXED + IMAGE_UNIT + SEQUENCE_UNIT:
        raise ValueError(f"need at least {FIXED + IMAGE_UNIT + SEQUENCE_UNIT} blocks")
    rest = n_blocks - FIXED
    image_units = max(1, int(rest * 0.8) // IMAGE_UNIT)
    sequence_units = max(1, (rest - image_units * IMAGE_UNIT) // SEQUENCE_UNIT)
    padding = rest - image_units * IMAGE_UNIT - sequence_units * SEQUENCE_UNIT  # filled with Dropouts

    g = new_graph(f"bench-{n_blocks}")
    col = {"image": 0, "series": 0}

    def add(branch, nid, type_name, params, *sources):
        y = 0 if branch == "image" else 300
        g.insert_node(Node(nid, type_name, params, (col[branch] * 180, y)))
        col[branch] += 1
        for port, src in zip(["in"] if len(sources) == 1 else [f"in{i}" for i in range(len(sources))], sources):
            g.insert_edge(Edge(src, nid, target_port=port), check=False)
        return nid

    last = add("image", "image", "Input", {"shape": [3, image_size, image_size], "axes": "CHW"})
    last = add("image", "stem", "Conv2d", {"out_channels": channels, "kernel_size": 3, "padding": "same",
                                          "activation": "relu"}, last)
    for u in range(image_units):
        unit_in = last
        a = add("image", f"conv{u}a", "Conv2d", {"out_channels": channels, "kernel_size": 3, "padding": "same",
                                                 "activation": "relu"}, unit_in)
        b = add("image", f"bn{u}", "BatchNorm", {}, a)
        c = add("image", f"conv{u}b", "Conv2d", {"out_channels": channels, "kernel_size": 3, "padding": "same"}, b)
        s = add("image", f"add{u}", "Add", {}, c, unit_in)
        last = add("image", f"act{u}", "Activation", {"function": "relu"}, s)
    image_last = add("image", "gap_image", "GlobalAvgPool", {}, last)

    last = add("series", "series", "Input", {"shape": [steps, 8], "axes": "TF"})
    for u in range(sequence_units):
        a = add("series", f"lstm{u}", "LSTM", {"hidden_size": hidden, "return_sequences": True}, last)
        b = add("series", f"ln{u}", "LayerNorm", {}, a)
        last = add("series", f"drop{u}", "Dropout", {"p": 0.1}, b)
    for i in range(padding):
        last = add("series", f"pad{i}", "Dropout", {"p": 0.0}, last)
    series_last = add("series", "gap_series", "GlobalAvgPool", {}, last)

    col["image"] = max(col.values())
    cat = add("image", "cat", "Concat", {}, image_last, series_last)
    fc = add("image", "fc", "Linear", {"out_features": 10}, cat)
    add("image", "out", "Output", {}, fc)
    assert len(g) == n_blocks, len(g)
    return g


if __name__ == "__main__":
    from hybrid_studio.project import save_project

    save_project(build_graph(int(sys.argv[2]) if len(sys.argv) > 2 else 500), sys.argv[1])
