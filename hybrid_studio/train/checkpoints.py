"""Checkpoints (a mixin of the engine's trainer): what ``checkpoints/last.pt`` and ``best.pt`` hold (model,
optimizer, scheduler, AMP scaler, RNG states, epoch, step and the position within the epoch), writing them
atomically with the metrics and status, reading them back with ``torch.load(weights_only=True)`` and restoring
a trainer from one.

Writing happens off the training thread: the loop takes a snapshot (every tensor copied to the CPU, which costs a
memory copy) and hands it to a ``CheckpointWriter``, whose one thread serialises it and writes metrics.csv,
last.pt, best.pt and status.json in that order, each atomically (temp file, fsync, rename). The loop goes on
training meanwhile. Guarantees kept from the synchronous writes: the checkpoint before the first step is written
before that step; pause, stop and the end of a run wait for the writes in flight; a failed write becomes the run's
error (``RunFailure``) at the next report; CheckpointSaved events are emitted (by the training thread) only once
their file is in place, so whoever hears of a checkpoint finds the folder up to date with it.
"""

from __future__ import annotations

import copy
import io
import math
import threading
from collections import OrderedDict

from .errors import RunFailure
from .events import CheckpointSaved
from .losses import Totals

CHECKPOINT_FORMAT = "hybrid-studio-checkpoint"


def load_checkpoint(path) -> dict:
    """A run's checkpoint as a dict (tensors on the CPU), read with ``weights_only=True`` (no code runs).

    Raises ValueError when the file cannot be read or is not a Hybrid Studio checkpoint."""
    import torch

    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - a damaged or foreign file
        raise ValueError(f"cannot read {path}: {_safe_reason(e)}") from None
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a Hybrid Studio checkpoint")
    problem = _field_problem(ck)
    if problem:
        raise ValueError(f"{path}: {problem}")
    return ck


#: the most epochs / steps / batches a checkpoint may claim (a crafted 1e30 or -100 is refused, not trained from)
MAX_COUNT = 10 ** 9


def _field_problem(ck: dict) -> str | None:
    """What is wrong with a checkpoint's position fields (epoch, step, batch, best_epoch, partial), or None."""
    for name in ("epoch", "step", "batch", "best_epoch", "bad_epochs"):
        v = ck.get(name, 0)
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_COUNT:
            return f"field '{name}' must be a whole number from 0 to {MAX_COUNT:,}, got {v!r}"
    partial = ck.get("partial")
    if partial is not None and (not isinstance(partial, (list, tuple)) or len(partial) != 4 or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x >= 0
            for x in partial)):
        return f"field 'partial' must be 4 numbers >= 0, got {partial!r}"
    for name in ("duration_s",):
        v = ck.get(name, 0.0)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            return f"field '{name}' must be a number >= 0, got {v!r}"
    return None


def _safe_reason(e: BaseException) -> str:
    """torch's reason for refusing a file, without its advice to retry with weights_only=False: that would run
    whatever code the file carries, which a user must never do for a file they did not make."""
    text = str(e)
    if "weights_only" in text or "Unsupported global" in text or "WeightsUnpickler" in text:
        return ("it holds Python objects other than tensors and plain data; they are never loaded, because loading "
                "them could run code from the file")
    return (text.strip().splitlines() or [type(e).__name__])[0]


def cpu_copy(obj):
    """A deep copy of a (nested) state dict whose tensors are copied to the CPU: the snapshot a background write
    serialises while training goes on changing the originals in place. OrderedDicts keep their ``_metadata`` (the
    module versions ``load_state_dict`` reads)."""
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        out = OrderedDict() if isinstance(obj, OrderedDict) else {}
        for k, v in obj.items():
            out[k] = cpu_copy(v)
        metadata = getattr(obj, "_metadata", None)
        if metadata is not None:
            out._metadata = copy.deepcopy(metadata)
        return out
    if isinstance(obj, (list, tuple)) and type(obj) in (list, tuple):
        return type(obj)(cpu_copy(v) for v in obj)
    return copy.deepcopy(obj)


