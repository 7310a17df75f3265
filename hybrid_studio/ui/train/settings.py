"""The training settings form: one widget per TrainConfig field (except the dataset, picked elsewhere).

The form reads and writes plain dicts (TrainConfig.to_dict()); the panel stores them in the project's ``training``
section. Defaults and choices come from ``hybrid_studio.train.config`` (standard library only, so the form exists
before torch is imported); this module adds only labels and widget ranges.
"""

from __future__ import annotations

from dataclasses import fields

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QAbstractSpinBox, QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QSpinBox,
                               QWidget)

from hybrid_studio.train.config import AMP_MODES, OPTIMIZERS, SCHEDULERS, ConfigError, TrainConfig
from hybrid_studio.ui.param_editors import FloatSpinBox

DEFAULTS = {f.name: f.default for f in fields(TrainConfig)}

# name, label, kind, options (choices, or the widget's range: (lo, hi[, decimals, step]))
FIELDS = [
    ("device", "Device", "device", None),
    ("optimizer", "Optimizer", "choice", OPTIMIZERS),
    ("lr", "Learning rate", "float", (1e-9, 10.0, 12, 1e-4)),
    ("weight_decay", "Weight decay", "float", (0.0, 1.0, 12, 1e-4)),
    ("momentum", "Momentum (SGD)", "float", (0.0, 1.0, 12, 0.05)),
    ("scheduler", "LR schedule", "choice", SCHEDULERS),
    ("step_size", "Step every (epochs)", "int", (1, 10_000)),
    ("gamma", "Step factor", "float", (0.001, 1.0, 12, 0.05)),
    ("epochs", "Epochs", "int", (1, 100_000)),
    ("batch_size", "Batch size", "int", (1, 65_536)),
    ("val_split", "Validation split", "float", (0.0, 0.95, 12, 0.05)),
    ("seed", "Seed", "int", (0, 2**31 - 1)),
    ("grad_clip", "Gradient clip (0 = off)", "float", (0.0, 1e6, 12, 0.5)),
    ("early_stopping", "Early stopping patience (0 = off)", "int", (0, 10_000)),
    ("amp", "Mixed precision (CUDA)", "choice", AMP_MODES),
    ("compile", "torch.compile", "bool", None),
    ("num_threads", "CPU threads (0 = default)", "int", (0, 1024)),
    ("init_weights", "Start from imported weights", "weights", None),
    ("divergence", "Stop if loss grows (x, 0 = off)", "float", (0.0, 1e12, 6, 100.0)),
]


class WeightsCheck(QCheckBox):
    """On: training starts from ``path`` (an import's weights, remembered in the project as ``imported_weights``)."""

    path = ""

    def value(self) -> str:
        return self.path if self.isChecked() else ""


