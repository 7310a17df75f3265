"""Sweeps in the app: the Sweep... action, "Sweep this" on a param in the inspector, and the Sweep view.

A sweep runs as ``hybrid-studio sweep ... --events`` in a QProcess on a snapshot of the project (so editing goes
on, and the UI process never imports torch or Optuna); each ended trial arrives as one JSON line. The view shows
a live trials table, the best-so-far curve, a parallel-coordinates chart, the parameter importances (when the
sweep ends) and "Apply best", which puts the best trial's values on the project as one undoable edit.

The widgets (loaded on first use, so that the window opens faster): ``sweep_view`` holds only ``install``.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, Qt, Signal
from PySide6.QtWidgets import (QDockWidget, QHBoxLayout, QHeaderView, QLabel, QProgressBar, QPushButton,
                               QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

STATE_LABELS = {"complete": "done", "pruned": "pruned", "fail": "failed", "running": "running",
                "waiting": "waiting"}


def _current_dataset(window) -> str:
    panel = getattr(window, "_train_panel", None)
    picker = getattr(panel, "picker", None)
    try:
        return picker.name if isinstance(picker.name, str) else picker.name()
    except Exception:  # noqa: BLE001 - no training panel yet
        return ""


def sweep_this(window, node_id: str, param: str):
    """The inspector's "Sweep this...": the Sweep dialog with the param, or a message when it is not a number, flag
    or choice (an Input's shape, Permute's axes), which the dialog could only refuse with an empty range."""
    from .sweep_dialog import sweepable_names

    name = f"{node_id}.{param}"
    if name not in sweepable_names(window.document.graph):
        window.show_message(f"{name} cannot be swept: a sweep searches numbers, true/false and choices")
        return None
    return open_sweep_dialog(window, [name])


def open_sweep_dialog(window, params=()):
    """Show the Sweep dialog (non-modal); on Start, the sweep view runs the request. Returns the dialog."""
    from .sweep_dialog import SweepDialog

    document = window.document
    dialog = SweepDialog(document.graph, dataset=_current_dataset(window), params=params, parent=window)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def start():
        if dialog.request is not None:
            ensure_sweep_view(window).start(dialog.request)
    dialog.accepted.connect(start)
    window._sweep_dialog = dialog
    dialog.show()
    return dialog


def ensure_sweep_view(window) -> "SweepView":
    view = getattr(window, "sweep_view", None)
    if view is None:
        view = window.sweep_view = SweepView(window)
        dock = QDockWidget("Sweep", window)
        dock.setObjectName("sweep_dock")
        dock.setWidget(view)
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        others = [d for d in (getattr(window, "train_dock", None), getattr(window, "problems_dock", None))
                  if d is not None and window.dockWidgetArea(d) == Qt.DockWidgetArea.BottomDockWidgetArea]
        if others:
            window.tabifyDockWidget(others[0], dock)
        window.sweep_dock = dock
        window.view_menu.addAction(dock.toggleViewAction())
        from PySide6.QtWidgets import QApplication
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(view.shutdown)
    window.sweep_dock.show()
    window.sweep_dock.raise_()
    return view


class SweepProcess(QObject):
    """``hybrid-studio sweep --events`` in a QProcess; each JSON line becomes a signal."""

    trial_ended = Signal(dict)
    reported = Signal(dict)
    failed = Signal(str)
    finished = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.process = QProcess(self)
        self.process.setProcessChannelMode(QProcess.ProcessChannelMode.SeparateChannels)
        self.process.readyReadStandardOutput.connect(self._read)
        self.process.finished.connect(self._finished)
        self._buffer = b""
        self._stderr = b""
        self.process.readyReadStandardError.connect(self._read_err)

    def start(self, arguments: list[str], cwd: str | None = None):
        # the same interpreter, no shell: user paths go to the child as plain arguments
        if cwd:
            self.process.setWorkingDirectory(cwd)
        self.process.start(sys.executable, ["-m", "hybrid_studio", "sweep", *arguments])

    def running(self) -> bool:
        return self.process.state() != QProcess.ProcessState.NotRunning

    def stop(self):
        if self.running():
            self.process.terminate()  # SIGTERM: the sweep ends its trials cleanly (run folders say stopped)

    def _read(self):
        self._buffer += bytes(self.process.readAllStandardOutput())
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            line = line.strip()
            if not line.startswith(b"{"):
                continue
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if data.get("event") == "trial":
                self.trial_ended.emit(data)
            elif data.get("event") == "report":
                self.reported.emit(data)

    def _read_err(self):
        self._stderr += bytes(self.process.readAllStandardError())

    def _finished(self, code, _status):
        self._read()
        if code not in (0, 1):
            text = self._stderr.decode("utf-8", "replace").strip().splitlines()
            errors = [t for t in text if "error" in t.lower()] or text[-1:] or [f"the sweep exited with {code}"]
            self.failed.emit(errors[-1].replace("hybrid-studio sweep: error: ", ""))
        self.finished.emit(code)


class SweepView(QWidget):
    """One sweep at a time: progress, trials table, best-so-far, parallel coordinates, importances, Apply best."""

    def __init__(self, window):
        super().__init__(window)
        self.window_ = window
        self.request = None
        self.report: dict | None = None
        self.trials: dict[int, dict] = {}
        self.direction = "maximize"
        self.process: SweepProcess | None = None
        self.document = None

        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.status = QLabel("No sweep yet: Train > Sweep…, or right-click a param in the inspector > Sweep this.")
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setFormat("%v / %m trials")
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        self.stop_button.setEnabled(False)
        self.apply_button = QPushButton("Apply best")
        self.apply_button.setToolTip("Put the best trial's values on the project (one undoable edit)")
        self.apply_button.clicked.connect(self.apply_best)
        self.apply_button.setEnabled(False)
        top.addWidget(self.status, 1)
        top.addWidget(self.progress)
        top.addWidget(self.stop_button)
        top.addWidget(self.apply_button)
        layout.addLayout(top)

        split = QSplitter(Qt.Orientation.Horizontal)
        self.table = QTableWidget(0, 0)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        split.addWidget(self.table)
        import pyqtgraph as pg  # loaded with the view, on first use

        charts = QSplitter(Qt.Orientation.Vertical)
        self.best_plot = pg.PlotWidget(title="Best so far")
        self.best_plot.setLabel("bottom", "trial")
        self.best_plot.showGrid(x=True, y=True, alpha=0.2)
        self.best_plot.getAxis("left").enableAutoSIPrefix(False)  # accuracy 0.76, not 760 x 0.001
        self.parallel_plot = pg.PlotWidget(title="Parallel coordinates")
        self.parallel_plot.getAxis("left").setLabel("scaled value")
        self.importance_plot = pg.PlotWidget(title="Parameter importance")
        for w in (self.best_plot, self.parallel_plot, self.importance_plot):
            w.setMinimumHeight(120)
            charts.addWidget(w)
        split.addWidget(charts)
        split.setSizes([420, 520])
        layout.addWidget(split, 1)

    # ---- running ---------------------------------------------------------------------------------------------------
    def start(self, request) -> bool:
        """Snapshot the project and start ``hybrid-studio sweep`` on it; False (with the reason shown) if not."""
        from hybrid_studio.project import atomic_write_text, dumps_project

        from .train.controller import runs_dir_for

        if self.process is not None and self.process.running():
            self.status.setText("A sweep is running: stop it first.")
            return False
        window = self.window_
        self.document = window.document
        runs_dir = runs_dir_for(self.document)
        from hybrid_studio.sweep.study import direction_for, project_stem
        path = getattr(self.document, "path", None)
        stem = project_stem(path) if path else self.document.graph.name
        study = request.study or f"{stem}-sweep"
        try:
            runs_dir.mkdir(parents=True, exist_ok=True)
            snapshot = runs_dir / f"{study}.hsproj.json"
            atomic_write_text(snapshot, dumps_project(self.document.graph))
        except OSError as e:
            self.status.setText(f"Cannot write the sweep's project snapshot in {runs_dir}: {e.strerror or e}")
            return False
        args = [str(snapshot), "--dataset", request.dataset, "--trials", str(request.trials),
                "--parallel", str(request.parallel), "--sampler", request.sampler,
                "--study", study, "--out", str(runs_dir), "--events"]
        if not any(t.partition("=")[0] == "training.epochs" for t in request.params):
            args += ["--epochs", str(request.epochs)]  # a searched training.epochs is each trial's own
        for text in request.params:
            args += ["--param", text]
        self.request, self.report, self.trials = request, None, {}
        self.direction, self.metric = direction_for(self.document.graph)
        self.study, self.runs_dir = study, runs_dir
        self.process = SweepProcess(self)
        self.process.trial_ended.connect(self.add_trial)
        self.process.reported.connect(self.set_report)
        self.process.failed.connect(self._failed)
        self.process.finished.connect(self._finished)
        self.progress.setRange(0, request.trials)
        self.progress.setValue(0)
        self.stop_button.setEnabled(True)
        self.apply_button.setEnabled(False)
        self._columns = [t.partition("=")[0] for t in request.params]
        self._refresh()
        self.status.setText(f"Sweep '{study}': starting {request.trials} trial(s), {request.parallel} at a time…")
        window.show_message(f"Sweep '{study}' started")
        self.process.start(args, cwd=str(runs_dir))
        return True

    def shutdown(self):
        """The app is quitting: stop a running sweep and wait for it, so its trials end as stopped runs (a sweep
        process left to the QProcess destructor is killed outright, its run folders left saying running)."""
        if self.process is not None and self.process.running():
            self.process.stop()
            if not self.process.process.waitForFinished(30_000):
                self.process.process.kill()
                self.process.process.waitForFinished(5_000)

    def stop(self):
        if self.process is not None:
            self.process.stop()
            self.status.setText(f"Sweep '{self.study}': stopping…")

    def add_trial(self, trial: dict):
        if trial.get("number") is None:
            return
        self.trials[int(trial["number"])] = trial
        self.progress.setValue(min(self.progress.maximum(), self._ended_here()))
        self._refresh()

    def _ended_here(self) -> int:
        return sum(1 for t in self.trials.values() if t.get("state") in ("complete", "pruned", "fail"))

    def set_report(self, report: dict):
        self.report = report
        for t in report.get("trials", []):
            self.trials[int(t["number"])] = t
        self._refresh()

    def _failed(self, message: str):
        self.status.setText(f"The sweep could not run: {message}")
        self.window_.show_message(f"Sweep failed: {message}")

    def _finished(self, code: int):
        self.stop_button.setEnabled(False)
        if code in (0, 1):
            best = self.best()
            done = sum(1 for t in self.trials.values() if t.get("state") == "complete")
            text = f"Sweep '{self.study}' finished: {done} of {len(self.trials)} trial(s) completed"
            if best is not None:
                text += f"; best {self.metric} {best['value']:.4f} (trial {best['number']})"
            self.status.setText(text + ".")
        elif code == 130 or self.status.text().endswith("stopping…"):
            self.status.setText(f"Sweep '{self.study}' stopped; start it again with the same study to continue.")
        self.apply_button.setEnabled(self.best() is not None)

    # ---- what it shows ---------------------------------------------------------------------------------------------
    def best(self) -> dict | None:
        done = [t for t in self.trials.values() if t.get("state") == "complete" and t.get("value") is not None]
        if not done:
            return None
        pick = max if self.direction == "maximize" else min
        return pick(done, key=lambda t: t["value"])

    def _refresh(self):
        self._fill_table()
        self._draw_best()
        self._draw_parallel()
        self._draw_importances()
        self.apply_button.setEnabled(self.best() is not None and not (self.process and self.process.running()))
        best = self.best()
        if self.process is not None and self.process.running():
            text = f"Sweep '{self.study}': {self._ended_here()} of {self.request.trials} trial(s) ended"
            if best is not None:
                text += f"; best {self.metric} {best['value']:.4f} (trial {best['number']})"
            self.status.setText(text)

    def _fill_table(self):
        columns = ["#", "state", self.metric if hasattr(self, "metric") else "value", *self._param_columns(), "run"]
        t = self.table
        t.setSortingEnabled(False)
        t.clear()
        t.setColumnCount(len(columns))
        t.setHorizontalHeaderLabels(columns)
        t.setRowCount(len(self.trials))
        best = self.best()
        for row, (number, trial) in enumerate(sorted(self.trials.items())):
            why = trial.get("diagnostic") or trial.get("error") or trial.get("pruned") or ""
            values = [number, STATE_LABELS.get(trial.get("state"), trial.get("state")), trial.get("value"),
                      *[trial.get("params", {}).get(c) for c in self._param_columns()],
                      Path(trial["run"]).name if trial.get("run") else ""]
            for col, v in enumerate(values):
                item = QTableWidgetItem()
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    item.setData(Qt.ItemDataRole.DisplayRole, round(v, 6) if isinstance(v, float) else v)
                else:
                    item.setText("" if v is None else str(v))
                if why:
                    item.setToolTip(why)
                if best is not None and number == best["number"]:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                t.setItem(row, col, item)
        t.setSortingEnabled(True)

    def _param_columns(self) -> list[str]:
        cols = list(getattr(self, "_columns", []))
        for trial in self.trials.values():
            for name in trial.get("params", {}):
                if name not in cols:
                    cols.append(name)
        return cols

    def _completed(self) -> list[dict]:
        return [t for _, t in sorted(self.trials.items())
                if t.get("state") == "complete" and isinstance(t.get("value"), (int, float))
                and math.isfinite(t["value"])]

    def _draw_best(self):
        import pyqtgraph as pg

        p = self.best_plot
        p.clear()
        done = self._completed()
        if not done:
            return
        xs = [t["number"] for t in done]
        ys = [t["value"] for t in done]
        best, run = [], None
        for y in ys:
            run = y if run is None else (max(run, y) if self.direction == "maximize" else min(run, y))
            best.append(run)
        p.plot(xs, ys, pen=None, symbol="o", symbolSize=7, symbolBrush=(120, 140, 170), name="trial")
        p.plot(xs, best, pen=pg.mkPen((30, 90, 230), width=2), stepMode=None, name="best so far")
        p.setLabel("left", self.metric)

    def _draw_parallel(self):
        """One polyline per completed trial across the searched params and the metric, each axis scaled to 0..1;
        the best trial drawn on top in the accent colour."""
        import pyqtgraph as pg

        p = self.parallel_plot
        p.clear()
        done = self._completed()
        cols = self._param_columns()
        if not done or not cols:
            return
        axes = cols + [self.metric]
        scaled = {}
        for name in axes:
            vals = [t["value"] if name == self.metric else t.get("params", {}).get(name) for t in done]
            scaled[name] = _scale(vals)
        best = self.best()
        values = [t["value"] for t in done]
        lo, hi = min(values), max(values)
        for i, t in enumerate(done):
            ys = [scaled[name][i] for name in axes]
            q = 0.5 if hi == lo else (t["value"] - lo) / (hi - lo)
            if self.direction == "minimize":
                q = 1 - q
            colour = (int(230 * (1 - q) + 30 * q), int(110 * (1 - q) + 160 * q), int(40 * (1 - q) + 90 * q), 170)
            is_best = best is not None and t["number"] == best["number"]
            pen = pg.mkPen((30, 90, 230), width=3) if is_best else pg.mkPen(colour, width=1.5)
            item = p.plot(list(range(len(axes))), ys, pen=pen)
            if is_best:
                item.setZValue(10)
        ax = p.getAxis("bottom")
        ax.setTicks([[(i, name) for i, name in enumerate(axes)]])
        p.setXRange(-0.2, len(axes) - 0.8)
        p.setYRange(-0.05, 1.05)

    def _draw_importances(self):
        import pyqtgraph as pg

        p = self.importance_plot
        p.clear()
        imp = (self.report or {}).get("importances") or {}
        if not imp:
            p.setTitle("Parameter importance (when the sweep ends, from 2 completed trials)")
            return
        p.setTitle("Parameter importance")
        names = list(imp)
        bars = pg.BarGraphItem(x0=0, y=list(range(len(names))), height=0.6, width=[imp[n] for n in names],
                               brush=(30, 90, 230))
        p.addItem(bars)
        p.getAxis("left").setTicks([[(i, n) for i, n in enumerate(names)]])
        p.setXRange(0, 1)

    # ---- applying -------------------------------------------------------------------------------------------------
    def apply_best(self) -> bool:
        """The best trial's block params and training settings on the project, as one undoable edit."""
        best = self.best()
        window = self.window_
        if best is None:
            return False
        edit = best_trial_edit(window.document.graph, best)
        if edit is None:
            window.show_message("The best trial's values are already on the project")
            return False
        ok = window.document.push(edit)
        if ok is False:
            return False
        window.show_message(f"Applied sweep trial {best['number']}: " +
                            ", ".join(f"{k}={v}" for k, v in best.get("params", {}).items()))
        return True


