"""The inspector: a form generated from the selected block's Param specs, plus its help, shapes, counts and problems.

Every change the user makes is one ``SetParams`` pushed on the document (typing in one field merges into one undo
step). The form follows the model, never the other way round: graph events refresh the values (so undo updates the
form) and ``document.settled`` (once per event-loop turn, however many edits it saw) refreshes shapes and
diagnostics.
"""

from __future__ import annotations

import html
import re

import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QFormLayout, QFrame, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton,
                               QScrollArea, QVBoxLayout, QWidget)

from hybrid_studio.blocks import CATALOG
from hybrid_studio.graph import RenameNode, SetParams, id_problem, valid_id

from .canvas.node_item import human_count
from .icons import block_icon, severity_icon
from .labels import SteadyLabel
from .theme import SELECT_BLOCK_HINT, hint_label
from .param_editors import ERROR_STYLE, ParamEditor, editor_for



def exact_count(n) -> str:
    """``194688`` -> ``194,688 (195 k)``; None -> ``unknown`` (the canvas shows the short form only)."""
    if n is None:
        return "unknown"
    return f"{n:,}" if n < 1000 else f"{n:,} ({human_count(n)})"


def help_html(text: str) -> str:
    """Block help with `code` spans rendered."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _same_value(a, b) -> bool:
    return a == b and type(a) is type(b)


class Inspector(QWidget):
    """The selected block's settings. ``show_node(id)`` (None: nothing selected)."""


    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.document = None
        self.node_id: str | None = None
        self._type: str | None = None
        self.editors: dict[str, ParamEditor] = {}
        self._merge_key = None
        self._merge_index = -1
        self._shape_keys = None  # the rows the shapes form shows (updated in place while they stay the same)
        self._shape_labels: list[QLabel] = []
        self._problems_signature = None
        self._problem_fixes: list[list] = []
        self._build()
        self.set_document(document)

    # ---- layout ------------------------------------------------------------------------------------------------
    def _build(self):
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.placeholder = hint_label(SELECT_BLOCK_HINT)
        outer.addWidget(self.placeholder)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
        outer.addWidget(self.scroll, 1)
        body = QWidget()
        self.scroll.setWidget(body)
        lay = QVBoxLayout(body)
        lay.setContentsMargins(6, 6, 6, 6)

        head = QHBoxLayout()
        self.icon = QLabel()
        head.addWidget(self.icon)
        self.id_edit = QLineEdit()
        self.id_edit.setMinimumWidth(60)
        self.id_edit.setObjectName("block_id")
        self.id_edit.setToolTip("The block's id: a Python name, used as the attribute name in exported code. "
                                "Edit it to rename the block.")
        self.id_edit.editingFinished.connect(self._rename)
        self.id_edit.textEdited.connect(lambda _t: self._flag_id(None))
        head.addWidget(self.id_edit, 1)
        self.type_label = QLabel()
        self.type_label.setStyleSheet("font-weight: bold;")
        head.addWidget(self.type_label)
        lay.addLayout(head)
        self.id_error = QLabel()
        self.id_error.setStyleSheet("color: #d32f2f;")
        self.id_error.setWordWrap(True)
        self.id_error.hide()
        lay.addWidget(self.id_error)

        self.help = QLabel()
        self.help.setWordWrap(True)
        self.help.setTextFormat(Qt.RichText)
        lay.addWidget(self.help)

        self.params_box = QGroupBox("Parameters")
        self.form = QFormLayout(self.params_box)
        self.form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self.form.setRowWrapPolicy(QFormLayout.WrapLongRows)  # narrow docks: a wide editor goes below its label
        lay.addWidget(self.params_box)

        shapes = QGroupBox("Shapes and size")
        self.shape_form = QFormLayout(shapes)
        lay.addWidget(shapes)

        self.problems_box = QGroupBox("Problems")
        self.problems_layout = QVBoxLayout(self.problems_box)
        lay.addWidget(self.problems_box)
        lay.addStretch(1)
        self._show_content(False)

    def _show_content(self, on: bool):
        self.scroll.setVisible(on)
        self.placeholder.setVisible(not on)

    # ---- document ----------------------------------------------------------------------------------------------
    def set_document(self, document):
        """Follow another document (the window opened or created one)."""
        if self.document is not None:
            self.document.graph.unsubscribe(self._on_graph_event)
            self.document.settled.disconnect(self._on_checked)
        self.document = document
        document.graph.subscribe(self._on_graph_event)
        # once per event-loop turn, however many edits it saw (typing, a fix of several edits, an undo burst)
        document.settled.connect(self._on_checked)
        self.show_node(None)

    def editor(self, name: str) -> ParamEditor:
        """The editor of param ``name`` of the shown block."""
        return self.editors[name]

    # ---- showing -----------------------------------------------------------------------------------------------
    def show_node(self, node_id: str | None):
        """Show block ``node_id`` (None, or an id that is not in the graph: the empty state)."""
        node = self.document.graph.get(node_id) if node_id is not None else None
        self._merge_key = None
        if node is None:
            self.node_id = self._type = None
            self._clear_form()
            self._show_content(False)
            return
        if node_id != self.node_id or node.type != self._type:
            self.node_id, self._type = node_id, node.type
            self._build_form(node)
        self._show_content(True)
        self.refresh()

    def refresh(self):
        """Re-read everything about the shown block from the model."""
        if self.node_id is None or self.node_id not in self.document.graph:
            return
        self._refresh_values()
        self._refresh_info()

    def _clear_form(self):
        self.editors = {}
        while self.form.rowCount():
            # deleteLater: the form may be cleared from a signal of one of its own widgets
            taken = self.form.takeRow(0)
            for item in (taken.labelItem, taken.fieldItem):
                if item is not None and item.widget() is not None:
                    item.widget().hide()
                    item.widget().deleteLater()

    def _build_form(self, node):
        self._clear_form()
        self.id_edit.setText(node.id)
        self._flag_id(None)
        self.icon.setPixmap(block_icon(node.type).pixmap(20, 20))
        self.type_label.setText(node.type)
        block = CATALOG.get(node.type) if node.type in CATALOG else None
        if block is None:
            self.help.setText(f"<i>Unknown block type '{html.escape(node.type)}': it can only be removed.</i>")
            self.params_box.hide()
            return
        self.help.setText(help_html(block.help))
        self.params_box.setVisible(bool(block.params))
        for param in block.params:
            ed = editor_for(param)
            ed.edited.connect(lambda value, merge, name=param.name: self._edited(name, value, merge))
            ed.reverted.connect(lambda text: self.document.notice.emit(text))
            label = QLabel(param.name.replace("_", " "))
            label.setToolTip(param.help)
            label.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            label.customContextMenuRequested.connect(
                lambda pos, name=param.name, w=label: self.show_param_menu(name, w.mapToGlobal(pos)))
            self.form.addRow(label, ed)
            self.editors[param.name] = ed

    def show_param_menu(self, name: str, global_pos):
        """The right-click menu of a param: the actions features hang on the window's ``param_actions``
        ((text, callback(node_id, param)) pairs, e.g. the sweep's "Sweep this..."). Popped up, not exec'd, so the
        event loop (and a test) goes on; ``param_menu`` is the menu shown."""
        from PySide6.QtWidgets import QMenu

        actions = getattr(self.window(), "param_actions", None) or []
        if not actions or self.node_id is None:
            return None
        menu = self.param_menu = QMenu(self)
        node_id = self.node_id
        for text, callback in actions:
            menu.addAction(text, lambda cb=callback: cb(node_id, name))
        menu.popup(global_pos)
        return menu

    def _refresh_values(self, names=None):
        """Show the block's values in the editors (only those of ``names`` when given: the params an edit changed;
        the others already show their values)."""
        node = self.document.graph.node(self.node_id)
        if node.type not in CATALOG:
            return
        block = CATALOG.get(node.type)
        for param in block.params:
            if names is not None and param.name not in names:
                continue
            ed = self.editors.get(param.name)
            if ed is None:
                continue
            value = node.params.get(param.name, param.default)
            ed.set_value(value)
            if ed.local_error:
                ed.show_error(ed.local_error)
                continue
            err = param.problem(value)
            ed.show_error(f"{param.name.replace('_', ' ')} {err}" if err else None)

    def _refresh_info(self):
        res = self.document.checker.result(self.node_id)
        # (row label, object name, text, tooltip) of each row of the shapes form
        rows = []
        ports = list(res.inputs.items())
        for port, spec in ports:
            edge = self.document.graph.edge_into(self.node_id, port)
            text = spec.describe() if spec is not None else ("not connected" if edge is None else "unknown")
            tip = spec.describe_axes() + ("" if spec.dtype == "float32" else f" {spec.dtype}") if spec else ""
            rows.append(("Input" if len(ports) == 1 and port == "in" else f"Input {port}", f"input_{port}", text, tip))
        out = res.output
        rows.append(("Output", "output_shape", out.describe() if out is not None else "—",
                     out.describe_axes() if out is not None else ""))
        rows.append(("Parameters", "param_count", exact_count(res.params) if out is not None else "—", ""))
        rows.append(("MACs", "mac_count", exact_count(res.macs) if out is not None else "—",
                     "Multiply-accumulate operations per sample"))
        self._fill_shape_form(rows)

        # the problems box is rebuilt only when the block's diagnostics changed (not on every edit)
        signature = [(d.severity, d.message, tuple(f.label for f in d.fixes)) for d in res.diagnostics]
        # the buttons look their fix up here at click time: it stays fresh when the rows are kept
        self._problem_fixes = [list(d.fixes) for d in res.diagnostics]
        if signature == self._problems_signature and self.problems_layout.count():
            return
        self._problems_signature = signature
        while self.problems_layout.count():
            item = self.problems_layout.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        self.problems_box.setVisible(bool(res.diagnostics))
        for i, d in enumerate(res.diagnostics):
            self.problems_layout.addWidget(self._diagnostic_row(i, d))

    def _fill_shape_form(self, rows):
        """Show ``rows`` in the shapes form: the labels are updated in place when the rows are the same as shown
        (an edit of the same block), rebuilt otherwise (another block, ports added or removed)."""
        keys = [(title, name) for title, name, _, _ in rows]
        if keys != self._shape_keys or len(self._shape_labels) != len(rows):
            while self.shape_form.rowCount():
                self.shape_form.removeRow(0)
            self._shape_labels = []
            for title, name, _, _ in rows:
                # its text changes on every edit of the block: it only grows, so the panel is not laid out again
                lab = SteadyLabel(shrink=False)
                lab.setObjectName(name)
                if name != "param_count" and name != "mac_count":
                    lab.setTextInteractionFlags(Qt.TextSelectableByMouse)
                self.shape_form.addRow(title, lab)
                self._shape_labels.append(lab)
            self._shape_keys = keys
        for lab, (_, _, text, tip) in zip(self._shape_labels, rows):
            if lab.text() != text:
                lab.setText(text)
            if lab.toolTip() != tip:
                lab.setToolTip(tip)

    def _diagnostic_row(self, row_index: int, d) -> QWidget:
        row = QWidget()
        lay = QVBoxLayout(row)
        lay.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        icon = QLabel()
        icon.setPixmap(severity_icon(d.severity).pixmap(16, 16))
        top.addWidget(icon, 0, Qt.AlignTop)
        msg = QLabel(d.message)
        msg.setObjectName("diagnostic")
        msg.setWordWrap(True)
        msg.setTextInteractionFlags(Qt.TextSelectableByMouse)
        top.addWidget(msg, 1)
        lay.addLayout(top)
        for j, fix in enumerate(d.fixes):
            b = QPushButton(fix.label[0].upper() + fix.label[1:])
            b.setToolTip("Apply this fix (undoable)")
            b.clicked.connect(lambda _c=False, i=row_index, k=j: self._apply_fix_at(i, k))
            lay.addWidget(b)
        return row

    def _apply_fix_at(self, row_index: int, index: int):
        fixes = self._problem_fixes[row_index] if row_index < len(self._problem_fixes) else []
        if index < len(fixes):
            self._apply_fix(fixes[index])

    def _apply_fix(self, fix):
        try:
            edit = fix.edit(self.document.graph)
        except Exception as e:  # noqa: BLE001 - a stale fix must not take the app down
            self.document.refused.emit(f"could not apply '{fix.label}': {e}")
            return
        self.document.push(edit)

    # ---- model -> form -----------------------------------------------------------------------------------------
    def _on_graph_event(self, event, **kw):
        if not shiboken6.isValid(self):  # the widget was deleted with its window; the graph lives on
            self.document.graph.unsubscribe(self._on_graph_event)
            return
        if self.node_id is None:
            return
        if event == "params_changed" and kw["node_id"] == self.node_id:
            # at once: typing and undo in a field must see the block's value before the next key; only the params
            # that changed (each editor costs its value, its range check and its error flag)
            old, new = kw["old"], kw["new"]
            self._refresh_values({k for k in old.keys() | new.keys()
                                  if k not in old or k not in new or not _same_value(old[k], new[k])})
        elif event == "node_removed" and kw["node"].id == self.node_id:
            self.show_node(None)
        elif event == "node_renamed" and kw["old"] == self.node_id:
            self.node_id = kw["new"]  # the same block, its form stays; the id field shows the new name
            self.id_edit.setText(self.node_id)
        elif event == "reset":
            self.show_node(None)

    def _on_checked(self, changed):
        if self.node_id is None:
            return
        if self.node_id not in self.document.graph:
            self.show_node(None)
            return
        if self.node_id in changed:
            self._refresh_info()

    # ---- form -> model -----------------------------------------------------------------------------------------
    def _edited(self, name: str, value, merge: bool):
        graph = self.document.graph
        node = graph.get(self.node_id) if self.node_id else None
        if node is None or node.type not in CATALOG:
            return
        param = CATALOG.get(node.type).param(name)
        if _same_value(value, param.default) and param.kind not in ("shape", "axes"):
            # defaults are left out of the file; an Input's shape and axes stay, as they say what the data is
            edit = SetParams(node.id, {}, drop=(name,))
        else:
            edit = SetParams(node.id, {name: value})
        if edit.new_params(graph) == node.params:
            self._refresh_values()  # e.g. clears a parse error flag when the text is back to the stored value
            return
        stack = self.document.undo_stack
        key = (node.id, name)
        if not merge or key != self._merge_key or stack.index() != self._merge_index:
            self.document.seal_merging()
        if self.document.push(edit, merge=merge):
            self._merge_key = key if merge else None
            self._merge_index = stack.index()

    # ---- renaming ----------------------------------------------------------------------------------------------
    def _flag_id(self, message):
        self.id_edit.setStyleSheet(ERROR_STYLE if message else "")
        self.id_error.setText(message or "")
        self.id_error.setVisible(bool(message))

    def _rename(self):
        old, new = self.node_id, self.id_edit.text().strip()
        if old is None or new == old:
            self._flag_id(None)
            return
        graph = self.document.graph
        if not valid_id(new):
            self._flag_id(f"'{new}' is not a valid id: {id_problem(new)}")
            return
        if new in graph:
            self._flag_id(f"a block named '{new}' already exists")
            return
        self._flag_id(None)
        if self.document.push(RenameNode(old, new)):
            self.show_node(new)