class CheckpointJob:
    """One checkpoint to write: the snapshot, the metric rows and status as they were when it was taken, and the
    events that announce it once written."""

    def __init__(self, folder, data: dict, rows: list, status: dict, best: bool, epoch: int, step: int,
                 events: list):
        self.folder, self.data, self.rows, self.status = folder, data, rows, status
        self.best, self.epoch, self.step, self.events = best, epoch, step, events

    def write(self) -> None:
        """Serialise and write, in the order that keeps the folder consistent if the process dies at any point:
        metrics first (a resume drops rows past the older checkpoint's step), then last.pt, best.pt, and status.json
        last (it never names a checkpoint that is not on disk)."""
        import torch

        from hybrid_studio.project import atomic_write_bytes

        buf = io.BytesIO()
        torch.save(self.data, buf)
        data = buf.getvalue()
        self.folder.write_metrics(self.rows)
        atomic_write_bytes(self.folder.checkpoints / "last.pt", data)
        if self.best:
            atomic_write_bytes(self.folder.checkpoints / "best.pt", data)
        self.folder.write_status_data(self.status)

    def failure_message(self, e: BaseException) -> str:
        where = getattr(e, "filename", None) or self.folder.checkpoints
        reason = getattr(e, "strerror", None) or f"{type(e).__name__}: {e}"
        return (f"cannot save the checkpoint of epoch {self.epoch} (step {self.step}): {reason} ({where}); the "
                f"run folder keeps the previous checkpoint, from which a resume continues")


