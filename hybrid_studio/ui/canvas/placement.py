"""Where new blocks go: free space near the point the user meant, on screen, never on top of another block.

Blocks added by quick-add, by the palette, by a fix (an inserted Reshape, an added Output) or by a drop are placed
by ``place_new_blocks(edit, scene, visible)`` before the edit is pushed, so the placement is part of the same undo
step. Node editors (Blender, ComfyUI) do the same: the intended point is a wish, overlapping is never the answer.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QRectF

from hybrid_studio.graph import AddNode, Batch

from .node_item import HEADER_H, NODE_W

#: room kept free around a placed block (so wires and their labels stay readable)
MARGIN = 24.0
#: assumed height of a block not drawn yet (most blocks are about this tall)
DEFAULT_H = 96.0


def occupied_rects(scene) -> list[QRectF]:
    """The rectangles of the blocks on ``scene``."""
    return scene.block_rects()


def _free(rect: QRectF, taken, margin: float = MARGIN) -> bool:
    grown = rect.adjusted(-margin, -margin, margin, margin)
    return not any(grown.intersects(r) for r in taken)


def free_spot(x: float, y: float, taken, visible: QRectF | None = None, w: float = NODE_W,
              h: float = DEFAULT_H, max_rings: int = 40, margin: float = MARGIN) -> tuple[float, float]:
    """The top-left corner nearest (``x``, ``y``) where a ``w`` x ``h`` block overlaps none of ``taken``.

    Candidates lie on a grid of half a block around the wish, nearest first; one inside ``visible`` (the part of the
    scene on screen) wins over a nearer one outside it when the wish itself was on screen.
    """
    step_x, step_y = (w + MARGIN) / 2, (h + MARGIN) / 2
    wish_visible = visible is not None and visible.contains(QRectF(x, y, w, h).center())
    fallback = None
    for ring in range(max_rings + 1):
        cells = [(i, j) for i in range(-ring, ring + 1) for j in range(-ring, ring + 1)
                 if max(abs(i), abs(j)) == ring]
        # nearest first; to the right and below before left and above (the way a graph is read)
        cells.sort(key=lambda c: (math.hypot(c[0] * step_x, c[1] * step_y), c[0] < 0, c[1] < 0))
        for i, j in cells:
            rect = QRectF(x + i * step_x, y + j * step_y, w, h)
            if not _free(rect, taken, margin):
                continue
            if not wish_visible or visible.contains(rect):
                return (round(rect.x(), 1), round(rect.y(), 1))
            if fallback is None:
                fallback = (round(rect.x(), 1), round(rect.y(), 1))
    return fallback if fallback is not None else (round(x, 1), round(y, 1))


def _added_nodes(edit):
    if isinstance(edit, AddNode):
        yield edit.node
    elif isinstance(edit, Batch):
        for e in edit.edits:
            yield from _added_nodes(e)


def place_new_blocks(edit, scene, visible: QRectF | None = None, default_point=None,
                     margin: float = MARGIN) -> list[str]:
    """Move the blocks ``edit`` would add (before it is pushed) to free spots near where the edit meant them; a block
    without a position goes near ``default_point`` (x, y), else near the centre of ``visible``. ``margin``: the
    room kept around other blocks (0 for a drop, where the user chose the spot: moved only if it would overlap).
    Returns their ids."""
    taken = occupied_rects(scene)
    placed = []
    for node in _added_nodes(edit):
        if node.position is not None:
            x, y = float(node.position[0]), float(node.position[1])
        elif default_point is not None:
            x, y = default_point
        elif visible is not None:
            x, y = visible.center().x() - NODE_W / 2, visible.center().y() - HEADER_H
        else:
            continue
        node.position = free_spot(x, y, taken, visible, margin=margin)
        taken.append(QRectF(node.position[0], node.position[1], NODE_W, DEFAULT_H))
        placed.append(node.id)
    return placed
