"""Sweeps in the app: the Sweep... action, "Sweep this" on a param in the inspector, and the Sweep view.

Only ``install`` lives here, so that importing the module while the window opens stays cheap. The feature itself
(what it shows, where it runs) is described and built in ``sweep_widgets``, imported on first use; its names are
still reachable from this module.
"""

from __future__ import annotations

from .lazy import lazy_widgets, train_menu


def install(window) -> None:
    """The Sweep... action (Train menu), "Sweep this" in the inspector's param menu, and the view on demand."""
    from PySide6.QtGui import QAction
    menu = train_menu(window)
    act = QAction("S&weep…", window)
    act.setStatusTip("Search training settings and block params with Optuna: each trial is a run")
    act.triggered.connect(lambda: _widgets().open_sweep_dialog(window))
    menu.addAction(act)
    window.sweep_action = act
    actions = getattr(window, "param_actions", None)
    if actions is None:
        actions = window.param_actions = []
    actions.append(("Sweep this…", lambda node_id, param: _widgets().sweep_this(window, node_id, param)))
    window.sweep_view = None


_widgets, __getattr__ = lazy_widgets(__name__, "hybrid_studio.ui.sweep_widgets")
