"""The main window: palette (left), canvas (centre), inspector and undo history (right), problems (bottom),
status bar, the toolbar, and the Edit, View, Train and Help menus. The File menu, the inspector, the problems panel
and the training dock come from their own modules and are wired here; the window still opens if one of them is
missing. Two workspaces (Design and Train) swap the dock layout the way IDE perspectives do; the last one used is
remembered.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QUndoGroup
from PySide6.QtWidgets import (QDockWidget, QLabel, QMainWindow, QMenu, QScrollArea, QSizePolicy, QStatusBar,
                               QToolBar, QToolButton, QUndoView, QWidget)

from . import theme
from .icons import named_icon
from .canvas import GraphScene, GraphView
from .canvas.node_item import NodeItem, human_count
from .document import Document
from .labels import SteadyLabel
from .palette import Palette

try:
    from hybrid_studio.ui.problems import ProblemsPanel
except ImportError:  # pragma: no cover
    ProblemsPanel = None
try:
    from hybrid_studio.ui.files import FileActions
except ImportError:  # pragma: no cover
    FileActions = None


#: Feature modules that hang their actions, menus and views on the window: each defines ``install(window)``,
#: called once the window is built. A module must be light to import (no torch; heavy work on first use); one
#: that does not exist yet is skipped.
FEATURE_MODULES = (
    "hybrid_studio.ui.interop_actions",
    "hybrid_studio.ui.explain_view",
    "hybrid_studio.ui.profile_view",
    "hybrid_studio.ui.sweep_view",
)

#: default height of the bottom docks (problems, training): low, so the canvas gets the room
BOTTOM_DOCK_H = 130
#: the Train workspace gives the training dock this share of the window's height (the canvas keeps the rest)
TRAIN_DOCK_SHARE = 0.68
#: the workspaces, in the order of their switch buttons
WORKSPACES = ("design", "train")
#: where the last workspace is remembered (the app's settings: ``files.settings()``)
WORKSPACE_KEY = "window/workspace"


class _FirstPaint(QObject):
    """Calls ``callback`` once, when ``widget`` has painted for the first time."""

    def __init__(self, widget, callback):
        super().__init__(widget)
        self._callback = callback
        widget.installEventFilter(self)

    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and self._callback is not None:
            callback, self._callback = self._callback, None
            obj.removeEventFilter(self)
            QTimer.singleShot(0, obj, callback)  # not called if the widget (and its window) is gone by then
            self.deleteLater()
        return False


class MainWindow(QMainWindow):
    """One window editing one Document at a time (``set_document`` switches)."""

    def __init__(self, document: Document | None = None, parent=None):
        super().__init__(parent)
        self.resize(1440, 900)
        self.setDockNestingEnabled(True)
        self.document: Document | None = None
        self.scene: GraphScene | None = None
        self.undo_group = QUndoGroup(self)
        self.view = GraphView(parent=self)
        # A viewport made here, in Python: PySide then knows its type, whereas the first ``viewport()`` call on the
        # one QGraphicsView makes in C++ costs ~20 ms of start-up (shiboken initialises every QWidget subclass
        # it knows to find the most derived type). Same for the status bar below.
        self.view.setViewport(QWidget())
        self.view.message.connect(self.show_message)
        self.setCentralWidget(self.view)
        self._fitted = False

        self.palette = Palette(self)
        self.palette.block_activated.connect(lambda name: self.view.add_block(name))
        self.palette_dock = self._dock("Blocks", self.palette, Qt.DockWidgetArea.LeftDockWidgetArea, "palette")

        self._build_status_bar()
        self.file_menu: QMenu = self.menuBar().addMenu("&File")
        self.edit_menu: QMenu = self.menuBar().addMenu("&Edit")
        self.view_menu: QMenu = self.menuBar().addMenu("&View")
        self.train_menu: QMenu = self.menuBar().addMenu("&Train")
        self._build_edit_menu()
        self._build_view_menu()
        self._build_train_menu()

        self.set_document(document or Document())

        self.problems = self.file_actions = None
        self.problems_dock = None
        # The inspector's dock is laid out now; its editors (and their modules) are built right after the first
        # paint, or when something asks for ``self.inspector`` first. Until then the dock says what it will say.
        self._inspector = None
        self.inspector_dock = self._dock("Inspector", theme.hint_label(theme.SELECT_BLOCK_HINT),
                                         Qt.DockWidgetArea.RightDockWidgetArea, "inspector")
        self.history = QUndoView(self.undo_group)
        self.history.setEmptyLabel("<opened>")
        # QUndoView resets its model on every push: with rows of varying size the list then measured every row again
        # (an edit after 1,000 steps cost 10 ms more than after 10); one-line rows all have the same height
        self.history.setUniformItemSizes(True)
        self.history_dock = self._dock("History", self.history, Qt.DockWidgetArea.RightDockWidgetArea, "history")
        self.splitDockWidget(self.inspector_dock, self.history_dock, Qt.Orientation.Vertical)
        self.resizeDocks([self.inspector_dock, self.history_dock], [620, 180], Qt.Orientation.Vertical)
        if ProblemsPanel is not None:
            self.problems = ProblemsPanel(self.document, self)
            self.problems.node_activated.connect(self.view.center_on_node)
            self.problems.placer = self.view.place_new_blocks  # a fix's new blocks go to free space, on screen
            self.problems_dock = self._dock("Problems", self.problems, Qt.DockWidgetArea.BottomDockWidgetArea,
                                            "problems")
        self.resizeDocks([self.palette_dock], [220], Qt.Orientation.Horizontal)
        self.resizeDocks([self.inspector_dock], [320], Qt.Orientation.Horizontal)
        if self.problems_dock is not None:
            self.resizeDocks([self.problems_dock], [BOTTOM_DOCK_H], Qt.Orientation.Vertical)
        self.train_dock = None
        self._train_panel = None
        self.run_actions: list = []  # (text, callback, tooltip) of actions on one run; see add_run_action
        if FileActions is not None:
            self.file_actions = FileActions(self)
        else:  # pragma: no cover
            self.file_menu.addAction("&Quit", self.close, QKeySequence.StandardKey.Quit)
            self.setWindowTitle("Hybrid Studio")
        self._add_dock_toggles()
        self._wire_document()
        self._selection_changed()
        self._install_features()
        # built after the feature modules: it picks up the actions they hung on the window (import, export...)
        self._build_export_fallback()
        self._build_help_menu()
        self._build_toolbar()
        self.workspace = "design"

    def _install_features(self):
        import importlib

        for module_name in FEATURE_MODULES:
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as e:
                if e.name and module_name.startswith(e.name):
                    continue
                raise
            module.install(self)

    # ---- the inspector (built after the first paint) -------------------------------------------------------------
    @property
    def inspector(self):
        """The inspector, built on first use."""
        return self.ensure_inspector()

    def ensure_inspector(self):
        if self._inspector is None:
            from hybrid_studio.ui.inspector import Inspector
            inspector = self._inspector = Inspector(self.document, self)
            stand_in = self.inspector_dock.widget()
            self.inspector_dock.setWidget(inspector)
            if stand_in is not None:
                stand_in.deleteLater()
            self._selection_changed()
        return self._inspector

    # ---- the training dock (created after the first paint: it loads pyqtgraph and numpy) ----------------------
    @property
    def train_panel(self):
        """The training panel, created on first use."""
        return self.ensure_train_panel()

    @train_panel.setter
    def train_panel(self, value):
        self._train_panel = value

    def add_run_action(self, text: str, callback, tooltip: str = "") -> None:
        """Hang an action on one run of the Runs list (a button and a context-menu entry): ``callback(run_folder)``.

        Feature modules call it from ``install``; the training panel, made later, picks the actions up."""
        self.run_actions.append((text, callback, tooltip))
        if self._train_panel is not None:
            self._train_panel.runs.add_run_action(text, callback, tooltip)

    def ensure_train_panel(self):
        if self._train_panel is not None or getattr(self, "_no_train_panel", False):
            return self._train_panel
        try:
            from hybrid_studio.ui.train.panel import TrainPanel
        except ImportError:  # pragma: no cover - written in parallel
            self._no_train_panel = True
            return None
        panel = self._train_panel = TrainPanel(self)
        for text, callback, tooltip in self.run_actions:
            panel.runs.add_run_action(text, callback, tooltip)
        if isinstance(panel, QDockWidget):
            self.train_dock = panel
        else:
            # in a scroll area so the bottom area can stay low (the panel's own minimum height is large)
            scroll = QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QScrollArea.Shape.NoFrame)
            scroll.setWidget(panel)
            self.train_dock = self._dock("Training", scroll, Qt.DockWidgetArea.BottomDockWidgetArea, "training")
        if self.dockWidgetArea(self.train_dock) == Qt.DockWidgetArea.NoDockWidgetArea:
            self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.train_dock)
        if self.problems_dock is not None:
            self.tabifyDockWidget(self.problems_dock, self.train_dock)
            self.problems_dock.raise_()
        self.compact_bottom_docks()
        QTimer.singleShot(0, self, self.compact_bottom_docks)  # again once laid out: the panel's size hint is tall
        self.view_menu.addAction(self.train_dock.toggleViewAction())
        controller = getattr(panel, "controller", None)
        if controller is not None:
            controller.state_changed.connect(self._run_state_changed)
            self._run_state_changed(controller.state)
        return panel

    def compact_bottom_docks(self, height: int = BOTTOM_DOCK_H):
        """Keep the problems / training area low so the canvas gets the room."""
        docks = [d for d in (self.problems_dock, self.train_dock) if d is not None]
        if docks:
            self.resizeDocks(docks, [height] * len(docks), Qt.Orientation.Vertical)

    # ---- building ----------------------------------------------------------------------------------------------
    def _dock(self, title, widget, area, name) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name + "_dock")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_status_bar(self):
        self.status_bar = QStatusBar(self)
        self.setStatusBar(self.status_bar)
        # their texts change on every edit: steady labels repaint themselves instead of re-laying out the window
        self.valid_label = SteadyLabel()
        self.params_label = SteadyLabel()
        self.macs_label = SteadyLabel()
        self.shape_label = SteadyLabel()
        self.count_label = SteadyLabel()
        for w in (self.shape_label, self.count_label, self.params_label, self.macs_label, self.valid_label):
            w.setContentsMargins(8, 0, 8, 0)
            self.status_bar.addPermanentWidget(w)

    def _action(self, menu, text, slot, shortcuts=(), on_view=False) -> QAction:
        act = QAction(text, self)
        act.triggered.connect(slot)
        if shortcuts:
            act.setShortcuts([QKeySequence(s) for s in shortcuts])
        if on_view:
            # canvas commands act only while the canvas has focus, so typing in the inspector keeps its keys
            act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.view.addAction(act)
        menu.addAction(act)
        return act

    def _build_edit_menu(self):
        m = self.edit_menu
        self.undo_action = self.undo_group.createUndoAction(self, "&Undo")
        self.undo_action.setShortcuts(QKeySequence.StandardKey.Undo)
        self.redo_action = self.undo_group.createRedoAction(self, "&Redo")
        redo_keys = QKeySequence.keyBindings(QKeySequence.StandardKey.Redo)
        for extra in (QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")):
            if extra not in redo_keys:  # a duplicate binding would make the shortcut ambiguous
                redo_keys.append(extra)
        self.redo_action.setShortcuts(redo_keys)
        m.addAction(self.undo_action)
        m.addAction(self.redo_action)
        m.addSeparator()
        v = self.view
        self.cut_action = self._action(m, "Cu&t", v.cut, [QKeySequence.StandardKey.Cut], True)
        self.copy_action = self._action(m, "&Copy", v.copy, [QKeySequence.StandardKey.Copy], True)
        self.paste_action = self._action(m, "&Paste", v.paste, [QKeySequence.StandardKey.Paste], True)
        self.duplicate_action = self._action(m, "D&uplicate", v.duplicate, ["Ctrl+D"], True)
        self.delete_action = self._action(m, "&Delete", v.delete_selection, ["Delete", "Backspace"], True)
        m.addSeparator()
        self.select_all_action = self._action(m, "Select &All", v.select_all, [QKeySequence.StandardKey.SelectAll],
                                              True)
        self.rename_action = self._action(m, "Re&name Block…", v.rename_selected, ["F2"], True)
        self.add_block_action = self._action(m, "Add Block…", v.open_quick_add_at_cursor, ["Tab"], True)

    def _build_view_menu(self):
        m, v = self.view_menu, self.view
        self.zoom_in_action = self._action(m, "Zoom &In", v.zoom_in, ["Ctrl+=", "Ctrl++"])
        self.zoom_out_action = self._action(m, "Zoom &Out", v.zoom_out, ["Ctrl+-"])
        self.fit_action = self._action(m, "&Fit to Window", v.fit, ["Ctrl+0"])
        self.fit_action.setIconText("Fit")
        m.addSeparator()
        self.layout_action = self._action(m, "&Auto-layout", v.auto_layout, ["Ctrl+L"])
        m.addSeparator()

    def _build_train_menu(self):
        m = self.train_menu
        # (the app's own SVG icons: QStyle's standard icons would cost ~25 ms of start-up creating QStyle's enums)
        self.train_action = self._action(m, "&Train", self.train, ["F5"])
        self.train_action.setIcon(named_icon("action-train"))
        self.train_action.setStatusTip("Train the model on the chosen dataset (resumes a paused run)")
        self.pause_action = self._action(m, "&Pause", self.pause_run, ["F6"])
        self.pause_action.setIcon(named_icon("action-pause"))
        self.stop_action = self._action(m, "&Stop", self.stop_run, ["Shift+F5"])
        self.stop_action.setIcon(named_icon("action-stop"))
        for a in (self.train_action, self.pause_action, self.stop_action):
            a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)  # wherever the focus is in the window
        self.pause_action.setEnabled(False)
        self.stop_action.setEnabled(False)
        m.addSeparator()
        group = self.workspace_group = QActionGroup(self)
        self.workspace_actions = {}
        for i, (name, text, tip) in enumerate((
                ("design", "&Design", "Design workspace: blocks, canvas, inspector and problems"),
                ("train", "Trai&ning", "Training workspace: the canvas above, training settings and curves below"))):
            a = QAction(text, self, checkable=True)
            a.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
            a.setStatusTip(tip)
            a.setToolTip(tip)
            a.setChecked(name == "design")
            a.triggered.connect(lambda _c=False, n=name: self.set_workspace(n))
            group.addAction(a)
            self.addAction(a)
            self.workspace_actions[name] = a
        ws = self.view_menu.addMenu("&Workspace")
        for a in group.actions():
            ws.addAction(a)
        m.addAction(self.workspace_actions["train"])

    def _build_help_menu(self):
        self.help_menu = self.menuBar().addMenu("&Help")
        self.shortcuts_action = self.help_menu.addAction("&Keyboard Shortcuts", self.show_shortcuts)
        self.about_action = self.help_menu.addAction("&About Hybrid Studio", self.show_about)

    def _build_export_fallback(self):
        """File > Export to Python when no feature module provided one (the interop module adds Import and the
        exports; the app must offer export either way)."""
        if getattr(self, "export_python_action", None) is not None:
            return
        a = QAction("&Export to Python…", self)
        a.setShortcut(QKeySequence("Ctrl+E"))
        a.setStatusTip("Write the model as a standalone PyTorch file")
        a.triggered.connect(lambda _c=False: self.export_python())
        self.addAction(a)
        quit_action = getattr(self.file_actions, "quit_action", None)
        if quit_action is not None:
            self.file_menu.insertAction(quit_action, a)
            self.file_menu.insertSeparator(quit_action)
        else:
            self.file_menu.addAction(a)
        self.export_python_action = a

    def export_python(self, path=None) -> bool:
        """Write the graph as one Python file (asks where); False when nothing was written (and why, in the status
        bar or a message box)."""
        if not self.document.checker.valid:
            self.show_message("Cannot export: the graph has problems (see Problems)")
            return False
        if path is None:
            path = self._ask_export_path()
            if not path:
                return False
        from hybrid_studio.compile.export import export_python
        try:
            export_python(self.document.graph, path)
        except Exception as e:  # noqa: BLE001 - say what went wrong, keep the app usable
            self.show_message(f"Export failed: {e}")
            return False
        from pathlib import Path
        self.show_message(f"Exported {Path(path).name}")
        return True

    def _ask_export_path(self) -> str | None:
        from pathlib import Path

        from PySide6.QtWidgets import QFileDialog
        doc = self.document
        base = getattr(doc, "project_name", None) or doc.graph.name
        folder = doc.path.parent if doc.path else Path.home()
        path, _ = QFileDialog.getSaveFileName(self, "Export to Python", str(folder / f"{base}.py"),
                                              "Python files (*.py)")
        return path or None

    def _build_toolbar(self):
        """The main actions, in the order of the work: file, import / export, undo, train, view, analysis; the
        workspace switch on the right. Actions that a feature module did not provide are left out."""
        tb = self.toolbar = QToolBar("Main toolbar", self)
        tb.setObjectName("main_toolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)
        fa = self.file_actions
        icons = ((getattr(fa, "new_action", None), "new"), (getattr(fa, "open_action", None), "open"),
                 (getattr(fa, "save_action", None), "save"), (self.undo_action, "undo"), (self.redo_action, "redo"),
                 (getattr(self, "export_python_action", None), "export"), (self.fit_action, "fit"),
                 (self.layout_action, "layout"))
        for a, name in icons:
            if a is not None and a.icon().isNull():
                a.setIcon(named_icon(f"action-{name}"))
        # the toolbar says Undo / Redo; what they undo is in their tooltip and the Edit menu (a long step name made
        # the toolbar jump in width after every edit)
        for a, word in ((self.undo_action, "Undo"), (self.redo_action, "Redo")):
            a.setIconText(word)
            a.changed.connect(lambda a=a: a.toolTip() != a.text().replace("&", "") and a.setToolTip(
                a.text().replace("&", "")))
        exports = [a for a in (getattr(self, "export_python_action", None), getattr(self, "export_onnx_action", None))
                   if a is not None]
        groups = (
            [getattr(fa, "new_action", None), getattr(fa, "open_action", None), getattr(fa, "save_action", None)],
            [getattr(self, "import_action", None)],
            [self.undo_action, self.redo_action],
            [self.train_action, self.pause_action, self.stop_action],
            [self.fit_action, self.layout_action],
            [getattr(self, name, None) for name in ("explain_action", "profile_action", "sweep_action")],
        )
        self.toolbar_actions: list[QAction] = []
        for i, group in enumerate(groups):
            group = [a for a in group if a is not None]
            if i == 2 and exports:
                group = ["export"] + group  # after Import, before Undo
            if not group:
                continue
            if self.toolbar_actions:
                tb.addSeparator()
            for a in group:
                if a == "export":
                    self._add_export_button(tb, exports)
                    continue
                tb.addAction(a)
                self.toolbar_actions.append(a)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        tb.addWidget(spacer)
        tb.addWidget(QLabel("Workspace: "))
        for a in self.workspace_group.actions():
            tb.addAction(a)

    def _add_export_button(self, tb, exports):
        if len(exports) == 1:
            tb.addAction(exports[0])
            self.toolbar_actions.append(exports[0])
            self.export_button = tb.widgetForAction(exports[0])
            return
        menu = QMenu(self)
        for a in exports:
            menu.addAction(a)
        button = self.export_button = QToolButton()
        button.setText("Export")
        button.setIcon(named_icon("action-export"))
        button.setToolTip("Export the model (Python, ONNX)")
        button.setMenu(menu)
        button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        tb.addWidget(button)
        self.toolbar_actions.extend(exports)

    def show_shortcuts(self):
        from PySide6.QtWidgets import QMessageBox
        lines = []
        for menu in (self.file_menu, self.edit_menu, self.view_menu, self.train_menu):
            for a in menu.actions():
                keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in a.shortcuts())
                if keys and a.text():
                    lines.append(f"{a.text().replace('&', '')}: {keys}")
        lines += ["Add a block at the mouse: Tab", "Rename the selected block: F2",
                  "Pan: middle-drag or Space+drag", "Zoom: mouse wheel"]
        box = QMessageBox(QMessageBox.Icon.Information, "Keyboard shortcuts", "\n".join(lines),
                          QMessageBox.StandardButton.Ok, self)
        box.open()
        return box

    def show_about(self):
        from PySide6.QtWidgets import QMessageBox
        from hybrid_studio import __version__
        box = QMessageBox(QMessageBox.Icon.Information, "About Hybrid Studio",
                          f"Hybrid Studio {__version__}\nDesign, check, export and train hybrid CNN+RNN networks.",
                          QMessageBox.StandardButton.Ok, self)
        box.open()
        return box

    # ---- training (the Train menu and toolbar) -----------------------------------------------------------------
    def train(self) -> bool:
        """F5: start a run (or resume a paused one), bring the training view forward and say in the status bar
        what happened, whichever panel is in front."""
        panel = self.ensure_train_panel()
        if panel is None:
            self.show_message("Training is not available (the training modules are not installed)")
            return False
        self.show_training()
        before = panel.controller.state
        panel.train_or_resume()
        after = panel.controller.state
        said = panel.status.text().strip()
        if before == "paused" and after == "running":
            self.show_message("Training resumed")
        elif before == "idle" and after != "idle":
            self.show_message(f"Training started: {said}" if said else "Training started")
        else:
            self.show_message(said or "Training did not start")
        return after != "idle" and before == "idle" or (before == "paused" and after == "running")

    def pause_run(self):
        panel = self._train_panel
        if panel is not None:
            panel.controller.pause()
            self.show_message("Training paused (F5 resumes)")

    def stop_run(self):
        panel = self._train_panel
        if panel is not None and panel.running:
            panel.controller.stop()
            self.show_message("Stopping the run (it keeps a checkpoint)")

    def show_training(self):
        """Bring the training dock to the front (its tab, if it shares the bottom area with Problems)."""
        if self.ensure_train_panel() is None or self.train_dock is None:
            return
        self.train_dock.show()
        self.train_dock.raise_()

    def _run_state_changed(self, state: str):
        self.train_action.setEnabled(state in ("idle", "paused"))
        self.pause_action.setEnabled(state == "running")
        self.stop_action.setEnabled(state in ("running", "paused"))
        self.train_action.setText("&Resume" if state == "paused" else "&Train")

    # ---- workspaces ----------------------------------------------------------------------------------------------
    def set_workspace(self, name: str, remember: bool = True):
        """Switch to the ``design`` or ``train`` workspace, each with its own dock layout; the choice is remembered
        for the next start."""
        if name not in WORKSPACES:
            raise ValueError(f"unknown workspace {name!r} (expected one of {', '.join(WORKSPACES)})")
        if name == "train" and self.ensure_train_panel() is None:
            return
        self._workspace_chosen = True
        if name != self.workspace:
            self.workspace = name
            self._default_layout(name)
            QTimer.singleShot(50, self, self.view.fit)  # the canvas changed size: show the whole graph again
        self.workspace_actions[name].setChecked(True)
        if remember:
            self._remember_workspace(name)

    def _default_layout(self, name: str):
        docks = {"palette": self.palette_dock, "inspector": self.inspector_dock, "history": self.history_dock}
        if name == "design":
            for d in docks.values():
                d.show()
            if self.problems_dock is not None:
                self.problems_dock.show()
                self.problems_dock.raise_()
            if self.train_dock is not None:
                self.train_dock.show()
                if self.problems_dock is not None:
                    self.tabifyDockWidget(self.problems_dock, self.train_dock)
                    self.problems_dock.raise_()
            self.compact_bottom_docks()
            QTimer.singleShot(0, self, lambda: self.workspace == "design" and self.compact_bottom_docks())
            return
        # train: the canvas on top (smaller), the training dock below with most of the height; Problems stays a
        # tab beside it; palette and history make room
        self.palette_dock.hide()
        self.history_dock.hide()
        self.inspector_dock.show()
        self.train_dock.show()
        self.train_dock.raise_()
        height = int(self.height() * TRAIN_DOCK_SHARE)
        docks = [d for d in (self.problems_dock, self.train_dock) if d is not None]
        self.resizeDocks(docks, [height] * len(docks), Qt.Orientation.Vertical)
        QTimer.singleShot(0, self, lambda: self.workspace == "train" and self.resizeDocks(
            docks, [int(self.height() * TRAIN_DOCK_SHARE)] * len(docks), Qt.Orientation.Vertical))

    def _remember_workspace(self, name: str):
        from .files import settings
        store = settings()
        store.setValue(WORKSPACE_KEY, name)
        store.sync()

    @staticmethod
    def stored_workspace() -> str:
        """The workspace used last (``design`` when none was stored)."""
        from .files import settings
        name = settings().value(WORKSPACE_KEY, "design")
        return name if name in WORKSPACES else "design"

    def _add_dock_toggles(self):
        for dock in (self.palette_dock, self.inspector_dock, self.history_dock, self.problems_dock):
            if dock is not None:
                self.view_menu.addAction(dock.toggleViewAction())

    # ---- document ----------------------------------------------------------------------------------------------
    def set_document(self, document: Document):
        """Edit ``document`` from now on (the old one is dropped from the undo group)."""
        old = self.document
        if old is not None:
            for signal, slot in ((old.settled, self._update_status), (old.refused, self.show_message),
                                 (old.notice, self.show_message)):
                try:
                    signal.disconnect(slot)
                except (RuntimeError, TypeError):
                    pass
            self.undo_group.removeStack(old.undo_stack)
        old_scene = self.scene
        if old_scene is not None:
            old_scene.detach()
        self.document = document
        self.scene = GraphScene(document, self)
        self.scene.message.connect(self.show_message)
        self.scene.selectionChanged.connect(self._selection_changed)
        self.view.setScene(self.scene)
        if old_scene is not None:
            # the old scene and its items go once control returns to the event loop (not at once: a signal of the
            # old scene may be what called us), so opening project after project does not keep every one in memory
            old_scene.blockSignals(True)
            old_scene.deleteLater()
        self.undo_group.addStack(document.undo_stack)
        self.undo_group.setActiveStack(document.undo_stack)
        if old is not None:
            self._wire_document()
            if self.file_actions is not None:  # it sets the title and autosaves whatever document is shown
                self.file_actions.watch(document)
            for w in (self._inspector, self.problems):
                if w is not None and hasattr(w, "set_document"):
                    w.set_document(document)
            if self._train_panel is not None and hasattr(self._train_panel, "document_changed"):
                self._train_panel.document_changed()  # at once, not at its next look (its messages were the old one's)
            self._selection_changed()
        if self.isVisible():
            self.view.fit()
        else:
            self._fitted = False

    def _wire_document(self):
        d = self.document
        d.settled.connect(self._update_status)  # once per event-loop turn, however many edits it saw
        d.refused.connect(self.show_message)
        d.notice.connect(self.show_message)
        self._update_status()

    def _update_status(self, changed=None):
        ck = self.document.checker
        n = ck.error_count()  # kept by the checker: no pass over the blocks after each edit
        if not len(self.document.graph):
            text, style = "Empty graph", ""
        elif n:
            text, style = f"\u2716 {n} problem{'s' if n > 1 else ''}", f"color: {theme.ERROR_COLOUR}; font-weight: bold"
        else:
            text, style = "\u2714 Valid", "color: #16a34a; font-weight: bold"
        self.valid_label.setText(text)
        if self.valid_label.styleSheet() != style:  # setting a style sheet re-polishes the label: only on a change
            self.valid_label.setStyleSheet(style)
        g = self.document.graph
        n_blocks, n_wires = len(g), len(g.edges)
        self.count_label.setText(f"{n_blocks} block{'s' * (n_blocks != 1)}, {n_wires} wire{'s' * (n_wires != 1)}")
        self.params_label.setText(f"Params: {ck.total_params():,}")
        self.macs_label.setText(f"MACs: {human_count(ck.total_macs())}")
        self._update_shape_label()

    def _update_shape_label(self):
        """The selected block's output shape, or the shape on the selected wire."""
        # the selected blocks in any order (the label names one or counts them): the scene's file-ordered list is a
        # pass over every block, after every edit
        selected = self.scene.selectedItems() if self.scene is not None else []
        ids = [i.node_id for i in selected if isinstance(i, NodeItem)]
        edges = self.scene.selected_edges() if self.scene is not None and not ids else []
        results = self.document.checker.results
        if len(ids) == 1 or (not ids and len(edges) == 1):
            nid = ids[0] if ids else edges[0].source
            out = results.get(nid)
            out = out.output if out is not None else None
            name = nid if ids else f"{edges[0].source} \u2192 {edges[0].target}:"
            arrow = " \u2192 " if ids else " "
            self.shape_label.setText(f"{name}{arrow}{out.describe() if out is not None else '?'}")
        elif ids or edges:
            n = len(ids) or len(edges)
            self.shape_label.setText(f"{n} {'blocks' if ids else 'wires'} selected")
        else:
            self.shape_label.setText("")

    def _selection_changed(self):
        if self.scene is None:
            return
        ids = self.scene.selected_node_ids()
        self._update_shape_label()
        if self._inspector is not None:
            self._inspector.show_node(ids[0] if len(ids) == 1 else None)

    def show_message(self, text: str):
        self.status_bar.showMessage(text, 6000)

    # ---- window events -----------------------------------------------------------------------------------------
    def showEvent(self, event):
        super().showEvent(event)
        if not self._fitted:
            self._fitted = True
            QTimer.singleShot(0, self, self.view.fit)
            self.view.fit()
            # what the first paint does not need is built once the canvas has painted: the inspector at once,
            # the training dock (pyqtgraph, numpy) a little later
            self._first_paint = _FirstPaint(self.view.viewport(), self._after_first_paint)

    def _after_first_paint(self):
        self._first_paint = None
        QTimer.singleShot(0, self, self.ensure_inspector)
        QTimer.singleShot(150, self, self._train_panel_after_start)

    def _train_panel_after_start(self):
        self.ensure_train_panel()
        if not getattr(self, "_workspace_chosen", False) and self.stored_workspace() != self.workspace:
            self.set_workspace(self.stored_workspace(), remember=False)  # the workspace used last time

    def changeEvent(self, event):
        if event.type() == event.Type.PaletteChange:
            theme.refresh()
            self.view.reset_background()
            if self.scene is not None:
                self.scene.update()
        super().changeEvent(event)

    def closeEvent(self, event):
        panel = self._train_panel
        if panel is not None and panel.running and not self._ask_stop_run():
            event.ignore()
            return
        fa = self.file_actions
        if fa is not None and hasattr(fa, "maybe_save") and not fa.maybe_save():
            event.ignore()
            return
        if panel is not None:
            panel.shutdown()  # stops a run in progress with a checkpoint, so that it can be resumed
        super().closeEvent(event)

    def _ask_stop_run(self) -> bool:
        """Closing while a run trains: True to stop it (with a checkpoint) and close, False to stay."""
        from .files import interactive
        if not interactive():
            return True
        from PySide6.QtWidgets import QMessageBox
        answer = QMessageBox.question(
            self, "A run is in progress",
            "A training run is in progress. Stop it and close?\n\nIt is stopped at the next batch with a checkpoint, "
            "and can be resumed from the runs list later.", QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        return answer == QMessageBox.Yes