class CheckpointWriter:
    """One background thread that writes ``CheckpointJob``s in order, one at a time.

    At most one job waits behind the one being written. A newer job replaces a waiting one that only updates
    last.pt (the newer last.pt supersedes it); a waiting job that writes best.pt is never dropped: ``submit`` then
    waits for it to start. After a failed write the remaining jobs are dropped (the folder keeps its previous,
    complete checkpoint) and ``error`` holds the message until the training thread reports it."""

    def __init__(self):
        self._cond = threading.Condition()
        self._pending: CheckpointJob | None = None
        self._busy = False
        self._closed = False
        self._done: list = []
        self.error: str | None = None
        self.superseded = 0
        self._thread: threading.Thread | None = None

    def submit(self, job: CheckpointJob) -> None:
        with self._cond:
            while self._pending is not None and self._pending.best and self.error is None:
                self._cond.wait()
            if self.error is not None:
                return  # reported by the caller's next check; nothing more is written after a failure
            if self._pending is not None:
                self.superseded += 1
            self._pending = job
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="hybrid-studio-checkpoints", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _work(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                if self._pending is None:
                    return
                job, self._pending, self._busy = self._pending, None, True
                self._cond.notify_all()
            error = None
            try:
                job.write()
            except BaseException as e:  # noqa: BLE001 - kept and reported as the run's error by the training thread
                error = job.failure_message(e)
            with self._cond:
                self._busy = False
                if error is not None:
                    self.error, self._pending = error, None
                else:
                    self._done.extend(job.events)
                self._cond.notify_all()

    def wait(self) -> None:
        """Until nothing is being written or waiting to be."""
        with self._cond:
            while self._busy or self._pending is not None:
                self._cond.wait()

    def take_events(self) -> list:
        """The events of the jobs written since the last call."""
        with self._cond:
            done, self._done = self._done, []
        return done

    def close(self) -> None:
        """Wait for the writes, then end the thread."""
        self.wait()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()


class CheckpointMixin:
    """``checkpoint_dict``, ``save_checkpoint`` and ``restore``; mixed into the engine's ``_Trainer``."""

    def checkpoint_dict(self, epochs_done: int, batch: int, partial: Totals) -> dict:
        import torch

        rng = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {
            "format": CHECKPOINT_FORMAT, "version": 1,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": rng,
            "epoch": epochs_done, "step": self.step, "batch": batch, "partial": partial.as_list(),
            "total_steps": self.config.epochs * self.steps_per_epoch,
            "best_metric": self.best_metric, "best_metric_name": self.best_name, "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs, "duration_s": self.duration(),
            "last_epoch_metrics": self.last_epoch_metrics,
            "input_ids": list(self.input_ids), "output_ids": list(self.output_ids),
            "device": str(self.device), "config": self.config.to_dict(),
        }

    def save_checkpoint(self, epochs_done: int, batch: int, partial: Totals, best: bool, quiet: bool = False,
                        wait: bool = False):
        """Checkpoint (rank 0): snapshot the state here, write metrics.csv, checkpoints/last.pt (and best.pt when
        ``best``) and status.json in the background (``CheckpointWriter``); ``wait``: return once written.

        Before the first validation there is no best model yet: best.pt is then the same as last.pt, so that every
        run folder holds both files (contract section 4); the first epoch's validation replaces it. ``quiet``: no
        CheckpointSaved events (the initial checkpoint a new run writes before its first step)."""
        if self.folder is None:
            return
        best = best or self.best_metric is None
        last = self.folder.checkpoints / "last.pt"
        events = [] if quiet else [CheckpointSaved(str(last), epochs_done, False)] + (
            [CheckpointSaved(str(self.folder.checkpoints / "best.pt"), epochs_done, True)] if best else [])
        status = self.folder.stage_status(epoch=epochs_done, step=self.step, best_metric=self.best_metric,
                                          best_epoch=self.best_epoch, duration_s=round(self.duration(), 3))
        job = CheckpointJob(self.folder, cpu_copy(self.checkpoint_dict(epochs_done, batch, partial)),
                            list(self.folder.rows), status, best, epochs_done, self.step, events)
        self.check_checkpoints()  # before submitting: this job's own events follow whatever the caller emits next
        writer = getattr(self, "checkpoint_writer", None)
        if writer is None:
            writer = self.checkpoint_writer = CheckpointWriter()
        writer.submit(job)
        if wait:
            self.wait_for_checkpoints()

    def check_checkpoints(self) -> None:
        """Emit the CheckpointSaved events of finished writes; raise RunFailure when a write failed."""
        writer = getattr(self, "checkpoint_writer", None)
        if writer is None:
            return
        for event in writer.take_events():
            self.emit(event)
        if writer.error is not None:
            raise RunFailure(writer.error)

    def wait_for_checkpoints(self) -> None:
        """Wait for the writes in flight, then ``check_checkpoints``."""
        writer = getattr(self, "checkpoint_writer", None)
        if writer is not None:
            writer.wait()
        self.check_checkpoints()

    def close_checkpoints(self) -> None:
        """Wait for the writes and end the writer's thread, emitting what was written (a failure is not raised:
        the run is ending on another error, or has reported this one)."""
        writer, self.checkpoint_writer = getattr(self, "checkpoint_writer", None), None
        if writer is None:
            return
        writer.close()
        for event in writer.take_events():
            self.emit(event)

    def restore(self, ck: dict):
        import torch

        self.model.load_state_dict(ck["model"])
        self.optimizer.load_state_dict(ck["optimizer"])
        if self.scheduler is not None:
            same_length = ck.get("total_steps") == self.config.epochs * self.steps_per_epoch
            if ck.get("scheduler") and (same_length or not self.sched_per_step):
                self.scheduler.load_state_dict(ck["scheduler"])
            else:
                # A per-step schedule planned for another number of epochs: rebuild it for the new length and
                # fast-forward it to where the run is.
                import warnings

                self.scheduler, _ = self.make_scheduler()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    for _ in range(int(ck["step"])):
                        self.scheduler.step()
        if self.scaler is not None and ck.get("scaler"):
            self.scaler.load_state_dict(ck["scaler"])
        self.epoch, self.step, self.batch_start = int(ck["epoch"]), int(ck["step"]), int(ck.get("batch", 0))
        p = ck.get("partial") or [0.0, 0.0, 0.0, 0.0]
        self.partial = Totals(float(p[0]), int(p[1]), float(p[2]), float(p[3]))
        self.best_metric = ck.get("best_metric")
        self.best_epoch = int(ck.get("best_epoch", 0))
        self.bad_epochs = int(ck.get("bad_epochs", 0))
        self.prior_duration = float(ck.get("duration_s", 0.0))
        self.last_epoch_metrics = dict(ck.get("last_epoch_metrics") or {})
        rng = ck.get("rng") or {}
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        if self.device.type == "cuda" and rng.get("cuda"):
            try:
                torch.cuda.set_rng_state_all(list(rng["cuda"]))
            except RuntimeError:
                pass  # a different number of GPUs: the data order is unaffected, only dropout masks differ
        if self.epoch >= self.config.epochs:
            self.log(f"the run already did {self.epoch} epoch(s); raise the number of epochs to train more")
