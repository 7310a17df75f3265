"""The training loop: one run of a graph on a dataset, reporting through events, writing its run folder.

``train_in_process`` is the whole run in the calling process. The worker process (``runner.py``), the command line
and each rank of a multi-process run all call it; only rank 0 writes the run folder and emits events.

Everything that can be checked before the first step is (the project, the dataset, dataset vs graph, the device,
compiling, one forward pass on two samples): such problems raise ``InputProblem`` (the CLI's exit code 2). Problems
during training (a NaN loss, out of memory, an error inside a block) raise ``RunFailure`` (exit code 1) after the run
folder's status says ``failed``.

Determinism: the model is initialised right after ``torch.manual_seed(seed)``; each epoch's order of samples comes
from a generator seeded with (seed, epoch) (``DistributedSampler``); checkpoints hold the RNG states and the
position within the epoch, so a resumed run continues exactly where the checkpoint was taken.

The trainer is split by concern: ``setup.py`` (everything before the first step), ``checkpoints.py`` (saving and
restoring), ``losses.py`` (losses and metrics) and this module (the loop, validation, the end of a run).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import traceback
from pathlib import Path

from .checkpoints import CHECKPOINT_FORMAT, CheckpointMixin, load_checkpoint  # noqa: F401 - public names
from .errors import InputProblem, RunFailure, TrainError, _Stopped
from .events import EpochEnd, Failed, Finished, Log, Started, Step
from .losses import Totals, as_tuple, loss_terms
from .runs import RunFolder
from .setup import RESUME_OVERRIDABLE, SetupMixin  # noqa: F401 - public names

__all__ = ["CHECKPOINT_FORMAT", "RESUME_OVERRIDABLE", "Control", "InputProblem", "RunFailure", "TrainError",
           "load_checkpoint", "train_in_process"]

#: Layer outputs (bytes) per validation batch on the CPU. Measured on one thread (seed-cnn-lstm on digits, crnn-small
#: on digit-strings, rnn-cnn on waveforms): the time per sample is lowest when a batch's activations are a few tens of
#: MB (batches of 128, 64 and 256-512 there); the fixed 256 used before was 30-50% slower for the conv models.
EVAL_CPU_BYTES = 32 * 2 ** 20
#: ... and on accelerators, where larger batches only help, a cap that keeps validation's memory modest
EVAL_DEVICE_BYTES = 2 ** 30
_NO_AUTOCAST = contextlib.nullcontext()  # reusable: no new context object per step


def eval_batch_size(model, sample_inputs, device, batch_size: int, autocast=None) -> int:
    """A validation batch sized for throughput from the model's layer outputs per sample (measured with one
    forward of ``sample_inputs`` in eval mode): ``EVAL_CPU_BYTES`` of them per batch on the CPU (a power of two,
    16 to 512), up to ``EVAL_DEVICE_BYTES`` and at least twice the training batch (or 256) on accelerators.
    Deterministic, so that a resumed run validates exactly as the run it continues."""
    import torch

    per_sample = 0
    hooks = []

    def count(module, args, out):
        nonlocal per_sample
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                per_sample += t.numel() * t.element_size()
    was_training = model.training
    try:
        hooks = [m.register_forward_hook(count) for m in model.modules() if next(m.children(), None) is None]
        model.eval()
        with torch.no_grad(), (autocast() if autocast else _NO_AUTOCAST):
            model(*sample_inputs)
        per_sample //= max(1, len(sample_inputs[0]))
    except Exception:  # noqa: BLE001 - sizing is an optimisation: fall back to a middle size
        per_sample = 0
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    if torch.device(device).type == "cpu":
        fits = EVAL_CPU_BYTES // per_sample if per_sample else 64
        return min(512, max(16, 2 ** int(math.log2(max(fits, 1)))))
    fits = EVAL_DEVICE_BYTES // per_sample if per_sample else 1024
    return max(batch_size, min(max(2 * batch_size, 256), fits))


class Control:
    """Cooperative commands for a running loop, checked at batch boundaries.

    ``stop`` and ``pause`` are Event-like objects (``threading.Event`` here, ``multiprocessing`` events in the
    worker): set ``pause`` to hold the loop, clear it to go on; set ``stop`` to end the run at the next batch.
    """

    def __init__(self, stop=None, pause=None):
        import threading

        self.stop = stop if stop is not None else threading.Event()
        self.pause = pause if pause is not None else threading.Event()


def train_in_process(graph_dict, dataset, config, runs_dir=None, resume=None, emit=None, control=None,
                     run_id=None, distributed: bool = False, report_interval: float = 0.25) -> dict:
    """Train ``graph_dict`` (a project dict) on ``dataset`` (a name, a path or a Dataset) with ``config`` (a
    TrainConfig or a dict) and return the run's summary.

    A new run folder ``runs_dir/<run_id>`` is made (``run_id`` picked when None); ``resume`` (a run folder)
    continues that run in place from its ``checkpoints/last.pt``, with the run's own graph and settings except
    those in RESUME_OVERRIDABLE. ``emit(event)`` receives the events; ``control`` pauses and stops.
    """
    emit = emit or (lambda event: None)
    trainer = _Trainer(graph_dict, dataset, config, runs_dir, resume, emit, control or Control(), run_id,
                       distributed, report_interval)
    return trainer.run()



class _Trainer(SetupMixin, CheckpointMixin):
    def __init__(self, graph_dict, dataset, config, runs_dir, resume, emit, control, run_id, distributed,
                 report_interval):
        self.graph_dict = graph_dict
        self.dataset_arg = dataset
        self.config_arg = config
        self.runs_dir = runs_dir
        self.resume = Path(resume) if resume else None
        self.emit_fn = emit
        self.control = control
        self.run_id = run_id
        self.distributed = distributed
        self.report_interval = report_interval
        self.rank, self.world = 0, 1
        self.folder: RunFolder | None = None
        self.t_start = time.monotonic()
        self.prior_duration = 0.0

    # ---- plumbing ----------------------------------------------------------------------------------------------
    def emit(self, event):
        if self.rank == 0:
            self.emit_fn(event)

    def log(self, message: str):
        self.emit(Log(message))

    def duration(self) -> float:
        return self.prior_duration + (time.monotonic() - self.t_start)

    # ---- the run -----------------------------------------------------------------------------------------------
    def run(self) -> dict:
        try:
            return self._run()
        finally:
            try:
                self.close_checkpoints()  # no write may outlive the lock (a resume could start mid-write)
            finally:
                self.release_lock()

    def release_lock(self):
        """Let go of the run folder's OS lock (the process may go on: a test, the sweep's next trial)."""
        fd, self.run_lock = getattr(self, "run_lock", None), None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def _run(self) -> dict:
        try:
            self.prepare()
        except InputProblem as e:
            self.emit(Failed(e.message, traceback.format_exc()))
            raise
        except Exception as e:  # noqa: BLE001 - a problem the checks did not foresee: reported, not a raw traceback
            message = f"the run could not start: {type(e).__name__}: {e}"
            self.fail(message, traceback.format_exc())
            raise RunFailure(message) from e
        try:
            summary = self.loop()
        except _Stopped:
            try:
                summary = self.finish("stopped")
            except TrainError as e:  # a checkpoint write that failed in the background
                self.fail(e.message, traceback.format_exc())
                raise
        except KeyboardInterrupt:
            # Ctrl-C twice on the command line: no checkpoint (the step may be half done), but the folder must
            # not say "running" forever; last.pt (the last epoch's) is where a resume continues.
            self.end_status("stopped", "interrupted (Ctrl-C); resume continues from the last checkpoint")
            raise
        except TrainError as e:
            self.fail(e.message, traceback.format_exc())
            raise
        except Exception as e:  # noqa: BLE001 - reported, then re-raised as a RunFailure
            message = self.explain(e)
            self.fail(message, traceback.format_exc())
            raise RunFailure(message) from e
        return summary

    def fail(self, message: str, tb: str):
        """Mark the run folder ``failed`` with ``message`` (its files stay) and emit ``Failed``."""
        self.end_status("failed", message)
        self.emit(Failed(message, tb))

    def end_status(self, status: str, message: str):
        """Write the metrics so far and the final status.json (rank 0, when the folder exists), after the
        checkpoint writes in flight."""
        self.close_checkpoints()
        if self.folder is not None:
            try:
                self.folder.write_metrics()
                self.folder.write_status(status=status, message=message, duration_s=round(self.duration(), 3))
            except OSError:
                pass

    def explain(self, e: BaseException) -> str:
        """A message for an exception raised while training."""
        import torch

        oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", RuntimeError)
        if isinstance(e, oom) or "out of memory" in str(e).lower():
            bs = self.config.batch_size
            return (f"the {self.device.type.upper()} ran out of memory at batch size {bs}: try --batch-size "
                    f"{max(1, bs // 2)} (or a smaller model)")
        where = ""
        try:
            from hybrid_studio.compile import locate_failure

            err = locate_failure(self.model, *self.sample_inputs)
            if err is not None and err.block_id:
                where = f" (in block '{err.block_id}')"
        except Exception:  # noqa: BLE001 - locating is best effort
            pass
        return f"training failed{where}: {type(e).__name__}: {e}"

    # ---- helpers used per step ---------------------------------------------------------------------------------------
    def autocast(self):
        import torch

        if self.amp_dtype is None:
            return _NO_AUTOCAST
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    @staticmethod
    def as_tuple(out):
        return as_tuple(out)

    def loss_terms(self, out_id, logits, y, lengths=None):
        """(loss, correct, counted) for one Output (see ``losses.loss_terms``)."""
        return loss_terms(self.tasks[out_id], out_id, logits, y, lengths)

    def output_lengths(self, xs) -> dict:
        """Output id -> per-sample lengths of its time axis for a batch ``xs`` (inputs, then the lengths of the
        variable-length ones), computed by the model's own rule; empty when no Input has variable length."""
        if not self.length_inputs:
            return {}
        given = dict(zip(self.length_inputs, xs[len(self.input_ids):]))
        return self.length_plan.output_lengths(given, self.output_ids)

    def batch_loss(self, xs, y):
        outs = self.as_tuple(self.forward_model(*xs))
        lengths = self.output_lengths(xs)
        total = None
        first = None
        for out_id, o in zip(self.output_ids, outs):
            loss, correct, counted = self.loss_terms(out_id, o, y, lengths.get(out_id))
            total = loss if total is None else total + loss
            if first is None:
                first = (correct, counted)
        return total, first[0], first[1]

    def fetch(self, tensors, y, idx):
        import torch

        if self.data_on_device:
            idx = idx.to(self.device) if self.device.type != "cpu" else idx
            return [t.index_select(0, idx) for t in tensors], y.index_select(0, idx)
        xs = [t.index_select(0, idx).pin_memory().to(self.device, non_blocking=True) for t in tensors]
        return xs, y.index_select(0, idx).to(self.device, non_blocking=True) if isinstance(y, torch.Tensor) else y

    def split_batches(self, order):
        """``order`` (a list or a 1-D tensor of sample indices) in batches of ``batch_size``; a last batch of one
        sample joins the one before, since BatchNorm cannot train on a single sample."""
        batches = [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if len(batches) > 1 and len(batches[-1]) == 1:
            last = batches.pop()
            if isinstance(last, list):
                batches[-1] = batches[-1] + last
            else:
                import torch

                batches[-1] = torch.cat([batches[-1], last])
        return batches

    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    # ---- the loop ----------------------------------------------------------------------------------------------------
    def loop(self) -> dict:
        import torch
        from torch.utils.data import DistributedSampler

        c = self.config
        self.emit(Started(self.run_id or "", str(self.folder.path) if self.folder else "", str(self.device),
                          c.epochs, self.steps_per_epoch, self.epoch, len(self.y_train), len(self.y_val),
                          self.dataset.baseline_loss(), self.dataset.baseline))
        sampler = DistributedSampler(range(len(self.y_train)), num_replicas=self.world, rank=self.rank,
                                     shuffle=True, seed=c.seed, drop_last=False)
        if self.step == 0 and self.epoch == 0 and self.batch_start == 0:
            # a new run's folder holds last.pt and best.pt from the start (contract section 4), so that even a run
            # that fails in its first epoch leaves a loadable model (its initial weights) and can be resumed
            self.save_checkpoint(0, batch=0, partial=Totals(), best=True, quiet=True, wait=True)
        stop, pause = self.control.stop, self.control.pause
        while self.epoch < c.epochs:
            epoch_no = self.epoch + 1
            sampler.set_epoch(self.epoch)
            order = torch.tensor(list(sampler), dtype=torch.long)
            batches = self.split_batches(order)
            totals = self.partial
            resumed_samples = totals.samples  # trained before a mid-epoch resume: not in this epoch's timing
            pending_loss, pending_n, pending_correct = [], [], []
            interval_samples, t_interval = 0, time.monotonic()
            t_epoch, cpu_epoch = time.monotonic(), time.process_time()
            self.model.train()
            first = self.batch_start
            self.batch_start, self.partial = 0, Totals()
            for b in range(first, len(batches)):
                if stop.is_set() or pause.is_set():
                    t_interval, t_epoch = self.obey(stop, pause, b, epoch_no, totals, t_interval, t_epoch,
                                                    (pending_loss, pending_n, pending_correct))
                xs, y = self.fetch(self.x_train, self.y_train, batches[b])
                with self.autocast():
                    loss, correct, counted = self.batch_loss(xs, y)
                self.optimizer.zero_grad(set_to_none=True)
                if self.scaler is not None:
                    self.scaler.scale(loss).backward()
                    if c.grad_clip:
                        self.scaler.unscale_(self.optimizer)
                        torch.nn.utils.clip_grad_norm_(self.model.parameters(), c.grad_clip)
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
                else:
                    loss.backward()
                    if c.grad_clip:
                        torch.nn.utils.clip_grad_norm_(self.model.parameters(), c.grad_clip)
                    self.optimizer.step()
                if self.sched_per_step:
                    self.scheduler.step()
                self.step += 1
                n = len(batches[b])
                pending_loss.append(loss.detach())
                pending_n.append(n)
                pending_correct.append((correct, counted))
                interval_samples += n
                now = time.monotonic()
                if now - t_interval >= self.report_interval or b == len(batches) - 1 or self.step == 1:
                    mean = self.flush_pending(totals, pending_loss, pending_n, pending_correct, epoch_no)
                    rate = interval_samples * self.world / max(now - t_interval, 1e-9)
                    self.emit(Step(epoch_no, self.step, mean, self.lr(), rate, b + 1))
                    if self.folder is not None:
                        self.folder.add_row(epoch=epoch_no, step=self.step, split="train", scope="step", loss=mean,
                                            lr=self.lr(), samples_per_s=round(rate, 2),
                                            elapsed_s=round(self.duration(), 3))
                    self.check_checkpoints()  # a write that failed in the background ends the run here
                    interval_samples, t_interval = 0, time.monotonic()
            if self.scheduler is not None and not self.sched_per_step:
                self.scheduler.step()
            if self.end_epoch(epoch_no, totals, time.monotonic() - t_epoch, time.process_time() - cpu_epoch,
                              resumed_samples):
                break
        return self.finish("finished")

    def obey(self, stop, pause, b, epoch_no, totals, t_interval, t_epoch, pending):
        """Wait while paused; on stop, checkpoint the position within the epoch and end the run."""
        if pause.is_set() and not stop.is_set():
            paused_at = time.monotonic()
            self.wait_for_checkpoints()  # a paused run's folder is complete (it may be copied or resumed elsewhere)
            self.log(f"paused at epoch {epoch_no}, step {self.step}")
            while pause.is_set() and not stop.is_set():
                time.sleep(0.05)
            gap = time.monotonic() - paused_at
            self.prior_duration -= gap  # time spent paused is not training time
            t_interval += gap
            t_epoch += gap
            if not stop.is_set():
                self.log("resumed")
        if stop.is_set():
            self.flush_pending(totals, *pending, epoch_no)
            self.save_checkpoint(epoch_no - 1, batch=b, partial=totals, best=False, wait=True)
            self.log(f"stopped at epoch {epoch_no}, step {self.step}")
            raise _Stopped()
        return t_interval, t_epoch

    def flush_pending(self, totals: Totals, pending_loss, pending_n, pending_correct, epoch_no) -> float:
        """Move per-step values to the host (one transfer), check them, add them to ``totals``; the mean loss."""
        import torch

        if not pending_loss:
            return float("nan")
        losses = torch.stack(pending_loss).float().cpu().tolist()
        corrects = torch.stack([torch.as_tensor(c, dtype=torch.float32) for c, _ in pending_correct]).cpu().tolist()
        first_step = self.step - len(losses) + 1
        for i, v in enumerate(losses):
            if not math.isfinite(v):
                clip = f"lower grad_clip (now {self.config.grad_clip})" if self.config.grad_clip else \
                    "turn on gradient clipping (grad_clip, e.g. 1.0)"
                raise RunFailure(f"the loss became {v} at step {first_step + i} (epoch {epoch_no}): lower the "
                                 f"learning rate (now {self.config.lr:g}) or {clip}")
        self.check_divergence(losses, first_step, epoch_no)
        weighted = sum(v * n for v, n in zip(losses, pending_n))
        samples = sum(pending_n)
        totals.loss += weighted
        totals.samples += samples
        totals.correct += sum(corrects)
        totals.counted += sum(c for _, c in pending_correct)
        pending_loss.clear()
        pending_n.clear()
        pending_correct.clear()
        return weighted / max(samples, 1)

    def check_divergence(self, losses: list, first_step: int, epoch_no: int) -> None:
        """Stop a run whose loss grew by orders of magnitude (``divergence`` times the lowest step loss so far, and
        above 1): it finished "successfully" with a loss of 1e7 before. NaN and inf are caught before this."""
        factor = self.config.divergence
        floor = getattr(self, "loss_floor", None)
        for i, v in enumerate(losses):
            if factor and floor is not None and floor > 0 and v > 1.0 and v > floor * factor:
                raise RunFailure(
                    f"the loss diverged: it grew from {floor:.3g} to {v:.3g} ({v / floor:,.0f}x) by step "
                    f"{first_step + i} (epoch {epoch_no}): lower the learning rate (now {self.config.lr:g}) or turn on "
                    f"gradient clipping (training setting divergence={factor:g}; 0 turns this check off)")
            floor = v if floor is None else min(floor, v)
        self.loss_floor = floor

    def reduce(self, values: list) -> list:
        """Sum ``values`` over all ranks (no-op for one process)."""
        if not self.distributed:
            return values
        import torch
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64,
                         device=self.device if self.device.type == "cuda" else "cpu")
        dist.all_reduce(t)
        return t.tolist()

    def eval_batch_size(self) -> int:
        """The validation batch (``eval_batch_size``), measured once per run."""
        if not getattr(self, "eval_batch", None):
            self.eval_batch = eval_batch_size(self.model, self.sample_inputs, self.device, self.batch_size,
                                              self.autocast)
        return self.eval_batch

    def evaluate(self):
        """(loss, accuracy, mae) over this rank's share of the validation set, summed over ranks.

        Sums stay on the device until the end (one transfer, no sync per batch), except the CTC decoding, which
        needs each batch's outputs on the host."""
        import torch

        n = len(self.y_val)
        if n == 0:
            return None, None, None
        model = self.model
        model.eval()
        idx_all = torch.arange(self.rank, n, self.world)
        size = self.eval_batch_size()
        acc = torch.float32 if self.device.type == "mps" else torch.float64  # MPS has no float64
        loss_sum = torch.zeros((), dtype=acc, device=self.device)
        metric_sum = torch.zeros((), dtype=acc, device=self.device)  # right answers, or absolute errors
        counted = abs_sum = 0.0
        samples = 0
        ctc = self.dataset.task == "ctc"
        self.val_decoded = [] if ctc else None
        with torch.no_grad(), self.autocast():
            for idx in idx_all.split(size):
                xs, y = self.fetch(self.x_val, self.y_val, idx)
                outs = self.as_tuple(model(*xs))
                lengths = self.output_lengths(xs)
                total = None
                for j, (out_id, o) in enumerate(zip(self.output_ids, outs)):
                    loss, c, k = self.loss_terms(out_id, o, y, lengths.get(out_id))
                    total = loss if total is None else total + loss
                    if j == 0 and ctc:
                        # character errors: greedy decoding against the targets (edit distance / length)
                        from .ctc import errors_and_length, greedy_decode
                        steps = lengths.get(out_id)
                        decoded = greedy_decode(o.float().cpu().numpy(),
                                                None if steps is None else steps.cpu().numpy())
                        errors, length = errors_and_length(decoded, y.cpu().numpy())
                        abs_sum += errors
                        counted += length
                        self.val_decoded.extend(zip(idx.tolist(), decoded))
                    elif j == 0:
                        metric_sum += c
                        counted += k
                loss_sum += total.detach().to(acc) * len(idx)
                samples += len(idx)
        model.train()
        loss_sum, metric = torch.stack([loss_sum, metric_sum]).tolist()
        classification = self.dataset.task == "classification"
        correct = metric if classification else 0.0
        if not classification and not ctc:
            abs_sum = metric
        loss_sum, samples, correct, counted, abs_sum = self.reduce([loss_sum, samples, correct, counted, abs_sum])
        loss = loss_sum / max(samples, 1)
        if not math.isfinite(loss):
            raise RunFailure(f"the validation loss became {loss}: lower the learning rate (now {self.config.lr:g}) "
                             f"or turn on gradient clipping")
        if self.dataset.task == "classification":
            return loss, correct / max(counted, 1), None
        if ctc:
            self.val_cer = abs_sum / max(counted, 1)
            return loss, None, None
        return loss, None, abs_sum / max(counted, 1)

    def end_epoch(self, epoch_no: int, totals: Totals, duration: float, cpu: float | None = None,
                  resumed_samples: int = 0) -> bool:
        """Validate, record, checkpoint; True when early stopping ends the run.

        ``duration`` is the time this process spent on the epoch; ``resumed_samples`` were trained before a
        mid-epoch resume, so they count in the epoch's loss but not in its samples per second.
        """
        loss_sum, samples, correct, counted = self.reduce(totals.as_list())
        timed_samples = max(0, samples - resumed_samples * self.world)
        train_loss = loss_sum / max(samples, 1)
        classification = self.dataset.task == "classification"
        train_acc = correct / max(counted, 1) if classification else None
        self.val_cer = None
        t_val, cpu_val = time.monotonic(), time.process_time()
        val_loss, val_acc, val_mae = self.evaluate()
        val_s = time.monotonic() - t_val
        val_cer = self.val_cer
        self.epoch = epoch_no
        metrics = {"train_loss": train_loss, "train_accuracy": train_acc, "val_loss": val_loss,
                   "val_accuracy": val_acc, "val_mae": val_mae, "val_cer": val_cer}
        self.last_epoch_metrics = metrics
        value = metrics[self.best_name]
        higher = self.best_name.endswith("accuracy")
        improved = self.best_metric is None or (value > self.best_metric if higher else value < self.best_metric)
        if improved:
            self.best_metric, self.best_epoch, self.bad_epochs = value, epoch_no, 0
        else:
            self.bad_epochs += 1
        if self.folder is not None:
            lr, el = self.lr(), round(self.duration(), 3)
            self.folder.add_row(epoch=epoch_no, step=self.step, split="train", scope="epoch", loss=train_loss,
                                accuracy=train_acc, lr=lr,
                                samples_per_s=round(timed_samples / max(duration, 1e-9), 2),
                                elapsed_s=el)
            if val_loss is not None:
                self.folder.add_row(epoch=epoch_no, step=self.step, split="val", scope="epoch", loss=val_loss,
                                    accuracy=val_acc, mae=val_mae, cer=val_cer, lr=lr, elapsed_s=el)
        t_ck = time.monotonic()
        self.save_checkpoint(epoch_no, batch=0, partial=Totals(), best=improved)
        checkpoint_s = time.monotonic() - t_ck
        whole = duration + val_s + checkpoint_s
        # after the checkpoint, so that its time is in the figures (its CheckpointSaved follows once written)
        self.emit(EpochEnd(epoch_no, self.step, train_loss, val_loss, train_acc, val_acc, val_mae, duration, cpu,
                           val_cer=val_cer, val_s=val_s, checkpoint_s=checkpoint_s,
                           samples_per_s=round(timed_samples / max(whole, 1e-9), 2),
                           train_samples_per_s=round(timed_samples / max(duration, 1e-9), 2),
                           epoch_cpu_s=None if cpu is None else cpu + time.process_time() - cpu_val))
        patience = self.config.early_stopping
        if patience and self.bad_epochs >= patience and epoch_no < self.config.epochs:
            self.early_stopped = True
            self.log(f"early stopping: {self.best_name} has not improved for {patience} epoch(s) (best "
                     f"{self.best_metric:.4f} at epoch {self.best_epoch})")
            return True
        return False

    def write_predictions(self) -> None:
        """``predictions.csv`` (contract 5.2): the validation set's decoded strings after the last epoch, beside
        their targets, written atomically."""
        import csv
        import io

        from hybrid_studio.project import atomic_write_text

        from .ctc import to_text

        names = self.dataset.class_names
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["index", "target", "prediction"])
        y = self.dataset.val.y
        for i, decoded in sorted(self.val_decoded):
            w.writerow([i, to_text([int(v) for v in y[i] if v > 0], names), to_text(decoded, names)])
        atomic_write_text(self.folder.path / "predictions.csv", buf.getvalue())

    def weights_checksum(self) -> float:
        """A fingerprint of the weights (sum of every parameter, in float64): equal models give equal sums."""
        import torch

        with torch.no_grad():
            return float(sum(p.detach().double().sum().item() for p in self.model.parameters()))

    def finish(self, status: str) -> dict:
        self.wait_for_checkpoints()  # the folder's final state follows the last checkpoint; a failed write fails here
        m = self.last_epoch_metrics
        summary = {
            "status": status, "run_id": self.run_id, "run_dir": str(self.folder.path) if self.folder else "",
            "device": str(self.device), "dataset": self.dataset.name, "task": self.dataset.task,
            "epochs": self.epoch, "step": self.step, "params": self.n_params,
            "best_metric": self.best_metric, "best_metric_name": self.best_name, "best_epoch": self.best_epoch,
            "train_loss": m.get("train_loss"), "train_accuracy": m.get("train_accuracy"),
            "val_loss": m.get("val_loss"), "val_accuracy": m.get("val_accuracy"), "val_mae": m.get("val_mae"),
            "val_cer": m.get("val_cer"),
            "early_stopped": bool(getattr(self, "early_stopped", False)), "duration_s": round(self.duration(), 3),
            "world_size": self.world, "weights_checksum": self.weights_checksum(),
            "baseline": self.dataset.baseline, "baseline_val_loss": self.dataset.baseline_loss(),
        }
        if self.folder is not None:
            self.folder.write_metrics()
            if self.dataset.task == "ctc" and getattr(self, "val_decoded", None):
                self.write_predictions()
            self.folder.write_status(status=status, epoch=self.epoch, step=self.step, best_metric=self.best_metric,
                                     duration_s=summary["duration_s"])
        self.emit(Finished(status, summary))
        return summary
