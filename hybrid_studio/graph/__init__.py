"""The pure model: graph, reversible edits, events, axis-aware shape checking, diagnostics. No Qt, no torch."""

from .checker import NodeResult, ShapeChecker
from .diagnostics import ERROR, WARNING, Diagnostic, Fix, FixSpec, ShapeError
from .edits import (AddNode, Batch, Connect, Disconnect, Edit, Move, RemoveNode, RenameNode, SetMeta, SetParams,
                    bypass, insert_after, insert_between)
from .model import Edge, Graph, GraphError, Node, id_problem, valid_id
from .tensor import AXIS_LETTERS, AXIS_NAMES, TensorSpec

__all__ = [
    "AXIS_LETTERS", "AXIS_NAMES", "AddNode", "Batch", "Connect", "Diagnostic", "Disconnect", "ERROR", "Edge", "Edit",
    "Fix", "FixSpec", "Graph", "GraphError", "Move", "Node", "NodeResult", "RemoveNode", "RenameNode", "SetMeta",
    "SetParams", "ShapeChecker", "ShapeError", "TensorSpec", "WARNING", "bypass", "id_problem", "insert_after", "insert_between",
    "valid_id",
]
