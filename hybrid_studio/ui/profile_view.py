"""The Profile panel and the cost overlay on the canvas (issue 11).

Only ``install`` lives here, so that importing the module while the window opens stays cheap. The feature itself
(what it shows, where it runs) is described and built in ``profile_widgets``, imported on first use; its names are
still reachable from this module.
"""

from __future__ import annotations

from .lazy import lazy_widgets


def install(window) -> None:
    """Add the Analyze menu and its actions; the panel itself is built on first use."""
    from PySide6.QtGui import QAction
    menu = window.menuBar().addMenu("&Analyze")
    window.analyze_menu = menu
    window.profile_view = None

    def view():
        if window.profile_view is None:
            window.profile_view = _widgets().ProfileView(window)
        return window.profile_view

    window.profile_action = QAction("&Profile...", window)
    window.profile_action.setToolTip("Measure each block's time and memory on a device")
    window.profile_action.triggered.connect(lambda: view().show_panel())
    window.quantize_action = QAction("&Quantize run...", window)
    window.quantize_action.setToolTip("int8-quantise a run's best checkpoint; size, latency and metric before/after")
    window.quantize_action.triggered.connect(lambda: view().choose_run_to_quantize())
    menu.addAction(window.profile_action)
    menu.addAction(window.quantize_action)
    if hasattr(window, "add_run_action"):  # the Runs list: quantise the selected run in one click
        window.add_run_action("Quantize", lambda path: view().quantize(path),
                              "int8-quantise this run's best checkpoint: size, latency and metric before and after")


_widgets, __getattr__ = lazy_widgets(__name__, "hybrid_studio.ui.profile_widgets")