class SettingsForm(QWidget):
    """Edits a training-settings dict; ``changed`` fires on every user edit."""

    changed = Signal()
    #: a typed value was not taken: why, in words
    hint = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.widgets: dict[str, QWidget] = {}
        self._extra: dict = {}  # stored keys this form does not show (e.g. the dataset), kept on round trips
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        for name, label, kind, options in FIELDS:
            w = self._make(kind, options)
            w.setObjectName(f"setting_{name}")
            self.widgets[name] = w
            form.addRow(label, w)
            self._set(name, DEFAULTS[name])
        self.widgets["scheduler"].currentIndexChanged.connect(self._enable_dependent)
        self.widgets["optimizer"].currentIndexChanged.connect(self._enable_dependent)
        self._enable_dependent()

    def _make(self, kind, options):
        if kind == "weights":
            w = WeightsCheck()
            w.setEnabled(False)
            w.setToolTip("Only for imported models: their weights are saved beside the project")
            w.toggled.connect(self.changed)
            return w
        if kind in ("choice", "device"):
            w = QComboBox()
            if kind == "device":
                w.addItem("Automatic (best available)", "auto")
            else:
                for o in options:
                    w.addItem(o, o)
            w.currentIndexChanged.connect(self.changed)
        elif kind == "float":
            lo, hi, decimals, step = options
            w = FloatSpinBox()  # shows 1e-05 and 0.125 as written, not rounded to a fixed number of decimals
            w.setRange(lo, hi)
            w.setDecimals(decimals)
            w.setSingleStep(step)
            w.setStepType(QAbstractSpinBox.StepType.AdaptiveDecimalStepType)  # 1e-4 steps to 1.1e-4, not 2e-4
            # a typed number counts once committed (Return, leaving the field): "1e-10" must not pass through 0.1
            w.setKeyboardTracking(False)
            w.out_of_range.connect(lambda v, box=w: self.hint.emit(
                f"{v:g} is outside {box.minimum():g} to {box.maximum():g}; kept {box.textFromValue(box.value())}"))
            w.valueChanged.connect(self.changed)
        elif kind == "int":
            w = QSpinBox()
            w.setRange(*options)
            w.valueChanged.connect(self.changed)
        else:
            w = QCheckBox()
            w.toggled.connect(self.changed)
        return w

    def _enable_dependent(self):
        step = self.widgets["scheduler"].currentData() == "step"
        self.widgets["step_size"].setEnabled(step)
        self.widgets["gamma"].setEnabled(step)
        self.widgets["momentum"].setEnabled(self.widgets["optimizer"].currentData() == "sgd")

    # ---- values ----------------------------------------------------------------------------------------------
    def _set(self, name, value):
        w = self.widgets[name]
        if isinstance(w, QComboBox):
            i = w.findData(value)
            if i < 0 and name == "device":
                w.addItem(f"{value} (not found here)", value)  # keep a stored device this machine lacks
                i = w.count() - 1
            if i >= 0:
                w.setCurrentIndex(i)
        elif isinstance(w, WeightsCheck):
            if value:
                w.path = value
                w.setEnabled(True)
                w.setToolTip(f"Start training from {value}")
            w.setChecked(bool(value))
        elif isinstance(w, QCheckBox):
            w.setChecked(bool(value))
        elif isinstance(w, QDoubleSpinBox):
            w.setValue(float(value))
        else:
            w.setValue(int(value))

    def set_values(self, values: dict) -> list[str]:
        """Show ``values`` (a training section); missing keys keep what is shown. Emits nothing.

        A stored value that training would refuse is not shown: the form shows the setting's default, which
        replaces it at the next settings edit or Train. Returns those, in words, for the caller to tell the user.
        A valid value outside a field's usual range widens the field, so that nothing stored is lost.
        """
        problems = []
        self.blockSignals(True)
        try:
            known = {f[0] for f in FIELDS}
            for name, value in (values or {}).items():
                if name not in known or value is None:
                    self._extra[name] = value
                    continue
                value, why = self._checked(name, value)
                if why:
                    self._set(name, DEFAULTS[name])
                    problems.append(f"training setting '{name}' is {value!r}, which {why}; the form shows the "
                                    f"default {self._shown(name)!r}, which replaces it when you change a setting or "
                                    f"train")
                    continue
                self._set(name, value)
            imported = self._extra.get("imported_weights")
            if isinstance(imported, str) and imported and not self.widgets["init_weights"].path:
                self._set("init_weights", "")
                self.widgets["init_weights"].path = imported
                self.widgets["init_weights"].setEnabled(True)
        finally:
            self.blockSignals(False)
        self._enable_dependent()
        return problems

    def _checked(self, name, value):
        """(the value as training reads it, None) or (the value as stored, why it cannot be used)."""
        if name == "device":  # a device this machine lacks is shown as such, and kept
            return value, None
        try:
            converted = getattr(TrainConfig.from_dict({name: value}), name)  # "0.001" reads as 0.001
        except (ConfigError, TypeError, ValueError) as e:
            text = str(e)
            return value, "training would refuse" + (f" ({text})" if text else "")
        w = self.widgets[name]
        if isinstance(w, (QSpinBox, QDoubleSpinBox)):
            if converted < w.minimum():
                w.setMinimum(converted)
            if converted > w.maximum():
                w.setMaximum(converted)
        return converted, None

    def _shown(self, name):
        w = self.widgets[name]
        if isinstance(w, QComboBox):
            return w.currentData()
        if isinstance(w, WeightsCheck):
            return w.value()
        if isinstance(w, QCheckBox):
            return w.isChecked()
        return w.value()

    def values(self) -> dict:
        """The settings shown, as a training-section dict (with the stored keys the form does not show)."""
        out = dict(self._extra)
        for name, w in self.widgets.items():
            if isinstance(w, QComboBox):
                out[name] = w.currentData()
            elif isinstance(w, WeightsCheck):
                out[name] = w.value()
            elif isinstance(w, QCheckBox):
                out[name] = w.isChecked()
            else:
                out[name] = w.value()
        return out

    def set_devices(self, devices) -> None:
        """Offer ``devices`` ([(id, label)], as list_devices gives them) after "Automatic"."""
        combo = self.widgets["device"]
        current = combo.currentData()
        self.blockSignals(True)
        try:
            combo.clear()
            combo.addItem("Automatic (best available)", "auto")
            for device_id, label in devices:
                combo.addItem(f"{label} [{device_id}]", device_id)
            self._set("device", current)
        finally:
            self.blockSignals(False)

    def device_ids(self) -> list[str]:
        combo = self.widgets["device"]
        return [combo.itemData(i) for i in range(combo.count())]
