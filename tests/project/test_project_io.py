"""Project files: canonical round trips, refusals with file and place, lenient loading, migrations, atomic saves."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hybrid_studio.blocks import checker_for, new_graph
from hybrid_studio.graph import AddNode, Connect, Edge, Move, Node, SetMeta, SetParams
from hybrid_studio.project import (CURRENT_VERSION, ProjectError, atomic_write_bytes, atomic_write_text,
                                   dumps_project, graph_to_dict, list_templates, load_project, load_template,
                                   loads_project, migrate, save_project)
from hybrid_studio.project import reader

GOLDEN = Path(__file__).parent / "golden"
TEMPLATES = [t.name for t in list_templates()]


def project_text(nodes=(), edges=(), **top) -> str:
    data = {"format": "hybrid-studio", "version": 1, "name": "t", "nodes": list(nodes), "edges": list(edges)}
    data.update(top)
    return json.dumps(data)


SEED_NODES = [
    {"id": "image", "type": "Input", "params": {"shape": [1, 8, 8], "axes": "CHW"}},
    {"id": "conv1", "type": "Conv2d", "params": {"out_channels": 4, "kernel_size": 3}},
    {"id": "out", "type": "Output", "params": {}},
]
SEED_EDGES = [{"source": "image", "target": "conv1"}, {"source": "conv1", "target": "out"}]


# ---- round trips -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", TEMPLATES)
def test_template_round_trip_is_byte_identical(name, tmp_path):
    path = next(t.path for t in list_templates() if t.name == name)
    text = path.read_text(encoding="utf-8")
    graph = load_project(path)
    assert dumps_project(graph) == text
    copy = tmp_path / path.name
    save_project(graph, copy)
    assert copy.read_bytes() == path.read_bytes()


def test_app_written_file_round_trips_byte_identical(tmp_path):
    g = new_graph("my model")
    for edit in [AddNode(Node("series", "Input", {"shape": [None, 6], "axes": "TF"}, (10.5, -3))),
                 AddNode(Node("rnn", "GRU", {"hidden_size": 12})),
                 AddNode(Node("head", "Linear", {"out_features": 3})),
                 AddNode(Node("out", "Output", {"task": "regression"}, (700, 0))),
                 Connect(Edge("series", "rnn")), Connect(Edge("rnn", "head")), Connect(Edge("head", "out")),
                 SetParams("rnn", {"bidirectional": True}), Move({"rnn": (200.25, 0.0)}),
                 SetMeta("training", {"epochs": 4, "lr": 0.003, "dataset": "digits"})]:
        edit.apply(g)
    g.extra["notes"] = "ünïcode ☃ kept"
    path = tmp_path / "model.hsproj.json"
    save_project(g, path)
    first = path.read_bytes()
    loaded = load_project(path)
    save_project(loaded, path)
    assert path.read_bytes() == first
    assert graph_to_dict(loaded) == graph_to_dict(g)
    assert loaded.node("rnn").params == {"hidden_size": 12, "bidirectional": True}
    assert loaded.node("rnn").position == (200.25, 0.0) and loaded.node("head").position is None
    assert loaded.extra == {"notes": "ünïcode ☃ kept"} and loaded.training["lr"] == 0.003
    assert "ünïcode ☃" in first.decode("utf-8")  # written readable, not \u-escaped


def test_writer_layout_one_node_and_one_edge_per_line():
    g = load_template("parallel-cnn-lstm")
    lines = dumps_project(g).splitlines()
    assert lines[:4] == ['{', '  "format": "hybrid-studio",', '  "version": 1,', '  "name": "parallel-cnn-lstm",']
    node_lines = [ln for ln in lines if ln.startswith('    {"id": ')]
    edge_lines = [ln for ln in lines if ln.startswith('    {"source": ')]
    assert len(node_lines) == len(g.nodes) and len(edge_lines) == len(g.edges)
    # default ports are left out, the others are written
    assert '    {"source": "image", "target": "conv1"},' in lines
    assert '    {"source": "gap", "target": "cat", "target_port": "in0"},' in lines
    keys = list(json.loads("\n".join(lines)))
    assert keys == ["format", "version", "name", "title", "description", "nodes", "edges", "training"]


def test_params_are_written_as_stored_without_defaults():
    text = dumps_project(load_template("seed-cnn-lstm"))
    conv1 = next(ln for ln in text.splitlines() if '"id": "conv1"' in ln)
    assert '"params": {"out_channels": 32, "kernel_size": 3, "activation": "relu"}' in conv1
    assert "stride" not in conv1 and "bias" not in conv1


def test_unknown_top_level_keys_are_kept_in_order_and_written_back():
    text = project_text(SEED_NODES, SEED_EDGES, description="one line", zz_custom={"a": [1, None]})
    g = loads_project(text)
    assert g.extra == {"description": "one line", "zz_custom": {"a": [1, None]}}
    again = json.loads(dumps_project(g))
    assert again["description"] == "one line" and again["zz_custom"] == {"a": [1, None]}
    assert list(again)[3:5] == ["description", "zz_custom"]


def test_golden_v1_file_loads_with_its_meaning():
    path = GOLDEN / "v1.hsproj.json"
    g = load_project(path)
    assert g.name == "golden-v1"
    assert [n.id for n in g.nodes] == ["tokens", "embed", "gru", "image", "conv", "gap", "cat", "drop", "head",
                                       "out"]
    assert g.node("tokens").params == {"shape": [None], "axes": "T", "dtype": "int64"}
    assert g.node("conv").params["kernel_size"] == [3, 5] and g.node("conv").position == (200, 180.5)
    assert g.node("gap").position is None
    assert Edge("gap", "cat", "out", "in1") in g.edges and Edge("gru", "cat", "out", "in0") in g.edges
    assert g.training == {"dataset": "digits", "epochs": 3, "batch_size": 32, "lr": 0.001, "device": "auto"}
    assert g.extra["x-note"] == {"kept": [1, 2.5, None, True]}
    ck = checker_for(g)
    assert ck.valid, [str(d) for d in ck.diagnostics()]
    assert ck.total_params() == 14576
    assert ck.result("out").output.full_shape == [None, 5]
    assert dumps_project(g) == path.read_text(encoding="utf-8")


# ---- refusals --------------------------------------------------------------------------------------------------------
def _node(i, **kw):
    return [dict(SEED_NODES[0]), {**SEED_NODES[1], **kw}, dict(SEED_NODES[2])]


REFUSALS = {
    "not json": ('{"format": "hybrid-studio", "version": 1,,}', "line 1, column 42", "not valid JSON"),
    "empty": ("   \n", None, "empty"),
    "not an object": ("[1, 2]", None, "expected a JSON object, got a list"),
    "other format": (json.dumps({"format": "keras", "version": 1}), "format", 'got "keras"'),
    "no format": (json.dumps({"version": 1, "nodes": []}), "format", "missing"),
    "newer version": (project_text(version=CURRENT_VERSION + 1), "version", "newer Hybrid Studio"),
    "version string": (project_text(version="1"), "version", 'expected an integer, got "1"'),
    "version zero": (project_text(version=0), "version", "got 0"),
    "no version": (json.dumps({"format": "hybrid-studio", "nodes": []}), "version", "missing"),
    "duplicate ids": (project_text([SEED_NODES[0], SEED_NODES[1], {**SEED_NODES[2], "id": "conv1"}]),
                      "nodes[2].id", 'duplicate id "conv1" (also used by nodes[1])'),
    "id not identifier": (project_text([{**SEED_NODES[0], "id": "2conv"}]), "nodes[0].id", "not a valid id"),
    "id keyword": (project_text([{**SEED_NODES[0], "id": "class"}]), "nodes[0].id", "not a valid id"),
    "id reserved": (project_text([{**SEED_NODES[0], "id": "forward"}]), "nodes[0].id", "not a valid id"),
    "id not string": (project_text([{**SEED_NODES[0], "id": 3}]), "nodes[0].id", "expected a string, got 3"),
    "edge to missing node": (project_text(SEED_NODES, [{"source": "image", "target": "lstm"}]),
                             "edges[0].target", 'there is no block "lstm"'),
    "edge from missing node": (project_text(SEED_NODES, [{"source": "img", "target": "conv1"}]),
                               "edges[0].source", 'there is no block "img"'),
    "edge to missing port": (project_text(SEED_NODES, [{"source": "image", "target": "conv1",
                                                        "target_port": "in1"}]),
                             "edges[0]", "no input port 'in1'"),
    "edge from a block without outputs": (project_text(SEED_NODES, SEED_EDGES + [{"source": "out",
                                                                                  "target": "conv1"}]),
                                          "edges[2]", "no output port 'out'"),
    "two edges into one port": (project_text(SEED_NODES, SEED_EDGES + [{"source": "image", "target": "out"}]),
                                "edges[2]", "already fed by 'conv1'"),
    "cycle": (project_text([{"id": "a", "type": "Linear"}, {"id": "b", "type": "Linear"}],
                           [{"source": "a", "target": "b"}, {"source": "b", "target": "a"}]),
              "edges[1]", "cycle"),
    "self loop": (project_text([{"id": "a", "type": "Linear"}], [{"source": "a", "target": "a"}]),
                  "edges[0]", "cannot feed itself"),
    "param wrong type": (project_text(_node(1, params={"kernel_size": "x"})), "nodes[1].params.kernel_size",
                         'expected an integer or [h, w], got "x"'),
    "param bool for int": (project_text(_node(1, params={"out_channels": True})), "nodes[1].params.out_channels",
                           "expected an integer, got true"),
    "param list for choice": (project_text(_node(1, params={"activation": ["relu"]})),
                              "nodes[1].params.activation", 'got ["relu"]'),
    "shape not a list": (project_text([{**SEED_NODES[0], "params": {"shape": "1x8x8"}}]),
                         "nodes[0].params.shape", "expected a list of sizes"),
    "params not object": (project_text(_node(1, params=[1, 2])), "nodes[1].params", "expected an object"),
    "position not pair": (project_text(_node(1, position=[1, "2"])), "nodes[1].position", "expected [x, y]"),
    "node not object": (project_text(["conv"]), "nodes[0]", 'expected a block object, got "conv"'),
    "node without type": (project_text([{"id": "a"}]), "nodes[0]", 'missing "type"'),
    "node type empty": (project_text([{"id": "a", "type": ""}]), "nodes[0].type", "expected a block type name"),
    "node unknown key": (project_text(_node(1, colour="red")), "nodes[1].colour", "unknown key"),
    "nodes not list": (json.dumps({"format": "hybrid-studio", "version": 1, "nodes": {}}), "nodes",
                       "expected a list of blocks, got {}"),
    "edges not list": (json.dumps({"format": "hybrid-studio", "version": 1, "edges": "a->b"}), "edges",
                       "expected a list"),
    "edge port not string": (project_text(SEED_NODES, [{"source": "image", "target": "conv1", "target_port": 0}]),
                             "edges[0].target_port", "expected a string, got 0"),
    "edge missing target": (project_text(SEED_NODES, [{"source": "image"}]), "edges[0]", 'missing "target"'),
    "training not object": (project_text(training=[]), "training", "expected an object"),
    "name not string": (project_text(name=5), "name", "expected a string, got 5"),
    "NaN": ('{"format": "hybrid-studio", "version": 1, "nodes": [{"id": "d", "type": "Dropout", '
            '"params": {"p": NaN}}]}', None, "NaN is not a number JSON allows"),
    "infinite number": ('{"format": "hybrid-studio", "version": 1, "x": 1e999}', None, "too large"),
    "duplicate key": ('{"format": "hybrid-studio", "version": 1, "version": 1}', None, '"version" appears twice'),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusals_name_the_file_and_the_place(case, tmp_path):
    text, place, problem = REFUSALS[case]
    path = tmp_path / "model.hsproj.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProjectError) as info:
        load_project(path)
    err = info.value
    message = str(err)
    assert message.startswith(str(path) + ": "), message
    assert err.place == place, message
    if place:
        assert f": {place}: " in message
    assert problem in message, message


def test_param_error_message_reads_like_the_contract():
    text, _, _ = REFUSALS["param wrong type"]
    with pytest.raises(ProjectError) as info:
        loads_project(text, "model.hsproj.json")
    assert str(info.value) == ('model.hsproj.json: nodes[1].params.kernel_size: expected an integer or [h, w], '
                               'got "x"')


def test_bytes_that_are_not_utf8_are_refused():
    with pytest.raises(ProjectError, match="not UTF-8"):
        loads_project(b'{"format": "hybrid-studio", "name": "\xff\xfe"}', "x.json")


def test_deeply_nested_json_is_refused_not_crashed():
    with pytest.raises(ProjectError, match="x.json"):
        loads_project("[" * 100000 + "]" * 100000, "x.json")


def test_missing_file_and_folder_name_the_path(tmp_path):
    with pytest.raises(ProjectError, match="nope.hsproj.json: no such file"):
        load_project(tmp_path / "nope.hsproj.json")
    with pytest.raises(ProjectError, match="is a folder"):
        load_project(tmp_path)


def test_utf8_bom_is_accepted():
    g = loads_project(b"\xef\xbb\xbf" + project_text(SEED_NODES, SEED_EDGES).encode())
    assert [n.id for n in g.nodes] == ["image", "conv1", "out"]


# ---- lenient loading: model problems are diagnostics, not load errors ------------------------------------------------
def test_unknown_type_range_error_and_unknown_param_load_and_show_diagnostics():
    nodes = [SEED_NODES[0], {"id": "conv1", "type": "Conv2d", "params": {"out_channels": 0, "frobnicate": 1}},
             {"id": "mystery", "type": "FancyBlock", "params": {"anything": [1, {"a": None}]}}, SEED_NODES[2]]
    edges = [{"source": "image", "target": "conv1"}, {"source": "conv1", "target": "mystery", "target_port": "x"},
             {"source": "mystery", "target": "out", "source_port": "y"}]
    g = loads_project(project_text(nodes, edges))
    assert g.node("mystery").params == {"anything": [1, {"a": None}]}
    ck = checker_for(g)
    messages = {d.node: d.message for d in ck.diagnostics()}
    assert "unknown block type 'FancyBlock'" in messages["mystery"]
    assert "out_channels" in messages["conv1"]
    assert not ck.valid
    assert json.loads(dumps_project(g))["edges"][1] == {"source": "conv1", "target": "mystery", "target_port": "x"}


def test_shape_mismatch_loads_and_checker_reports_it():
    nodes = [{"id": "x", "type": "Input", "params": {"shape": [1, 28, 28], "axes": "CHW"}},
             {"id": "lstm", "type": "LSTM", "params": {}}, {"id": "out", "type": "Output"}]
    g = loads_project(project_text(nodes, [{"source": "x", "target": "lstm"}, {"source": "lstm", "target": "out"}]))
    assert g.node("out").params == {}
    assert [d.node for d in checker_for(g).errors()] == ["lstm"]


def test_missing_name_defaults_to_the_file_name(tmp_path):
    path = tmp_path / "robot-arm.hsproj.json"
    path.write_text(json.dumps({"format": "hybrid-studio", "version": 1}))
    g = load_project(path)
    assert g.name == "robot-arm" and len(g) == 0 and g.training == {}


# ---- migrations ------------------------------------------------------------------------------------------------------
def test_migration_hook_upgrades_step_by_step():
    def v1_to_v2(d):
        d["nodes"] = [{**n, "type": "Linear" if n["type"] == "Dense" else n["type"]} for n in d["nodes"]]
        return d

    def v2_to_v3(d):
        d["steps"] = d.get("steps", []) + ["3"]
        return d

    old = {"format": "hybrid-studio", "version": 1, "nodes": [{"id": "d", "type": "Dense"}]}
    new = migrate(old, "x.json", migrations={1: v1_to_v2, 2: v2_to_v3}, current=3)
    assert new["version"] == 3 and new["nodes"][0]["type"] == "Linear" and new["steps"] == ["3"]
    with pytest.raises(ProjectError, match="x.json: version: no upgrade from version 2"):
        migrate(dict(old), "x.json", migrations={1: v1_to_v2}, current=3)
    with pytest.raises(ProjectError, match="could not upgrade from version 1"):
        migrate(dict(old), "x.json", migrations={1: lambda d: d["missing"]}, current=2)


def test_loader_runs_registered_migrations(monkeypatch):
    monkeypatch.setattr(reader, "CURRENT_VERSION", 2)
    monkeypatch.setitem(reader.MIGRATIONS, 1, lambda d: {**d, "name": d["name"] + " (upgraded)"})
    g = loads_project(project_text(SEED_NODES, SEED_EDGES))
    assert g.name == "t (upgraded)"


# ---- atomic saves ----------------------------------------------------------------------------------------------------
def _leftovers(folder: Path) -> list:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_save_that_cannot_serialise_leaves_the_old_file(tmp_path):
    path = tmp_path / "model.hsproj.json"
    g = load_template("seed-cnn-lstm")
    save_project(g, path)
    before = path.read_bytes()
    SetParams("fc", {"out_features": float("nan")}).apply(g)
    with pytest.raises(ProjectError) as info:
        save_project(g, path)
    assert "nodes[7]" in str(info.value) and str(path) in str(info.value)
    assert path.read_bytes() == before
    g.node("fc").params["out_features"] = object()
    with pytest.raises(ProjectError):
        save_project(g, path)
    assert path.read_bytes() == before and _leftovers(tmp_path) == []


def test_failed_replace_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "a.txt"
    path.write_text("old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(path, "new")
    assert path.read_text() == "old" and _leftovers(tmp_path) == []


def test_atomic_write_keeps_mode_and_writes_exact_bytes(tmp_path):
    path = tmp_path / "b.bin"
    atomic_write_bytes(path, b"\x00\x01\r\n")
    assert path.read_bytes() == b"\x00\x01\r\n"
    os.chmod(path, 0o640)
    atomic_write_text(path, "line\n")
    assert path.read_bytes() == b"line\n" and (os.stat(path).st_mode & 0o777) == 0o640
    assert _leftovers(tmp_path) == []


# ---- templates -------------------------------------------------------------------------------------------------------
def test_template_list_and_lookup():
    names = [t.name for t in list_templates()]
    assert names[0] == "seed-cnn-lstm"
    assert set(names) >= {"seed-cnn-lstm", "crnn", "rnn-cnn", "parallel-cnn-lstm", "lrcn-video"}
    with pytest.raises(ProjectError, match="no such template"):
        load_template("nope")
    with pytest.raises(ProjectError):
        load_template("../templates/crnn")


@pytest.mark.parametrize("name", TEMPLATES)
def test_templates_are_valid_described_and_laid_out(name):
    t = next(t for t in list_templates() if t.name == name)
    assert t.description and "\n" not in t.description and t.title
    g = load_template(name)
    assert g.name == name
    ck = checker_for(g)
    assert ck.valid, [str(d) for d in ck.diagnostics()]
    for n in g.nodes:
        assert n.position is not None
    # laid out in reading order: every wire goes right, or down to the next band of a wrapped long chain
    for e in g.edges:
        (sx, sy), (tx, ty) = g.node(e.source).position, g.node(e.target).position
        assert tx > sx or ty > sy, str(e)
    # and no two blocks overlap (a block is about 184 x 90 on the canvas)
    pos = [n.position for n in g.nodes]
    for i, (ax, ay) in enumerate(pos):
        for bx, by in pos[i + 1:]:
            assert abs(ax - bx) >= 200 or abs(ay - by) >= 100


EXPECTED = {
    "seed-cnn-lstm": (119_434, {"out": [None, 10]}),
    "crnn": (8_317_963, {"out": [None, 41, 11]}),  # a 24x160 line -> 41 columns of 10 digits + the blank
    "rnn-cnn": (None, {"out": [None, 4]}),
    "parallel-cnn-lstm": (None, {"out": [None, 10]}),
    "lrcn-video": (None, {"out": [None, 4]}),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_template_numbers(name):
    g = load_template(name)
    ck = checker_for(g)
    params, outputs = EXPECTED[name]
    if params is not None:
        assert ck.total_params() == params
    assert {n.id: ck.result(n.id).output.full_shape for n in g.nodes if n.type == "Output"} == outputs


def test_template_structures():
    types = [n.type for n in load_template("crnn").nodes]
    assert types.count("Conv2d") == 7 and types.count("BatchNorm") == 3 and types.count("LSTM") == 2
    par = load_template("parallel-cnn-lstm")
    assert [n.id for n in par.nodes if n.type == "Input"] == ["image", "series"]
    lrcn = load_template("lrcn-video")
    assert lrcn.node("video").params == {"shape": [12, 1, 32, 32], "axes": "TCHW"}
    rc = load_template("rnn-cnn")
    assert [n.type for n in rc.nodes] == ["Input", "LSTM", "Conv1d", "MaxPool1d", "GlobalAvgPool", "Linear",
                                          "Output"]


def test_atomic_write_refuses_a_read_only_file_and_names_the_target(tmp_path):
    from hybrid_studio.project.atomic import atomic_write_text
    locked = tmp_path / "locked.hsproj.json"
    locked.write_text("keep me")
    locked.chmod(0o444)
    with pytest.raises(PermissionError) as err:
        atomic_write_text(locked, "new")
    assert err.value.filename == str(locked) and err.value.strerror == "the file is read-only"
    assert locked.read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["locked.hsproj.json"]  # no temporary file left
    with pytest.raises(FileNotFoundError) as err:
        atomic_write_text(tmp_path / "nowhere" / "x.json", "new")
    assert err.value.filename == str(tmp_path / "nowhere" / "x.json")


@pytest.mark.parametrize("name, problem", [("\ud800", "lone surrogate"), ("a\x00b", "NUL character"),
                                           ("two\nlines", "control characters")])
def test_text_that_cannot_be_saved_or_generated_is_refused_with_its_place(name, problem):
    text = json.dumps({"format": "hybrid-studio", "version": 1, "name": name, "nodes": [], "edges": []})
    with pytest.raises(ProjectError, match=f"^bad.hsproj.json: name: .*{problem}"):
        loads_project(text, "bad.hsproj.json")
    text = json.dumps({"format": "hybrid-studio", "version": 1, "nodes": [], "edges": [],
                       "training": {"dataset": "x\ud800"}})
    with pytest.raises(ProjectError, match="^bad.hsproj.json: training.dataset: .*lone surrogate"):
        loads_project(text, "bad.hsproj.json")


def test_an_id_with_a_trailing_newline_is_refused():
    text = json.dumps({"format": "hybrid-studio", "version": 1,
                       "nodes": [{"id": "conv1\n", "type": "Conv2d"}], "edges": []})
    with pytest.raises(ProjectError, match=r"nodes\[0\].id: .* is not a valid id"):
        loads_project(text, "bad.hsproj.json")


def test_atomic_write_goes_through_the_users_own_symlink_but_not_someone_elses(tmp_path):
    from hybrid_studio.project.atomic import atomic_write_text
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    atomic_write_text(link, "new")
    assert link.is_symlink() and target.read_text() == "new"
    loop = tmp_path / "loop.json"
    loop.symlink_to(loop)
    with pytest.raises(OSError, match="loop of symbolic links"):
        atomic_write_text(loop, "x")
    if hasattr(os, "getuid") and os.getuid() == 0:  # as root, a link can be given to another user
        os.lchown(link, 65534, 65534)
        with pytest.raises(PermissionError, match="belongs to another user"):
            atomic_write_text(link, "planted")
        assert target.read_text() == "new"


@pytest.mark.parametrize("node_id, why", [("graph", "the exported model already uses that name"),
                                          ("class", "Python keyword"), ("__x", "starting with __"),
                                          ("2conv", "letters, digits and _")])
def test_an_id_the_exported_model_cannot_use_is_refused_saying_why(node_id, why):
    text = json.dumps({"format": "hybrid-studio", "version": 1, "nodes": [{"id": node_id, "type": "Conv2d"}],
                       "edges": []})
    with pytest.raises(ProjectError, match=f"nodes\\[0\\].id: .* is not a valid id: .*{why}"):
        loads_project(text, "bad.hsproj.json")
