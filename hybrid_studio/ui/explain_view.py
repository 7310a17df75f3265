"""Explain in the app: "Explain Run…" (Train menu) opens the Explain dock on a finished run of the document.

Only ``install`` lives here, so that importing the module while the window opens stays cheap. The feature itself
(what it shows, where it runs) is described and built in ``explain_widgets``, imported on first use; its names are
still reachable from this module.
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
