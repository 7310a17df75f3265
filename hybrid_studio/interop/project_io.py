"""Writing an import: the project (auto-laid out) and its weights beside it, both atomically."""

from __future__ import annotations

from pathlib import Path

from .result import ImportResult, save_weights, weights_path_for


def lay_out(graph) -> None:
    """Place every block with the studio's layered auto-layout (imports come without positions)."""
    from hybrid_studio.graph.layout import layered_positions

    for nid, pos in layered_positions(graph).items():
        graph.set_position(nid, pos)


def write_import(result: ImportResult, project_path) -> tuple:
    """Write the project and (when the source had weights) ``PROJECT.weights.pt``; returns both paths (or None).

    The weights are written first: a project that names its weights file never exists without it. The project's
    training section remembers the weights (relative to the project), so Train can start from them.
    """
    from hybrid_studio.project import save_project

    project_path = Path(project_path)
    weights = None
    if result.has_weights:
        weights = weights_path_for(project_path)
        save_weights(result.weights, weights)
        result.graph.training = dict(result.graph.training or {})
        result.graph.training.update({"init_weights": weights.name, "imported_weights": weights.name})
    if any(n.position is None for n in result.graph.nodes):
        lay_out(result.graph)
    save_project(result.graph, project_path)
    return project_path, weights
