"""One editor widget per Param kind, for the inspector's generated form.

Every editor shows a value (``set_value``, which never emits) and emits ``edited(value, merge)`` when the user
changes it: ``merge`` is True for typing and spinning (consecutive changes become one undo step) and False for
discrete choices (a check box, a combo box). Text that does not parse is kept in the field and flagged in place
(``local_error``) instead of being sent to the graph; values of the right type that the block does not allow are
sent, flagged by the inspector and reported by the checker.

Typing is live (each change is an undo step, merged while typing), so Ctrl+Z / Ctrl+Shift+Z / Ctrl+Y in a field
are the app's undo and redo, not the field's own text undo (which would record a new edit instead).
"""

from __future__ import annotations

import math
import re

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeySequence, QValidator
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QLineEdit, QSpinBox,
                               QToolButton, QVBoxLayout, QWidget)

from hybrid_studio.blocks.params import Param

INT_MAX = 2**31 - 1
ERROR_STYLE = "border: 1.5px solid #d32f2f; border-radius: 3px;"


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_UNDO_REDO = (QKeySequence.StandardKey.Undo, QKeySequence.StandardKey.Redo)
_UNDO_REDO_EXTRA = ("Ctrl+Shift+Z", "Ctrl+Y")


def is_undo_redo_key(event) -> bool:
    """Whether a key event is one of the app's undo / redo shortcuts."""
    if any(event.matches(k) for k in _UNDO_REDO):
        return True
    pressed = QKeySequence(event.keyCombination()).toString()
    return pressed in _UNDO_REDO_EXTRA


class AppUndoKeys(QObject):
    """Event filter for a live field: its undo / redo keys go to the window's Undo and Redo actions.

    Refusing the shortcut override lets the window's shortcut fire; when no action takes the key (nothing to undo)
    the key press is swallowed, so the field never undoes its own text behind the graph's back.
    """

    def eventFilter(self, obj, event):
        kind = event.type()
        if kind in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress) and is_undo_redo_key(event):
            event.ignore()
            return True
        return False


def _set_spin(spin, value) -> None:
    """Set a spin box's value unless it already shows it: setValue repaints the box (and its line edit) even when
    nothing changed, which after every edit of a block is most of the inspector's cost."""
    if spin.value() != value:
        spin.setValue(value)


class ParamEditor(QWidget):
    """Base class: a field plus an error line below it that is shown only while the value is flagged."""

    edited = Signal(object, bool)
    #: typed text was thrown away and the field shows the block's value again: what happened, in words
    reverted = Signal(str)

    def __init__(self, param: Param, parent=None):
        super().__init__(parent)
        self.param = param
        self.local_error: str | None = None
        self._box = QVBoxLayout(self)
        self._box.setContentsMargins(0, 0, 0, 0)
        self._box.setSpacing(2)
        self.row = QHBoxLayout()
        self.row.setSpacing(4)
        self._box.addLayout(self.row)
        self.message = QLabel()
        self.message.setObjectName("error_message")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #d32f2f;")
        self.message.hide()
        self._box.addWidget(self.message)
        self.setToolTip(param.help)
        self._undo_keys = AppUndoKeys(self)
        self._hint_replaced: str | None = None  # the flag a range hint covers up while typing

    def route_undo_keys(self, *widgets):
        """Let Ctrl+Z / Ctrl+Shift+Z typed in ``widgets`` undo and redo the graph (see AppUndoKeys)."""
        for w in widgets:
            w.installEventFilter(self._undo_keys)
            line = w.lineEdit() if hasattr(w, "lineEdit") else None
            if line is not None:
                line.installEventFilter(self._undo_keys)

    def watch_range(self, spin) -> None:
        """Flag a number typed into ``spin`` that it will not take (out of range), and when the field is left (the
        spin box then puts its value back) say what was kept."""
        spin.out_of_range.connect(lambda v: self.show_hint(range_hint(self.param, v)))
        spin.in_range.connect(lambda: self.show_hint(None))
        spin.installEventFilter(self)

    def eventFilter(self, obj, event):
        # before the spin box handles leaving (focus out, Return): it will put its value back over the typed text
        if self._hint_replaced is not None and (
                event.type() == QEvent.Type.FocusOut
                or (event.type() == QEvent.Type.KeyPress and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter))):
            self.finish_hint(obj.textFromValue(obj.value()))
        return False

    def finish_hint(self, kept: str) -> None:
        """Leaving the field put a refused number back: drop the hint and say so (``reverted``)."""
        if self._hint_replaced is None:
            return
        hint = self.error_text
        self.show_hint(None)
        if hint:
            self.reverted.emit(f"{hint}; kept {kept}")

    def show_hint(self, message: str | None) -> None:
        """A passing flag while typing (e.g. a number out of range that the spin box will not take); ``None``
        puts back whatever was flagged before."""
        if message:
            if self._hint_replaced is None:
                self._hint_replaced = self.error_text or ""
            self.show_error(message)
        elif self._hint_replaced is not None:
            previous, self._hint_replaced = self._hint_replaced, None
            self.show_error(previous or None)

    # ---- for subclasses ----------------------------------------------------------------------------------------
    def fields(self) -> list[QWidget]:
        """The widgets that get the red border when the value is flagged."""
        return []

    def set_value(self, value) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def has_focus(self) -> bool:
        return any(w.hasFocus() for w in self.fields())

    def _emit(self, value, merge: bool):
        self.local_error = None
        self.edited.emit(value, merge)

    # ---- flags -------------------------------------------------------------------------------------------------
    def show_error(self, message: str | None) -> None:
        """Flag the field (red border and the message below it), or clear the flag when ``message`` is None."""
        style = ERROR_STYLE if message else ""
        for w in self.fields():
            if w.styleSheet() != style:  # a style sheet set again re-polishes and repaints the field: after every edit
                w.setStyleSheet(style)
            w.setProperty("invalid", bool(message))
        if self.message.text() != (message or ""):
            self.message.setText(message or "")
        self.message.setVisible(bool(message))

    @property
    def error_text(self) -> str | None:
        return self.message.text() if self.message.isVisibleTo(self) else None


