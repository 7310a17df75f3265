"""Running a training run in a child process (spawned) and talking to it from the parent, without Qt or torch.

``start_run`` returns a ``RunHandle`` at once; the child imports torch, trains with ``train_in_process`` and puts
picklable events (``events.py``) on a queue. The parent drains them with ``RunHandle.poll()`` (the app calls it
from a QTimer) and steers the run with ``pause``/``resume``/``stop`` (cooperative, at a batch boundary) or
``kill``. A child that dies without a last word (SIGKILL, a crash) is reported as ``Failed`` and its run folder
is marked failed; its files stay readable because every one of them is written atomically.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import time
from pathlib import Path

from ._spawn import main_hidden
from .events import Failed, Finished, Log, Started, Step

__all__ = ["RunHandle", "start_run", "train_in_process"]


def train_in_process(*args, **kwargs):
    """The training loop in this process (see ``engine.train_in_process``)."""
    from .engine import train_in_process as run

    return run(*args, **kwargs)


def _config_dict(config) -> dict:
    from .config import TrainConfig

    if config is None:
        return TrainConfig().to_dict()
    if isinstance(config, TrainConfig):
        return config.to_dict()
    return TrainConfig.from_dict(config).to_dict()


def start_run(graph_dict, dataset_name, config, runs_dir, resume=None) -> "RunHandle":
    """Start training in a spawned child process and return its handle immediately.

    ``graph_dict`` is the project dict (a snapshot: later edits don't reach the run); ``dataset_name`` is a built-in
    name, a data path or a Dataset; ``config`` a TrainConfig or its dict; ``resume`` a run folder to continue.
    The run folder is ``runs_dir/<run_id>`` (``handle.run_dir``), or the resumed folder itself.
    """
    from .runs import new_run_id

    cfg = _config_dict(config)
    if resume:
        run_dir = Path(resume)
        run_id = run_dir.name
        runs_dir = run_dir.parent
    else:
        runs_dir = Path(runs_dir)
        runs_dir.mkdir(parents=True, exist_ok=True)
        name = graph_dict.get("name", "run") if isinstance(graph_dict, dict) else "run"
        run_id = new_run_id(runs_dir, name)
        # Reserve the id now so that two quick starts never pick the same folder.
        (runs_dir / run_id).mkdir(parents=True, exist_ok=False)
        run_dir = runs_dir / run_id
    ctx = mp.get_context("spawn")
    events = ctx.Queue()
    stop, pause = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_worker_main, name=f"hybrid-studio-run-{run_id}",
                       args=(graph_dict, dataset_name, cfg, str(runs_dir), str(resume) if resume else None, run_id,
                             events, stop, pause),
                       daemon=True)
    handle = RunHandle(proc, events, stop, pause, run_id, str(run_dir))
    with main_hidden():
        proc.start()
    return handle


def _worker_main(graph_dict, dataset, config, runs_dir, resume, run_id, events, stop, pause):
    """The child process: train, sending every event to the parent; never raise."""
    import traceback

    def emit(event):
        events.put(event)
        if isinstance(event, Started):  # after setup, which applied the run's num_threads: say how this process runs
            events.put(Log(process_settings()))

    try:
        from .procenv import process_settings, tune_allocator

        tune_allocator()  # first: this process only trains (procenv: memory reused, not faulted in again each step)
        from .engine import Control, TrainError, train_in_process

        control = Control(stop, pause)
        try:
            train_in_process(graph_dict, dataset, config, runs_dir, resume=resume, emit=emit, control=control,
                             run_id=run_id)
        except TrainError:
            # Already reported as a Failed event (and in status.json when the folder exists). A run that failed
            # its checks before starting leaves no folder behind: remove the one reserved for it if still empty.
            try:
                os.rmdir(os.path.join(runs_dir, run_id))
            except OSError:
                pass
    except BaseException as e:  # noqa: BLE001 - the parent must always hear how the run ended
        emit(Failed(f"{type(e).__name__}: {e}", traceback.format_exc()))
    finally:
        events.close()
        events.join_thread()


class RunHandle:
    """The parent's side of a run in a child process. Not thread-safe: use it from one thread (the UI's)."""

    def __init__(self, process, events, stop, pause, run_id: str, run_dir: str):
        self._proc = process
        self._events = events
        self._stop = stop
        self._pause = pause
        self.run_id = run_id
        self.run_dir = run_dir
        #: starting, running, paused, stopping, finished, stopped or failed.
        self.status = "starting"
        self.summary: dict = {}
        self.error: str = ""
        self.last_step: Step | None = None
        self.started: Started | None = None
        self._ended = False
        self.t_request = time.monotonic()

    @property
    def alive(self) -> bool:
        """True while the child process runs."""
        return self._proc.is_alive()

    @property
    def pid(self) -> int | None:
        return self._proc.pid

    @property
    def done(self) -> bool:
        """True once the run's last event (Finished or Failed) has been polled."""
        return self._ended

    def poll(self, max_events: int = 10000) -> list:
        """Events that arrived since the last poll (at most ``max_events``), without blocking."""
        out = []
        while len(out) < max_events:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                break
            except (EOFError, OSError):
                break
            self._track(event)
            out.append(event)
        if not self._ended and len(out) < max_events and not self._proc.is_alive():
            # The child is gone. Whatever it sent before dying may still be in the pipe: take it, then decide.
            out.extend(self._drain_after_exit(max_events - len(out)))
        return out

    def _drain_after_exit(self, room: int) -> list:
        out = []
        deadline = time.monotonic() + 1.0
        while len(out) < room and time.monotonic() < deadline:
            try:
                event = self._events.get(timeout=0.05)
            except queue.Empty:
                if not self._ended:
                    continue
                break
            except (EOFError, OSError):
                break
            self._track(event)
            out.append(event)
            if self._ended:
                break
        if not self._ended and len(out) < room:
            code = self._proc.exitcode
            if self.status == "stopping" and code is not None and code < 0:
                event = Finished("stopped", {"run_dir": self.run_dir, "killed": True})
                self._mark_folder("stopped", "stopped (the training process was ended)")
            else:
                how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
                message = f"the training process {how} before the run ended"
                event = Failed(message, "")
                self._mark_folder("failed", message)
            self._track(event)
            out.append(event)
        return out

    def _mark_folder(self, status: str, message: str):
        from .runs import mark_status, read_status

        try:
            os.rmdir(self.run_dir)  # only succeeds when the child died before writing anything
            return
        except OSError:
            pass
        if read_status(self.run_dir).get("status") == "running":
            mark_status(self.run_dir, status, message)

    def _track(self, event):
        if isinstance(event, Started):
            self.started = event
            if self.status == "starting":
                self.status = "running"
        elif isinstance(event, Step):
            self.last_step = event
        elif isinstance(event, Finished):
            self.status, self.summary, self._ended = event.status, event.summary, True
        elif isinstance(event, Failed):
            self.status, self.error, self._ended = "failed", event.message, True
        elif isinstance(event, Log) and event.message.startswith("resumed") and self.status == "paused":
            self.status = "running"

    def pause(self) -> None:
        """Hold the run at the next batch boundary."""
        if not self._ended:
            self._pause.set()
            self.status = "paused"

    def resume(self) -> None:
        """Go on after ``pause``."""
        if not self._ended:
            self._pause.clear()
            if self.status == "paused":
                self.status = "running"

    def request_stop(self) -> None:
        """Ask the run to stop at the next batch boundary and return at once (for a UI thread, which must not wait:
        its drain sees the ``Finished("stopped")``; call ``kill`` if none comes in time)."""
        self._stop.set()
        self._pause.clear()  # a paused worker must wake up to see the stop
        if not self._ended:
            self.status = "stopping"

    def stop(self, timeout: float = 10.0) -> list:
        """Ask the run to stop at the next batch boundary (it checkpoints first) and wait for it, polling; kill it
        after ``timeout`` seconds. Returns the events drained meanwhile (handle them as if polled).
        """
        out = []
        if self._ended and not self._proc.is_alive():
            return out
        self.request_stop()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out.extend(self.poll())
            if self._ended and not self._proc.is_alive():
                break
            if not self._proc.is_alive():
                out.extend(self.poll())
                break
            time.sleep(0.02)
        if self._proc.is_alive():
            self.kill()
            self._proc.join(5)
            out.extend(self.poll())
        return out

    def kill(self) -> None:
        """End the child at once (SIGKILL); ``poll`` then reports the run as stopped (after ``stop``) or failed."""
        if self._proc.is_alive():
            self._proc.kill()

    def join(self, timeout: float | None = None) -> list:
        """Wait for the run to end (polling events); returns the events seen meanwhile."""
        out = []
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._ended:
            out.extend(self.poll())
            if self._ended or (deadline is not None and time.monotonic() > deadline):
                break
            time.sleep(0.02)
        self._proc.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return out
