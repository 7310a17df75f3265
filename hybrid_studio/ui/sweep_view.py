"""Sweeps in the app: the Sweep... action, "Sweep this" on a param in the inspector, and the Sweep view.

A sweep runs as ``hybrid-studio sweep ... --events`` in a QProcess on a snapshot of the project (so editing goes
on, and the UI process never imports torch or Optuna); each ended trial arrives as one JSON line. The view shows
a live trials table, the best-so-far curve, a parallel-coordinates chart, the parameter importances (when the
sweep ends) and "Apply best", which puts the best trial's values on the project as one undoable edit.

Only ``install`` lives here, so that importing the module while the window opens stays cheap: the widgets are
in ``sweep_widgets``, imported on first use; their names are still reachable from this module.
"""

from __future__ import annotations


def install(window) -> None:
    """The Sweep... action (Train menu), "Sweep this" in the inspector's param menu, and the view on demand."""
    from PySide6.QtGui import QAction
    menu = _train_menu(window)
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


def _train_menu(window):
    """The window's Train (or Run) menu, made when there is none."""
    for action in window.menuBar().actions():
        menu = action.menu()
        if menu is not None and action.text().replace("&", "") in ("Train", "Run"):
            return menu
    return window.menuBar().addMenu("&Train")


def _widgets():
    """The sweep_widgets module: imported on first use, not while the window opens."""
    from . import sweep_widgets
    return sweep_widgets


def __getattr__(name):
    # the widgets and helpers that moved to sweep_widgets stay reachable as ``sweep_view.<name>``
    if name.startswith("__"):
        raise AttributeError(name)
    try:
        return getattr(_widgets(), name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