def range_hint(param: Param, value: float) -> str | None:
    """``"p must be at most 1"`` when ``value`` is outside the param's range (the inspector's own wording), else
    None."""
    err = param.range_error(value)
    return f"{param.name.replace('_', ' ')} {err}" if err else None


def report_range(box, typed) -> bool:
    """Emit ``box.in_range`` or ``box.out_of_range(typed)`` for the number typed so far (None: not a number yet);
    True when it is within the box's range."""
    if typed is not None and not box.minimum() <= typed <= box.maximum():
        box.out_of_range.emit(float(typed))
        return False
    box.in_range.emit()
    return typed is not None


class IntSpinBox(QSpinBox):
    """A spin box that says why a typed number is refused (out of range) instead of ignoring the key."""

    #: the number typed so far, when the box will not take it (the editor shows why)
    out_of_range = Signal(float)
    in_range = Signal()

    def validate(self, text, pos):
        try:
            typed = int(text.strip())
        except ValueError:
            typed = None
        report_range(self, typed)
        return super().validate(text, pos)


class IntEditor(ParamEditor):
    """A spin box within the param's range; a nullable param shows ``auto`` (None) below its minimum."""

    def __init__(self, param, parent=None):
        super().__init__(param, parent)
        self.spin = IntSpinBox()
        low = int(param.min) if param.min is not None else -INT_MAX
        high = int(param.max) if param.max is not None else INT_MAX
        if param.nullable:
            low -= 1
            self.spin.setSpecialValueText("auto")
        self.spin.setRange(low, high)
        self.spin.setAccelerated(True)
        self.spin.setMinimumWidth(60)  # the hint is sized for the largest int; docks are narrow
        self.row.addWidget(self.spin, 1)
        self.spin.valueChanged.connect(self._changed)
        self.watch_range(self.spin)
        self.route_undo_keys(self.spin)

    def fields(self):
        return [self.spin]

    def set_value(self, value):
        self.spin.blockSignals(True)
        if value is None and self.param.nullable:
            _set_spin(self.spin, self.spin.minimum())
        elif _is_int(value):
            _set_spin(self.spin, value)
        self.spin.blockSignals(False)

    def value(self):
        v = self.spin.value()
        return None if self.param.nullable and v == self.spin.minimum() else v

    def _changed(self, _v):
        self._emit(self.value(), True)


