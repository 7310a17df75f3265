"""Explain in the app: "Explain Run…" (Train menu) opens the Explain dock on a finished run of the document.

The attribution runs in a spawned worker process (``explain.worker``), drained on a QTimer, with a progress bar,
so the UI thread never imports torch. The dock shows each Input's share, heatmaps over images (pyqtgraph
ImageItem) and attribution curves over time and feature axes (PlotWidget), averaged over the samples.

Below, the explained validation samples with their target and prediction, filtered to all / predicted right /
predicted wrong / one class; selecting one shows its own heatmaps (over the image, frame by frame for video) and
curves over time. Clicking a block on the canvas then shows that block's activations for the sample - feature maps
for convolutions (a grid of channels), the hidden state over time for LSTM/GRU/ConvLSTM2d (units x time), a bar
per value for dense blocks - computed by a second worker process that loads the run once and answers per sample
(``explain.worker.start_activations``), with its own progress bar.

Only ``install`` lives here, so that importing the module while the window opens stays cheap: the widgets are
in ``explain_widgets``, imported on first use; their names are still reachable from this module.
"""

from __future__ import annotations

from .lazy import lazy_widgets, train_menu


def install(window) -> None:
    """The Explain Run… action in the Train menu; the dock is made on first use."""
    from PySide6.QtGui import QAction
    menu = train_menu(window)
    act = QAction("E&xplain Run…", window)
    act.setStatusTip("Attribute a finished run's predictions to its inputs: shares, heatmaps, time profiles")
    act.triggered.connect(lambda: _widgets().open_explain_view(window))
    menu.addAction(act)
    window.explain_action = act
    window.explain_view = None
    if hasattr(window, "add_run_action"):  # the Runs list: explain the selected run in one click
        window.add_run_action("Explain", lambda path: _widgets().explain_run(window, path),
                              "Attribute this run's predictions to its inputs, time steps, image regions and branches")


_widgets, __getattr__ = lazy_widgets(__name__, "hybrid_studio.ui.explain_widgets")
