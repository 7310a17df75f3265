"""Live training curves (pyqtgraph): loss per step (raw, faint, and smoothed), loss and accuracy per epoch,
learning rate; a hover readout; overlays of other runs; PNG and CSV export.

Events are added in batches and the curves redrawn once per batch (``refresh``), never once per step. Each plot is
its own view, and a live refresh redraws at most one changed plot (the one waiting longest), so a UI tick never
pays for repainting all four. Step series live in growable numpy buffers and the step plots downsample and clip to
the view, so 100,000 points stay fluid.
"""

from __future__ import annotations

import csv
import errno
import functools
import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

SMOOTHING = 0.6  # weight of the running average (TensorBoard-style, debiased); the engine reports a few steps/s
_RAW_PEN = pg.mkPen((80, 140, 255, 120), width=1)
_SMOOTH_PEN = pg.mkPen((30, 90, 230), width=2)
_TRAIN_COLOUR, _VAL_COLOUR = (30, 90, 230), (230, 110, 20)
_TRAIN_PEN = pg.mkPen(_TRAIN_COLOUR, width=2)
_VAL_PEN = pg.mkPen(_VAL_COLOUR, width=2)
#: per-epoch points are filled with their curve's colour (pyqtgraph's default symbol colour is one grey for all)
_TRAIN_SYMBOL = dict(symbol="o", symbolSize=6, symbolBrush=pg.mkBrush(_TRAIN_COLOUR), symbolPen=_TRAIN_COLOUR)
_VAL_SYMBOL = dict(symbol="s", symbolSize=6, symbolBrush=pg.mkBrush(_VAL_COLOUR), symbolPen=_VAL_COLOUR)
_BASELINE_PEN = pg.mkPen((40, 160, 60), width=1.5, style=pg.QtCore.Qt.PenStyle.DashLine)


class Buffer:
    """Growable x/y arrays: appending is amortised O(1), reading is a view (no copy)."""

    def __init__(self, capacity: int = 1024):
        self._x = np.empty(capacity)
        self._y = np.empty(capacity)
        self.n = 0

    def extend(self, xs, ys) -> None:
        need = self.n + len(xs)
        if need > len(self._x):
            cap = max(need, 2 * len(self._x))
            for name in ("_x", "_y"):
                grown = np.empty(cap)
                grown[: self.n] = getattr(self, name)[: self.n]
                setattr(self, name, grown)
        self._x[self.n: need] = xs
        self._y[self.n: need] = ys
        self.n = need

    def clear(self) -> None:
        self.n = 0

    @property
    def x(self) -> np.ndarray:
        return self._x[: self.n]

    @property
    def y(self) -> np.ndarray:
        return self._y[: self.n]


def smooth(values, weight: float = SMOOTHING, state=(0.0, 0)):
    """Debiased exponential moving average of ``values`` continuing from ``state`` -> (smoothed, new state)."""
    acc, count = state
    out = np.empty(len(values))
    for i, v in enumerate(values):
        if not math.isfinite(v):
            out[i] = v
            continue
        count += 1
        acc = weight * acc + (1 - weight) * v
        out[i] = acc / (1 - weight ** count)
    return out, (acc, count)