class FloatSpinBox(QDoubleSpinBox):
    """A double spin box that shows values the way people write them (``1e-05``, ``0.1``), not fixed decimals,
    and says why a typed number is not taken (out of range)."""

    out_of_range = Signal(float)
    in_range = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setDecimals(12)

    def textFromValue(self, v):
        return f"{v:.8g}"

    def valueFromText(self, text):
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text, pos):
        t = text.strip()
        if not t or t in ("-", "+", ".", "-.") or re.fullmatch(r"[-+]?\d*\.?\d*[eE][-+]?", t):
            report_range(self, None)
            return QValidator.Intermediate, text, pos
        try:
            v = float(t)
        except ValueError:
            return QValidator.Invalid, text, pos
        if not math.isfinite(v):
            return QValidator.Invalid, text, pos
        return (QValidator.Acceptable if report_range(self, v) else QValidator.Intermediate), text, pos


class FloatEditor(ParamEditor):
    def __init__(self, param, parent=None):
        super().__init__(param, parent)
        self.spin = FloatSpinBox()
        self.spin.setMinimumWidth(60)
        low = float(param.min) if param.min is not None else -1e12
        high = float(param.max) if param.max is not None else 1e12
        self.spin.setRange(low, high)
        self.spin.setSingleStep(0.05 if high <= 1 else 0.1)
        self.row.addWidget(self.spin, 1)
        self.spin.valueChanged.connect(lambda v: self._emit(float(v), True))
        self.watch_range(self.spin)
        self.route_undo_keys(self.spin)

    def fields(self):
        return [self.spin]

    def set_value(self, value):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            self.spin.blockSignals(True)
            _set_spin(self.spin, float(value))
            self.spin.blockSignals(False)


class BoolEditor(ParamEditor):
    def __init__(self, param, parent=None):
        super().__init__(param, parent)
        self.check = QCheckBox()
        self.row.addWidget(self.check)
        self.row.addStretch(1)  # keep the box its own size so a click at its centre hits the indicator
        self.check.toggled.connect(lambda v: self._emit(bool(v), False))

    def fields(self):
        return [self.check]

    def set_value(self, value):
        self.check.blockSignals(True)
        self.check.setChecked(bool(value))
        self.check.blockSignals(False)


class ChoiceEditor(ParamEditor):
    """A combo box of the param's choices; ``None`` shows as ``none``. A value outside them is shown, flagged."""

    def __init__(self, param, parent=None):
        super().__init__(param, parent)
        self.combo = QComboBox()
        self.combo.setMinimumWidth(60)
        self.combo.setMinimumContentsLength(6)
        self.row.addWidget(self.combo, 1)
        self._fill()
        self.combo.activated.connect(lambda i: self._emit(self.combo.itemData(i), False))

    def _fill(self, extra=()):
        self.combo.clear()
        for c in self.param.choices:
            self.combo.addItem("none" if c is None else str(c), c)
        if extra != ():
            self.combo.addItem(f"{extra} (not allowed)", extra)

    def fields(self):
        return [self.combo]

    def set_value(self, value):
        self.combo.blockSignals(True)
        known = value in self.param.choices
        if not (known and self.combo.count() == len(self.param.choices)):  # refilled only for a value outside them
            self._fill(() if known else value)
        index = self.param.choices.index(value) if known else self.combo.count() - 1
        if self.combo.currentIndex() != index:
            self.combo.setCurrentIndex(index)
        self.combo.blockSignals(False)


