"""Starting spawned processes without re-running the parent's ``__main__``."""

from __future__ import annotations

import contextlib
import sys


@contextlib.contextmanager
def main_hidden():
    """While active, processes started with the ``spawn`` method do not re-run the parent's main script.

    Spawned children normally import the parent's ``__main__`` (by path or module name) before running their
    target. Our targets live in this package and need nothing from the main script; re-running it is slow (the
    app's imports) and, for a script without an ``if __name__ == "__main__"`` guard, starts the work again in every
    child. multiprocessing decides from ``__main__.__spec__`` and ``__main__.__file__``, so both are hidden here.
    """
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    missing = object()
    saved = {k: main.__dict__.get(k, missing) for k in ("__file__", "__spec__")}
    try:
        main.__dict__.pop("__file__", None)
        main.__dict__["__spec__"] = None
        yield
    finally:
        for k, v in saved.items():
            if v is missing:
                main.__dict__.pop(k, None)
            else:
                main.__dict__[k] = v
