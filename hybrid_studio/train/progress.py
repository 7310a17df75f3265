"""The command line's view of a run: a progress bar (epoch, step, loss, samples/s, ETA) and a final summary."""

from __future__ import annotations

import sys
import time

from .events import CheckpointSaved, EpochEnd, Failed, Finished, Log, Started, Step


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def _num(v) -> str:
    return "-" if v is None else f"{v:.4f}"


class ProgressPrinter:
    """Turns events into terminal output. On a terminal the bar redraws in place; otherwise it prints one line
    per epoch (and a step line at most every ``line_every`` seconds)."""

    def __init__(self, stream=None, width: int = 24, line_every: float = 10.0):
        self.stream = stream or sys.stdout
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.width = width
        self.line_every = line_every
        self.started: Started | None = None
        self.t0 = None
        self.step0 = 0
        self.last_line = 0.0
        self.drawn = False

    def __call__(self, event) -> None:
        handler = getattr(self, "on_" + type(event).__name__, None)
        if handler:
            handler(event)

    def _write(self, text: str) -> None:
        if self.drawn:
            self.stream.write("\r\x1b[2K")
            self.drawn = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def on_Started(self, e: Started) -> None:
        self.started = e
        self.t0, self.step0 = time.monotonic(), e.start_epoch * e.steps_per_epoch
        what = f"resuming after epoch {e.start_epoch}" if e.start_epoch else "training"
        self._write(f"{what}: {e.train_samples} train / {e.val_samples} validation samples, {e.epochs} epochs of "
                    f"{e.steps_per_epoch} steps on {e.device}")
        self._write(f"run folder: {e.run_dir}")

    def on_Step(self, e: Step) -> None:
        s = self.started
        if s is None:
            return
        total = s.epochs * s.steps_per_epoch
        done = e.step - self.step0
        elapsed = time.monotonic() - self.t0
        eta = elapsed / done * max(total - e.step, 0) if done > 0 else 0.0
        frac = min(1.0, e.batch / max(s.steps_per_epoch, 1))
        fill = int(round(frac * self.width))
        bar = "#" * fill + "." * (self.width - fill)
        text = (f"epoch {e.epoch}/{s.epochs} [{bar}] step {e.batch}/{s.steps_per_epoch} loss {e.loss:.4f} "
                f"{e.samples_per_s:,.0f} samples/s ETA {_clock(eta)}")
        if self.tty:
            self.stream.write("\r\x1b[2K" + text)
            self.stream.flush()
            self.drawn = True
        elif time.monotonic() - self.last_line >= self.line_every:
            self.last_line = time.monotonic()
            self._write(text)

    def on_EpochEnd(self, e: EpochEnd) -> None:
        total = self.started.epochs if self.started else "?"
        parts = [f"epoch {e.epoch}/{total}: train loss {e.train_loss:.4f}"]
        if e.train_acc is not None:
            parts.append(f"acc {_pct(e.train_acc)}")
        if e.val_loss is not None:
            parts.append(f"| val loss {e.val_loss:.4f}")
            if getattr(e, "val_cer", None) is not None:
                parts.append(f"cer {_pct(e.val_cer)}")
            else:
                parts.append(f"acc {_pct(e.val_acc)}" if e.val_acc is not None else f"mae {_num(e.val_mae)}")
        val_s, ck_s = getattr(e, "val_s", None), getattr(e, "checkpoint_s", None)
        if val_s is None or ck_s is None:
            parts.append(f"({e.duration_s:.1f} s)")
        else:  # where the epoch's time went, and the throughput with validation and checkpoint included
            parts.append(f"({e.duration_s:.1f} s training, {val_s:.1f} s validation, {ck_s:.2f} s checkpoint; "
                         f"{e.samples_per_s:,.0f} samples/s overall)")
        self._write(" ".join(parts))

    def on_CheckpointSaved(self, e: CheckpointSaved) -> None:
        pass

    def on_Log(self, e: Log) -> None:
        self._write(e.message)

    def on_Failed(self, e: Failed) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.drawn = False
        self.stream.flush()
        print(f"error: {e.message}", file=sys.stderr, flush=True)

    def on_Finished(self, e: Finished) -> None:
        s = e.summary
        name = s.get("best_metric_name", "")
        best = s.get("best_metric")
        best_text = "-" if best is None else (_pct(best) if name.endswith("accuracy") else f"{best:.4f}")
        self._write(f"{e.status}: {s.get('epochs')} epoch(s), {s.get('step')} steps in "
                    f"{_clock(s.get('duration_s') or 0)}; best {name.replace('_', ' ')} {best_text} "
                    f"(epoch {s.get('best_epoch')})" + ("; stopped early" if s.get("early_stopped") else ""))
        final = []
        if s.get("val_accuracy") is not None:
            final.append(f"final validation accuracy {_pct(s['val_accuracy'])}")
        if s.get("val_cer") is not None:
            final.append(f"final validation CER {_pct(s['val_cer'])}")
        if s.get("val_mae") is not None:
            final.append(f"final validation MAE {_num(s['val_mae'])}")
        if s.get("val_loss") is not None:
            final.append(f"loss {_num(s['val_loss'])}")
        if s.get("baseline_val_loss") is not None and s.get("val_loss") is not None:
            ratio = s["baseline_val_loss"] / max(s["val_loss"], 1e-12)
            final.append(f"{s.get('baseline')} baseline loss {_num(s['baseline_val_loss'])} ({ratio:.1f}x the "
                         f"model's)")
        if final:
            self._write(", ".join(final))
        if s.get("run_dir"):
            self._write(f"run folder: {s['run_dir']}")