class PairEditor(ParamEditor):
    """An int, or ``[h, w]`` for pair params (kernel, stride, padding), or for padding ``"same"`` / ``"valid"``.

    A link button keeps height and width equal (the value is then one int); a mode box offers ``same`` / ``valid``
    for padding and ``auto`` (None: e.g. a pool's stride follows its kernel) for nullable params.
    """

    def __init__(self, param, parent=None):
        super().__init__(param, parent)
        modes = ["size"]
        if param.kind == "padding":
            modes += ["same", "valid"]
        if param.nullable:
            modes.insert(0, "auto")
        self.mode = QComboBox() if len(modes) > 1 else None
        if self.mode is not None:
            self.mode.addItems(modes)
            self.mode.setMinimumWidth(56)
            self.row.addWidget(self.mode)
            self.mode.activated.connect(self._mode_changed)
        low = int(param.min) if param.min is not None else 0
        self.t = None
        if param.pair and param.entries == 3:  # Conv3d's [t, h, w]: the time extent first
            self.t = QSpinBox()
            self.t.setRange(low, 9999)
            self.t.setMinimumWidth(44)
            self.row.addWidget(self.t, 1)
            self.row.addWidget(QLabel("×"))
            self.t.valueChanged.connect(lambda _v: self._spun(self.t))
        self.h = QSpinBox()
        self.h.setRange(low, 9999)
        self.h.setMinimumWidth(44)  # narrow docks: keep the pair on one line
        self.row.addWidget(self.h, 1)
        self.w = self.link = None
        if param.pair:
            self.times = QLabel("×")
            self.row.addWidget(self.times)
            self.w = QSpinBox()
            self.w.setRange(low, 9999)
            self.w.setMinimumWidth(44)
            self.row.addWidget(self.w, 1)
            self.link = QToolButton()
            self.link.setCheckable(True)
            self.link.setChecked(True)
            self.link.setText("=")
            self.link.setFixedWidth(24)
            self.link.setToolTip("Same value for " + ("time, height and width" if self.t else "height and width"))
            self.row.addWidget(self.link)
            self.link.toggled.connect(self._link_toggled)
            self.w.valueChanged.connect(lambda _v: self._spun(self.w))
        self.h.valueChanged.connect(lambda _v: self._spun(self.h))
        self.route_undo_keys(*self._sizes())
        self._sync_enabled()

    def _sizes(self) -> list:
        """The size spin boxes, in the order of the list form ([t,] h, w)."""
        return [w for w in (self.t, self.h, self.w) if w is not None]

    def fields(self):
        return [w for w in (self.mode, self.t, self.h, self.w) if w is not None]

    # ---- value -------------------------------------------------------------------------------------------------
    def current_mode(self) -> str:
        return self.mode.currentText() if self.mode is not None else "size"

    def value(self):
        m = self.current_mode()
        if m == "auto":
            return None
        if m in ("same", "valid"):
            return m
        if self.w is None or self.link.isChecked():
            return self.h.value()
        return [w.value() for w in self._sizes()]

    def set_value(self, value):
        widgets = [w for w in (self.mode, self.t, self.h, self.w, self.link) if w is not None]
        for w in widgets:
            w.blockSignals(True)
        if value is None:
            self._set_mode("auto")
        elif isinstance(value, str):
            self._set_mode(value)
        elif _is_int(value):
            self._set_mode("size")
            for w in self._sizes():
                _set_spin(w, value)
            if self.w is not None:
                self.link.setChecked(True)
        elif isinstance(value, list) and len(value) == len(self._sizes()) and all(_is_int(x) for x in value) \
                and self.w is not None:
            self._set_mode("size")
            for w, x in zip(self._sizes(), value):
                _set_spin(w, x)
            self.link.setChecked(False)
        for w in widgets:
            w.blockSignals(False)
        self._sync_enabled()

    def _set_mode(self, m):
        if self.mode is not None and self.mode.findText(m) >= 0 and self.mode.currentText() != m:
            self.mode.setCurrentIndex(self.mode.findText(m))

    # ---- user changes ------------------------------------------------------------------------------------------
    def _spun(self, which):
        if self.w is not None and self.link.isChecked():
            for other in self._sizes():
                if other is not which:
                    other.blockSignals(True)
                    other.setValue(which.value())
                    other.blockSignals(False)
        self._emit(self.value(), True)

    def _link_toggled(self, on):
        if on:
            for other in self._sizes():
                other.blockSignals(True)
                other.setValue(self.h.value())
                other.blockSignals(False)
        self._emit(self.value(), False)

    def _mode_changed(self, _i):
        self._sync_enabled()
        self._emit(self.value(), False)

    def _sync_enabled(self):
        size = self.current_mode() == "size"
        for w in (self.t, self.h, self.w, self.link):
            if w is not None:
                w.setEnabled(size)


_SPLIT = re.compile(r"[\s,x×*]+")


def parse_sizes(text: str):
    """``"1, 28, 28"`` / ``"[?, 40]"`` / ``"3x32x32"`` -> a list of ints and None (``?``, ``null``, ``None``).

    Raises ValueError with a message for people when a token is not a size.
    """
    t = text.strip().strip("[]()").strip()
    if not t:
        return []
    out = []
    for tok in _SPLIT.split(t):
        if not tok:
            continue
        if tok.lower() in ("?", "null", "none"):
            out.append(None)
            continue
        try:
            out.append(int(tok))
        except ValueError:
            raise ValueError(f"'{tok}' is not a size: use whole numbers, or ? for an unknown size") from None
    return out


