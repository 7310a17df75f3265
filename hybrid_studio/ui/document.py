"""The open project: graph, shape checker, undo stack, file path. Every edit the UI makes goes through ``push``.

A gesture asks (``document.push(Connect(edge))``); the command applies the pure edit to the Graph; the Graph emits
events that scene items redraw from; after each apply or revert the checker re-checks what changed and
``checked`` is emitted with the ids whose shapes or diagnostics changed.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from hybrid_studio.blocks import checker_for, new_graph
from hybrid_studio.graph import Edit, Graph, GraphError, SetMeta, SetParams

_MERGE_ID = 1001


class EditCommand(QUndoCommand):
    """A thin QUndoCommand over one pure Edit."""

    def __init__(self, document: "Document", edit: Edit, merge: bool = False):
        super().__init__(edit.text)
        self.document = document
        self.edit = edit
        self.merge = merge
        self._applied = False  # the first redo() happens in Document.push, before the stack calls it

    def redo(self):
        if self._applied:
            self._applied = False
            return
        self.edit.apply(self.document.graph)
        self.document._after_change()

    def undo(self):
        self.edit.revert(self.document.graph)
        self.document._after_change()

    def id(self):
        return _MERGE_ID if self.merge else -1

    def mergeWith(self, other):
        if not (self.merge and getattr(other, "merge", False)):
            return False
        mine, theirs = self.edit, other.edit
        graph = self.document.graph
        if not (isinstance(mine, SetParams) and mine.merge(theirs, graph)):
            return False
        self.document._after_change()  # a merge that replays the round changed the graph once more
        self.setText(mine.text)
        if mine.is_noop(graph):
            self.setObsolete(True)  # typing that ended where it began (a typo put back) leaves no undo step
        return True


class Document(QObject):
    """One open project."""

    #: ids of nodes whose check result (shape, params, diagnostics) changed after an edit, undo or redo; emitted
    #: at once, for the canvas (its items must match the graph before the next gesture)
    checked = Signal(object)
    #: the same, coalesced: once per event-loop turn with the union of the ids of every edit, undo and redo of that
    #: turn. Side panels (status bar, inspector, problems, training settings) refresh on this, so typing, a macro
    #: of several edits or an undo burst costs one refresh each, not one per edit
    settled = Signal(object)
    #: an edit was refused: the reason in words
    refused = Signal(str)
    #: something the user should know about an edit, in words: it did more than asked (removed the wires of a port
    #: that went away), or typed text was put back
    notice = Signal(str)
    #: the file path or the modified state changed
    state_changed = Signal()

    def __init__(self, graph: Graph | None = None, path: Path | None = None, parent=None):
        super().__init__(parent)
        self.graph = graph if graph is not None else new_graph()
        self.checker = checker_for(self.graph)
        self.undo_stack = QUndoStack(self)
        self.path = Path(path) if path else None
        self._meta_modified = False  # changed outside the undo history (training settings): unsaved all the same
        self.undo_stack.cleanChanged.connect(self.state_changed)
        self._unsettled: set = set()
        self._due = False
        self._settle_timer = QTimer(self)
        self._settle_timer.setSingleShot(True)
        self._settle_timer.setInterval(0)  # the end of this event-loop turn
        self._settle_timer.timeout.connect(self.settle)
        self.checker.flush()

    # ---- editing -----------------------------------------------------------------------------------------------
    def push(self, edit: Edit, merge: bool = False) -> bool:
        """Apply ``edit`` as one undo step; False (and ``refused`` emitted) when the graph refuses it.

        ``merge=True`` merges consecutive SetParams of one block into one step (typing in the inspector).
        """
        try:
            edit.apply(self.graph)
        except GraphError as e:
            self.refused.emit(str(e))
            return False
        cmd = EditCommand(self, edit, merge)
        cmd._applied = True
        self._after_change()
        self.undo_stack.push(cmd)
        effects = edit.side_effects()
        if effects:
            text = "; ".join(effects)
            self.notice.emit(text[:1].upper() + text[1:])
        return True

    def set_meta(self, key: str, value) -> bool:
        """Change project metadata (the ``training`` settings) outside the undo history: settings are not part of
        the design, so Ctrl+Z keeps undoing graph edits, but the project is still modified and saves them.
        False when nothing changed."""
        if getattr(self.graph, key, None) == value:
            return False
        SetMeta(key, value).apply(self.graph)
        was = self.modified
        self._meta_modified = True
        if not was:
            self.state_changed.emit()
        return True

    def seal_merging(self) -> None:
        """End the current merged step: the next ``push(..., merge=True)`` starts a new undo step (e.g. typing moved
        to another field)."""
        index = self.undo_stack.index()
        if index > 0:
            cmd = self.undo_stack.command(index - 1)
            if isinstance(cmd, EditCommand):
                cmd.merge = False

    def _after_change(self):
        changed = self.checker.flush()
        self.checked.emit(changed)
        self._unsettled.update(changed)
        self._due = True
        self._settle_timer.start()

    @property
    def settling(self) -> bool:
        """Whether a ``settled`` is due (an edit happened this event-loop turn)."""
        return self._due

    def settle(self) -> None:
        """Emit ``settled`` now if an edit is waiting for it (the timer does so at the end of the turn; code that
        needs the panels up to date at once, or a test that cannot wait, calls this)."""
        self._settle_timer.stop()
        if not self._due:
            return
        self._due = False
        ids, self._unsettled = self._unsettled, set()
        self.settled.emit(ids)

    # ---- state -------------------------------------------------------------------------------------------------
    @property
    def modified(self) -> bool:
        return self._meta_modified or not self.undo_stack.isClean()

    def mark_saved(self, path: Path | None = None):
        if path is not None:
            self.path = Path(path)
        self._meta_modified = False
        self.undo_stack.setClean()
        self.state_changed.emit()

    @property
    def display_name(self) -> str:
        return self.path.name if self.path else f"{self.graph.name} (unsaved)"

    @property
    def project_name(self) -> str:
        """The name runs are called after: the file's name once saved (``mynet`` for ``mynet.hsproj.json``), else the
        graph's name."""
        if self.path is not None:
            name = self.path.name
            for suffix in (".hsproj.json", ".json"):
                if name.lower().endswith(suffix):
                    name = name[: -len(suffix)]
                    break
            return name or self.graph.name
        return self.graph.name
