"""The node canvas: scene (items kept in step with the graph), view (zoom, pan, drops, commands), items."""

from .edit_ops import BLOCK_MIME, CLIPBOARD_MIME
from .edge_item import EdgeItem
from .node_item import NodeItem, Port
from .scene import GraphScene
from .view import GraphView

__all__ = ["BLOCK_MIME", "CLIPBOARD_MIME", "EdgeItem", "GraphScene", "GraphView", "NodeItem", "Port"]