def format_sizes(sizes) -> str:
    return ", ".join("?" if s is None else str(s) for s in sizes)


class ShapeEditor(ParamEditor):
    """Sizes separated by commas, ``?`` for an unknown size (null in the file)."""

    def __init__(self, param, parent=None):
        super().__init__(param, parent)
        self.line = QLineEdit()
        self.line.setPlaceholderText("e.g. 1, 28, 28   (? = unknown size)")
        self.row.addWidget(self.line, 1)
        self.line.textEdited.connect(self._typed)
        self.line.editingFinished.connect(self._finished)
        self.route_undo_keys(self.line)
        self._value = None      # the block's value, as last shown
        self._before = None     # the value before this round of typing began (None: not typing)

    def fields(self):
        return [self.line]

    def set_value(self, value):
        changed, self._value = value != self._value, value
        if not isinstance(value, list):
            self.line.setText("" if value is None else str(value))
            return
        if self.line.hasFocus():
            try:
                if parse_sizes(self.line.text()) == value:
                    return  # what is being typed, applied ("1, 28," parses the same as "1, 28")
            except ValueError:
                if not changed:
                    return  # a typo being typed; the block's value is still the one shown before it
        # the block's value changed from elsewhere (undo, redo, a fix): that ends a round of typing
        self._before = None
        self.local_error = None
        self.line.setText(format_sizes(value))

    def _typed(self, text):
        if self._before is None:
            self._before = self._value
        try:
            sizes = parse_sizes(text)
        except ValueError as e:
            self.local_error = str(e)
            self.show_error(self.local_error)
            return
        self._emit(sizes, True)

    def _finished(self):
        """Leaving the field (or Return) with text that does not parse puts back the value from before the typing:
        the sizes parsed on the way (``3, 3`` on the way to ``3, 3o, 32``) were never what was meant."""
        before, self._before = self._before, None
        if not self.local_error:
            return
        typed = self.line.text()
        self.local_error = None
        self.show_error(None)
        if isinstance(before, list):
            self.line.setText(format_sizes(before))
            if before != self._value:
                self.edited.emit(before, True)
        self.reverted.emit(f"{self.param.name.replace('_', ' ')}: '{typed}' is not a list of sizes; "
                           f"kept {format_sizes(before) if isinstance(before, list) else before}")


class AxesEditor(ParamEditor):
    """Axis letters (T, C, H, W, L, F); typed letters are upper-cased, anything else is flagged by the inspector."""

    def __init__(self, param, parent=None):
        super().__init__(param, parent)
        self.line = QLineEdit()
        self.line.setPlaceholderText("e.g. CHW (image), TF (sequence)")
        self.row.addWidget(self.line, 1)
        self.line.textEdited.connect(self._typed)
        self.route_undo_keys(self.line)

    def fields(self):
        return [self.line]

    def set_value(self, value):
        text = value if isinstance(value, str) else ""
        if self.line.text() != text:
            pos = self.line.cursorPosition()
            self.line.setText(text)
            self.line.setCursorPosition(min(pos, len(text)))

    def _typed(self, text):
        up = text.upper().replace(" ", "")
        if up != text:
            pos = self.line.cursorPosition()
            self.line.setText(up)
            self.line.setCursorPosition(min(pos, len(up)))
        self._emit(up, True)


class JsonEditor(ParamEditor):
    """Read-only fallback for a param kind this form does not know."""

    def __init__(self, param, parent=None):
        super().__init__(param, parent)
        self.label = QLabel()
        self.row.addWidget(self.label, 1)

    def set_value(self, value):
        import json
        self.label.setText(json.dumps(value))


EDITORS = {"int": IntEditor, "float": FloatEditor, "bool": BoolEditor, "choice": ChoiceEditor,
           "int_or_pair": PairEditor, "padding": PairEditor, "shape": ShapeEditor, "axes": AxesEditor}


def editor_for(param: Param, parent=None) -> ParamEditor:
    """The editor widget for ``param`` (its objectName is ``param_<name>``)."""
    ed = EDITORS.get(param.kind, JsonEditor)(param, parent)
    ed.setObjectName(f"param_{param.name}")
    return ed
