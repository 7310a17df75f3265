"""Explain in the app: "Explain Run…" (Train menu) opens the Explain dock on a finished run of the document.

The attribution runs in a spawned worker process (``explain.worker``), drained on a QTimer, with a progress bar,
so the UI thread never imports torch. The dock shows each Input's share, heatmaps over images (pyqtgraph
ImageItem) and attribution curves over time and feature axes (PlotWidget), averaged over the samples.

Below, the explained validation samples with their target and prediction, filtered to all / predicted right /
predicted wrong / one class; selecting one shows its own heatmaps (over the image, frame by frame for video) and
curves over time. Clicking a block on the canvas then shows that block's activations for the sample - feature maps
for convolutions (a grid of channels), the hidden state over time for LSTM/GRU/ConvLSTM2d (units x time), a bar
per value for dense blocks - computed by a second worker process that loads the run once and answers per sample
(``explain.worker.start_activations``), with its own progress bar.

The widgets (loaded on first use, so that the window opens faster): ``explain_view`` holds only ``install``.
"""

from __future__ import annotations

import queue as queue_mod

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDockWidget, QHBoxLayout, QLabel, QProgressBar,
                               QPushButton, QScrollArea, QSpinBox, QSplitter, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

METHODS = ("integrated-gradients", "saliency", "grad-cam")


def explain_run(window, run_dir):
    """Open the Explain view on ``run_dir`` (chosen in its run list, added there if it is not listed) and start."""
    view = open_explain_view(window)
    i = view.run_box.findData(str(run_dir))
    if i < 0:
        from pathlib import Path

        view.run_box.addItem(Path(run_dir).name, str(run_dir))
        i = view.run_box.count() - 1
        view.explain_button.setEnabled(True)
    view.run_box.setCurrentIndex(i)
    view.start()
    return view


def open_explain_view(window):
    """Show (making it on first use) the Explain dock, its run list refreshed; returns the view."""
    if window.explain_view is None:
        view = ExplainView(window)
        dock = QDockWidget("Explain", window)
        dock.setObjectName("ExplainDock")
        dock.setWidget(view)
        window.addDockWidget(Qt.RightDockWidgetArea, dock)
        window.explain_view = view
        view.dock = dock
    view = window.explain_view
    view.refresh_runs()
    view.follow_scene()
    view.dock.show()
    view.dock.raise_()
    return view


