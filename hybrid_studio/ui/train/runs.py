"""The runs list: status, best metric, duration and device of every run in the project's runs folder; select
several and Compare to overlay their curves; restore the architecture a run trained; resume a stopped run; show its
results. The same commands are on the list's right-click menu.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QItemSelection, QItemSelectionModel, Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QMenu, QPushButton,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from .progress import fmt_time

COLUMNS = ("Run", "Status", "Best", "Duration", "Device", "Started")
RESUMABLE = ("stopped", "failed")  # both usually leave checkpoints/last.pt behind (not when ended in epoch 1)


def _duration(seconds) -> str:
    try:
        return fmt_time(round(float(seconds)))
    except (TypeError, ValueError):
        return ""


def _started(value) -> str:
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M")
    return str(value or "")[:16].replace("T", " ")


def _best(value, name: str = "") -> str:
    """``0.9812 val_accuracy`` style text for the best metric of a run."""
    if value is None:
        return ""
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return f"{text} {name}".strip()


class RunsView(QWidget):
    """A table of runs with actions on the selection."""

    #: {label: metrics rows} of the selected runs, to draw over the live curves
    overlay_requested = Signal(dict)
    restore_requested = Signal(str)
    resume_requested = Signal(str)
    results_requested = Signal(str)
    #: Compare was asked for: the overlays of the selected runs are drawn; show the curves
    compare_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("runsTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.refresh_button = QPushButton("Refresh")
        self.restore_button = QPushButton("Restore this architecture")
        self.resume_button = QPushButton("Resume")
        self.results_button = QPushButton("Results")
        self.compare_button = QPushButton("Compare")
        self.compare_button.setObjectName("compareRunsButton")
        self.compare_button.setToolTip("Draw the selected runs' curves together (select several with Ctrl+click)")
        self.hint = QLabel("Select runs (Ctrl+click for several) and press Compare to overlay their curves.")
        self.hint.setWordWrap(True)
        buttons = QHBoxLayout()
        for b in (self.compare_button, self.results_button, self.resume_button, self.restore_button,
                  self.refresh_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.hint)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.context_menu: QMenu | None = None
        self._buttons = buttons
        #: (button, callback) of the actions feature modules hang on one run (Quantize, Explain...)
        self.run_actions: list = []

        self.runs_dir: Path | None = None
        self.runs: list = []  # RunInfo, in table order
        self.busy = False  # a run is in progress: no resume meanwhile
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.refresh_button.clicked.connect(lambda: self.refresh())
        self.restore_button.clicked.connect(lambda: self._emit_one(self.restore_requested))
        self.resume_button.clicked.connect(lambda: self._emit_one(self.resume_requested))
        self.results_button.clicked.connect(lambda: self._emit_one(self.results_requested))
        self.compare_button.clicked.connect(self.compare)
        self._on_selection()

    def refresh(self, runs_dir=None) -> list:
        """Re-read the runs folder (``runs_dir`` when given, else the last one); keeps the selection by run id."""
        if runs_dir is not None:
            self.runs_dir = Path(runs_dir)
        if self.runs_dir is None:
            return []
        try:
            from hybrid_studio.train.runs import list_runs
        except ImportError:  # the engine is not installed: nothing to list
            return []
        selected = {r.run_id for r in self.selected()}
        self.runs = list(list_runs(self.runs_dir)) if self.runs_dir.is_dir() else []
        self.table.blockSignals(True)
        self.table.setRowCount(len(self.runs))
        for row, r in enumerate(self.runs):
            best = _best(r.best_metric, getattr(r, "best_metric_name", ""))
            cells = (r.run_id, r.status, best, _duration(r.duration_s), r.device or "",
                     _started(r.started))
            for col, text in enumerate(cells):
                item = QTableWidgetItem(str(text))
                if col == 1 and r.status == "failed":
                    item.setForeground(Qt.GlobalColor.red)
                self.table.setItem(row, col, item)
        # keep every selected run selected (selectRow would keep only the last one: overlays compare several)
        keep = QItemSelection()
        for row, r in enumerate(self.runs):
            if r.run_id in selected:
                keep.select(self.table.model().index(row, 0), self.table.model().index(row, self.table.columnCount() - 1))
        self.table.selectionModel().select(keep, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.table.blockSignals(False)
        self._update_buttons()
        return self.runs

    def selected(self) -> list:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        return [self.runs[r] for r in rows if r < len(self.runs)]

    def select_run(self, run_id: str) -> None:
        for row, r in enumerate(self.runs):
            if r.run_id == run_id:
                self.table.selectRow(row)

    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        self._update_buttons()

    def compare(self) -> bool:
        """Overlay the selected runs' curves and ask for the curves to be shown; False without a selection."""
        if not self.selected():
            return False
        self._on_selection()
        self.compare_requested.emit()
        return True

    def add_run_action(self, text: str, callback, tooltip: str = "") -> QPushButton:
        """A button (and a context-menu entry) that calls ``callback(run_folder)`` for the one selected run.

        It is enabled like Results: one finished run with a checkpoint. Feature modules add theirs through
        ``MainWindow.add_run_action`` (the quantiser adds "Quantize", for instance)."""
        button = QPushButton(text)
        button.setObjectName(f"runAction{text.replace(' ', '').replace('.', '')}")
        button.setToolTip(tooltip)
        button.clicked.connect(lambda: self._call_one(callback))
        self._buttons.insertWidget(self._buttons.count() - 1, button)  # before the stretch
        self.run_actions.append((button, callback))
        self._update_buttons()
        return button

    def _call_one(self, callback):
        sel = self.selected()
        if len(sel) == 1:
            callback(str(sel[0].path))

    def build_context_menu(self) -> QMenu:
        """The right-click menu of the list: the buttons' commands for the selected runs."""
        menu = QMenu(self)
        n = len(self.selected())
        compare = menu.addAction(f"Compare {n} runs" if n > 1 else "Show curves", self.compare)
        compare.setEnabled(n > 0)
        for text, button in (("Results", self.results_button), ("Resume", self.resume_button),
                             ("Restore this architecture", self.restore_button)):
            a = menu.addAction(text, button.click)
            a.setEnabled(button.isEnabled())
        for button, _ in self.run_actions:
            a = menu.addAction(button.text(), button.click)
            a.setEnabled(button.isEnabled())
        menu.addSeparator()
        menu.addAction("Refresh", lambda: self.refresh())
        return menu

    def _context_menu(self, pos):
        row = self.table.rowAt(pos.y())
        if row >= 0 and row not in {i.row() for i in self.table.selectedIndexes()}:
            self.table.selectRow(row)
        menu = self.context_menu = self.build_context_menu()
        try:
            menu.exec(self.table.viewport().mapToGlobal(pos))
        finally:
            self.context_menu = None
            menu.deleteLater()

    def _update_buttons(self):
        sel = self.selected()
        one = len(sel) == 1
        self.compare_button.setEnabled(bool(sel))
        self.compare_button.setText(f"Compare {len(sel)}" if len(sel) > 1 else "Compare")
        self.restore_button.setEnabled(one)
        # results and resuming need the run's last checkpoint (a run that failed in its first epoch has none)
        saved = one and (Path(sel[0].path) / "checkpoints" / "last.pt").is_file()
        self.results_button.setEnabled(saved and sel[0].status != "running")
        for button, _ in self.run_actions:
            button.setEnabled(saved and sel[0].status != "running")
        self.resume_button.setEnabled(saved and not self.busy and sel[0].status in RESUMABLE)
        why = "" if saved or not one else "This run saved no checkpoint (it ended before its first one)"
        for b in (self.results_button, self.resume_button):
            b.setToolTip(why)

    def _emit_one(self, signal):
        sel = self.selected()
        if len(sel) == 1:
            signal.emit(str(sel[0].path))

    def _on_selection(self):
        self._update_buttons()
        sel = self.selected()
        overlays = {}
        if sel:
            from hybrid_studio.train.runs import load_metrics
            for r in sel:
                try:
                    overlays[r.run_id] = load_metrics(r.path)
                except (OSError, ValueError):
                    continue  # a run folder being written or damaged: draw the others
        self.overlay_requested.emit(overlays)
