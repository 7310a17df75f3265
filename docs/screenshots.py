"""Regenerate the README's screenshots: ``python docs/screenshots.py`` (offscreen; takes about a minute).

- docs/screenshot-crnn.png: the CRNN template with a block selected (inspector filled in).
- docs/screenshot-training.png: the seed template training on digits in the Train workspace, captured mid-run.
- docs/screenshot-sweep.png: a finished 8-trial sweep of the seed template on digits (``--only sweep`` runs just it).
- docs/screenshot-profile.png: the CRNN template profiled, with the cost overlay (``--only profile``).
- docs/screenshot-explain.png: the Explain view on a 2-epoch digits run of the seed template, a wrongly predicted
  sample picked and the conv2 block clicked: its feature maps for that sample (``--only explain``).
The first two show the toolbar.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HYBRID_STUDIO_DATA_DIR", tempfile.mkdtemp(prefix="hs-shots-"))

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from hybrid_studio import RESOURCES  # noqa: E402
from hybrid_studio.ui.app import _application, build_window  # noqa: E402

DOCS = Path(__file__).resolve().parent


def pump(seconds=0.3):
    end = time.time() + seconds
    while time.time() < end:
        QApplication.processEvents()
        time.sleep(0.01)


def crnn():
    window = build_window(RESOURCES / "templates" / "crnn.hsproj.json")
    window.resize(1600, 960)
    window.show()
    window.ensure_train_panel()
    pump()
    window.compact_bottom_docks()
    window.scene.select_ids(["conv4"])
    pump()
    window.view.fit()
    pump()
    window.grab().save(str(DOCS / "screenshot-crnn.png"))
    window.document.mark_saved()
    window.close()


def training():
    window = build_window()
    window.resize(1600, 1000)
    window.show()
    panel = window.ensure_train_panel()
    pump()
    window.set_workspace("train", remember=False)  # the Train workspace: the plots get most of the height
    panel.load_choices(sync=True)
    deadline = time.time() + 60
    while panel.picker.dataset is None and time.time() < deadline:
        pump(0.05)
    panel.settings.widgets["epochs"].setValue(6)
    panel.settings.widgets["batch_size"].setValue(32)
    panel.train()
    deadline = time.time() + 240
    while panel.plots.series["val_loss"].n < 3 and time.time() < deadline:
        pump(0.05)
    pump(1.0)
    window.view.fit()
    pump()
    window.grab().save(str(DOCS / "screenshot-training.png"))
    panel.controller.stop()
    deadline = time.time() + 60
    while panel.controller.state != "idle" and time.time() < deadline:
        pump(0.05)
    window.document.mark_saved()
    window.close()


def sweep():
    from hybrid_studio.ui.sweep_view import open_sweep_dialog

    folder = Path(tempfile.mkdtemp(prefix="hs-sweep-shot-"))
    window = build_window(RESOURCES / "templates" / "seed-cnn-lstm.hsproj.json")
    window.document.path = folder / "seed-cnn-lstm.hsproj.json"
    window.resize(1600, 1000)
    window.show()
    pump()
    dialog = open_sweep_dialog(window, ["lstm.hidden_size", "training.lr"])
    dialog.dataset_edit.setText("digits")
    dialog.trials_spin.setValue(8)
    dialog.epochs_spin.setValue(2)
    dialog.parallel_spin.setValue(2)
    dialog.accept()
    view = window.sweep_view
    window.resizeDocks([window.sweep_dock], [520], Qt.Orientation.Vertical)
    deadline = time.time() + 900
    while view.process.running() and time.time() < deadline:
        pump(0.2)
    pump(1.0)
    window.view.fit()
    pump()
    window.grab().save(str(DOCS / "screenshot-sweep.png"))
    window.document.mark_saved()
    window.close()


def profile():
    """The CRNN template profiled on the CPU at batch 8: the Profile panel sorted by time, the time overlay on the
    canvas, ``conv6`` selected with its measured cost in the inspector."""
    from hybrid_studio.profile.engine import profile_graph

    window = build_window(RESOURCES / "templates" / "crnn.hsproj.json")
    window.resize(1600, 1000)
    window.show()
    pump()
    window.profile_action.trigger()
    view = window.profile_view
    view.set_report(profile_graph(window.document.graph, "cpu", 8))
    window.scene.select_ids(["conv6"])
    view.batch.setValue(8)
    pump()
    window.resizeDocks([view.dock], [400], Qt.Orientation.Vertical)
    pump()
    window.view.fit()
    pump()
    window.grab().save(str(DOCS / "screenshot-profile.png"))
    window.document.mark_saved()
    window.close()


def explain():
    import shutil
    import subprocess

    from hybrid_studio.ui.explain_view import open_explain_view

    folder = Path(tempfile.mkdtemp(prefix="hs-explain-shot-"))
    project = folder / "seed-cnn-lstm.hsproj.json"
    shutil.copy(RESOURCES / "templates" / "seed-cnn-lstm.hsproj.json", project)
    subprocess.run([sys.executable, "-m", "hybrid_studio", "train", str(project), "--dataset", "digits",
                    "--epochs", "2", "--out", str(folder / "runs")], check=True, capture_output=True)
    window = build_window(project)
    window.resize(1600, 1000)
    window.show()
    pump()
    view = open_explain_view(window)
    from PySide6.QtWidgets import QDockWidget
    for dock in window.findChildren(QDockWidget):  # the Explain dock gets the right side's height
        if dock is not view.dock and window.dockWidgetArea(dock) == Qt.DockWidgetArea.RightDockWidgetArea:
            dock.hide()
    window.resizeDocks([view.dock], [620], Qt.Orientation.Horizontal)
    view.explain_button.click()
    deadline = time.time() + 300
    while view.proc is not None and time.time() < deadline:
        pump(0.2)
    pump(0.5)
    wrong = view.sample_filter.findData("wrong")
    if wrong >= 0:
        view.sample_filter.setCurrentIndex(wrong)
    if view.sample_table.rowCount() == 0:
        view.sample_filter.setCurrentIndex(0)
    view.sample_table.selectRow(0)
    window.scene.clearSelection()
    window.scene.nodes["conv2"].setSelected(True)
    while view.activation_data is None and time.time() < deadline:
        pump(0.2)
    pump(1.0)
    window.grab().save(str(DOCS / "screenshot-explain.png"))
    window.document.mark_saved()
    window.close()


if __name__ == "__main__":
    app = _application(sys.argv[:1])
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
    for shot in (crnn, training, sweep, profile, explain):
        if only in (None, shot.__name__):
            shot()
    from PySide6.QtCore import QThreadPool
    QThreadPool.globalInstance().waitForDone(30000)
