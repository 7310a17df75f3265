"""The Sweep dialog: what to search (params from the inspector's "Sweep this", or added here), over what data, how
many trials and how many at once. It only builds a ``SweepRequest``; the sweep view runs it.

The search space is checked with the command line's own rules (``hybrid_studio.sweep.space``) before the dialog
closes, so a value the sweep would refuse is named here, on its row.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QHeaderView,
                               QLabel, QLineEdit, QPushButton, QSpinBox, QTableWidget, QTableWidgetItem,
                               QVBoxLayout)

from hybrid_studio.blocks import CATALOG
from hybrid_studio.sweep.space import NOT_SWEPT, SpaceError, build_space

from . import theme

#: training settings worth offering first, with the range a first sweep usually tries
TRAINING_DEFAULT_SPECS = {
    "lr": "1e-4..1e-2:log", "batch_size": "16,32,64,128", "weight_decay": "1e-6..1e-2:log",
    "optimizer": "adam,adamw,sgd", "epochs": "2..10",
}


@dataclass
class SweepRequest:
    """What the user asked for (plain data)."""

    params: list[str]
    dataset: str
    trials: int = 12
    epochs: int = 2
    parallel: int = 1
    sampler: str = "tpe"
    study: str = ""
    extra: dict = field(default_factory=dict)


def default_spec(graph, name: str) -> str:
    """A sensible first range for ``name`` (``block.param`` or ``training.setting``) around its current value."""
    head, _, tail = name.partition(".")
    if head == "training":
        if tail in TRAINING_DEFAULT_SPECS:
            return TRAINING_DEFAULT_SPECS[tail]
        from hybrid_studio.train.config import TrainConfig
        value = TrainConfig.from_dict({}).to_dict().get(tail)
        return _around(value, None)
    node = graph.get(head)
    if node is None or node.type not in CATALOG:
        return ""
    block = CATALOG.get(node.type)
    try:
        spec = block.param(tail)
    except KeyError:
        return ""
    value = block.safe_params(node.params).get(tail)
    if spec.kind == "bool":
        return "true,false"
    if spec.kind == "choice":
        return ",".join("null" if c is None else str(c) for c in spec.choices)
    return _around(value, spec)


def _around(value, spec) -> str:
    """A range around a number: x/4..x*4 for sizes (within the param's bounds), x/10..x*10:log for rates."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return ""
    if isinstance(value, int):
        low, high = max(1, value // 4), max(2, value * 4)
        if spec is not None:
            if spec.min is not None:
                low = max(low, int(spec.min))
            if spec.max is not None:
                high = min(high, int(spec.max))
        if high <= low:
            high = low + 1
        return f"{low}..{high}"
    if 0 < value < 1 and spec is not None and spec.max is not None and spec.max <= 1:  # a probability
        return "0.0..0.5" if spec.min is None or spec.min <= 0 else f"{spec.min}..0.5"
    if value > 0:
        return f"{value / 10:g}..{value * 10:g}:log"
    return "0.0..1.0"


def sweepable_names(graph) -> list[str]:
    """Every param a sweep can search: the training settings, then each block's numbers, flags and choices."""
    from hybrid_studio.train.config import TrainConfig
    names = [f"training.{f.name}" for f in fields(TrainConfig) if f.name not in NOT_SWEPT]
    for node in graph.nodes:
        if node.type not in CATALOG:
            continue
        for p in CATALOG.get(node.type).params:
            if p.kind in ("int", "float", "bool", "choice", "int_or_pair", "padding"):
                names.append(f"{node.id}.{p.name}")
    return names


class SweepDialog(QDialog):
    """Pick the params and their ranges, the dataset, trials, epochs and parallel processes."""

    def __init__(self, graph, dataset: str = "", params=(), parent=None, study: str = ""):
        super().__init__(parent)
        self.setWindowTitle("Sweep")
        self.graph = graph
        self.request: SweepRequest | None = None
        layout = QVBoxLayout(self)
        intro = QLabel("Each trial trains a copy of the project with the values Optuna picks, as a normal run. "
                       "Ranges: a list <b>32,64,128</b>, whole numbers <b>16..128</b>, or numbers "
                       "<b>1e-4..1e-2:log</b>.")
        intro.setWordWrap(True)
        layout.addWidget(intro)

        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Param", "Values or range"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().hide()
        layout.addWidget(self.table)
        add_row = QHBoxLayout()
        self.add_combo = QComboBox()
        self.add_combo.setEditable(False)
        self.add_combo.addItems(sweepable_names(graph))
        self.add_button = QPushButton("Add")
        self.add_button.clicked.connect(lambda: self.add_param(self.add_combo.currentText()))
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self._remove_selected)
        add_row.addWidget(self.add_combo, 1)
        add_row.addWidget(self.add_button)
        add_row.addWidget(self.remove_button)
        layout.addLayout(add_row)

        form = QFormLayout()
        self.dataset_edit = QLineEdit(dataset or (graph.training or {}).get("dataset") or "digits")
        self.dataset_edit.setToolTip("a built-in dataset name, or a path to a .npz / .csv file or image folder")
        form.addRow("Dataset", self.dataset_edit)
        self.trials_spin = _spin(1, 10000, 12)
        form.addRow("Trials", self.trials_spin)
        self.epochs_spin = _spin(1, 100000, 2)
        form.addRow("Epochs per trial", self.epochs_spin)
        self.parallel_spin = _spin(1, max(1, os.cpu_count() or 1), 1)
        self.parallel_spin.setToolTip("trials at once, each in its own process")
        form.addRow("Parallel", self.parallel_spin)
        self.sampler_combo = QComboBox()
        for key, label in (("tpe", "TPE (Bayesian)"), ("random", "Random"), ("grid", "Grid (lists only)")):
            self.sampler_combo.addItem(label, key)
        form.addRow("Search", self.sampler_combo)
        self.study_edit = QLineEdit(study)
        self.study_edit.setPlaceholderText("<project>-sweep (the same name continues a study)")
        form.addRow("Study", self.study_edit)
        layout.addLayout(form)

        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(f"color: {theme.ERROR_COLOUR}")
        self.error_label.hide()
        layout.addWidget(self.error_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Start sweep")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        for name in params:
            self.add_param(name)
        self.resize(560, 520)

    # ---- rows ----------------------------------------------------------------------------------------------------
    def add_param(self, name: str, spec: str | None = None) -> int:
        """Add (or select, when present) the row of ``name``; returns its row."""
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).text() == name:
                self.table.selectRow(row)
                return row
        row = self.table.rowCount()
        self.table.insertRow(row)
        item = QTableWidgetItem(name)
        item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
        self.table.setItem(row, 0, item)
        self.table.setItem(row, 1, QTableWidgetItem(default_spec(self.graph, name) if spec is None else spec))
        self.table.selectRow(row)
        return row

    def _remove_selected(self):
        rows = sorted({i.row() for i in self.table.selectedIndexes()}, reverse=True)
        for row in rows:
            self.table.removeRow(row)

    def param_texts(self) -> list[str]:
        return [f"{self.table.item(r, 0).text()}={self.table.item(r, 1).text().strip()}"
                for r in range(self.table.rowCount())]

    # ---- accepting -----------------------------------------------------------------------------------------------
    def accept(self):
        texts = self.param_texts()
        try:
            space = build_space(self.graph, texts)
            if self.sampler_combo.currentData() == "grid":
                for sp in space:
                    sp.grid_values()
        except SpaceError as e:
            self._refuse(str(e).replace("--param ", ""))
            return
        if not texts:
            self._refuse("Add at least one param to search (from the list above, or right-click a param in the "
                         "inspector > Sweep this).")
            return
        dataset = self.dataset_edit.text().strip()
        if not dataset:
            self._refuse("Pick a dataset: a built-in name such as digits, or a path.")
            return
        self.request = SweepRequest(params=texts, dataset=dataset, trials=self.trials_spin.value(),
                                    epochs=self.epochs_spin.value(), parallel=self.parallel_spin.value(),
                                    sampler=self.sampler_combo.currentData(), study=self.study_edit.text().strip())
        super().accept()

    def _refuse(self, message: str):
        self.error_label.setText(message)
        self.error_label.show()


def _spin(low: int, high: int, value: int) -> QSpinBox:
    s = QSpinBox()
    s.setRange(low, high)
    s.setValue(min(max(value, low), high))
    return s

