"""``GridIndex``: which keys' rectangles meet a rectangle, from a uniform grid of cells.

The scene's own index (a BSP tree) asks every item near a query for its bounding rect, a Python call per item;
the canvas's own lookups (the label under the mouse, the blocks in a wire's way) use this index instead, which costs a
few dictionary lookups per query whatever the graph's size.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QRectF


class GridIndex:
    """Keys with rectangles (scene coordinates), found by the cells of ``cell`` units they cover."""

    def __init__(self, cell: float = 512.0):
        self.cell = cell
        self._cells: dict[tuple, set] | None = None   # made on the first lookup (see ``_grid``)
        self._rects: dict = {}   # key -> (left, top, right, bottom)

    def __len__(self):
        return len(self._rects)

    def __contains__(self, key):
        return key in self._rects

    def _span(self, left, top, right, bottom):
        c = self.cell
        return (range(math.floor(left / c), math.floor(right / c) + 1),
                range(math.floor(top / c), math.floor(bottom / c) + 1))

    def put(self, key, rect: QRectF):
        """Index ``key`` at ``rect`` (moving it if it was indexed elsewhere)."""
        self.put_box(key, (rect.left(), rect.top(), rect.right(), rect.bottom()))

    def put_box(self, key, box: tuple):
        """``put`` for a ``(left, top, right, bottom)`` tuple."""
        old = self._rects.get(key)
        if old == box:
            return
        if old is not None:
            self.remove(key)
        self._rects[key] = box
        if self._cells is not None:
            self._insert(key, box)

    def _insert(self, key, box):
        xs, ys = self._span(*box)
        cells = self._cells
        for i in xs:
            for j in ys:
                members = cells.get((i, j))
                if members is None:
                    cells[(i, j)] = {key}
                else:
                    members.add(key)

    def _grid(self) -> dict:
        """The cells, made from the rectangles on the first lookup: a large graph being opened indexes its blocks
        and wires before anything looks one up (and often nothing does before the first paint)."""
        if self._cells is None:
            self._cells = {}
            for key, box in self._rects.items():
                self._insert(key, box)
        return self._cells

    def remove(self, key):
        box = self._rects.pop(key, None)
        if box is None or self._cells is None:
            return
        xs, ys = self._span(*box)
        for i in xs:
            for j in ys:
                members = self._cells.get((i, j))
                if members is not None:
                    members.discard(key)
                    if not members:
                        del self._cells[(i, j)]

    def clear(self):
        self._cells = None
        self._rects.clear()

    def extent(self) -> QRectF | None:
        """The box around every key's rectangle (None when empty)."""
        if not self._rects:
            return None
        boxes = self._rects.values()
        left, top = min(b[0] for b in boxes), min(b[1] for b in boxes)
        right, bottom = max(b[2] for b in boxes), max(b[3] for b in boxes)
        return QRectF(left, top, right - left, bottom - top)

    def rect(self, key) -> QRectF:
        left, top, right, bottom = self._rects[key]
        return QRectF(left, top, right - left, bottom - top)

    def query(self, rect: QRectF) -> set:
        """The keys whose rectangles overlap ``rect``."""
        left, top, right, bottom = rect.left(), rect.top(), rect.right(), rect.bottom()
        xs, ys = self._span(left, top, right, bottom)
        cells = self._grid()
        if len(xs) * len(ys) > 4 * len(cells) + 16:   # a huge rectangle: look at each key instead
            seen = set(self._rects)
        else:
            seen = set()
            for i in xs:
                for j in ys:
                    members = cells.get((i, j))
                    if members:
                        seen |= members
        rects = self._rects
        # as QRectF.intersects: rectangles that only touch do not meet
        return {k for k in seen if rects[k][0] < right and rects[k][2] > left
                and rects[k][1] < bottom and rects[k][3] > top}

    def at(self, x: float, y: float) -> set:
        """The keys whose rectangles contain the point."""
        members = self._grid().get((math.floor(x / self.cell), math.floor(y / self.cell)), ())
        rects = self._rects
        return {k for k in members if rects[k][0] <= x <= rects[k][2] and rects[k][1] <= y <= rects[k][3]}
