"""Autosave to a recovery file and restoring it after a crash, for one main window (``FileActions`` owns one).

Every ``AUTOSAVE_MS`` a modified project is written (atomically) to ``<recovery folder>/<session>.hsproj.json``, with
``<session>.meta.json`` beside it saying whose it is and when (session, pid, time, name, path). At start-up
``offer()`` looks for files left by sessions that are no longer running, offers to restore the newest, and removes
them all.

The owner provides the document and everything the user sees: ``owner.document``, ``owner.maybe_save()``,
``owner._install(document)``, ``owner._status(text)``, ``owner._ask_restore(info)`` and ``owner._show_error(title,
text)`` (looked up on the owner at call time, so tests can replace them there).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QTimer

from .document import Document

AUTOSAVE_MS = 30_000
META_SUFFIX = ".meta.json"


def _pid_alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    if sys.platform == "win32":  # os.kill would terminate the process there; assume a crash
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


class Recovery(QObject):
    """This session's autosave timer and recovery file, and the offer to restore a crashed session's work.

    ``folder`` is called each time (the data folder can change, e.g. between tests); ``suffix`` is the project file
    suffix (``.hsproj.json``)."""

    def __init__(self, owner, folder: Callable[[], Path], suffix: str):
        super().__init__(owner)
        self.owner = owner
        self._folder = folder
        self._suffix = suffix
        self.session = os.urandom(6).hex()  # 12 hex digits (uuid would import platform: ~5 ms at start-up)
        self.timer = QTimer(self)
        self.timer.setInterval(AUTOSAVE_MS)
        self.timer.timeout.connect(self.autosave_now)
        self.timer.start()

    def path(self) -> Path:
        """This session's recovery file (a project file; ``.meta.json`` beside it says whose and when)."""
        return self._folder() / f"{self.session}{self._suffix}"

    def meta_path(self, project_path: Path) -> Path:
        """The ``.meta.json`` file that goes with the recovery project file ``project_path``."""
        return project_path.with_name(project_path.name[: -len(self._suffix)] + META_SUFFIX)

    def autosave_now(self) -> bool:
        """Write the modified project to the recovery file (atomically); False when there was nothing to write."""
        from hybrid_studio.project import ProjectError, atomic_write_text, dumps_project
        doc = self.owner.document
        if not doc.modified:
            return False
        path = self.path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, dumps_project(doc.graph, str(path)))
            meta = {"session": self.session, "pid": os.getpid(), "time": time.time(), "name": doc.graph.name,
                    "path": str(doc.path) if doc.path else None}
            atomic_write_text(self.meta_path(path), json.dumps(meta))
        except (ProjectError, OSError) as e:
            self.owner._status(f"Autosave failed: {e}")
            return False
        return True

    def remove(self):
        """Delete this session's recovery file (the project was saved, discarded or is unmodified)."""
        for p in (self.path(), self.meta_path(self.path())):
            try:
                p.unlink()
            except FileNotFoundError:
                pass
            except OSError:
                pass

    def _stale(self) -> list[tuple[float, dict, Path]]:
        """Recovery files left by sessions that are gone, newest first."""
        folder = self._folder()
        if not folder.is_dir():
            return []
        out = []
        for meta_path in folder.glob(f"*{META_SUFFIX}"):
            try:
                info = json.loads(meta_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if not isinstance(info, dict) or info.get("session") == self.session:
                continue
            if info.get("pid") != os.getpid() and _pid_alive(info.get("pid")):
                continue  # another Hybrid Studio is running and owns it
            project = meta_path.with_name(meta_path.name[: -len(META_SUFFIX)] + self._suffix)
            if not project.is_file():
                meta_path.unlink(missing_ok=True)
                continue
            out.append((float(info.get("time", 0) or 0), info, project))
        out.sort(key=lambda t: t[0], reverse=True)
        return out

    def offer(self) -> bool:
        """If a crashed session left unsaved work, ask whether to restore it; True when it was restored (the
        restored project opens as modified). The leftover recovery files are removed once the user has decided
        (restored, or declined); choosing Restore and then cancelling the unsaved-changes question keeps them for
        the next start."""
        from hybrid_studio.project import ProjectError, load_project
        owner = self.owner
        stale = self._stale()
        if not stale:
            return False
        _, info, project = stale[0]
        restored = False
        if owner._ask_restore(info):
            try:
                graph = load_project(project)
            except ProjectError as e:
                owner._show_error("Could not restore the project", str(e))
            else:
                if not owner.maybe_save():
                    return False  # the user stayed with the open project: offer the recovery again next time
                doc = Document(graph, Path(info["path"]) if info.get("path") else None)
                doc.undo_stack.resetClean()  # restored work is unsaved work
                owner._install(doc)
                self.autosave_now()  # keep it safe until the user saves
                owner._status("Restored unsaved changes")
                restored = True
        for _, _, p in stale:
            p.unlink(missing_ok=True)
            self.meta_path(p).unlink(missing_ok=True)
        return restored