class ExplainView(QWidget):
    """Pick a finished run, a method and a sample count; Explain; see shares, heatmaps and curves."""

    def __init__(self, window):
        super().__init__(window)
        self.window_ = window
        self.proc = None
        self.queue = None
        self.result = None
        self.timer = QTimer(self)
        self.timer.setInterval(100)
        self.timer.timeout.connect(self.drain)
        lay = QVBoxLayout(self)
        row = QHBoxLayout()
        self.run_box = QComboBox()
        self.method_box = QComboBox()
        self.method_box.addItems(METHODS)
        self.samples = QSpinBox()
        self.samples.setRange(1, 1024)
        self.samples.setValue(32)
        self.explain_button = QPushButton("Explain")
        self.explain_button.clicked.connect(self.start)
        for w in (QLabel("Run"), self.run_box, self.method_box, QLabel("Samples"), self.samples, self.explain_button):
            row.addWidget(w)
        lay.addLayout(row)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        lay.addWidget(self.progress)
        self.status = QLabel("Pick a finished run and press Explain.")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        self.shares_label = QLabel("")
        lay.addWidget(self.shares_label)
        split = QSplitter(Qt.Orientation.Vertical)
        lay.addWidget(split, 1)
        # the explained samples: filter, then a row per sample (index, target, prediction, right/wrong)
        samples = QWidget()
        s_lay = QVBoxLayout(samples)
        s_lay.setContentsMargins(0, 0, 0, 0)
        f_row = QHBoxLayout()
        self.sample_filter = QComboBox()
        self.sample_filter.setToolTip("Which of the explained validation samples to list")
        self.sample_filter.currentIndexChanged.connect(self._fill_samples)
        f_row.addWidget(QLabel("Samples"))
        f_row.addWidget(self.sample_filter, 1)
        s_lay.addLayout(f_row)
        self.sample_table = QTableWidget(0, 4)
        self.sample_table.setHorizontalHeaderLabels(["#", "target", "prediction", ""])
        self.sample_table.horizontalHeader().setStretchLastSection(True)
        self.sample_table.verticalHeader().setVisible(False)
        self.sample_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.sample_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.sample_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.sample_table.itemSelectionChanged.connect(self._sample_selected)
        s_lay.addWidget(self.sample_table)
        split.addWidget(samples)
        self.plots = QWidget()
        self.plots_layout = QVBoxLayout(self.plots)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.plots)
        split.addWidget(scroll)
        # the activations of the block clicked on the canvas, for the selected sample
        acts = QWidget()
        a_lay = QVBoxLayout(acts)
        a_lay.setContentsMargins(0, 0, 0, 0)
        self.activation_title = QLabel("Pick a sample, then click a block on the canvas to see its activations.")
        self.activation_title.setWordWrap(True)
        a_lay.addWidget(self.activation_title)
        self.activation_progress = QProgressBar()
        self.activation_progress.setRange(0, 1)
        self.activation_progress.setValue(0)
        self.activation_progress.setMaximumHeight(12)
        self.activation_progress.setTextVisible(False)
        a_lay.addWidget(self.activation_progress)
        self.activation_box = QVBoxLayout()
        a_lay.addLayout(self.activation_box, 1)
        split.addWidget(acts)
        split.setSizes([140, 320, 300])
        self.image_item = None  # the last heatmap drawn
        self.sample = None  # the selected sample's index among the explained ones
        self.block = None  # the block whose activations are wanted
        self.sample_heatmaps = {}  # what the selected sample's plots show, per Input (or "grad-cam")
        self.activation_kind = None
        self.activation_data = None  # the array the activations plot shows (rows x columns as drawn)
        self.activation_plot = None
        self._scene = None
        self._acts = None  # (process, requests, replies, run key) of the activations worker
        self._act_cache = {}  # sample -> {block: view}
        self._act_pending = set()
        self.act_timer = QTimer(self)
        self.act_timer.setInterval(100)
        self.act_timer.timeout.connect(self._drain_activations)

    # -- runs -----------------------------------------------------------------------------------------------------
    def refresh_runs(self):
        """The document's finished runs (those with a checkpoint), newest first."""
        from pathlib import Path

        from hybrid_studio.train.runs import list_runs

        from .train.controller import runs_dir_for

        self.run_box.clear()
        for r in list_runs(runs_dir_for(self.window_.document)):
            if (Path(r.path) / "checkpoints").is_dir() and r.status != "running":
                metric = f" {r.best_metric_name} {r.best_metric:.3g}" if r.best_metric is not None else ""
                self.run_box.addItem(f"{r.run_id} ({r.status}{metric})", r.path)
        self.explain_button.setEnabled(self.run_box.count() > 0)
        if not self.run_box.count():
            self.status.setText("No finished run of this project yet: train it first.")

    # -- the worker -----------------------------------------------------------------------------------------------
    def start(self):
        """Explain the chosen run in a worker process."""
        from hybrid_studio.explain.worker import start_explain

        run = self.run_box.currentData()
        if not run or self.proc is not None:
            return
        self.result = None
        self.progress.setRange(0, 0)  # busy until the first progress report
        self.status.setText("Explaining… (loading the run in a worker process)")
        self.explain_button.setEnabled(False)
        self.proc, self.queue = start_explain(run, samples=self.samples.value(), method=self.method_box.currentText())
        self.timer.start()

    def drain(self):
        """Read the worker's messages (on the UI thread, never blocking)."""
        while True:
            try:
                msg = self.queue.get_nowait()
            except queue_mod.Empty:
                break
            if msg[0] == "progress":
                self.progress.setRange(0, msg[2])
                self.progress.setValue(msg[1])
                self.status.setText(f"Explaining… {msg[1]}/{msg[2]} samples")
            else:
                self._finish(msg)
                return
        if self.proc is not None and not self.proc.is_alive() and self.queue.empty():
            self._finish(("error", f"the worker stopped (exit code {self.proc.exitcode})"))

    def _finish(self, msg):
        self.timer.stop()
        if self.proc is not None:
            self.proc.join(timeout=5)
        self.proc = self.queue = None
        self.explain_button.setEnabled(True)
        self.progress.setRange(0, 1)
        if msg[0] == "error":
            self.progress.setValue(0)
            self.status.setText(msg[1])
            return
        self.progress.setValue(1)
        self.show_result(msg[1])

    # -- drawing --------------------------------------------------------------------------------------------------
    def show_result(self, result: dict):
        """Shares per input, heatmaps over images, curves over the other axes; the sample list and its filter."""
        self.result = result
        key = (result.get("_run_dir"), result.get("_checkpoint"))
        if self._acts is not None and self._acts[3] != key:
            self.stop_activations()  # another run: its activations worker is no longer the right one
        self._act_cache.clear()
        self.sample = None
        self._fill_filter()
        self.follow_scene()
        self._show_mean()

    def _clear_plots(self):
        _empty(self.plots_layout)

    def _show_mean(self):
        """The result averaged over the samples (the view's first picture, and whenever no sample is picked)."""
        import numpy as np
        import pyqtgraph as pg

        result = self.result
        self._clear_plots()
        self.status.setText(f"{result['method']} over {result['samples']} validation samples")
        text = "  ".join(f"{name}: {info['share']:.0%}" for name, info in result["inputs"].items())
        for fusion, drops in result.get("branches", {}).items():
            # what each branch contributes: the accuracy lost when its features are replaced by their mean
            text += f"\nbranches into {fusion}: " + "  ".join(f"{b} −{d:.0%}" for b, d in drops.items())
        self.shares_label.setText(text)
        if "_cam" in result:
            self.shares_label.setText(f"Grad-CAM on block {result['block']}")
            cam = np.asarray(result["_cam"])
            if cam.ndim == 3:
                self._image(cam.mean(0), f"Grad-CAM {result['block']} (mean over samples)")
            return
        for k, name in enumerate(result["_input_ids"]):
            info = result["inputs"][name]
            attr = np.abs(np.asarray(result["_attributions"][k]))
            axes = info["axes"]
            if "H" in axes and "W" in axes:
                keep = (axes.index("H") + 1, axes.index("W") + 1)
                heat = attr.mean(axis=tuple(d for d in range(attr.ndim) if d not in keep))
                self._image(heat, f"{name}: where the attribution lies (mean over samples)")
            for letter, prof in info["profile"].items():
                if letter in "HW" and "H" in axes and "W" in axes:
                    continue
                plot = pg.PlotWidget(title=f"{name}: attribution over {letter}")
                plot.plot(list(range(len(prof))), prof, pen=pg.mkPen("#cc3311", width=2))
                plot.setLabel("bottom", letter)
                plot.setMinimumHeight(140)
                self.plots_layout.addWidget(plot)

    def _image(self, array, title, layout=None, cmap="inferno"):
        import numpy as np
        import pyqtgraph as pg

        plot = pg.PlotWidget(title=title)
        array = np.asarray(array, np.float32)
        item = pg.ImageItem(array.T)  # ImageItem's first axis is x
        item.setColorMap(pg.colormap.get(cmap))
        plot.addItem(item)
        plot.invertY(True)
        plot.setAspectLocked(True)
        plot.setMinimumHeight(180)
        (layout if layout is not None else self.plots_layout).addWidget(plot)
        self.image_item = item
        return item

    # -- the samples ----------------------------------------------------------------------------------------------
    def _fill_filter(self):
        """all / predicted right / predicted wrong, then one entry per true class among the explained samples."""
        import numpy as np

        outcomes = self.result.get("_outcomes") or {}
        names = self.result.get("_class_names") or []
        before = self.sample_filter.currentData()
        self.sample_filter.blockSignals(True)
        self.sample_filter.clear()
        self.sample_filter.addItem("all samples", "all")
        if any(c is not None for c in outcomes.get("correct", [])):
            self.sample_filter.addItem("predicted right", "right")
            self.sample_filter.addItem("predicted wrong", "wrong")
            targets = np.asarray(outcomes["targets"])
            if targets.ndim == 1:  # one class per sample (not per step)
                for c in sorted({int(t) for t in targets}):
                    self.sample_filter.addItem(f"class {self._class_name(c, names)}", c)
        self.sample_filter.setCurrentIndex(max(0, self.sample_filter.findData(before)))  # the filter stays put
        self.sample_filter.blockSignals(False)
        self._fill_samples()

    @staticmethod
    def _class_name(c, names):
        return str(names[c]) if 0 <= c < len(names) else str(c)

    def _text(self, value):
        import numpy as np

        a = np.asarray(value)
        names = self.result.get("_class_names") or []
        if a.ndim == 0:
            v = a.item()
            return self._class_name(v, names) if isinstance(v, int) and names else f"{v:.3g}" \
                if isinstance(v, float) else str(v)
        flat = a.reshape(-1)
        text = " ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in flat[:8].tolist())
        return text + (" …" if flat.size > 8 else "")

    def _fill_samples(self, *_):
        """The samples the filter keeps, one row each (the row remembers its sample index)."""
        if self.result is None:
            return
        outcomes = self.result.get("_outcomes") or {}
        which = self.sample_filter.currentData()
        rows = []
        for i, (t, p, ok) in enumerate(zip(outcomes.get("targets", []), outcomes.get("predictions", []),
                                           outcomes.get("correct", []))):
            if which == "right" and ok is not True or which == "wrong" and ok is not False:
                continue
            if isinstance(which, int) and int(t) != which:
                continue
            rows.append((i, t, p, ok))
        self.sample_table.blockSignals(True)
        self.sample_table.clearContents()
        self.sample_table.setRowCount(len(rows))
        for r, (i, t, p, ok) in enumerate(rows):
            mark = "" if ok is None else ("right" if ok else "wrong")
            for c, text in enumerate((str(i), self._text(t), self._text(p), mark)):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, i)
                self.sample_table.setItem(r, c, item)
        self.sample_table.blockSignals(False)
        kept = [r[0] for r in rows]
        if self.sample is not None and self.sample in kept:
            self.sample_table.selectRow(kept.index(self.sample))
        elif self.sample is not None:
            self.sample = None
            self._show_mean()

    def shown_samples(self) -> list:
        """The sample indices the table lists, in order."""
        return [self.sample_table.item(r, 0).data(Qt.ItemDataRole.UserRole)
                for r in range(self.sample_table.rowCount())]

    def _sample_selected(self):
        rows = {i.row() for i in self.sample_table.selectedItems()}
        if len(rows) != 1:
            return
        sample = self.sample_table.item(rows.pop(), 0).data(Qt.ItemDataRole.UserRole)
        if sample != self.sample:
            self.sample = sample
            self.show_sample(sample)
            if self.block is not None:
                self.show_block(self.block)

    def show_sample(self, i: int):
        """Sample ``i``'s own picture: its attribution over the image (per frame for video) beside the image, or
        over time for sequences; for Grad-CAM its map."""
        import numpy as np

        result = self.result
        self._clear_plots()
        self.sample_heatmaps = {}
        o = result.get("_outcomes") or {}
        head = f"sample #{i}"
        if o:
            head += f": target {self._text(o['targets'][i])}, predicted {self._text(o['predictions'][i])}"
        self.status.setText(f"{result['method']}, {head}")
        if "_cam" in result:
            cam = np.asarray(result["_cam"][i])
            self._sample_picture("grad-cam", cam, "HW"[-cam.ndim:] if cam.ndim < 3 else "THW",
                                 f"Grad-CAM {result['block']}", None)
            return
        for k, name in enumerate(result["_input_ids"]):
            attr = np.abs(np.asarray(result["_attributions"][k][i], np.float64))
            x = np.asarray(result["_samples"][k][i])
            self._sample_picture(name, attr, result["inputs"][name]["axes"], name, x)

    def _sample_picture(self, name, attr, axes, title, x):
        """One Input's attribution for one sample: image / frames heatmaps, or a curve over its first axis."""
        import numpy as np
        import pyqtgraph as pg

        if "H" in axes and "W" in axes:
            keep = [axes.index(c) for c in ("T", "H", "W") if c in axes]
            heat = attr.sum(axis=tuple(d for d in range(attr.ndim) if d not in keep))
            if heat.ndim == 3:  # frames side by side, a one-pixel gap between them
                heat = _tile_row(heat)
                x = _tile_row(np.asarray(x, np.float32).mean(axis=axes.index("C"))) if x is not None else None
            elif x is not None:
                x = np.asarray(x, np.float32).mean(axis=tuple(d for d in range(x.ndim) if d not in keep))
            self.sample_heatmaps[name] = heat
            row = QHBoxLayout()
            if x is not None:
                self._image(x, f"{title}: the sample", row, cmap="viridis")
            frames = " (frames left to right)" if "T" in axes else ""
            self._image(heat, f"{title}: attribution{frames}", row)
            self.plots_layout.addLayout(row)
            return
        if attr.ndim == 0:
            return
        curve = attr.reshape(attr.shape[0], -1).sum(1)  # over the first axis: time for TF/TCL, features for F
        self.sample_heatmaps[name] = curve
        letter = axes[0] if axes else "index"
        plot = pg.PlotWidget(title=f"{title}: attribution over {letter}")
        plot.plot(list(range(len(curve))), curve.tolist(), pen=pg.mkPen("#cc3311", width=2))
        if x is not None and np.issubdtype(np.asarray(x).dtype, np.floating) and np.asarray(x).ndim >= 1:
            # the sample itself, scaled onto the curve's range (its shape matters here, not its units)
            sig = np.asarray(x, np.float64).reshape(len(curve), -1).mean(1)
            span = np.ptp(sig) or 1.0
            plot.plot(list(range(len(sig))), ((sig - sig.min()) / span * (curve.max() or 1.0)).tolist(),
                      pen=pg.mkPen("#7788aa", width=1))
        plot.setLabel("bottom", letter)
        plot.setMinimumHeight(140)
        self.plots_layout.addWidget(plot)

    # -- block activations (the block clicked on the canvas) ------------------------------------------------------
    def follow_scene(self):
        """Listen to the window's current canvas selection (the window makes a new scene per document)."""
        scene = getattr(self.window_, "scene", None)
        if scene is not None and scene is not self._scene:
            self._scene = scene
            scene.selectionChanged.connect(self._canvas_selection)

    def _canvas_selection(self):
        import shiboken6

        if not shiboken6.isValid(self) or self._scene is None or not shiboken6.isValid(self._scene):
            return  # the window is closing (Qt emits selectionChanged while it deletes the scene)
        ids = self._scene.selected_node_ids()
        if len(ids) == 1:
            self.show_block(ids[0])

    def show_block(self, block: str):
        """Show ``block``'s activations for the selected sample, asking the worker when they are not here yet."""
        self.block = block
        if self.result is None or self.sample is None:
            self.activation_title.setText(f"Block {block}: explain a run and pick a sample to see its activations.")
            return
        types = self.result.get("_block_types") or {}
        if block not in types:
            self.activation_title.setText(f"'{block}' is not in the explained run's model: click one of "
                                          f"{', '.join(types)}")
            return
        if self.sample in self._act_cache:
            self._draw_activation()
            return
        self._request(self.sample)

    def _request(self, sample):
        from hybrid_studio.explain.worker import start_activations

        key = (self.result.get("_run_dir"), self.result.get("_checkpoint"))
        if self._acts is None or not self._acts[0].is_alive():
            proc, requests, replies = start_activations(*key)
            self._acts = (proc, requests, replies, key)
            # the view (and its window) going away ends the worker too, not only the app's exit
            self.destroyed.connect(lambda *_a, _p=proc, _q=requests: _end_worker(_p, _q))
            self._act_pending.clear()
        if sample not in self._act_pending:
            self._act_pending.add(sample)
            self._acts[1].put(sample)
        self.activation_progress.setRange(0, 0)  # busy until the worker reports its first step
        self.activation_title.setText(f"Block {self.block}: computing the activations of sample #{sample} in the "
                                      f"worker process…")
        self.act_timer.start()

    def _drain_activations(self):
        """Read the activations worker's replies (on the UI thread, never blocking)."""
        if self._acts is None:
            self.act_timer.stop()
            return
        proc, _requests, replies, _key = self._acts
        while True:
            try:
                msg = replies.get_nowait()
            except queue_mod.Empty:
                break
            if msg[0] == "progress":
                if msg[3]:
                    self.activation_progress.setRange(0, msg[3])
                    self.activation_progress.setValue(msg[2])
                self.activation_title.setText(f"Block {self.block}: computing activations… {msg[1]}")
            elif msg[0] == "activations":
                self._act_pending.discard(msg[1])
                self._act_cache[msg[1]] = msg[2]
                if msg[1] == self.sample:
                    self._draw_activation()
            else:
                self._act_pending.discard(msg[1])
                self.activation_progress.setRange(0, 1)
                self.activation_progress.setValue(0)
                self.activation_title.setText(f"No activations: {msg[2]}")
                if msg[1] is None:  # the worker gave up (it could not load the run)
                    self.stop_activations()
                    return
        if not self._act_pending:
            self.act_timer.stop()
        elif not proc.is_alive() and replies.empty():
            self._act_pending.clear()
            self.act_timer.stop()
            self.activation_title.setText(f"The activations worker stopped (exit code {proc.exitcode})")
            self._acts = None

    def _draw_activation(self):
        """Draw the wanted block's activations for the selected sample from the cache."""
        import numpy as np
        import pyqtgraph as pg

        self.activation_progress.setRange(0, 1)
        self.activation_progress.setValue(1)
        views = self._act_cache.get(self.sample, {})
        view = views.get(self.block)
        _empty(self.activation_box)
        self.activation_plot = None
        if view is None:
            self.activation_kind = self.activation_data = None
            self.activation_title.setText(
                f"Block {self.block} has no output of its own to show; click one of {', '.join(views)}")
            return
        data = np.asarray(view["data"], np.float32)
        self.activation_kind, self.activation_data = view["kind"], data
        self.activation_title.setText(f"Block {self.block}, sample #{self.sample}: {view['title']}")
        plot = pg.PlotWidget()
        plot.setMinimumHeight(200)
        if view["kind"] == "vector":
            plot.addItem(pg.BarGraphItem(x=np.arange(len(data)), height=data, width=0.8, brush="#4477aa"))
            plot.setLabel("bottom", view["cols"])
        else:
            finite = data[np.isfinite(data)]
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
            shown = np.where(np.isfinite(data), data, lo)  # the gaps between tiles drawn as the lowest value
            item = pg.ImageItem(shown.T, levels=(lo, hi if hi > lo else lo + 1.0))
            item.setColorMap(pg.colormap.get("viridis"))
            plot.addItem(item)
            plot.invertY(True)
            if view["kind"] == "maps":  # tiles, not axes: the title says what the grid holds
                plot.setAspectLocked(True)
                plot.hideAxis("left")
                plot.hideAxis("bottom")
            else:
                plot.setLabel("bottom", str(view["cols"]))
                plot.setLabel("left", str(view["rows"]))
            self.activation_image = item
        self.activation_box.addWidget(plot)
        self.activation_plot = plot

    def stop_activations(self):
        """End the activations worker (a new run was explained, or the view goes away)."""
        if self._acts is not None:
            _end_worker(self._acts[0], self._acts[1])
        self._acts = None
        self._act_pending.clear()
        self.act_timer.stop()


def _end_worker(proc, requests):
    """Ask the activations worker to stop; kill it if it does not within two seconds."""
    if not proc.is_alive():
        return
    try:
        requests.put(None)
    except (OSError, ValueError):
        pass
    proc.join(2)
    if proc.is_alive():
        proc.kill()
        proc.join(2)


def _empty(layout):
    """Take every widget (and row of widgets) out of ``layout``; each leaves the screen at once (unparented) and is
    deleted when the event loop next runs."""
    while layout.count():
        item = layout.takeAt(0)
        if item.layout() is not None:
            _empty(item.layout())
        w = item.widget()
        if w is not None:
            w.setParent(None)
            w.deleteLater()


def _tile_row(frames):
    """(T, H, W) -> one (H, T*(W+1)-1) image, the frames left to right with a one-pixel gap (the gap at the
    lowest value, so that it reads as background)."""
    import numpy as np

    frames = np.asarray(frames, np.float64)
    t, h, w = frames.shape
    out = np.full((h, t * (w + 1) - 1), frames.min() if frames.size else 0.0)
    for k in range(t):
        out[:, k * (w + 1):k * (w + 1) + w] = frames[k]
    return out
