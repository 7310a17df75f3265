"""Fuzzing the reader: whatever a file holds, loading gives a Graph or a ProjectError, never another exception.

Valid files (the templates and the golden file) are mutated: keys dropped, values replaced by values of other
types, values swapped, the text truncated, bytes overwritten or inserted. A graph that does load must also save and
load back to the same file, and survive the shape checker (the app checks every graph it opens).
"""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hybrid_studio.blocks import checker_for
from hybrid_studio.graph.checker import INTERNAL
from hybrid_studio.project import ProjectError, dumps_project, list_templates, loads_project

SOURCES = [t.path.read_text(encoding="utf-8") for t in list_templates()]
SOURCES.append((Path(__file__).parent / "golden" / "v1.hsproj.json").read_text(encoding="utf-8"))

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-3, 1 << 40), st.floats(allow_nan=False,
                      allow_infinity=False), st.text(max_size=8),
                      st.sampled_from(["in", "in0", "in1", "out", "conv1", "image", "Conv2d", "LSTM", "same",
                                       "TCHW", "CHW", "width", "hybrid-studio"]))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                             st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                          max_leaves=8)


def _paths(value, prefix=()):
    """Every (container path, key) in a JSON tree."""
    out = []
    if isinstance(value, dict):
        for k, v in value.items():
            out.append((prefix, k))
            out.extend(_paths(v, prefix + (k,)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.append((prefix, i))
            out.extend(_paths(v, prefix + (i,)))
    return out


def _get(root, path):
    for k in path:
        root = root[k]
    return root


def _copy(value):
    return json.loads(json.dumps(value))


def _mutate_tree(data, draw):
    paths = _paths(data)
    for _ in range(draw(st.integers(1, 3))):
        if not paths:
            break
        container_path, key = draw(st.sampled_from(paths))
        try:
            container = _get(data, container_path)
            container[key]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed it
        if not isinstance(container, (dict, list)):
            continue  # an earlier mutation turned the container into a leaf (a string indexes, but cannot be edited)
        op = draw(st.sampled_from(["drop", "replace", "swap", "duplicate", "nudge", "nudge"]))
        if op == "nudge":
            # same JSON type, another value: such files load, and stress the blocks' shape rules
            old = container[key]
            if isinstance(old, bool):
                container[key] = not old
            elif isinstance(old, int):
                container[key] = draw(st.integers(-2, 3000))
            elif isinstance(old, float):
                container[key] = draw(st.floats(-1, 2))
            elif isinstance(old, list) and all(isinstance(x, int) for x in old):
                container[key] = draw(st.lists(st.one_of(st.none(), st.integers(-2, 40)), max_size=5))
            elif isinstance(old, str):
                container[key] = draw(json_leaf.filter(lambda v: isinstance(v, str)))
        elif op == "drop":
            del container[key]
        elif op == "replace":
            container[key] = draw(json_value)
        elif op == "swap":
            other_path, other_key = draw(st.sampled_from(paths))
            try:
                other = _get(data, other_path)
                if not isinstance(other, (dict, list)):
                    continue
                # copies, so that swapping a value with one inside it cannot make the tree circular
                mine, theirs = _copy(container[key]), _copy(other[other_key])
                container[key], other[other_key] = theirs, mine
            except (KeyError, IndexError, TypeError):
                continue
        elif isinstance(container, list):
            container.append(_copy(container[key]))  # e.g. a duplicate node or edge
    return data


@st.composite
def mutated_files(draw):
    text = draw(st.sampled_from(SOURCES))
    kind = draw(st.sampled_from(["tree", "tree", "tree", "truncate", "bytes", "insert"]))
    if kind == "tree":
        return json.dumps(_mutate_tree(json.loads(text), draw)).encode()
    raw = text.encode()
    if kind == "truncate":
        return raw[: draw(st.integers(0, len(raw)))]
    if kind == "bytes":
        raw = bytearray(raw)
        for _ in range(draw(st.integers(1, 4))):
            raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
        return bytes(raw)
    at = draw(st.integers(0, len(raw)))
    return raw[:at] + draw(st.binary(min_size=1, max_size=6)) + raw[at:]


def _load(data: bytes):
    try:
        return loads_project(data, "fuzz.hsproj.json")
    except ProjectError as e:
        assert str(e).startswith("fuzz.hsproj.json: "), str(e)
        return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_files())
def test_reader_raises_only_project_error(data):
    graph = _load(data)  # any other exception fails the test
    if graph is not None:
        text = dumps_project(graph)
        again = loads_project(text, "resaved.hsproj.json")
        assert dumps_project(again) == text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_files())
def test_loaded_graphs_survive_the_shape_checker(data):
    graph = _load(data)
    if graph is not None:
        checker = checker_for(graph)
        checker.flush()
        for d in checker.diagnostics():
            assert d.message and d.severity in ("error", "warning")
            assert d.code != INTERNAL, d.message  # a block's rule crashed (the checker caught it)
