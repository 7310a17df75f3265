"""Run a slow function (importing torch, loading a dataset, predicting) off the UI thread.

The result comes back on the UI thread through a queued signal, so callbacks may touch widgets.
"""

from __future__ import annotations

import traceback

import shiboken6

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from ..heap import freeze

_alive: set = set()  # relays waiting for their task; kept here so Python does not collect them early


class _Relay(QObject):
    """Lives on the UI thread; the worker emits its signals, Qt queues them to its slots."""

    done = Signal(object)
    failed = Signal(str, str)

    def __init__(self, on_done, on_error, owner):
        super().__init__()
        self._on_done, self._on_error, self._owner = on_done, on_error, owner
        self.done.connect(self._deliver)
        self.failed.connect(self._deliver_error)

    @Slot(object)
    def _deliver(self, result):
        _alive.discard(self)
        if self._owner_alive():
            self._on_done(result)

    @Slot(str, str)
    def _deliver_error(self, message, details):
        _alive.discard(self)
        if self._on_error is not None and self._owner_alive():
            self._on_error(message, details)


    def _owner_alive(self) -> bool:
        """False once the widget that asked has been deleted (its window closed meanwhile): drop the result."""
        return self._owner is None or shiboken6.isValid(self._owner)


class _Task(QRunnable):
    def __init__(self, fn, relay):
        super().__init__()
        self.fn, self.relay = fn, relay

    def run(self):
        try:
            result = self.fn()
        except BaseException as e:  # noqa: BLE001 - any failure is reported to the UI, never raised into Qt
            self._send(self.relay.failed, str(e) or type(e).__name__, traceback.format_exc())
        else:
            self._send(self.relay.done, result)

    @staticmethod
    def _send(signal, *args):
        try:
            signal.emit(*args)
        except RuntimeError:
            pass  # the app is closing: nobody is left to tell


def run_in_background(fn, on_done, on_error=None, owner=None) -> None:
    """Call ``fn()`` on a pool thread; then ``on_done(result)`` or ``on_error(message, traceback)`` on the UI thread,
    unless ``owner`` (a QObject) has been deleted by then."""
    relay = _Relay(on_done, on_error, owner)
    _alive.add(relay)
    QThreadPool.globalInstance().start(_Task(fn, relay))


def settle_heap() -> None:
    """Freeze what is alive now (``heap.freeze``): after torch is imported a full collection walks millions of
    objects and freezes the window for 100 ms or more, mid-run; frozen, those objects are never scanned again."""
    freeze()


def pending() -> int:
    """How many background tasks have not reported back yet (tests wait for zero)."""
    return len(_alive)
