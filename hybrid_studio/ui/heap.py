"""Keeping Python's cyclic garbage collector off the objects that live as long as the app.

After start-up the process holds a few hundred thousand long-lived Python objects (PySide's wrappers and enums,
the block catalog, our modules). CPython's full (generation 2) collection walks every one of them; opening a
large project or a burst of edits allocates enough to set one off every few actions, and each was a 100-160 ms
pause of the UI thread (measured opening a 1,000-block project in the window, where it doubled every third or
fourth open). ``settle()`` collects once and then freezes what survived (``gc.freeze``), so later collections walk
only what was made since: the open project, its items, the panels' state.
"""

from __future__ import annotations

import gc

_settled = False


def freeze() -> None:
    """Move every object alive now out of the collector's reach (``gc.freeze``): called after start-up and after
    something heavy was imported (torch, pyqtgraph, the datasets), whose objects live as long as the app."""
    gc.freeze()


def settle() -> bool:
    """Collect, then move every surviving object out of the collector's reach (once per process; the app calls it
    after its window is shown). Returns whether it did so now. Objects frozen here that later become garbage are
    freed by reference counting as usual; only those in reference cycles stay (the start-up template's document,
    a few kilobytes, if the user opens another project)."""
    global _settled
    if _settled:
        return False
    gc.collect()
    freeze()
    _settled = True
    return True
