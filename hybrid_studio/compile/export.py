"""Export a graph as one standalone Python file (imports only torch and the standard library)."""

from __future__ import annotations

from hybrid_studio.graph import Graph
from hybrid_studio.project.atomic import atomic_write_text

from .codegen import GeneratedModel, generate


def export_python(graph: Graph, path) -> GeneratedModel:
    """Write ``class Model(nn.Module)`` for ``graph`` to ``path`` atomically; raises CompileError for an invalid graph.

    Needs no torch at export time: the file is generated from the block descriptions. Its ``state_dict`` keys are
    those of the compiled model, so the app's checkpoints load into it.
    """
    gen = generate(graph)
    atomic_write_text(path, gen.source)
    return gen
