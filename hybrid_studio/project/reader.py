"""Reading project files: parse, migrate, validate, and only then build the Graph.

The reader is strict about the file's structure (what the contract calls "the wrong type") and lenient about the
model: an unknown block type, an out-of-range value or a shape that does not fit loads fine and shows up as a
diagnostic in the shape checker, so the user can open the file and fix it. Every refusal is a ProjectError naming
the file and the place; the Graph is built into a fresh object and returned only when the whole file was accepted,
so nothing is ever half-loaded. Loading never executes anything from the file.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Callable

from hybrid_studio.blocks import CATALOG, new_graph
from hybrid_studio.graph import Edge, Graph, GraphError, Node, id_problem, valid_id
from hybrid_studio.graph.model import gc_paused

from .errors import ProjectError

FORMAT = "hybrid-studio"
#: The version this build writes. Older files are upgraded by MIGRATIONS on load.
CURRENT_VERSION = 1
#: version -> function turning a file dict of that version into one of the next version (``MIGRATIONS[1]`` makes a
#: version-2 dict from a version-1 dict). Each step is a pure dict -> dict function.
MIGRATIONS: dict[int, Callable[[dict], dict]] = {}

#: Top-level keys in the order the writer puts them; anything else is kept in ``graph.extra``.
KNOWN_KEYS = ("format", "version", "name", "nodes", "edges", "training")
#: The largest project file read, in MiB: a saved 100,000-block chain takes 14 MiB; a 50 MB file of 550,000 blocks
#: took 3 GB and minutes to check under the old 64 MiB limit. HYBRID_STUDIO_MAX_PROJECT_MB raises it.
MAX_PROJECT_MB = 32
#: JSON escapes that can spell a NUL or a UTF-16 surrogate: text without any needs no walk over its strings
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def max_project_bytes() -> int:
    """The size limit for project files (``MAX_PROJECT_MB``, or the HYBRID_STUDIO_MAX_PROJECT_MB setting)."""
    raw = os.environ.get("HYBRID_STUDIO_MAX_PROJECT_MB", "")
    try:
        mb = float(raw) if raw.strip() else MAX_PROJECT_MB
    except ValueError:
        mb = MAX_PROJECT_MB
    return int(max(mb, 0.001) * 1024 * 1024)


def _too_large(size: int) -> str | None:
    limit = max_project_bytes()
    if size <= limit:
        return None
    return (f"the file is {size / 1048576:.1f} MiB, more than the {limit / 1048576:g} MiB a project may be; if it "
            f"really is one, set HYBRID_STUDIO_MAX_PROJECT_MB to a larger size")
NODE_KEYS = ("id", "type", "params", "position")
EDGE_KEYS = ("source", "target", "source_port", "target_port")


def loads_project(text, source: str = "<string>") -> Graph:
    """Parse project JSON (``str`` or UTF-8 ``bytes``) into a Graph; raises ProjectError naming ``source``."""
    data = _parse(text, source)
    data = migrate(data, source)
    return _build(data, source)


def load_project(path) -> Graph:
    """Read a project file; raises ProjectError (naming the file) when it cannot be read or is not a valid project."""
    try:
        size = Path(path).stat().st_size
    except OSError:
        size = 0
    problem = _too_large(size)
    if problem:  # refused before reading: a huge file would take minutes and gigabytes to parse and check
        raise ProjectError(str(path), None, problem)
    try:
        raw = Path(path).read_bytes()
    except IsADirectoryError:
        raise ProjectError(str(path), None, "is a folder, not a project file") from None
    except FileNotFoundError:
        raise ProjectError(str(path), None, "no such file") from None
    except OSError as e:
        raise ProjectError(str(path), None, f"cannot read the file ({e.strerror or e})") from None
    return loads_project(raw, str(path))


# ---- parsing ---------------------------------------------------------------------------------------------------------
class _Refused(ValueError):
    """Raised from json hooks; turned into a ProjectError by _parse."""


def _no_duplicates(pairs):
    seen = {}
    for k, v in pairs:
        if k in seen:
            raise _Refused(f"the key {json.dumps(k)} appears twice in one object")
        seen[k] = v
    return seen


def _bad_text(value, place: str = ""):
    """(place, problem) for the first string that cannot be saved again or put in generated code: a lone UTF-16
    surrogate ("\\ud800" is valid JSON but not text) or a NUL character; None when there is none."""
    stack = [(place, value)]
    while stack:
        where, v = stack.pop()
        if isinstance(v, dict):
            for k, item in v.items():
                here = f"{where}.{k}" if where else str(k)
                problem = _text_problem(k)
                if problem:
                    return where or None, f"the key {json.dumps(k)} {problem}"
                stack.append((here, item))
        elif isinstance(v, list):
            stack.extend((f"{where}[{i}]", item) for i, item in enumerate(v))
        elif isinstance(v, str):
            problem = _text_problem(v)
            if problem:
                return where or None, f"the text {json.dumps(v)} {problem}"
    return None


def _text_problem(s: str) -> str | None:
    if "\x00" in s:
        return "contains a NUL character"
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (\\ud800-\\udfff), which is not text"
    return None


def _finite_float(s: str) -> float:
    v = float(s)
    if not math.isfinite(v):
        raise _Refused(f"the number {s} is too large")
    return v


def _no_constant(s: str):
    raise _Refused(f"{s} is not a number JSON allows")


def _parse(text, source: str) -> dict:
    if isinstance(text, (bytes, bytearray)):
        if text.startswith(b"\xef\xbb\xbf"):
            text = text[3:]  # a UTF-8 byte order mark, as some Windows editors write
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            raise ProjectError(source, None, f"not a project file: byte {e.start} is not UTF-8 text") from None
    if not text.strip():
        raise ProjectError(source, None, "the file is empty, not a project")
    problem = _too_large(len(text))
    if problem:
        raise ProjectError(source, None, problem)
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates, parse_float=_finite_float,
                          parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise ProjectError(source, f"line {e.lineno}, column {e.colno}", f"not valid JSON ({e.msg})") from None
    except _Refused as e:
        raise ProjectError(source, None, f"not valid project JSON: {e}") from None
    except RecursionError:
        raise ProjectError(source, None, "not a project file: the JSON is nested too deeply") from None
    except ValueError as e:  # e.g. an integer with more digits than Python converts
        raise ProjectError(source, None, f"not valid project JSON: {e}") from None
    if not isinstance(data, dict):
        raise ProjectError(source, None, f"not a project file: expected a JSON object, got {_kind(data)}")
    # a raw surrogate can only come in a str given to loads_project: non-ASCII text gets the walk too
    bad = _bad_text(data) if _SUSPECT_ESCAPE.search(text) or not text.isascii() else None
    if bad is not None:
        raise ProjectError(source, bad[0], bad[1])
    fmt = data.get("format")
    if fmt != FORMAT:
        if "format" not in data:
            raise ProjectError(source, "format", f'missing: this is not a Hybrid Studio project (no "format": '
                                                 f'"{FORMAT}")')
        raise ProjectError(source, "format", f"expected {json.dumps(FORMAT)}, got {_show(fmt)}: this is not a "
                                             f"Hybrid Studio project")
    return data


# ---- versions --------------------------------------------------------------------------------------------------------
def migrate(data: dict, source: str = "<string>", migrations: dict | None = None,
            current: int | None = None) -> dict:
    """Upgrade a parsed file dict to the current version, one step at a time; refuses newer or unknown versions."""
    migrations = MIGRATIONS if migrations is None else migrations
    current = CURRENT_VERSION if current is None else current
    if "version" not in data:
        raise ProjectError(source, "version", "missing (every project file has a format version)")
    version = data["version"]
    if not _is_int(version):
        raise ProjectError(source, "version", f"expected an integer, got {_show(version)}")
    if version > current:
        raise ProjectError(source, "version", f"the file is version {version}, written by a newer Hybrid Studio; "
                                              f"this one reads versions up to {current}: please update")
    if version < 1:
        raise ProjectError(source, "version", f"expected a version from 1 to {current}, got {version}")
    while version < current:
        step = migrations.get(version)
        if step is None:
            raise ProjectError(source, "version", f"no upgrade from version {version} is known")
        try:
            data = step(dict(data))
        except ProjectError:
            raise
        except Exception as e:  # noqa: BLE001 - a migration that trips over a malformed old file
            raise ProjectError(source, "version", f"could not upgrade from version {version}: {e}") from None
        version += 1
        data["version"] = version
    return data


# ---- building --------------------------------------------------------------------------------------------------------
def _build(data: dict, source: str) -> Graph:
    nodes = data.get("nodes")
    with gc_paused(len(nodes) if isinstance(nodes, list) else 0):
        return _build_graph(data, source)


def _build_graph(data: dict, source: str) -> Graph:
    def fail(place, problem):
        raise ProjectError(source, place, problem)

    name = data.get("name", _default_name(source))
    if not isinstance(name, str):
        fail("name", f"expected a string, got {_show(name)}")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        fail("name", f"expected one line of text, got {json.dumps(name)} (it has control characters)")
    nodes = data.get("nodes", [])
    if not isinstance(nodes, list):
        fail("nodes", f"expected a list of blocks, got {_show(nodes)}")
    edges = data.get("edges", [])
    if not isinstance(edges, list):
        fail("edges", f"expected a list of connections, got {_show(edges)}")
    training = data.get("training", {})
    if not isinstance(training, dict):
        fail("training", f"expected an object, got {_show(training)}")

    graph = new_graph(name)
    graph.training = training
    graph.extra = {k: v for k, v in data.items() if k not in KNOWN_KEYS}
    first_place: dict[str, str] = {}
    for i, raw in enumerate(nodes):
        node = _node(raw, f"nodes[{i}]", fail)
        if node.id in first_place:
            fail(f"nodes[{i}].id", f"duplicate id {json.dumps(node.id)} (also used by {first_place[node.id]})")
        first_place[node.id] = f"nodes[{i}]"
        try:
            graph.insert_node(node)
        except GraphError as e:  # pragma: no cover - _node checked the id already
            fail(f"nodes[{i}]", str(e))
    for i, raw in enumerate(edges):
        edge = _edge(raw, f"edges[{i}]", fail)
        for end in ("source", "target"):
            nid = getattr(edge, end)
            if nid not in graph:
                fail(f"edges[{i}].{end}", f"there is no block {json.dumps(nid)}")
        reason = graph.why_not_connect(edge)
        if reason:
            fail(f"edges[{i}]", f"{edge.source} -> {edge.target}: {reason}")
        graph.insert_edge(edge, check=False)
    return graph


def _object(raw, place: str, keys, what: str, fail) -> None:
    """Refuse ``raw`` unless it is an object whose keys are all among ``keys`` (a ``what``: block, connection)."""
    if not isinstance(raw, dict):
        fail(place, f"expected a {what} object, got {_show(raw)}")
    for key in raw:
        if key not in keys:
            fail(f"{place}.{key}", f"unknown key (a {what} has {', '.join(keys)})")


def _node(raw, place: str, fail) -> Node:
    _object(raw, place, NODE_KEYS, "block", fail)
    if "id" not in raw:
        fail(place, 'missing "id"')
    node_id = raw["id"]
    if not isinstance(node_id, str):
        fail(f"{place}.id", f"expected a string, got {_show(node_id)}")
    if not valid_id(node_id):
        fail(f"{place}.id", f"{json.dumps(node_id)} is not a valid id: {id_problem(node_id)}")
    if "type" not in raw:
        fail(place, 'missing "type"')
    type_name = raw["type"]
    if not isinstance(type_name, str) or not type_name:
        fail(f"{place}.type", f"expected a block type name, got {_show(type_name)}")
    params = raw.get("params", {})
    if not isinstance(params, dict):
        fail(f"{place}.params", f"expected an object, got {_show(params)}")
    if type_name in CATALOG:
        block = CATALOG.get(type_name)
        for key, value in params.items():
            try:
                spec = block.param(key)
            except KeyError:
                continue  # an unknown param is the checker's to report, not a reason to refuse the file
            problem = spec.type_error(value)
            if problem:
                fail(f"{place}.params.{key}", f"expected {problem}, got {_show(value)}")
    position = raw.get("position")
    if position is not None:
        if not (isinstance(position, list) and len(position) == 2 and all(_is_num(v) for v in position)):
            fail(f"{place}.position", f"expected [x, y] numbers, got {_show(position)}")
        position = tuple(position)
    return Node(node_id, type_name, params, position)


def _edge(raw, place: str, fail) -> Edge:
    _object(raw, place, EDGE_KEYS, "connection", fail)
    values = {}
    for key, default in (("source", None), ("target", None), ("source_port", "out"), ("target_port", "in")):
        if key not in raw:
            if default is None:
                fail(place, f'missing "{key}"')
            values[key] = default
            continue
        v = raw[key]
        if not isinstance(v, str):
            fail(f"{place}.{key}", f"expected a string, got {_show(v)}")
        values[key] = v
    return Edge(**values)


# ---- helpers ---------------------------------------------------------------------------------------------------------
def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _kind(v) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(
        type(v), "a number")


def _show(v) -> str:
    """The offending value as JSON, cut short so a message stays one readable line."""
    text = json.dumps(v, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _default_name(source: str) -> str:
    name = Path(source).name
    for suffix in (".hsproj.json", ".json"):
        if name.endswith(suffix):
            return name[: -len(suffix)] or "untitled"
    return "untitled" if source.startswith("<") else name
