"""The File menu: new, templates, open, recent files, save, save as, quit; unsaved-changes prompt; drag-and-drop
of project files; the window title (set here only). Autosave and crash recovery live in ``recovery.py``; the
``Recovery`` object is ``FileActions.recovery`` and the methods below delegate to it.

``FileActions(window)`` needs ``window.document``, ``window.set_document(doc)``, ``window.file_menu`` (a QMenu)
and ``window.statusBar()``. The window's ``closeEvent`` calls ``maybe_save()``; after start-up the app calls
``offer_recovery()``. Every dialog sits behind one small method (``_ask_*``, ``_show_error``, ``_choose_template``)
that tests replace.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QSettings, QTimer
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence

from hybrid_studio import paths

from .document import Document
from .recovery import Recovery

PROJECT_SUFFIX = ".hsproj.json"
FILE_FILTER = "Hybrid Studio projects (*.hsproj.json *.json);;All files (*)"
MAX_RECENT = 10


# ---- where the app keeps its data ------------------------------------------------------------------------------------
def data_dir() -> Path:
    """The app's data folder (``hybrid_studio.paths``: the same for the app and the command line)."""
    return paths.data_dir()


def recovery_dir() -> Path:
    """Where autosaved recovery files go."""
    return data_dir() / "recovery"


def settings() -> QSettings:
    """Recent files and other preferences: an ini file in the data folder when it is set by environment (tests,
    portable installs), else the platform's settings store under organisation ``HybridStudio``."""
    if os.environ.get("HYBRID_STUDIO_DATA_DIR"):
        return QSettings(str(data_dir() / "settings.ini"), QSettings.IniFormat)
    return QSettings("HybridStudio", "Hybrid Studio")


def interactive() -> bool:
    """Whether a person can answer dialogs (not the offscreen or minimal Qt platforms)."""
    return QGuiApplication.platformName() not in ("offscreen", "minimal")


