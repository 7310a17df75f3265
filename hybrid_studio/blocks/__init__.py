"""The block catalog. Importing this package registers every block type in ``CATALOG``."""

from . import conv, dense, embedding, fusion, inputs, norm, pooling, recurrent, shape  # noqa: F401  (registration)
from . import attention, video  # noqa: F401,I001  (registered after the others: the palette lists them last)
from .base import CATALOG, CATEGORIES, Block, Catalog, ModuleSpec, register
from .params import Param

__all__ = ["CATALOG", "CATEGORIES", "Block", "Catalog", "ModuleSpec", "Param", "register", "new_graph", "checker_for"]


def new_graph(name: str = "untitled"):
    """An empty Graph that knows the catalog's ports."""
    from hybrid_studio.graph import Graph
    return Graph(CATALOG, name)


def checker_for(graph):
    """A ShapeChecker over ``graph`` using the catalog's rules."""
    from hybrid_studio.graph import ShapeChecker
    return ShapeChecker(graph, CATALOG)
