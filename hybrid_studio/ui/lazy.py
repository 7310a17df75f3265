"""What the feature modules share: their widgets imported on first use, and the Train menu they hang actions on.

A feature module (``explain_view``, ``profile_view``, ``sweep_view``) holds only ``install(window)``; its widgets
live in a ``*_widgets`` module imported the first time they are needed, so opening the window does not pay for
them. ``lazy_widgets`` gives the module its ``_widgets()`` loader and a module ``__getattr__`` that keeps the moved
names reachable as ``<feature>_view.<name>``.
"""

from __future__ import annotations

import importlib


def lazy_widgets(module_name: str, widgets_name: str):
    """(loader, module ``__getattr__``) for the feature module ``module_name`` whose widgets are ``widgets_name``."""

    def widgets():
        return importlib.import_module(widgets_name)

    def module_getattr(name):
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return getattr(widgets(), name)
        except AttributeError:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}") from None

    return widgets, module_getattr


def train_menu(window):
    """The window's Train (or Run) menu, made when there is none."""
    for action in window.menuBar().actions():
        menu = action.menu()
        if menu is not None and action.text().replace("&", "") in ("Train", "Run"):
            return menu
    return window.menuBar().addMenu("&Train")