class FileActions(QObject):
    """File actions for one main window."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self._watched = None
        menu = window.file_menu

        def action(text, shortcut, slot, tip):
            a = QAction(text, window)
            if shortcut is not None:
                a.setShortcuts(QKeySequence.keyBindings(shortcut) if isinstance(shortcut, QKeySequence.StandardKey)
                               else [QKeySequence(shortcut)])
            a.setStatusTip(tip)
            a.triggered.connect(lambda _checked=False: slot())
            window.addAction(a)  # shortcuts work even while the menu bar is hidden
            return a

        self.new_action = action("&New", QKeySequence.New, self.new, "Start an empty project")
        self.template_action = action("New from &Template...", "Ctrl+Shift+N", self.new_from_template,
                                      "Start from one of the starter projects")
        self.open_action = action("&Open...", QKeySequence.Open, self.open, "Open a project file")
        self.save_action = action("&Save", QKeySequence.Save, self.save, "Save the project")
        self.save_as_action = action("Save &As...", QKeySequence.SaveAs if QKeySequence.keyBindings(
            QKeySequence.SaveAs) else "Ctrl+Shift+S", self.save_as, "Save the project under a new name")
        self.quit_action = action("&Quit", QKeySequence.Quit if QKeySequence.keyBindings(QKeySequence.Quit)
                                  else "Ctrl+Q", window.close, "Close the window")
        for a in (self.new_action, self.template_action, self.open_action):
            menu.addAction(a)
        self.recent_menu = menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        menu.addSeparator()
        menu.addAction(self.save_action)
        menu.addAction(self.save_as_action)
        menu.addSeparator()
        menu.addAction(self.quit_action)
        self._fill_recent()

        self.recovery = Recovery(self, recovery_dir, PROJECT_SUFFIX)

        window.setAcceptDrops(True)
        window.installEventFilter(self)
        self.watch(window.document)

    # ---- the document ------------------------------------------------------------------------------------------
    @property
    def document(self) -> Document:
        return self.window.document

    def watch(self, document: Document):
        """Follow ``document`` for the title and autosave (called for every document this class installs; call it
        if the window sets a document by other means)."""
        if self._watched is not None:
            try:
                self._watched.state_changed.disconnect(self._state_changed)
            except (RuntimeError, TypeError):
                pass
        self._watched = document
        document.state_changed.connect(self._state_changed)
        self._state_changed()

    def _install(self, document: Document):
        self.window.set_document(document)
        self.watch(document)

    def _state_changed(self):
        # the one place the window title is set (the main window hands every document it shows to ``watch``)
        doc = self.document
        self.window.setWindowTitle(f"{doc.display_name}[*] - Hybrid Studio")
        self.window.setWindowModified(doc.modified)
        if not doc.modified:
            self.remove_recovery()

    def _status(self, text: str):
        self.window.statusBar().showMessage(text, 5000)

    # ---- dialogs (tests replace these) -------------------------------------------------------------------------
    # Without a screen (offscreen/minimal platforms: CI, screenshots) nobody can answer a modal dialog, so each one
    # gives the answer that changes nothing instead of blocking forever.
    def _ask_open_path(self) -> str | None:
        if not interactive():
            return None
        from PySide6.QtWidgets import QFileDialog  # dialogs load on first use: not on the way to the first paint
        path, _ = QFileDialog.getOpenFileName(self.window, "Open Project", self._last_dir(), FILE_FILTER)
        return path or None

    def _ask_save_path(self, suggested: str) -> str | None:
        if not interactive():
            return None
        from PySide6.QtWidgets import QFileDialog
        dialog = QFileDialog(self.window, "Save Project As", suggested, FILE_FILTER)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        # the dialog adds the suffix to a bare name itself, so its overwrite question is about the real file
        dialog.setDefaultSuffix(PROJECT_SUFFIX.lstrip("."))
        dialog.selectFile(suggested)
        if not dialog.exec():
            return None
        files = dialog.selectedFiles()
        return files[0] if files else None

    def _ask_overwrite(self, path: Path) -> bool:
        """Whether to replace ``path``, which exists (asked when the suffix was added after the file dialog)."""
        if not interactive():
            return False
        from PySide6.QtWidgets import QMessageBox
        answer = QMessageBox.question(self.window, "Replace project?",
                                      f"{path.name} already exists in {path.parent}.\n\nReplace it?",
                                      QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        return answer == QMessageBox.Yes

    def _ask_unsaved(self, name: str) -> str:
        """``save``, ``discard`` or ``cancel``."""
        if not interactive():
            return "discard"
        from PySide6.QtWidgets import QMessageBox
        box = QMessageBox(QMessageBox.Warning, "Unsaved changes", f"Save the changes to {name}?",
                          QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, self.window)
        box.setInformativeText("Your changes are lost if you don't save them.")
        box.setDefaultButton(QMessageBox.Save)
        answer = box.exec()
        return {QMessageBox.Save: "save", QMessageBox.Discard: "discard"}.get(answer, "cancel")

    def _ask_restore(self, info: dict) -> bool:
        if not interactive():
            return False
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.get("time", 0)))
        what = info.get("path") or info.get("name") or "an unsaved project"
        from PySide6.QtWidgets import QMessageBox
        answer = QMessageBox.question(
            self.window, "Restore unsaved work?",
            f"Hybrid Studio did not close properly. Unsaved changes to {what} were kept at {when}.\n\n"
            f"Restore them?", QMessageBox.Yes | QMessageBox.No, QMessageBox.Yes)
        return answer == QMessageBox.Yes

    def _show_error(self, title: str, text: str):
        if not interactive():
            print(f"hybrid-studio: {title}: {text}", file=sys.stderr)
            return
        from PySide6.QtWidgets import QMessageBox
        QMessageBox.critical(self.window, title, text)

    def _choose_template(self) -> str | None:
        if not interactive():
            return None
        from .templates_dialog import TemplateGallery
        return TemplateGallery.choose(self.window)

    # ---- actions -----------------------------------------------------------------------------------------------
    def new(self) -> bool:
        """Replace the project with an empty one (after the unsaved-changes prompt)."""
        if not self.maybe_save():
            return False
        self._install(Document())
        return True

    def new_from_template(self) -> bool:
        from hybrid_studio.project import ProjectError, load_template
        name = self._choose_template()
        if not name:
            return False
        try:
            graph = load_template(name)
        except ProjectError as e:
            self._show_error("Could not open the template", str(e))
            return False
        if not self.maybe_save():
            return False
        self._install(Document(graph))
        self._status(f"New project from template {name}")
        return True

    def open(self) -> bool:
        path = self._ask_open_path()
        return self.open_path(path) if path else False

    def open_path(self, path) -> bool:
        """Open the project at ``path``; a file that cannot be read is explained in a message box."""
        from hybrid_studio.project import ProjectError, load_project
        path = Path(path)
        try:
            graph = load_project(path)
        except ProjectError as e:
            self._show_error("Could not open the project", str(e))
            if not path.exists():
                self._forget_recent(path)
            return False
        if not self.maybe_save():
            return False
        self._install(Document(graph, path.resolve()))
        self.add_recent(path)
        self._status(f"Opened {path.name}")
        return True

    def save(self) -> bool:
        """Save to the document's file (asks for one the first time); False when not saved."""
        doc = self.document
        return self.save_as() if doc.path is None else self._save_to(doc.path)

    def save_as(self) -> bool:
        doc = self.document
        suggested = str(doc.path) if doc.path else str(Path(self._last_dir()) / f"{doc.graph.name}{PROJECT_SUFFIX}")
        path = self._ask_save_path(suggested)
        if not path:
            return False
        if not str(path).lower().endswith(".json"):
            path = Path(f"{path}{PROJECT_SUFFIX}")
            # the dialog asked about the name as typed; this is another file, which may exist
            if path.exists() and not self._ask_overwrite(path):
                return False
        return self._save_to(Path(path))

    def _save_to(self, path: Path) -> bool:
        from hybrid_studio.project import ProjectError, save_project
        doc = self.document
        try:
            save_project(doc.graph, path)
        except ProjectError as e:
            self._show_error("Could not save the project", str(e))
            return False
        except OSError as e:
            self._show_error("Could not save the project", f"{path}: {e.strerror or e}")
            return False
        doc.mark_saved(Path(path).resolve())
        self.add_recent(path)
        self.remove_recovery()
        self._state_changed()
        self._status(f"Saved {Path(path).name}")
        return True

    def maybe_save(self) -> bool:
        """Before the project is closed: True to go on (saved, discarded or unmodified), False to stay (cancelled,
        or the save failed)."""
        doc = self.document
        if not doc.modified:
            return True
        answer = self._ask_unsaved(doc.display_name)
        if answer == "save":
            return self.save()
        if answer == "discard":
            self.remove_recovery()
            return True
        return False

    # ---- drag and drop -----------------------------------------------------------------------------------------
    @staticmethod
    def _project_paths(mime) -> list[str]:
        if not mime.hasUrls():
            return []
        return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and u.toLocalFile().lower().endswith(".json")]

    def handle_drop(self, paths) -> bool:
        """Open the first project file among dropped ``paths``; False when there is none (or it cannot be opened)."""
        for p in paths:
            if str(p).lower().endswith(".json") and Path(p).is_file():
                return self.open_path(p)
        return False

    def eventFilter(self, obj, event):
        if obj is self.window:
            kind = event.type()
            # the scoped names: the old unscoped ones (QEvent.DragEnter) take a slow path, on every window event
            if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove) and self._project_paths(event.mimeData()):
                event.acceptProposedAction()
                return True
            if kind == QEvent.Type.Drop:
                paths = self._project_paths(event.mimeData())
                if paths:
                    event.acceptProposedAction()
                    # open after the drop finishes: a message box inside a drop handler blocks the source app
                    QTimer.singleShot(0, lambda: self.handle_drop(paths))
                    return True
        return super().eventFilter(obj, event)

    # ---- recent files ------------------------------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        value = settings().value("recent_files", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or []) if v]

    def _set_recent(self, paths):
        s = settings()
        s.setValue("recent_files", list(paths)[:MAX_RECENT])
        s.sync()
        self._fill_recent()

    def add_recent(self, path):
        """Put ``path`` first in File > Open Recent."""
        path = str(Path(path).resolve())
        self._set_recent([path] + [p for p in self.recent_files() if p != path])
        s = settings()
        s.setValue("last_dir", str(Path(path).parent))
        s.sync()

    def _forget_recent(self, path):
        path = str(Path(path).resolve())
        self._set_recent([p for p in self.recent_files() if p != path])

    def _last_dir(self) -> str:
        return str(settings().value("last_dir", "") or Path.home())

    def _fill_recent(self):
        menu = self.recent_menu
        menu.clear()
        paths = self.recent_files()
        for i, p in enumerate(paths, 1):
            a = menu.addAction(f"&{i % 10} {Path(p).name}" if i <= 10 else Path(p).name)
            a.setToolTip(p)
            a.setStatusTip(p)
            a.setData(p)
            a.triggered.connect(lambda _c=False, path=p: self.open_path(path))
        if paths:
            menu.addSeparator()
            menu.addAction("Clear Menu").triggered.connect(lambda _c=False: self._set_recent([]))
        menu.setEnabled(bool(paths))

    # ---- autosave and recovery (the work is done by ``self.recovery``, see recovery.py) ---------------------------
    @property
    def session(self) -> str:
        """This window's session id (names its recovery file)."""
        return self.recovery.session

    @property
    def autosave_timer(self) -> QTimer:
        return self.recovery.timer

    def recovery_path(self) -> Path:
        """This session's recovery file (a project file; ``.meta.json`` beside it says whose and when)."""
        return self.recovery.path()

    def _meta_path(self, project_path: Path) -> Path:
        return self.recovery.meta_path(project_path)

    def autosave_now(self) -> bool:
        """Write the modified project to the recovery file (atomically); False when there was nothing to write."""
        return self.recovery.autosave_now()

    def remove_recovery(self):
        """Delete this session's recovery file (the project was saved, discarded or is unmodified)."""
        self.recovery.remove()

    def offer_recovery(self) -> bool:
        """If a crashed session left unsaved work, ask whether to restore it; True when it was restored (the
        restored project opens as modified). The leftover recovery files are removed either way."""
        return self.recovery.offer()
