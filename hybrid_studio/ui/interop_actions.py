"""File > Import model... (Keras, ONNX) and File > Export > PyTorch / ONNX.

Import reads the model as data (``hybrid_studio.interop``), shows the import report, writes the project and its
weights beside each other (``NAME.hsproj.json`` + ``NAME.weights.pt``) and opens the project on the canvas, laid
out; its training settings then offer "Start from imported weights". ONNX export traces the model with torch, which
takes seconds: it runs on a worker thread while a progress indicator shows, and a failure is shown in words.
Light to import: Qt only; the interop room, numpy and torch load when an action runs.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction

from .files import interactive

IMPORT_FILTER = "Models (*.keras *.h5 *.hdf5 *.json *.onnx);;Keras (*.keras *.h5 *.hdf5 *.json);;ONNX (*.onnx)"


def install(window) -> None:
    """Add the import and export actions to the File menu (``window.import_action``, ``window.export_python_action``,
    ``window.export_onnx_action``)."""
    window.interop = InteropActions(window)


class InteropActions(QObject):
    """The import/export actions of one main window. Dialogs go through small ``_ask_*`` / ``_show_*`` methods
    (tests replace them)."""

    #: (error text or None, output path) from the export thread, delivered on the UI thread
    _export_done = Signal(object, object)
    #: the ONNX export finished (True) or failed (False)
    export_finished = Signal(bool)

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.running = False
        self.progress = None
        self.last_report = ""
        menu = window.file_menu
        before = getattr(getattr(window, "file_actions", None), "quit_action", None)

        def action(text, slot, tip):
            a = QAction(text, window)
            a.setStatusTip(tip)
            a.triggered.connect(lambda _checked=False: slot())
            return a

        window.import_action = action("&Import Model...", self.import_model,
                                      "Import a Keras (.keras, .h5, .json) or ONNX (.onnx) model with its weights")
        window.export_python_action = action("&PyTorch (.py)...", self.export_python,
                                             "Export a standalone PyTorch file (imports only torch)")
        window.export_onnx_action = action("&ONNX (.onnx)...", self.export_onnx,
                                           "Export an ONNX model (the batch and unknown sizes stay dynamic)")
        self.export_menu = menu.__class__("&Export", menu)
        self.export_menu.addAction(window.export_python_action)
        self.export_menu.addAction(window.export_onnx_action)
        if before is not None:
            menu.insertAction(before, window.import_action)
            menu.insertMenu(before, self.export_menu)
            menu.insertSeparator(before)
        else:
            menu.addAction(window.import_action)
            menu.addMenu(self.export_menu)
        self._export_done.connect(self._exported, Qt.ConnectionType.QueuedConnection)

    # ---- dialogs (replaced in tests) ---------------------------------------------------------------------------
    def _ask_import_path(self) -> str | None:
        if not interactive():
            return None
        from PySide6.QtWidgets import QFileDialog
        path, _ = QFileDialog.getOpenFileName(self.window, "Import Model", "", IMPORT_FILTER)
        return path or None

    def _ask_save_path(self, title: str, suggested: str, filt: str) -> str | None:
        if not interactive():
            return None
        from PySide6.QtWidgets import QFileDialog
        path, _ = QFileDialog.getSaveFileName(self.window, title, suggested, filt)
        return path or None

    def _show_report(self, title: str, summary: str, details: str) -> None:
        if not interactive():
            return
        from PySide6.QtWidgets import QMessageBox
        box = QMessageBox(QMessageBox.Icon.Information, title, summary, QMessageBox.StandardButton.Ok, self.window)
        box.setDetailedText(details)
        box.exec()

    def _show_error(self, title: str, text: str) -> None:
        if not interactive():
            print(f"hybrid-studio: {title}: {text}", file=sys.stderr)
            return
        from PySide6.QtWidgets import QMessageBox
        QMessageBox.critical(self.window, title, text)

    def _status(self, text: str) -> None:
        self.window.statusBar().showMessage(text, 8000)

    # ---- import ------------------------------------------------------------------------------------------------
    def import_model(self) -> bool:
        """Ask for a model file, import it, show the report, write the project beside it and open it."""
        path = self._ask_import_path()
        if not path:
            return False
        return self.import_path(path)

    def import_path(self, path) -> bool:
        from PySide6.QtGui import QGuiApplication
        from PySide6.QtWidgets import QApplication

        from hybrid_studio.interop import ImportFailure, import_model
        from hybrid_studio.interop.project_io import write_import

        src = Path(path)
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            try:
                result = import_model(src)
            except ImportFailure as e:
                self._show_error("Could not import the model", str(e))
                return False
        finally:
            QApplication.restoreOverrideCursor()
        QGuiApplication.processEvents()
        target = self._ask_save_path("Save Imported Project", str(src.with_name(src.stem + ".hsproj.json")),
                                     "Hybrid Studio projects (*.hsproj.json *.json)")
        if not target:
            return False
        if not target.lower().endswith(".json"):
            target += ".hsproj.json"
        fa = getattr(self.window, "file_actions", None)
        if fa is not None and not fa.maybe_save():
            return False
        try:
            project, weights = write_import(result, target)
        except (OSError, ValueError) as e:
            self._show_error("Could not save the imported project", f"{target}: {getattr(e, 'strerror', None) or e}")
            return False
        n_ok, n_bad = len(result.converted), len(result.unsupported)
        summary = (f"Imported {src.name}: {n_ok} layer(s) converted" +
                   (f", {n_bad} not converted (placeholder blocks; see the Problems panel)" if n_bad else "") +
                   f".\nSaved {Path(project).name}" + (f" with its weights ({Path(weights).name})." if weights
                                                        else " (the file had no weights)."))
        self.last_report = result.report_text()
        if fa is not None:
            fa.open_path(project)
        self._show_report("Import report", summary, self.last_report)
        self._status(summary.replace("\n", " "))
        return True

    # ---- export ------------------------------------------------------------------------------------------------
    def _default_path(self, suffix: str) -> str:
        doc = self.window.document
        if doc.path:
            name = Path(doc.path).name
            for s in (".hsproj.json", ".json"):
                if name.endswith(s):
                    name = name[: -len(s)]
                    break
            return str(Path(doc.path).with_name(name + suffix))
        return str(Path.cwd() / f"{doc.graph.name or 'model'}{suffix}")

    def export_python(self) -> bool:
        from hybrid_studio.compile.codegen import CompileError
        from hybrid_studio.compile.export import export_python

        path = self._ask_save_path("Export PyTorch", self._default_path(".py"), "Python (*.py)")
        if not path:
            return False
        try:
            export_python(self.window.document.graph, path)
        except CompileError as e:
            self._show_error("Cannot export", str(e))
            return False
        except OSError as e:
            self._show_error("Cannot export", f"{path}: {e.strerror or e}")
            return False
        self._status(f"Exported {Path(path).name}")
        return True

    def export_onnx(self) -> bool:
        """Start the ONNX export on a worker thread (False when it did not start)."""
        if self.running:
            self._status("An ONNX export is already running")
            return False
        doc = self.window.document
        if not doc.checker.valid:
            self._show_error("Cannot export", "the graph has errors; fix them first (see the Problems panel)")
            return False
        path = self._ask_save_path("Export ONNX", self._default_path(".onnx"), "ONNX (*.onnx)")
        if not path:
            return False
        graph = doc.graph.copy()
        weights = _weights_file(doc)
        self.running = True
        self._show_progress(f"Exporting {Path(path).name}...")
        threading.Thread(target=self._export_worker, args=(graph, weights, path), daemon=True,
                         name="onnx-export").start()
        return True

    def _export_worker(self, graph, weights, path):
        try:
            from hybrid_studio.compile import compile_graph
            from hybrid_studio.compile.onnx_export import export_onnx

            model = None
            if weights is not None:
                from hybrid_studio.train.errors import InputProblem
                from hybrid_studio.train.init_weights import load_init_weights
                model = compile_graph(graph, trace=False)
                try:
                    load_init_weights(model, weights)
                except InputProblem:
                    model = None  # weights for another version of the graph: export a fresh model
            export_onnx(graph, path, model=model)
            error = None
        except Exception as e:  # noqa: BLE001 - shown to the user, the app keeps running
            error = f"{type(e).__name__}: {e}" if not str(e).startswith(type(e).__name__) else str(e)
        self._export_done.emit(error, path)

    def _show_progress(self, text: str):
        self._status(text)
        from PySide6.QtWidgets import QProgressDialog
        self.progress = QProgressDialog(text, None, 0, 0, self.window)
        self.progress.setWindowTitle("Export ONNX")
        self.progress.setMinimumDuration(300)
        self.progress.setWindowModality(Qt.WindowModality.WindowModal)
        self.progress.setValue(0)

    def _exported(self, error, path):
        self.running = False
        if self.progress is not None:
            self.progress.close()
            self.progress.deleteLater()
            self.progress = None
        if error:
            self._show_error("ONNX export failed", f"{Path(path).name}: {error}")
            self._status("ONNX export failed")
        else:
            self._status(f"Exported {Path(path).name}")
        self.export_finished.emit(error is None)


def _weights_file(doc):
    """The weights the project starts from (its training section's init_weights), when the file is there."""
    rel = (doc.graph.training or {}).get("init_weights")
    if not rel or not isinstance(rel, str):
        return None
    p = Path(rel)
    if not p.is_absolute():
        if not doc.path:
            return None
        p = Path(doc.path).parent / p
    return p if p.is_file() else None
