"""Bounded inputs (issue 14): sizes, layers and counts that no machine could hold are diagnostics, counting is O(1),
``check --json`` always prints JSON, and a project file over the size limit is refused with its size named."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hybrid_studio.blocks import CATALOG, checker_for, new_graph
from hybrid_studio.cli import main
from hybrid_studio.graph import AddNode, Connect, Disconnect, Edge, Node
from hybrid_studio.project import ProjectError, load_project

ROOT = Path(__file__).resolve().parents[2]


def project(nodes, edges):
    return {"format": "hybrid-studio", "version": 1, "name": "t", "nodes": nodes, "edges": edges}


def seq_project(**lstm):
    return project([{"id": "x", "type": "Input", "params": {"shape": [10, 8], "axes": "TF"}},
                    {"id": "lstm", "type": "LSTM", "params": {"hidden_size": 16, **lstm}},
                    {"id": "out", "type": "Output", "params": {}}],
                   [{"source": "x", "target": "lstm"}, {"source": "lstm", "target": "out"}])


def image_project(**conv):
    return project([{"id": "image", "type": "Input", "params": {"shape": [1, 28, 28], "axes": "CHW"}},
                    {"id": "conv", "type": "Conv2d", "params": {"out_channels": 8, "kernel_size": 3, **conv}},
                    {"id": "out", "type": "Output", "params": {}}],
                   [{"source": "image", "target": "conv"}, {"source": "conv", "target": "out"}])


def check_json(tmp_path, capsys, data):
    path = tmp_path / "p.hsproj.json"
    path.write_text(json.dumps(data))
    start = time.perf_counter()
    code = main(["check", str(path), "--json"])
    took = time.perf_counter() - start
    out = capsys.readouterr().out
    return code, json.loads(out), took


@pytest.mark.parametrize("data, words", [
    (seq_project(num_layers=1_000_000_000), "num_layers must be at most 1000"),
    (seq_project(num_layers=10 ** 2200), "num_layers must be at most 1000"),
    (image_project(out_channels=10 ** 18), "out_channels must be at most 16,777,216"),
    (image_project(padding=10 ** 300), "padding must be at most 16,777,216"),
    (image_project(out_channels=10 ** 2200), "out_channels must be at most"),
])
def test_sizes_no_machine_holds_are_diagnostics_and_json_never_fails(tmp_path, capsys, data, words):
    code, report, took = check_json(tmp_path, capsys, data)
    assert code == 1 and report["valid"] is False
    messages = [d["message"] for d in report["diagnostics"]]
    assert any(words in m for m in messages), messages
    assert took < 5  # it hung (a loop per layer) before; generous for a loaded machine


def test_a_block_too_big_for_memory_names_the_bytes(tmp_path, capsys):
    data = project([{"id": "x", "type": "Input", "params": {"shape": [16_000_000], "axes": "F"}},
                    {"id": "fc", "type": "Linear", "params": {"out_features": 16_000_000}},
                    {"id": "out", "type": "Output", "params": {}}],
                   [{"source": "x", "target": "fc"}, {"source": "fc", "target": "out"}])
    code, report, _ = check_json(tmp_path, capsys, data)
    msg = next(d["message"] for d in report["diagnostics"] if d["node"] == "fc")
    assert code == 1 and "parameters" in msg and "TiB as float32" in msg and "more than any machine" in msg


def test_recurrent_counts_are_closed_form_and_match_torch():
    torch = pytest.importorskip("torch")
    from hybrid_studio.graph import TensorSpec
    for kind, cls in (("LSTM", torch.nn.LSTM), ("GRU", torch.nn.GRU)):
        block = CATALOG.get(kind)
        for layers, bidi, bias in ((1, False, True), (3, True, True), (4, False, False), (2, True, False)):
            p, _ = block.resolve({"hidden_size": 12, "num_layers": layers, "bidirectional": bidi, "bias": bias})
            spec = TensorSpec("TF", (7, 5))
            params, macs = block.count(p, [spec], block.infer(p, [spec]))
            ref = cls(5, 12, num_layers=layers, bidirectional=bidi, bias=bias, batch_first=True)
            assert params == sum(t.numel() for t in ref.parameters()), (kind, layers, bidi, bias)
            assert macs is not None and macs > 0
    # O(1): the largest allowed stack counts as fast as one layer
    p, _ = CATALOG.get("LSTM").resolve({"hidden_size": 4096, "num_layers": 1000})
    start = time.perf_counter()
    for _ in range(1000):
        CATALOG.get("LSTM").count(p, [TensorSpec("TF", (7, 5))], None)
    assert time.perf_counter() - start < 1.0


def test_a_project_over_the_size_limit_is_refused_with_its_size(tmp_path, monkeypatch):
    path = tmp_path / "big.hsproj.json"
    path.write_text(json.dumps(image_project()) + " " * (2 * 1024 * 1024))
    monkeypatch.setenv("HYBRID_STUDIO_MAX_PROJECT_MB", "1")
    with pytest.raises(ProjectError) as e:
        load_project(path)
    assert "2.0 MiB" in str(e.value) and "1 MiB" in str(e.value) and "HYBRID_STUDIO_MAX_PROJECT_MB" in str(e.value)
    monkeypatch.setenv("HYBRID_STUDIO_MAX_PROJECT_MB", "4")
    assert load_project(path).node("conv").type == "Conv2d"


def test_the_default_limit_refuses_a_50_mb_project_and_keeps_a_100k_block_one(tmp_path, monkeypatch):
    # issue 14's repro: a 50 MB project (550,000 blocks) took 3 GB and minutes to check under the old 64 MiB limit;
    # a saved 100,000-block chain is 14 MiB and must still open
    monkeypatch.delenv("HYBRID_STUDIO_MAX_PROJECT_MB", raising=False)
    path = tmp_path / "huge.hsproj.json"
    path.write_text(json.dumps(image_project()) + " " * (50 * 1000 * 1000))
    with pytest.raises(ProjectError) as e:
        load_project(path)
    assert "47.7 MiB" in str(e.value) and "32 MiB" in str(e.value)
    path.write_text(json.dumps(image_project()) + " " * (15 * 1024 * 1024))
    assert load_project(path).node("conv").type == "Conv2d"


def test_wires_per_block_keep_file_order_through_inserts_in_the_middle():
    g = new_graph()
    for nid in ("a", "b", "c"):
        AddNode(Node(nid, "Linear", {"out_features": 2})).apply(g)
    AddNode(Node("cat", "Concat", {"inputs": 3})).apply(g)
    edges = [Edge("a", "cat", "out", "in0"), Edge("b", "cat", "out", "in1"), Edge("c", "cat", "out", "in2")]
    for e in edges:
        Connect(e).apply(g)
    d = Disconnect(edges[1])
    d.apply(g)
    d.revert(g)  # back in its place in the file, between the other two
    assert g.in_edges("cat") == edges == [e for e in g.edges if e.target == "cat"]
    assert g.out_edges("b") == [edges[1]]
    g.rename_node("b", "bee")
    assert [e.source for e in g.in_edges("cat")] == ["a", "bee", "c"]


def test_an_unconnected_input_is_offered_the_last_free_outputs_without_cycles():
    g = new_graph()
    AddNode(Node("x", "Input", {"shape": [4], "axes": "F"})).apply(g)
    for i in range(6):
        AddNode(Node(f"l{i}", "Linear", {"out_features": 4})).apply(g)
    Connect(Edge("l0", "l5")).apply(g)  # l5 is downstream of l0: offering it to l0 would make a cycle
    ck = checker_for(g)
    ck.flush()
    labels = [f.label for d in ck.result("l0").diagnostics for f in d.fixes]
    assert labels == ["connect l2 to l0", "connect l3 to l0", "connect l4 to l0", "remove l0"]
    labels = [f.label for d in ck.result("l1").diagnostics for f in d.fixes]
    assert labels == ["connect l3 to l1", "connect l4 to l1", "connect l5 to l1", "remove l1"]
