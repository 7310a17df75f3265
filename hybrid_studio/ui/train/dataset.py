"""Dataset picker: built-in datasets with a description and a preview of a few samples, "Open data..." for
.npz, .csv and image folders, and the dataset/graph mismatch with an "Adapt graph" button.

Datasets load on a pool thread (building one can take a second); matching against the graph runs on the UI thread
because the graph lives there (it is only shape arithmetic).
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QLabel, QMenu, QPushButton, QVBoxLayout,
                               QWidget)

from .background import run_in_background
from .samples import SampleGrid

PREVIEW_SAMPLES = 6


#: run in a child ``python -c``: builds the dataset and its preview and pickles them (or the error) to stdout
_LOAD_SCRIPT = """
import pickle, sys
name, seed, hint, n = pickle.loads(sys.stdin.buffer.read())
try:
    from hybrid_studio.train.datasets import get_dataset
    d = get_dataset(name, seed=seed, shape_hint=hint)
    out = ("ok", (d, d.preview(n)))
except Exception as e:
    out = ("error", str(e) or type(e).__name__)
sys.stdout.buffer.write(pickle.dumps(out))
"""


class DatasetLoadError(Exception):
    """Building a dataset failed in the child process; the message is the child's."""


def _load(name: str, seed: int, shape_hint=None):
    """(dataset, preview samples), built in a child process.

    Building a built-in dataset imports scikit-learn, scipy and joblib (digits) or sktime and pandas (basic
    motions), which would stay resident in the UI process for good; the child exits and only the arrays come back.
    The pickle is our own child's output, never a user file."""
    import os
    import pickle
    import subprocess
    import sys
    from pathlib import Path
    root = str(Path(__file__).resolve().parents[3])  # the directory holding hybrid_studio/
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    done = subprocess.run([sys.executable, "-c", _LOAD_SCRIPT], input=pickle.dumps((name, seed, shape_hint,
                          PREVIEW_SAMPLES)), capture_output=True, env=env)
    if done.returncode != 0 or not done.stdout:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise DatasetLoadError(f"the dataset loader stopped: {tail[0]}")
    status, value = pickle.loads(done.stdout)
    if status != "ok":
        raise DatasetLoadError(value)
    return value


