"""CTC in the app: the results view lists decoded strings beside their targets with the wrong ones marked, and the
per-epoch metric plot shows the character error rate."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
from test_ctc import ctc_data, ctc_graph  # noqa: E402


def test_results_of_a_real_ctc_run_show_decoded_strings_and_errors(qtbot, tmp_path):
    from hybrid_studio.project import graph_to_dict
    from hybrid_studio.train.engine import train_in_process
    from hybrid_studio.ui.train.results import ResultsView

    x, y = ctc_data()
    path = tmp_path / "spell.npz"
    np.savez(path, x=x, y=y, task=np.array("ctc"), class_names=np.array(["a", "b", "c"]))
    summary = train_in_process(graph_to_dict(ctc_graph()), str(path), {"epochs": 6, "batch_size": 16, "lr": 0.01,
                                                                      "num_threads": 1}, tmp_path / "runs")
    view = ResultsView()
    qtbot.addWidget(view)
    view.load_run(summary["run_dir"])
    qtbot.waitUntil(lambda: view.predictions is not None, timeout=60_000)
    p = view.predictions
    assert p.task == "ctc" and len(p.decoded) == 48 and 0 <= p.cer <= 1.5
    assert "validation CER" in view.status.text()
    m = view.matrix
    assert not m.isHidden() and m.rowCount() == 48
    assert [m.horizontalHeaderItem(i).text() for i in range(3)] == ["target", "decoded", "edits"]
    for row, (target, text, d) in enumerate(p.decoded):
        assert m.item(row, 0).text() == target and m.item(row, 1).text() == text and m.item(row, 2).text() == str(d)
        marked = m.item(row, 0).background().color().name() != "#000000"
        assert marked == bool(d)
    # the numbers agree with the run's own last validation CER
    assert abs(p.cer - summary["val_cer"]) < 1e-9 or summary["best_epoch"] != 6


def test_the_metric_plot_shows_the_cer_of_a_ctc_run(qtbot):
    from hybrid_studio.ui.train.plots import TrainPlots

    plots = TrainPlots()
    qtbot.addWidget(plots)
    plots.reset("ctc")
    assert plots.metric_plot.titleLabel.text.startswith("CER")
    epochs = [SimpleNamespace(epoch=e, step=10 * e, train_loss=1.0 / e, val_loss=1.2 / e, train_acc=None,
                              val_acc=None, val_mae=None, val_cer=0.5 / e, duration_s=1.0) for e in (1, 2, 3)]
    plots.add_epochs(epochs)
    plots.refresh(limit=None)
    x, y = plots.series["val_metric"].x, plots.series["val_metric"].y
    assert list(x) == [1, 2, 3] and np.allclose(y, [0.5, 0.25, 0.5 / 3])