def best_trial_edit(graph, trial: dict):
    """One Batch edit setting the trial's block params and training settings (None when nothing changes);
    params of blocks that are gone since the sweep started are left out."""
    from hybrid_studio.graph.edits import Batch, SetMeta, SetParams
    from hybrid_studio.sweep.space import split_values

    training, blocks = split_values(trial.get("params", {}))
    edits = []
    for node_id, params in blocks.items():
        node = graph.get(node_id)
        if node is None:
            continue
        changes = {k: v for k, v in params.items() if node.params.get(k) != v}
        if changes:
            edits.append(SetParams(node_id, changes))
    if training:
        merged = dict(graph.training or {})
        if any(merged.get(k) != v for k, v in training.items()):
            merged.update(training)
            edits.append(SetMeta("training", merged))
    if not edits:
        return None
    return Batch(edits, label=f"Apply sweep trial {trial.get('number')}")


def _scale(values) -> list[float]:
    """Values to 0..1 for the parallel-coordinates chart: numbers by their range, anything else by its rank."""
    nums = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(nums) == len(values) and nums:
        lo, hi = min(nums), max(nums)
        if lo > 0 and hi / lo > 50:  # a log-scale search reads better on a log axis
            lo, hi = math.log10(lo), math.log10(hi)
            return [0.5 if hi == lo else (math.log10(v) - lo) / (hi - lo) for v in values]
        return [0.5 if hi == lo else (v - lo) / (hi - lo) for v in values]
    order = sorted({repr(v) for v in values})
    return [0.5 if len(order) == 1 else order.index(repr(v)) / (len(order) - 1) for v in values]
