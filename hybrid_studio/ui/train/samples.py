"""Small pictures of dataset samples: images drawn as images, sequences and signals as little line plots.

Used by the dataset preview and by the results view (with true / predicted labels in the title).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QSizePolicy

_MAX_FRAMES = 4  # frames of a clip shown side by side
_MAX_LINES = 6  # features of a sequence drawn as separate lines


def _axes_of(info) -> str:
    return "".join(getattr(info, "axes", "") or "")


def image_of(array: np.ndarray, axes: str) -> np.ndarray | None:
    """A 2-D (gray) or HxWx3 (colour) array to draw for an image sample, or None when it is not an image.

    A clip (T in front of the image axes) shows its first frames side by side.
    """
    a = np.asarray(array, dtype=float)
    if not axes.endswith("HW") or a.ndim != len(axes):
        return None
    if axes.startswith("T"):
        frames = [image_of(a[t], axes[1:]) for t in range(min(len(a), _MAX_FRAMES))]
        gap = np.full(frames[0].shape[:1] + (1,) + frames[0].shape[2:], np.nan)
        parts = []
        for f in frames:
            parts += [f, gap]
        return np.concatenate(parts[:-1], axis=1)
    if a.ndim == 2:
        return a
    if a.shape[0] == 3:
        return np.moveaxis(a, 0, -1)
    return a[0]  # gray, or the first channel of a many-channel map


def lines_of(array: np.ndarray) -> list[np.ndarray]:
    """1-D curves for a sequence or signal sample: (T, F) -> one line per feature, (C, L) -> one per channel."""
    a = np.asarray(array, dtype=float)
    if a.ndim == 0:
        return [a.reshape(1)]
    if a.ndim == 1:
        return [a]
    a = a.reshape(a.shape[0], -1)
    # time/length is the longer axis; features or channels the shorter one
    if a.shape[0] < a.shape[1]:
        a = a.T
    return [a[:, i] for i in range(min(a.shape[1], _MAX_LINES))]


class SampleGrid(pg.GraphicsLayoutWidget):
    """A row of sample cells; ``show_samples`` replaces them."""

    def __init__(self, parent=None, cell_height: int = 110):
        super().__init__(parent)
        self.cell_height = cell_height
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(cell_height + 30)
        self.cells = []  # (title, kinds) per cell, for tests and readouts

    def show_samples(self, inputs, samples, titles, wrong=None, per_row: int = 8):
        """Draw ``samples`` (lists of per-input arrays) under ``titles``; cells where ``wrong[i]`` get a red title."""
        self.clear()
        self.cells = []
        rows = max(1, (len(samples) + per_row - 1) // per_row)
        self.setFixedHeight(rows * (self.cell_height + 20) + 10)
        for i, (arrays, title) in enumerate(zip(samples, titles)):
            cell = self.addLayout(row=i // per_row, col=i % per_row)
            colour = "#d33" if wrong is not None and wrong[i] else "#888"
            cell.addLabel(title, row=0, col=0, size="8pt", color=colour)
            kinds = []
            for k, array in enumerate(arrays):
                info = inputs[k] if k < len(inputs) else None
                kinds.append(self._draw(cell, k + 1, array, _axes_of(info)))
            self.cells.append((title, kinds))

    def _draw(self, cell, row, array, axes) -> str:
        picture = image_of(array, axes)
        if picture is not None:
            vb = cell.addViewBox(row=row, col=0, lockAspect=True, enableMouse=False)
            vb.invertY(True)
            vb.addItem(pg.ImageItem(picture, axisOrder="row-major"))
            return "image"
        plot = cell.addPlot(row=row, col=0)
        plot.hideAxis("left")
        plot.hideAxis("bottom")
        plot.setMouseEnabled(False, False)
        plot.hideButtons()
        for j, line in enumerate(lines_of(array)):
            plot.plot(line, pen=pg.mkPen(pg.intColor(j, hues=_MAX_LINES), width=1))
        return "lines"
