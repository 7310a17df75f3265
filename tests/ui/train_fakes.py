"""A stand-in for the engine's RunHandle that streams scripted events (tests of the train panel and its benchmark).

It speaks the same event classes as the real worker, so the panel's drain path is the one a real run uses.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from hybrid_studio.train.events import CheckpointSaved, EpochEnd, Failed, Finished, Log, Started, Step


class FakeHandle:
    """Emits ``steps_per_poll`` Step events per poll (or ``rate`` steps per second of wall time)."""

    def __init__(self, run_dir, epochs=3, steps_per_epoch=20, steps_per_poll=5, rate=None, crash_at=None,
                 fail_at=None):
        self.run_dir = Path(run_dir)
        self.epochs, self.spe = epochs, steps_per_epoch
        self.steps_per_poll, self.rate = steps_per_poll, rate
        self.crash_at, self.fail_at = crash_at, fail_at
        self.step = 0
        self.alive = True
        self.paused = False
        self.stopping = False
        self.status = "running"
        self.commands = []
        self.t0 = time.perf_counter()
        self._pending = [Started(self.run_dir.name, str(self.run_dir), "cpu", epochs, steps_per_epoch)]

    @property
    def done(self):
        """Like RunHandle.done: the run's last event has been polled."""
        return self.status != "running"

    def pause(self):
        self.commands.append("pause")
        self.paused = True

    def resume(self):
        self.commands.append("resume")
        self.paused = False

    def stop(self, timeout=None):
        self.commands.append("stop")
        self.stopping = True

    def request_stop(self):
        """Like RunHandle.request_stop: ask, don't wait (the fake then ends at its next poll)."""
        self.stop()

    def kill(self):
        self.commands.append("kill")
        self.alive = False

    def _due(self) -> int:
        if self.rate is None:
            return self.steps_per_poll
        return int((time.perf_counter() - self.t0) * self.rate) - self.step

    def poll(self, max_events=1000):
        out, self._pending = self._pending, []
        if not self.alive or self.status != "running":
            return out
        if self.stopping:
            out += [CheckpointSaved(str(self.run_dir / "checkpoints" / "last.pt"), self.step // self.spe, False),
                    Finished("stopped", {"steps": self.step})]
            self.status, self.alive = "stopped", False
            return out
        if self.paused:
            return out
        for _ in range(max(0, min(self._due(), max_events))):
            self.step += 1
            if self.crash_at is not None and self.step >= self.crash_at:
                self.alive = False  # died without a word (as after SIGKILL)
                self.status = "failed"
                return out
            if self.fail_at is not None and self.step >= self.fail_at:
                out.append(Failed("loss is NaN at step %d" % self.step, "Traceback (most recent call last):\n  "
                                  "File \"worker.py\", line 1\nFloatingPointError: nan"))
                self.status, self.alive = "failed", False
                return out
            epoch = (self.step - 1) // self.spe + 1
            loss = 2.0 * math.exp(-self.step / 50) + 0.05 * math.sin(self.step)
            out.append(Step(epoch, self.step, loss, 1e-3, 1000.0, (self.step - 1) % self.spe + 1))
            if self.step % self.spe == 0:
                out.append(EpochEnd(epoch, self.step, loss, loss * 1.1, 0.5 + epoch / 10, 0.45 + epoch / 10, None,
                                    0.1))
                out.append(Log(f"epoch {epoch} done"))
                if epoch == self.epochs:
                    out.append(Finished("finished", {"best_metric": 0.45 + epoch / 10}))
                    self.status, self.alive = "finished", False
                    return out
        return out


class FakeStarter:
    """``starter`` for RunController: records the calls and hands out FakeHandles."""

    def __init__(self, **handle_kwargs):
        self.kwargs = handle_kwargs
        self.calls = []
        self.handles = []

    def __call__(self, graph_dict, dataset, config, runs_dir, resume=None):
        self.calls.append((graph_dict, dataset, config, Path(runs_dir), resume))
        h = FakeHandle(Path(runs_dir) / f"fake-{len(self.handles)}", **self.kwargs)
        self.handles.append(h)
        return h
