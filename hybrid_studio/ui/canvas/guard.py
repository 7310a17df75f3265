"""A guard for the canvas's Python overrides of Qt's virtual calls (``paint``, hit tests).

An exception escaping a Python override that Qt calls while painting is reported again on every repaint (a
traceback per frame), and in some states PySide 6.11 crashes while reporting it: a segmentation fault inside
Shiboken's error handling was seen here with pytest-qt's exception capture, which would lose a user's unsaved
work. Guarded overrides log the error once, with its traceback, and return a harmless value instead.
"""

from __future__ import annotations

import functools
import logging

log = logging.getLogger("hybrid_studio.canvas")
_reported: set = set()


def guarded(fallback=None):
    """Decorate an override so that an exception is logged (once per function) and ``fallback`` returned."""

    def wrap(fn):
        @functools.wraps(fn)
        def call(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Exception:  # noqa: BLE001 - see the module docstring: raising here kills the process
                if fn.__qualname__ not in _reported:
                    _reported.add(fn.__qualname__)
                    log.exception("canvas: %s failed; the canvas keeps going without it", fn.__qualname__)
                return fallback
        return call

    return wrap