def _f(value) -> float:
    """A metrics value (float, None, '' from a CSV) as a float; missing -> nan."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def rows_to_events(rows) -> tuple[list, list]:
    """A run's metrics.csv rows (``load_metrics``) as Step-like and EpochEnd-like records.

    Rows with ``split`` train and ``scope`` step are the per-step losses; per epoch, the train row (scope epoch)
    and the val row are merged into one record.
    """
    from types import SimpleNamespace as NS
    steps, epochs = [], {}
    for r in rows:
        split, scope = str(r.get("split", "")), str(r.get("scope") or "step")
        if split == "train" and scope == "step":
            steps.append(NS(epoch=r.get("epoch"), step=_f(r.get("step")), loss=r.get("loss"), lr=r.get("lr"),
                            samples_per_s=r.get("samples_per_s")))
        elif split in ("train", "val", "validation"):
            e = epochs.setdefault(r.get("epoch"), NS(epoch=_f(r.get("epoch")), step=r.get("step"), train_loss=None,
                                                     val_loss=None, train_acc=None, val_acc=None, val_mae=None,
                                                     val_cer=None, duration_s=None))
            if split == "train":
                e.train_loss, e.train_acc = r.get("loss"), r.get("accuracy")
            else:
                e.val_loss, e.val_acc, e.val_mae = r.get("loss"), r.get("accuracy"), r.get("mae")
                e.val_cer = r.get("cer")
    return steps, list(epochs.values())


def epoch_range(epochs: int) -> tuple[float, float]:
    """The x range of the per-epoch plots for a run of ``epochs`` epochs: 1..E (one epoch: centred on 1)."""
    return (0.5, 1.5) if epochs <= 1 else (1.0, float(epochs))


class TrainPlots(QWidget):
    """The four live plots with a readout line and export buttons."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.grid = QGridLayout()
        self.grid.setSpacing(2)
        self.readout = QLabel("Hover over a plot to read values.")
        self.readout.setObjectName("plotReadout")
        self.export_png_button = QPushButton("Export PNG...")
        self.export_csv_button = QPushButton("Export CSV...")
        bar = QHBoxLayout()
        bar.addWidget(self.readout, 1)
        bar.addWidget(self.export_png_button)
        bar.addWidget(self.export_csv_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self.grid, 1)
        layout.addLayout(bar)

        self.loss_plot = self._plot(0, 0, "Training loss", "step", "loss", per_step=True)
        self.epoch_plot = self._plot(0, 1, "Loss per epoch", "epoch", "loss")
        self.metric_plot = self._plot(1, 0, "Accuracy per epoch", "epoch", "accuracy")
        self.lr_plot = self._plot(1, 1, "Learning rate", "step", "lr", per_step=True)

        # buffers: the source of truth for what the curves show (and what the readout reads)
        self.series = {name: Buffer() for name in
                       ("loss", "loss_smooth", "lr", "train_loss", "val_loss", "train_metric", "val_metric")}
        self._smooth_state = (0.0, 0)
        self.curves = {
            "loss": self.loss_plot.plot(name="raw", pen=_RAW_PEN),
            "loss_smooth": self.loss_plot.plot(name="smoothed", pen=_SMOOTH_PEN),
            "lr": self.lr_plot.plot(name="lr", pen=_SMOOTH_PEN),
            "train_loss": self.epoch_plot.plot(name="train", pen=_TRAIN_PEN, **_TRAIN_SYMBOL),
            "val_loss": self.epoch_plot.plot(name="validation", pen=_VAL_PEN, **_VAL_SYMBOL),
            "train_metric": self.metric_plot.plot(name="train", pen=_TRAIN_PEN, **_TRAIN_SYMBOL),
            "val_metric": self.metric_plot.plot(name="validation", pen=_VAL_PEN, **_VAL_SYMBOL),
        }
        for curve in (self.curves["loss"], self.curves["loss_smooth"], self.curves["lr"]):
            curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)
        self._plot_series = {
            self.loss_plot: ("loss", "loss_smooth"), self.epoch_plot: ("train_loss", "val_loss"),
            self.metric_plot: ("train_metric", "val_metric"), self.lr_plot: ("lr",)}
        self._readout_sources = {
            self.loss_plot: [("loss", "loss"), ("smoothed", "loss_smooth")],
            self.epoch_plot: [("train loss", "train_loss"), ("val loss", "val_loss")],
            self.metric_plot: [("train", "train_metric"), ("val", "val_metric")],
            self.lr_plot: [("lr", "lr")],
        }
        self.rows: list[dict] = []  # every metric received, for CSV export
        self.regression = False
        self.metric_kind = "accuracy"
        self._dirty: set = set()  # names of series changed since their curve was last drawn
        self._drawn_at = {plot: 0 for plot in self._plot_series}  # refresh counter when each plot was last drawn
        self._refreshes = 0
        # live plots keep steady ranges during a run (set_run_length)
        self._step_plots = (self.loss_plot, self.lr_plot)
        self._totals, self._ranges = {}, {}
        self._managed = {plot: False for plot in self._plot_series}
        for plot in self._plot_series:
            plot.vb.sigRangeChangedManually.connect(functools.partial(self._hand_over, plot))
        self.overlay_items: list = []
        #: A trivial predictor's validation loss drawn on the loss plots (``set_baseline``), and its lines.
        self.baseline: float | None = None
        self.baseline_lines: list = []
        self._hover = [pg.SignalProxy(plot.scene().sigMouseMoved, rateLimit=30,
                                      slot=functools.partial(self._on_hover, plot)) for plot in self._plot_series]
        self.export_png_button.clicked.connect(self._ask_png)
        self.export_csv_button.clicked.connect(self._ask_csv)

    def _plot(self, row, col, title, x_label, y_label, per_step=False):
        widget = pg.PlotWidget(title=title)
        self.grid.addWidget(widget, row, col)
        plot = widget.getPlotItem()
        plot.setLabel("bottom", x_label)
        plot.setLabel("left", y_label)
        for axis in ("left", "bottom"):
            plot.getAxis(axis).enableAutoSIPrefix(False)  # "accuracy (x0.001)" reads badly
        plot.showGrid(x=True, y=True, alpha=0.2)
        # the legend sits in its own column right of the plot: over the curves it hid the points that matter, and
        # the plots have more room across than down
        legend = pg.LegendItem(labelTextSize="8pt", frame=False)
        plot.layout.addItem(legend, 2, 3)
        plot.legend = legend  # plot(name=...) adds its entry there
        if per_step:
            plot.setDownsampling(auto=True, mode="peak")
            plot.setClipToView(True)
        return plot

    # ---- data ------------------------------------------------------------------------------------------------
    def reset(self, regression: bool = False) -> None:
        """Forget the current run's curves (overlays stay)."""
        for buf in self.series.values():
            buf.clear()
        self._smooth_state = (0.0, 0)
        self.rows = []
        self._totals, self._ranges = {}, {}
        for plot in self._plot_series:
            plot.enableAutoRange(True)
            self._managed[plot] = False
        self.set_regression(regression)
        self.set_baseline(None)
        self._dirty = set(self.series)
        self.refresh(limit=None)

    def set_baseline(self, value: float | None, label: str = "baseline") -> None:
        """Draw the validation loss of the dataset's trivial predictor (e.g. the MSE of copying the last frame) as a
        dashed line across both loss plots, so the user sees whether the model beats it; None removes it."""
        for plot, line in self.baseline_lines:
            plot.removeItem(line)
        self.baseline_lines = []
        self.baseline = value if value is not None and math.isfinite(value) else None
        if self.baseline is None:
            return
        for plot in (self.loss_plot, self.epoch_plot):
            line = pg.InfiniteLine(pos=self.baseline, angle=0, pen=_BASELINE_PEN, movable=False,
                                   label=f"{label} {self.baseline:.4g}",
                                   labelOpts={"position": 0.85, "color": (40, 160, 60), "anchors": [(1, 1), (1, 1)]})
            line.setZValue(-2)
            plot.addItem(line)
            self.baseline_lines.append((plot, line))

    def set_run_length(self, total_steps: int, total_epochs: int) -> None:
        """The run will take ``total_steps`` in ``total_epochs``. The plots' ranges then ratchet instead of
        following every point: x grows by doubling (capped at the total), y widens with a margin only when a point
        falls outside. Axes are then redrawn a handful of times per run rather than on every tick (axis text is the
        costly part of a repaint). Zooming or panning a plot by hand hands its range back to the user."""
        self._totals = {self.loss_plot: max(1, int(total_steps)), self.lr_plot: max(1, int(total_steps)),
                        self.epoch_plot: max(1, int(total_epochs)), self.metric_plot: max(1, int(total_epochs))}
        self._ranges = {}
        for plot in self._plot_series:
            plot.enableAutoRange(False)
            self._managed[plot] = True
        for plot in (self.epoch_plot, self.metric_plot):
            # the epoch axis shows this run's epochs from the start (1..E, whole epochs when they are few)
            plot.setXRange(*epoch_range(self._totals[plot]), padding=0.05)
            axis = plot.getAxis("bottom")
            if total_epochs <= 20:
                axis.setTickSpacing(major=1, minor=1)
            else:
                axis.setTickSpacing()

    def _ratchet(self, plot) -> None:
        total = self._totals.get(plot)
        if not total or not self._managed.get(plot):
            return
        bufs = [self.series[name] for name in self._plot_series[plot]]
        if bufs[0].n == 0:
            return
        x_max, y_lo, y_hi = self._ranges.get(plot, (0.0, math.inf, -math.inf))
        last = bufs[0].x[-1]
        if last >= x_max:
            per_step = plot in self._step_plots
            if per_step:
                x_max = float(min(total, max(2 * last, 50, total / 64)))
                plot.setXRange(0, x_max, padding=0.02)
            else:
                x_max = float(total)
                plot.setXRange(*epoch_range(total), padding=0.05)
        ys = np.concatenate([b.y for b in bufs])
        if self.baseline is not None and plot in (self.loss_plot, self.epoch_plot):
            ys = np.append(ys, self.baseline)  # the baseline stays in view
        ys = ys[np.isfinite(ys)]
        if len(ys):
            lo, hi = float(ys.min()), float(ys.max())
            if lo < y_lo or hi > y_hi:
                span = (hi - lo) or abs(hi) or 1.0
                y_lo, y_hi = lo - 0.15 * span, hi + 0.15 * span
                plot.setYRange(y_lo, y_hi, padding=0)
        self._ranges[plot] = (x_max, y_lo, y_hi)

    def _hand_over(self, plot) -> None:
        self._managed[plot] = False

    def set_regression(self, regression) -> None:
        """Which metric the per-epoch plot shows: accuracy (classification), MAE (``True``: regression) or the
        character error rate (``"ctc"``: sequence labels)."""
        self.regression = bool(regression)
        self.metric_kind = "cer" if regression == "ctc" else "mae" if regression else "accuracy"
        name = {"cer": "CER", "mae": "MAE", "accuracy": "accuracy"}[self.metric_kind]
        self.metric_plot.setTitle(f"{name[0].upper()}{name[1:]} per epoch")
        self.metric_plot.setLabel("left", name)

    def _metric_of(self, e):
        """The validation figure the per-epoch metric plot shows for one epoch."""
        return getattr(e, {"cer": "val_cer", "mae": "val_mae", "accuracy": "val_acc"}[self.metric_kind], None)

    def add_steps(self, steps) -> None:
        """Append Step events (objects with epoch, step, loss, lr, samples_per_s)."""
        if not steps:
            return
        x = np.fromiter((s.step for s in steps), float, len(steps))
        loss = np.fromiter((_f(s.loss) for s in steps), float, len(steps))
        lr = np.fromiter((_f(s.lr) for s in steps), float, len(steps))
        smoothed, self._smooth_state = smooth(loss, state=self._smooth_state)
        self.series["loss"].extend(x, loss)
        self.series["loss_smooth"].extend(x, smoothed)
        self.series["lr"].extend(x, lr)
        self.rows.extend({"epoch": s.epoch, "step": s.step, "split": "train", "loss": s.loss, "lr": s.lr,
                          "samples_per_s": s.samples_per_s} for s in steps)
        self._dirty |= {"loss", "loss_smooth", "lr"}

    def add_epochs(self, epochs) -> None:
        """Append EpochEnd events (train/val loss, accuracy or MAE)."""
        for e in epochs:
            train_metric = None if self.regression else e.train_acc
            for name, value in (("train_loss", e.train_loss), ("val_loss", e.val_loss),
                                ("train_metric", train_metric), ("val_metric", self._metric_of(e))):
                self.series[name].extend([e.epoch], [_f(value)])
            self.rows.append({"epoch": e.epoch, "step": e.step, "split": "val", "loss": e.val_loss,
                              "accuracy": e.val_acc, "mae": e.val_mae, "cer": getattr(e, "val_cer", None),
                              "train_loss": e.train_loss,
                              "train_accuracy": e.train_acc, "duration_s": e.duration_s})
        if epochs:
            self._dirty |= {"train_loss", "val_loss", "train_metric", "val_metric"}

    def refresh(self, limit: int | None = None) -> int:
        """Redraw changed curves: every changed plot, or at most ``limit`` of them (those waiting longest).

        The live view calls ``refresh(limit=1)`` once per batch of events: one plot repaints per tick.
        Returns how many plots were redrawn.
        """
        waiting = [p for p, names in self._plot_series.items() if self._dirty & set(names)]
        waiting.sort(key=self._drawn_at.get)
        done = 0
        for plot in waiting[:limit]:
            self._refreshes += 1
            self._drawn_at[plot] = self._refreshes
            for name in self._plot_series[plot]:
                if name in self._dirty:
                    self._dirty.discard(name)
                    buf = self.series[name]
                    self.curves[name].setData(buf.x, buf.y, skipFiniteCheck=name in ("loss", "loss_smooth", "lr"))
            self._ratchet(plot)
            done += 1
        return done

    def point_count(self) -> int:
        """Loss points on the step plot."""
        return self.series["loss"].n

    # ---- other runs ------------------------------------------------------------------------------------------
    def set_overlays(self, runs: dict) -> None:
        """Draw other runs' curves ({label: metrics rows as load_metrics gives them}) under the live ones."""
        for plot, item in self.overlay_items:
            plot.removeItem(item)
            if plot.legend is not None:
                plot.legend.removeItem(item)
        self.overlay_items = []
        for i, (label, rows) in enumerate(runs.items()):
            pen = pg.mkPen(pg.intColor(i, hues=max(len(runs), 3), alpha=200), width=1.5,
                           style=pg.QtCore.Qt.PenStyle.DashLine)
            steps, epochs = rows_to_events(rows)
            if steps:
                y, _ = smooth([_f(r.loss) for r in steps])
                self._overlay(self.loss_plot, [r.step for r in steps], y, label, pen)
            if epochs:
                x = [e.epoch for e in epochs]
                self._overlay(self.epoch_plot, x, [_f(e.val_loss) for e in epochs], label, pen)
                metric = [_f(self._metric_of(e)) for e in epochs]
                self._overlay(self.metric_plot, x, metric, label, pen)

    def _overlay(self, plot, x, y, label, pen):
        item = plot.plot(np.asarray(x, float), np.asarray(y, float), pen=pen, name=label)
        item.setDownsampling(auto=True, method="peak")
        item.setClipToView(True)
        item.setZValue(-1)
        self.overlay_items.append((plot, item))

    # ---- hover readout ---------------------------------------------------------------------------------------
    def _on_hover(self, plot, args) -> None:
        self.readout.setText(self.readout_at(plot, args[0]) or " ")

    def readout_at(self, plot, scene_pos) -> str:
        """Text for ``plot``'s values nearest to a position in its scene (empty outside the plot)."""
        if not plot.sceneBoundingRect().contains(scene_pos):
            return ""
        return self.readout_near(plot, plot.vb.mapSceneToView(scene_pos).x())

    def readout_near(self, plot, x: float) -> str:
        """Text for the values of ``plot``'s curves nearest to ``x``."""
        x_name = plot.getAxis("bottom").labelText
        parts = []
        for label, name in self._readout_sources[plot]:
            buf = self.series[name]
            if buf.n == 0:
                continue
            i = int(np.clip(np.searchsorted(buf.x, x), 1, buf.n - 1)) if buf.n > 1 else 0
            if buf.n > 1 and abs(buf.x[i - 1] - x) <= abs(buf.x[i] - x):
                i -= 1
            if not parts:
                parts.append(f"{x_name} {buf.x[i]:g}")
            parts.append(f"{label} {buf.y[i]:.4g}")
        return f"{parts[0]}: {', '.join(parts[1:])}" if parts else ""

    # ---- export ----------------------------------------------------------------------------------------------
    def export_png(self, path) -> Path:
        """Save the four plots as one PNG image (each rendered by pyqtgraph's ImageExporter, laid out 2 x 2)."""
        import pyqtgraph.exporters  # noqa: F401  (registers the exporters)
        self.refresh()
        images = []
        for plot in self._plot_series:
            exporter = pg.exporters.ImageExporter(plot)
            exporter.parameters()["width"] = max(400, int(plot.sceneBoundingRect().width()))
            images.append(exporter.export(toBytes=True))
        w = max(images[0].width(), images[2].width()) + max(images[1].width(), images[3].width())
        h = max(images[0].height(), images[1].height()) + max(images[2].height(), images[3].height())
        sheet = QImage(w, h, QImage.Format.Format_ARGB32)
        sheet.fill(pg.mkColor("k"))
        painter = QPainter(sheet)
        for i, image in enumerate(images):
            painter.drawImage((i % 2) * (w - images[i].width() if i % 2 else 0),
                              (i // 2) * max(images[0].height(), images[1].height()), image)
        painter.end()
        if not sheet.save(str(path), "PNG"):
            raise OSError(errno.EIO, "the image could not be written there", str(path))
        return Path(path)

    def export_csv(self, path) -> Path:
        """Save every metric received during this run as CSV (one row per step and per epoch)."""
        fields = ["epoch", "step", "split", "loss", "lr", "samples_per_s", "accuracy", "mae", "cer", "train_loss",
                  "train_accuracy", "duration_s"]
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
            writer.writeheader()
            writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in self.rows)
        return Path(path)

    def _ask_png(self):
        from PySide6.QtWidgets import QFileDialog
        path, _ = QFileDialog.getSaveFileName(self, "Export plots", "training.png", "PNG image (*.png)")
        if path:
            self._export(self.export_png, path, "plots")

    def _ask_csv(self):
        from PySide6.QtWidgets import QFileDialog
        path, _ = QFileDialog.getSaveFileName(self, "Export metrics", "metrics.csv", "CSV (*.csv)")
        if path:
            self._export(self.export_csv, path, "metrics")

    def _export(self, export, path, what) -> bool:
        """Run ``export(path)``; a file that cannot be written is said in a message box, not only on stderr."""
        try:
            export(path)
        except OSError as e:
            from .panel import show_error  # (imported here: the panel imports this module)
            show_error(self, f"Could not export the {what}", f"{path}: {e.strerror or e}", "")
            return False
        return True
