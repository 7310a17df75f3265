"""The run's progress bar: busy while a run starts, then epoch, batch, step, throughput and an ETA from the
measured step rate; "Paused"/"Stopping..." while the run is held; the end state once it ends. Also the log line
for one epoch."""

from __future__ import annotations

import time

from PySide6.QtWidgets import QProgressBar

PAUSED = "Paused · "


def fmt_time(seconds: float) -> str:
    """``m:ss``, or ``h:mm:ss`` from an hour on (negative times show as 0:00)."""
    s = max(0, int(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def epoch_line(e) -> str:
    """The log line for an ``EpochEnd`` event: train loss, then whichever validation metrics it has."""
    parts = [f"epoch {e.epoch}: train loss {e.train_loss:.4g}"]
    if e.val_loss is not None:
        parts.append(f"val loss {e.val_loss:.4g}")
    if e.val_acc is not None:
        parts.append(f"val acc {e.val_acc:.2%}")
    if e.val_mae is not None:
        parts.append(f"val MAE {e.val_mae:.4g}")
    return ", ".join(parts)


class RunProgressBar(QProgressBar):
    """A progress bar fed by the run's events; its text (``format()``) says where the run stands."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("trainProgress")
        self.setTextVisible(True)
        self.setValue(0)
        self.setFormat("Idle")
        self.epochs, self.spe, self.start = 0, 0, 0.0
        self.first_step, self.t_first = None, 0.0
        self.state = "idle"
        self.paused_s, self._paused_at = 0.0, None  # time spent paused (left out of the rate behind the ETA)

    def begin(self, epochs: int) -> None:
        """A run is starting: busy until ``Started`` says how many steps."""
        self.epochs, self.spe, self.start = epochs, 0, 0
        self.first_step, self.t_first = None, 0.0
        self.paused_s, self._paused_at = 0.0, None
        self.setRange(0, 0)
        self.setFormat("Starting...")

    def on_started(self, e) -> None:
        """The ``Started`` event: the run's length in steps."""
        self.epochs, self.spe, self.start = e.epochs, e.steps_per_epoch, getattr(e, "start_epoch", 0)
        self.setRange(0, max(1, e.epochs * e.steps_per_epoch))

    def on_step(self, s) -> None:
        """The latest ``Step`` event: position, throughput and an ETA from the rate since the first step seen (a
        resumed run's earlier steps do not count)."""
        now = time.monotonic()
        if self.first_step is None:
            self.first_step, self.t_first = s.step, now
            # the rate is measured from here: a pause before the first step does not count
            self.paused_s = 0.0
            self._paused_at = now if self._paused_at is not None else None
        total = max(1, self.epochs * self.spe)
        done = min(total, int(s.step))
        self.setValue(done)
        paused = self.paused_s + (now - self._paused_at if self._paused_at is not None else 0.0)
        trained = now - self.t_first - paused
        rate = (s.step - self.first_step) / trained if trained > 0 and s.step > self.first_step else 0
        eta = f" · ETA {fmt_time((total - done) / rate)}" if rate > 0 else ""
        batch = getattr(s, "batch", 0)
        within = f" · batch {batch}/{self.spe}" if batch else ""
        # a step that was already on its way when the run was paused keeps the mark
        mark = PAUSED if self.state == "paused" else ""
        self.setFormat(f"{mark}Epoch {s.epoch}/{self.epochs}{within} · step {done}/{total} · "
                       f"{s.samples_per_s:,.0f} samples/s{eta}")

    def on_state(self, state: str) -> None:
        """The controller's state: mark a paused run, a stopping one, and unmark a resumed one."""
        now = time.monotonic()
        if state == "paused" and self._paused_at is None:
            self._paused_at = now
        elif state != "paused" and self._paused_at is not None:
            self.paused_s += now - self._paused_at
            self._paused_at = None
        self.state = state
        if state == "paused":
            self.setFormat(PAUSED + self.format())
        elif state == "stopping":
            self.setFormat("Stopping...")
        elif state == "running" and self.format().startswith(PAUSED):
            self.setFormat(self.format()[len(PAUSED):])

    def end(self, text: str) -> None:
        """Show ``text`` ("Finished", "Stopped", "Failed", "Idle"): a full bar when finished, else empty."""
        self.setRange(0, 100)
        self.setValue(100 if text == "Finished" else 0)
        self.setFormat(text)
