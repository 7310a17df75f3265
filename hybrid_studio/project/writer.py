"""Writing project files in one canonical layout.

The layout is stable so that load-then-save of a file the app wrote is byte-identical and diffs stay small:
top-level keys in contract order (format, version, name, then any unknown keys kept from the file, nodes, edges,
training), one block per line and one connection per line, params exactly as stored (no defaults filled in) and
default ports (``out``, ``in``) left out. Columns are not aligned on purpose: a longer id would otherwise rewrite
every line of the diff.
"""

from __future__ import annotations

import json

from hybrid_studio.graph import Graph

from .atomic import atomic_write_text
from .errors import ProjectError
from .reader import CURRENT_VERSION, FORMAT, KNOWN_KEYS


def graph_to_dict(graph: Graph) -> dict:
    """The project file as a plain dict (keys in the order the file uses)."""
    data = {"format": FORMAT, "version": CURRENT_VERSION, "name": graph.name}
    for key, value in graph.extra.items():
        if key not in KNOWN_KEYS:
            data[key] = value
    data["nodes"] = [node_dict(n) for n in graph.nodes]
    data["edges"] = [edge_dict(e) for e in graph.edges]
    data["training"] = graph.training
    return data


def node_dict(node) -> dict:
    """One block as the file writes it (params as stored: only what differs from the defaults)."""
    d = {"id": node.id, "type": node.type, "params": node.params}
    if node.position is not None:
        d["position"] = list(node.position)
    return d


def edge_dict(edge) -> dict:
    """One wire as the file writes it: ports only where they are not the default ``out`` / ``in``."""
    d = {"source": edge.source, "target": edge.target}
    if edge.source_port != "out":
        d["source_port"] = edge.source_port
    if edge.target_port != "in":
        d["target_port"] = edge.target_port
    return d


def _one_line(value, source: str, place: str) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(", ", ": "))
    except (TypeError, ValueError) as e:
        # NaN/infinity or a non-JSON object (e.g. a tuple is fine, a numpy number is not)
        raise ProjectError(source, place, f"cannot be saved as JSON ({e})") from None


def dumps_project(graph: Graph, source: str = "<project>") -> str:
    """The project file text in the canonical layout (ends with a newline).

    Raises ProjectError naming ``source`` and the place when a value cannot be written as JSON (NaN, say).
    """
    data = graph_to_dict(graph)
    lines = ["{"]
    items = list(data.items())
    for i, (key, value) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        head = f"  {json.dumps(key, ensure_ascii=False)}: "
        if key in ("nodes", "edges") and value:
            lines.append(head + "[")
            for j, item in enumerate(value):
                text = _one_line(item, source, f"{key}[{j}]")
                lines.append(f"    {text}" + ("," if j < len(value) - 1 else ""))
            lines.append("  ]" + comma)
        else:
            lines.append(head + _one_line(value, source, key) + comma)
    lines.append("}")
    return "\n".join(lines) + "\n"


def save_project(graph: Graph, path) -> None:
    """Write ``graph`` to ``path`` atomically; if it cannot be serialised, the old file is left as it was."""
    text = dumps_project(graph, str(path))  # serialise first: a failure here must not touch the file
    atomic_write_text(path, text)
