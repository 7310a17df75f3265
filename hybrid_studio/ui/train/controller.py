"""Drives one training run from the UI: starts the worker, drains its events on a QTimer, sends commands.

Every tick (50 ms) takes all pending events in one batch and emits ``drained`` once with the list, so a run that
streams thousands of steps a second costs the UI one redraw per tick, never one signal per step. When the worker
process dies without saying why, the controller makes up the ``Failed`` event itself.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

TICK_MS = 50
STOP_GRACE_S = 15  # a stop request unanswered this long ends the worker
MAX_EVENTS_PER_TICK = 20_000  # a bound on one tick's work; the rest waits for the next tick


def runs_dir_for(document) -> Path:
    """Where runs of ``document`` go: ``runs/`` beside a saved project, else the app's data folder."""
    if getattr(document, "path", None):
        return Path(document.path).parent / "runs"
    from hybrid_studio.train.runs import default_runs_dir
    return default_runs_dir()


def default_starter(graph_dict, dataset, config, runs_dir, resume=None):
    """Start a real run in a worker process (imports the engine only now, at Train time)."""
    from hybrid_studio.train.runner import start_run
    return start_run(graph_dict, dataset, config, runs_dir, resume=resume)


def kind(event) -> str:
    """An event's type name; dispatching on names keeps hybrid_studio.train out of this module's imports."""
    return type(event).__name__


class RunController(QObject):
    """Owns the current RunHandle. States: ``idle``, ``running``, ``paused``, ``stopping``."""

    #: all events of one tick, in order (a list), emitted at most once per tick
    drained = Signal(list)
    #: the state changed (``idle``, ``running``, ``paused``, ``stopping``)
    state_changed = Signal(str)
    #: the run ended: its status (``finished``, ``stopped``, ``failed``) and the last event (Finished or Failed)
    ended = Signal(str, object)

    def __init__(self, parent=None, starter=None, tick_ms: int = TICK_MS):
        super().__init__(parent)
        self.starter = starter or default_starter
        self.handle = None
        self.state = "idle"
        self.run_dir: Path | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(tick_ms)
        self.timer.timeout.connect(self.drain)
        self._kill_timer = QTimer(self, singleShot=True, interval=STOP_GRACE_S * 1000, timeout=self._stop_overdue)
        self.tick_seconds: list[float] = []  # how long each drain took (for the benchmark)
        self.record_ticks = False

    # ---- commands --------------------------------------------------------------------------------------------
    def start(self, graph_dict: dict, dataset: str, config, runs_dir, resume=None):
        """Start a run; raises whatever the starter raises (bad input) with nothing left running."""
        if self.state != "idle":
            raise RuntimeError("a run is already in progress")
        Path(runs_dir).mkdir(parents=True, exist_ok=True)
        self.handle = self.starter(graph_dict, dataset, config, Path(runs_dir), resume=resume)
        _lower_priority(getattr(self.handle, "pid", None))
        self.run_dir = Path(self.handle.run_dir) if getattr(self.handle, "run_dir", None) else None
        self._set_state("running")
        self.timer.start()
        return self.handle

    def pause(self):
        if self.state == "running":
            self.handle.pause()
            self._set_state("paused")

    def resume(self):
        if self.state == "paused":
            self.handle.resume()
            self._set_state("running")

    def stop(self):
        """Ask the run to stop at the next batch boundary (it saves a checkpoint and reports ``stopped``).

        Never waits: the drain picks up the end; a worker that ignores the request is killed after STOP_GRACE_S.
        """
        if self.state in ("running", "paused"):
            self.handle.request_stop()  # returns at once; the drain sees the run end
            self._set_state("stopping")
            self._kill_timer.start()

    def shutdown(self, timeout: float = STOP_GRACE_S) -> None:
        """The app is closing: stop the run and wait for it (it saves a checkpoint and marks its folder stopped, so it
        can be resumed); a worker that does not stop within ``timeout`` seconds is killed and its folder marked."""
        handle = self.handle
        if handle is None or self.state == "idle":
            return
        from PySide6.QtCore import QEventLoop
        from PySide6.QtWidgets import QApplication

        self.timer.stop()
        handle.request_stop()
        self._set_state("stopping")
        deadline = time.monotonic() + timeout
        # wait while the window keeps painting (its "Stopping..." line) but takes no clicks or keys meanwhile
        while time.monotonic() < deadline and not (handle.done and not handle.alive):
            handle.poll()  # the app is closing: the events only need taking
            QApplication.processEvents(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents, 50)
            time.sleep(0.02)
        if not handle.done or handle.alive:
            handle.stop(timeout=0)  # kills it, and marks its folder (stopped) when it did not end by itself
        self.handle = None
        self._set_state("idle")

    def _stop_overdue(self):
        if self.state == "stopping" and self.handle is not None:
            self.handle.kill()  # the engine then reports the run stopped

    def _set_state(self, state):
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)

    # ---- event drain -----------------------------------------------------------------------------------------
    def drain(self) -> list:
        """Take every pending event (one batch), emit ``drained`` once; detect the end of the run."""
        if self.handle is None:
            return []
        t0 = time.perf_counter()
        handle = self.handle
        try:
            events = list(handle.poll(MAX_EVENTS_PER_TICK))
        except Exception as e:  # noqa: BLE001 - a broken pipe means the worker is gone
            events = [_failed(f"lost contact with the training process: {e}")]
        end = next((e for e in events if kind(e) in ("Finished", "Failed")), None)
        if end is None and not handle.alive:
            # the process is gone: take what it left in the pipe, then report it failed if it never said so
            try:
                events += list(handle.poll(MAX_EVENTS_PER_TICK))
            except Exception:  # noqa: BLE001
                pass
            end = next((e for e in events if kind(e) in ("Finished", "Failed")), None)
            if end is None:
                code = getattr(getattr(handle, "process", None), "exitcode", None)
                end = _failed("the training process ended unexpectedly"
                              + (f" (exit code {code})" if code is not None else ""))
                events.append(end)
        if events:
            self.drained.emit(events)
        if end is not None:
            self.timer.stop()
            self._kill_timer.stop()
            self.handle = None
            self._set_state("idle")
            status = end.status if kind(end) == "Finished" else "failed"
            self.ended.emit(status, end)
        if self.record_ticks:
            self.tick_seconds.append(time.perf_counter() - t0)
        return events


WORKER_NICENESS = 4


def _lower_priority(pid) -> None:
    """Let the window win the CPU over the training worker when both want it (the worker's throughput barely
    changes on an idle machine; the UI's stalls do on a busy one)."""
    if not pid or not hasattr(os, "setpriority"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, pid, os.getpriority(os.PRIO_PROCESS, pid) + WORKER_NICENESS)
    except OSError:
        pass  # not allowed here, or the process is already gone: train at normal priority




def _failed(message: str):
    """A Failed event made up on this side (the worker could not send one)."""
    try:
        from hybrid_studio.train.events import Failed
    except ImportError:  # the engine is not installed: a stand-in with the same fields
        from types import SimpleNamespace
        return type("Failed", (SimpleNamespace,), {})(message=message, traceback="")
    return Failed(message, "")
