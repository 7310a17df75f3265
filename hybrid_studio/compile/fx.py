"""Graph -> torch.fx GraphModule whose nodes remember the block they came from.

``compile_graph`` runs the generated source (see ``codegen.py``) in a private namespace, instantiates ``Model`` and
traces it with torch.fx. Each fx node gets ``node.meta["block_id"]``. ``locate_failure`` re-runs a failing input
node by node to name the block where a runtime error happened.
"""

from __future__ import annotations

import linecache
import sys
from itertools import count

from hybrid_studio.graph import Graph, ShapeChecker

from .codegen import LENGTH_HELPERS, CompileError, GeneratedModel, generate

_serial = count()
#: The ``__name__`` the generated source runs under: classes defined in it (Model, helper classes) carry it.
GENERATED_MODULE = "hybrid_studio_generated"


class BlockRuntimeError(RuntimeError):
    """A runtime error inside the compiled model, naming the block where it happened."""

    def __init__(self, block_id: str | None, original: BaseException):
        where = f"in block '{block_id}'" if block_id else "in the model"
        super().__init__(f"{where}: {type(original).__name__}: {original}")
        self.block_id = block_id
        self.original = original


def load_model_class(gen: GeneratedModel):
    """Execute the generated source in a fresh namespace and return its ``Model`` class."""
    filename = f"<hybrid-studio-model-{next(_serial)}>"
    code = compile(gen.source, filename, "exec")
    # Register the source so tracebacks show the generated lines (and the block comments above them).
    linecache.cache[filename] = (len(gen.source), None, gen.source.splitlines(True), filename)
    namespace: dict = {"__name__": GENERATED_MODULE}
    exec(code, namespace)  # noqa: S102 - source generated from validated ids and literal params only
    cls = namespace["Model"]
    cls._hs_filename = filename
    # functions that branch on run-time values (the lengths helpers): fx records calls to them as single steps
    cls._hs_autowrap = tuple(namespace[name] for name in LENGTH_HELPERS if name in namespace)
    return cls


def compile_graph(graph: Graph, checker: ShapeChecker | None = None, trace: bool = True):
    """A torch.nn.Module for ``graph``: an fx GraphModule (default) or the plain generated Model (``trace=False``).

    The module's ``state_dict`` keys equal those of the exported Python file. Raises CompileError for an invalid
    graph.
    """
    import torch.fx

    gen = generate(graph, checker)
    cls = load_model_class(gen)
    model = cls()
    if not trace:
        model.hs_generated = gen
        return model
    tracer = _BlockTracer(cls._hs_filename, gen.line_owner, cls._hs_autowrap)
    fx_graph = tracer.trace(model)
    gm = torch.fx.GraphModule(model, fx_graph, class_name="Model")
    gm.hs_generated = gen
    return gm


def _make_tracer_class():
    import torch.fx

    class BlockTracer(torch.fx.Tracer):
        """Tags each node with the block whose generated line created it."""

        def __init__(self, filename, line_owner, autowrap=()):
            super().__init__(autowrap_functions=autowrap)
            self._filename = filename
            self._owner = line_owner

        def is_leaf_module(self, m, module_qualified_name):
            # The helper classes of the generated source (ConvLSTM2d's loop over time, say) are single steps of
            # the graph: their Python control flow depends on run-time sizes that fx cannot trace.
            return type(m).__module__ == GENERATED_MODULE or super().is_leaf_module(m, module_qualified_name)

        def create_node(self, kind, target, args, kwargs, name=None, type_expr=None):
            node = super().create_node(kind, target, args, kwargs, name, type_expr)
            frame = sys._getframe(1)
            while frame is not None:
                if frame.f_code.co_filename == self._filename:
                    node.meta["block_id"] = self._owner.get(frame.f_lineno)
                    break
                frame = frame.f_back
            return node

    return BlockTracer


_tracer_cls = None


def _BlockTracer(filename, owner, autowrap=()):
    global _tracer_cls
    if _tracer_cls is None:
        _tracer_cls = _make_tracer_class()
    return _tracer_cls(filename, owner, autowrap)


def locate_failure(module, *inputs) -> BlockRuntimeError | None:
    """Run ``module`` node by node on ``inputs``; the BlockRuntimeError for the first failing block, or None."""
    import torch.fx

    if not isinstance(module, torch.fx.GraphModule):
        return None
    interp = _make_interpreter(module)
    try:
        interp.run(*inputs)
    except BlockRuntimeError as e:
        return e
    return None


def _make_interpreter(module):
    import torch.fx

    class Locator(torch.fx.Interpreter):
        def run_node(self, n):
            try:
                return super().run_node(n)
            except BlockRuntimeError:
                raise
            except Exception as e:  # noqa: BLE001 - we re-raise it with the block's name
                raise BlockRuntimeError(n.meta.get("block_id"), e) from e

    return Locator(module)


__all__ = ["BlockRuntimeError", "CompileError", "compile_graph", "load_model_class", "locate_failure"]
