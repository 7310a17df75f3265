"""Results of a run: a confusion matrix (classification) and a few validation samples with true and predicted
labels; for frame prediction, the true and predicted frames side by side and the MSE against the dataset's
baseline (copying the last frame). Predictions come from the run's best checkpoint, computed on a pool thread with the model compiled from the
graph the run trained (``project.json``), so the UI never waits for torch.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from hybrid_studio.train.predict import Predictions, predict_run

from .background import run_in_background, settle_heap
from .samples import SampleGrid


SAMPLES_TITLE = "Validation samples (true / predicted):"


def _axes(info) -> str:
    return str(getattr(info, "axes", "") or "")


def _label(names, y) -> str:
    a = np.asarray(y)
    if a.ndim:
        return " ".join(_label(names, v) for v in a.reshape(-1)[:6])
    if names and float(a) == int(a) and 0 <= int(a) < len(names):
        return str(names[int(a)])
    return f"{float(a):.3g}"


class ResultsView(QWidget):
    """Confusion matrix plus sample cells; ``load_run`` fills it from a run folder."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.status = QLabel("Results appear here when a run ends (or pick a run and press Results).")
        self.status.setWordWrap(True)
        self.matrix = QTableWidget(0, 0)
        self.matrix.setObjectName("confusionMatrix")
        self.matrix.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.samples = SampleGrid(cell_height=90)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.status)
        layout.addWidget(self.matrix, 1)
        self.samples_title = QLabel(SAMPLES_TITLE)
        layout.addWidget(self.samples_title)
        layout.addWidget(self.samples)
        self.predictions: Predictions | None = None
        self.frames_shown = 0  # frame-prediction samples drawn (true and predicted side by side)
        self.loading: str | None = None

    def load_run(self, run_dir, dataset=None) -> None:
        """Predict in the background, then draw."""
        run_dir = str(run_dir)
        self.loading = run_dir
        self.status.setText(f"Predicting the validation set with {Path(run_dir).name}'s best checkpoint...")
        run_in_background(lambda: predict_run(run_dir, dataset), self._loaded, self._failed, owner=self)

    def _loaded(self, predictions):
        if predictions.run_dir != self.loading:
            return
        self.loading = None
        settle_heap()  # the compiler and the model's modules were just imported
        self.show_predictions(predictions)

    def _failed(self, message, details):
        self.loading = None
        self.status.setText(f"No results: {message}")

    def show_predictions(self, p: Predictions) -> None:
        """Draw the confusion matrix (classification) and the sample cells; for frame prediction the predicted and
        true frames side by side, and the MSE against the dataset's baseline."""
        self.predictions = p
        self.samples_title.setText(SAMPLES_TITLE)
        self.frames_shown = 0
        # the confusion matrix is classification's; an empty one would take half the view from the frames
        self.matrix.setHidden(p.task not in ("classification", "ctc"))
        if p.task == "ctc":
            self._show_decoded(p)
            return
        if p.task == "classification":
            m = p.confusion()
            acc = np.trace(m) / max(1, m.sum())
            self.status.setText(f"{Path(p.run_dir).name}: {m.sum()} validation predictions, accuracy {acc:.1%} "
                                "(rows: true class, columns: predicted)")
            self._draw_matrix(m, p.class_names)
        else:
            mae = float(np.mean(np.abs(p.y_true - p.y_pred))) if len(p.y_true) else float("nan")
            text = f"{Path(p.run_dir).name}: validation MAE {mae:.4g}, MSE {p.mse():.4g}"
            if p.baseline_loss is not None:
                ratio = p.baseline_loss / max(p.mse(), 1e-12)
                text += (f"; the {p.baseline} baseline's MSE is {p.baseline_loss:.4g}: the model is "
                         + (f"{ratio:.1f}x better" if ratio >= 1 else f"worse ({1 / ratio:.1f}x its MSE)"))
            self.status.setText(text)
            self.matrix.setRowCount(0)
            self.matrix.setColumnCount(0)
            if p.target_axes.endswith("HW"):
                self._show_frames(p)
                return
        n = len(p.samples)
        titles = [f"{_label(p.class_names, p.y_true[i])} / {_label(p.class_names, p.y_pred[i])}" for i in range(n)]
        wrong = [p.task == "classification" and not np.array_equal(p.y_true[i], p.y_pred[i]) for i in range(n)]
        self.samples.show_samples(p.inputs, p.samples, titles, wrong)

    def _show_decoded(self, p: Predictions) -> None:
        """Sequence labels (ctc): the decoded strings beside their targets, wrong ones marked with their edit
        distance, and the line images titled target / decoded."""
        wrong = sum(1 for _, _, d in p.decoded if d)
        self.status.setText(f"{Path(p.run_dir).name}: validation CER {p.cer:.2%} over {len(p.decoded)} samples; "
                            f"{wrong} decoded with errors (marked)")
        m = self.matrix
        m.clear()
        m.setRowCount(len(p.decoded))
        m.setColumnCount(3)
        m.setHorizontalHeaderLabels(["target", "decoded", "edits"])
        bad = QBrush(QColor(255, 215, 215))
        for row, (target, text, d) in enumerate(p.decoded):
            for col, value in enumerate((target, text, str(d))):
                item = QTableWidgetItem(value)
                if d:
                    item.setBackground(bad)
                m.setItem(row, col, item)
        m.resizeColumnsToContents()
        n = len(p.samples)
        titles = [f"{p.decoded[i][0]} / {p.decoded[i][1] or '(nothing)'}" for i in range(n)]
        self.samples.show_samples(p.inputs, p.samples, titles, [bool(p.decoded[i][2]) for i in range(n)], per_row=4)

    def _show_frames(self, p: Predictions) -> None:
        """Frame prediction: per sample, the last input frame, the true next frame and the predicted one side by
        side (one strip, drawn like a clip), titled with the sample's MSE."""
        strips, titles = [], []
        clip_input = bool(p.inputs) and _axes(p.inputs[0]).startswith("T") and _axes(p.inputs[0]).endswith("HW")
        for i, arrays in enumerate(p.samples):
            frames = [np.asarray(p.y_true[i]), np.asarray(p.y_pred[i])]
            if clip_input and np.shape(arrays[0])[1:] == frames[0].shape:
                frames.insert(0, np.asarray(arrays[0])[-1])
            strips.append([np.stack(frames)])
            titles.append(f"MSE {float(np.mean((frames[-2] - frames[-1]) ** 2)):.3g}")
        self.frames_shown = len(strips)
        self.samples_title.setText("Validation frames: " + ("last input | " if clip_input else "")
                                   + "true next | predicted")
        self.samples.show_samples([SimpleNamespace(axes="T" + p.target_axes)], strips, titles, per_row=4)

    def _draw_matrix(self, m: np.ndarray, names) -> None:
        n = len(m)
        labels = [str(names[i]) if i < len(names) else str(i) for i in range(n)]
        self.matrix.setRowCount(n)
        self.matrix.setColumnCount(n)
        self.matrix.setHorizontalHeaderLabels(labels)
        self.matrix.setVerticalHeaderLabels(labels)
        peak = max(1, int(m.max()))
        cmap = pg.colormap.get("viridis")
        for i in range(n):
            for j in range(n):
                item = QTableWidgetItem(str(int(m[i, j])))
                colour = cmap.map(m[i, j] / peak, mode="qcolor")
                item.setBackground(QBrush(colour))
                item.setForeground(QBrush(QColor("black" if m[i, j] / peak > 0.5 else "white")))
                self.matrix.setItem(i, j, item)
        self.matrix.resizeColumnsToContents()
