"""The seed's sequence applications trained from the app (issue 8: "all of the above also from the app").

Each template opens, its own built-in dataset is preselected in the Training dock and fits without a problem, one
epoch trains in the real worker process from the Train button, and the panel shows what that task needs: the CER
for CTC (plot and results table of decoded strings), the copy-last-frame baseline on the loss plot for next-frame
prediction, the accuracy for the attention fusion. Slow (real trainings of real templates): run with ``-m slow``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from hybrid_studio.project import load_template

from canvas_helpers import open_window

CASES = {
    # template: (its dataset, the metric column the run writes, what the panel shows)
    "crnn-small": ("digit-strings", "cer", "ctc"),
    "speech-ctc": ("digit-waves", "cer", "ctc"),
    "convlstm-next-frame": ("moving-shapes-next", "loss", "baseline"),
    "attention-fusion": ("image+series", "accuracy", "accuracy"),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_template_trains_one_epoch_from_the_app(name, qtbot, tmp_path, monkeypatch):
    from hybrid_studio.ui.train import panel as panel_module
    from hybrid_studio.ui.train.background import pending

    dataset, column, shows = CASES[name]
    monkeypatch.setenv("HYBRID_STUDIO_DATA_DIR", str(tmp_path / "data"))
    errors = []
    monkeypatch.setattr(panel_module, "show_error",
                        lambda parent, title, text, details="": errors.append((title, text, details)))
    w = open_window(qtbot, load_template(name))
    p = w.ensure_train_panel()
    qtbot.waitUntil(lambda: p.ready and p.picker.dataset is not None, timeout=120_000)
    assert p.picker.name == dataset  # the template's own dataset, preselected
    qtbot.waitUntil(lambda: p.picker.diagnostics == [], timeout=10_000)
    p.settings.widgets["epochs"].setValue(1)
    assert p.settings.values()["epochs"] == 1
    qtbot.mouseClick(p.train_button, Qt.MouseButton.LeftButton)
    assert p.controller.state == "running", p.status.text()
    qtbot.waitUntil(lambda: p.controller.state == "idle", timeout=900_000)
    assert not errors, errors
    assert p.progress.format() == "Finished", p.status.text()
    runs = p.runs.refresh()
    assert len(runs) == 1 and runs[0].status == "finished"
    run_dir = Path(runs[0].path)
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "val"]
    assert rows and rows[-1].get(column) not in (None, ""), rows[-1]
    if shows == "ctc":
        assert (run_dir / "predictions.csv").is_file()
        assert p.plots.metric_plot.titleLabel.text.startswith("CER")
        qtbot.waitUntil(lambda: pending() == 0, timeout=120_000)
        p.runs.select_run(run_dir.name)
        p.runs.results_button.click()
        qtbot.waitUntil(lambda: p.results.predictions is not None, timeout=120_000)
        assert p.results.predictions.task == "ctc" and p.results.matrix.rowCount() > 0
    elif shows == "baseline":
        assert p.plots.baseline is not None and p.plots.baseline > 0 and p.plots.baseline_lines
    else:
        assert 0.0 <= float(rows[-1]["accuracy"]) <= 1.0
    qtbot.waitUntil(lambda: pending() == 0, timeout=120_000)
