"""Checkpoints (a mixin of the engine's trainer): what ``checkpoints/last.pt`` and ``best.pt`` hold (model,
optimizer, scheduler, AMP scaler, RNG states, epoch, step and the position within the epoch), writing them
atomically with the metrics and status, reading them back with ``torch.load(weights_only=True)`` and restoring
a trainer from one.
"""

from __future__ import annotations

import io
import math

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

    def save_checkpoint(self, epochs_done: int, batch: int, partial: Totals, best: bool, quiet: bool = False):
        """Write metrics.csv, checkpoints/last.pt (and best.pt when ``best``) and status.json atomically (rank 0).

        Before the first validation there is no best model yet: best.pt is then the same as last.pt, so that every
        run folder holds both files (contract section 4); the first epoch's validation replaces it. ``quiet``: no
        CheckpointSaved events (the initial checkpoint a new run writes before its first step)."""
        if self.folder is None:
            return
        best = best or self.best_metric is None
        import torch

        from hybrid_studio.project import atomic_write_bytes

        buf = io.BytesIO()
        torch.save(self.checkpoint_dict(epochs_done, batch, partial), buf)
        data = buf.getvalue()
        # Metrics first: if the process dies before the checkpoint lands, a resume drops the rows past the older
        # checkpoint's step and the curve stays consistent. Events last: whoever hears of the checkpoint finds
        # the whole folder up to date.
        self.folder.write_metrics()
        last = self.folder.checkpoints / "last.pt"
        atomic_write_bytes(last, data)
        if best:
            atomic_write_bytes(self.folder.checkpoints / "best.pt", data)
        self.folder.write_status(epoch=epochs_done, step=self.step, best_metric=self.best_metric,
                                 best_epoch=self.best_epoch, duration_s=round(self.duration(), 3))
        if quiet:
            return
        self.emit(CheckpointSaved(str(last), epochs_done, False))
        if best:
            self.emit(CheckpointSaved(str(self.folder.checkpoints / "best.pt"), epochs_done, True))

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