class DatasetPicker(QWidget):
    """Pick a dataset; shows what it is and whether the graph fits it."""

    #: the chosen dataset (a built-in name or a path) changed by the user
    dataset_changed = Signal(str)
    #: the user asked to adapt the graph to the loaded dataset
    adapt_requested = Signal()
    #: a dataset finished loading (or failed: then ``dataset`` is None)
    loaded = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.combo = QComboBox()
        self.combo.setObjectName("datasetCombo")
        self.open_button = QPushButton("Open data...")
        menu = QMenu(self.open_button)
        menu.addAction("File (.npz, .csv)...", self._open_file)
        menu.addAction("Image folder (one subfolder per class)...", self._open_folder)
        self.open_button.setMenu(menu)
        self.description = QLabel("Loading datasets...")
        self.description.setWordWrap(True)
        self.preview = SampleGrid(cell_height=70)
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #c0392b;")
        self.adapt_button = QPushButton("Adapt graph")
        self.adapt_button.setToolTip("Set the Inputs' shapes and the Output's task to what the dataset serves (one "
                                     "undoable edit); blocks behind them may then need fixes, shown in Problems")
        self.adapt_button.clicked.connect(self.adapt_requested)
        row = QHBoxLayout()
        row.addWidget(self.combo, 1)
        row.addWidget(self.open_button)
        fix = QHBoxLayout()
        fix.addWidget(self.problem, 1)
        fix.addWidget(self.adapt_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.description)
        layout.addWidget(self.preview)
        layout.addLayout(fix)
        self.adapt_button.hide()
        self.problem.hide()

        self.infos: dict = {}  # name -> DatasetInfo
        self.dataset = None  # the loaded Dataset of the current choice
        self.error = ""
        self.seed = 0
        self._cache: dict = {}
        self._wanted = None  # (name, seed) loading now
        self.diagnostics: list = []
        #: () -> per-Input shapes of the graph; image folders are resized to them, as the engine does
        self.shape_hint = lambda: None
        self.combo.currentIndexChanged.connect(self._on_pick)

    # ---- choices ---------------------------------------------------------------------------------------------
    def populate(self, infos, current: str = "") -> None:
        """Offer the built-ins (DatasetInfo list) and select ``current`` (a name or a path)."""
        self.infos = {i.name: i for i in infos}
        self.combo.blockSignals(True)
        self.combo.clear()
        for info in infos:
            self.combo.addItem(info.title or info.name, info.name)
            if not getattr(info, "available", True):  # needs an optional package: shown, not pickable
                self.combo.model().item(self.combo.count() - 1).setEnabled(False)
        self.combo.blockSignals(False)
        self.select(current or (infos[0].name if infos else ""))

    def select(self, name: str) -> None:
        """Choose ``name`` (adding a user file or folder to the list) and load it."""
        if not name:
            return
        i = self.combo.findData(name)
        if i < 0:
            self.combo.blockSignals(True)
            self.combo.addItem(f"File: {name}", name)
            self.combo.blockSignals(False)
            i = self.combo.count() - 1
        if i == self.combo.currentIndex():
            self._load(name)
        else:
            self.combo.setCurrentIndex(i)  # -> _on_pick

    @property
    def name(self) -> str:
        return self.combo.currentData() or ""

    def _on_pick(self, _index):
        self._load(self.name)
        self.dataset_changed.emit(self.name)

    def _open_file(self):
        path, _ = QFileDialog.getOpenFileName(self, "Open data", "", "Data (*.npz *.csv);;All files (*)")
        if path:
            self.select(path)
            self.dataset_changed.emit(path)

    def _open_folder(self):
        path = QFileDialog.getExistingDirectory(self, "Open an image folder (one subfolder per class)")
        if path:
            self.select(path)
            self.dataset_changed.emit(path)

    # ---- loading ---------------------------------------------------------------------------------------------
    def set_seed(self, seed: int) -> None:
        if seed != self.seed:
            self.seed = seed
            self._cache.clear()

    def _load(self, name: str) -> None:
        info = self.infos.get(name)
        self.description.setText(info.description if info else name)
        self.dataset, self.error = None, ""
        key = (name, self.seed)
        if key in self._cache:
            self._show(key, self._cache[key])
            return
        self._wanted = key
        self.problem.setText("Loading the dataset...")
        self.problem.setStyleSheet("color: gray;")
        self.problem.show()
        self.adapt_button.hide()
        hint = None if name in self.infos else self.shape_hint()
        run_in_background(lambda: _load(*key, hint), lambda r: self._show(key, r),
                          lambda msg, tb: self._failed(key, msg), owner=self)

    def _show(self, key, result):
        if key != (self.name, self.seed):
            return  # the user picked something else meanwhile
        self._cache[key] = result
        self.dataset, samples = result
        ds = self.dataset
        info = self.infos.get(key[0])
        text = (info.description + "\n" if info else "") + ds.describe()
        self.description.setText(text)
        names = list(getattr(ds, "class_names", None) or [])
        titles = [names[int(y)] if names and _is_index(y, len(names)) else _short(y) for _, y in samples]
        self.preview.show_samples(ds.inputs, [x for x, _ in samples], titles)
        self.problem.setText("")
        self.loaded.emit()

    def _failed(self, key, message):
        if key != (self.name, self.seed):
            return
        self.dataset, self.error = None, message
        self.preview.clear()
        self.problem.setStyleSheet("color: #c0392b;")
        self.problem.setText(f"Cannot load {key[0]}: {message}")
        self.problem.show()
        self.adapt_button.hide()
        self.loaded.emit()

    # ---- matching --------------------------------------------------------------------------------------------
    def match(self, graph) -> list:
        """Check the loaded dataset against ``graph``; show the mismatch and offer "Adapt graph" when it helps."""
        if self.dataset is None:
            return []
        from hybrid_studio.train.matching import adapt_graph_edit, match_dataset
        self.diagnostics = list(match_dataset(graph, self.dataset))
        errors = [d for d in self.diagnostics if getattr(d, "severity", "error") == "error"]
        self.problem.setStyleSheet("color: #c0392b;" if errors else "color: #b7950b;")
        self.problem.setText("\n".join(f"{d.node}: {d.message}" if d.node else d.message
                                       for d in self.diagnostics))
        self.problem.setVisible(bool(self.diagnostics))
        self.adapt_button.setVisible(bool(self.diagnostics) and adapt_graph_edit(graph, self.dataset) is not None)
        return self.diagnostics

    def has_errors(self) -> bool:
        return any(getattr(d, "severity", "error") == "error" for d in self.diagnostics)


def _is_index(y, n) -> bool:
    try:
        return 0 <= int(y) < n and float(y) == int(y)
    except (TypeError, ValueError):
        return False


def _short(y) -> str:
    try:
        return f"{float(y):.3g}"
    except (TypeError, ValueError):
        return str(y)[:12]
