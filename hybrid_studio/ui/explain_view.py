"""Explain in the app: "Explain Run…" (Train menu) opens the Explain dock on a finished run of the document.

The attribution runs in a spawned worker process (``explain.worker``), drained on a QTimer, with a progress bar,
so the UI thread never imports torch. The dock shows each Input's share, heatmaps over images (pyqtgraph
ImageItem) and attribution curves over time and feature axes (PlotWidget).
"""

from __future__ import annotations

import queue as queue_mod

from PySide6.QtCore import QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QComboBox, QDockWidget, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSpinBox,
                               QVBoxLayout, QWidget)

METHODS = ("integrated-gradients", "saliency", "grad-cam")


def install(window) -> None:
    """The Explain Run… action in the Train menu; the dock is made on first use."""
    menu = _train_menu(window)
    act = QAction("E&xplain Run…", window)
    act.setStatusTip("Attribute a finished run's predictions to its inputs: shares, heatmaps, time profiles")
    act.triggered.connect(lambda: open_explain_view(window))
    menu.addAction(act)
    window.explain_action = act
    window.explain_view = None


def _train_menu(window):
    for action in window.menuBar().actions():
        menu = action.menu()
        if menu is not None and action.text().replace("&", "") == "Train":
            return menu
    return window.menuBar().addMenu("&Train")


def open_explain_view(window):
    """Show (making it on first use) the Explain dock, its run list refreshed; returns the view."""
    from PySide6.QtCore import Qt

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
        self.plots = QWidget()
        self.plots_layout = QVBoxLayout(self.plots)
        lay.addWidget(self.plots, 1)

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
        """Shares per input, heatmaps over images, curves over the other axes."""
        import numpy as np
        import pyqtgraph as pg

        self.result = result
        while self.plots_layout.count():
            w = self.plots_layout.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
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

    def _image(self, array, title):
        import pyqtgraph as pg

        plot = pg.PlotWidget(title=title)
        item = pg.ImageItem(array.T)  # ImageItem's first axis is x
        item.setColorMap(pg.colormap.get("inferno"))
        plot.addItem(item)
        plot.invertY(True)
        plot.setAspectLocked(True)
        plot.setMinimumHeight(180)
        self.plots_layout.addWidget(plot)
        self.image_item = item
