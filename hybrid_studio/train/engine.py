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
"""

from __future__ import annotations

import io
import json
import math
import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from .config import ConfigError, TrainConfig, resolve_device
from .events import CheckpointSaved, EpochEnd, Failed, Finished, Log, Started, Step
from .runs import RunFolder, default_runs_dir, load_run_config, load_run_graph, new_run_id, now_iso

CHECKPOINT_FORMAT = "hybrid-studio-checkpoint"
#: Settings a resumed run may change; the rest come from the run's config.json so the curve continues unchanged.
RESUME_OVERRIDABLE = ("epochs", "device", "amp", "compile", "early_stopping", "num_threads")


class TrainError(Exception):
    """Base of the errors a run reports; ``message`` is for people."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InputProblem(TrainError):
    """The project, dataset, settings or device cannot be used; found before the first step."""


class RunFailure(TrainError):
    """The run failed while training."""


class _Stopped(Exception):
    pass


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


@dataclass
class _Totals:
    """Sums over an epoch (or since the last report)."""

    loss: float = 0.0
    samples: int = 0
    correct: float = 0.0
    counted: float = 0.0

    def as_list(self):
        return [self.loss, float(self.samples), self.correct, self.counted]


class _Trainer:
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
            self.prepare()
        except InputProblem as e:
            self.emit(Failed(e.message, traceback.format_exc()))
            raise
        try:
            summary = self.loop()
        except _Stopped:
            summary = self.finish("stopped")
        except TrainError as e:
            self.fail(e.message, traceback.format_exc())
            raise
        except Exception as e:  # noqa: BLE001 - reported, then re-raised as a RunFailure
            message = self.explain(e)
            self.fail(message, traceback.format_exc())
            raise RunFailure(message) from e
        return summary

    def fail(self, message: str, tb: str):
        if self.folder is not None:
            try:
                self.folder.write_metrics()
                self.folder.write_status(status="failed", message=message, duration_s=round(self.duration(), 3))
            except OSError:
                pass
        self.emit(Failed(message, tb))

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

    # ---- before the first step ---------------------------------------------------------------------------------------
    def prepare(self):
        import numpy as np
        import torch

        from hybrid_studio.project import ProjectError, dumps_project, loads_project

        from .datasets import Dataset, DatasetError, get_dataset
        from .matching import match_dataset, pair_inputs

        if self.distributed:
            import torch.distributed as dist

            self.rank, self.world = dist.get_rank(), dist.get_world_size()

        # settings
        try:
            raw = self.config_arg.to_dict() if isinstance(self.config_arg, TrainConfig) else self.config_arg
            config = TrainConfig.from_dict(raw)  # a copy: the caller's object is left alone
        except ConfigError as e:
            raise InputProblem(str(e)) from None
        self.checkpoint = None
        if self.resume is not None:
            config, graph_dict = self.resume_settings(config)
        else:
            graph_dict = self.graph_dict
        self.config = config
        if config.num_threads:
            torch.set_num_threads(config.num_threads)

        # the graph
        try:
            text = graph_dict if isinstance(graph_dict, (str, bytes)) else json.dumps(graph_dict)
            graph = loads_project(text, "the project")
        except ProjectError as e:
            raise InputProblem(str(e)) from None
        self.graph = graph
        self.project_text = dumps_project(graph)

        # the data
        inputs = [n for n in graph.nodes if n.type == "Input"]
        hint = [n.params.get("shape") for n in inputs]
        ds = self.dataset_arg or config.dataset
        if not ds:
            raise InputProblem("no dataset given: name a built-in dataset or a data file")
        try:
            dataset = ds if isinstance(ds, Dataset) else get_dataset(ds, seed=config.seed, val_split=config.val_split,
                                                                      shape_hint=hint)
        except DatasetError as e:
            raise InputProblem(str(e)) from None
        self.dataset = dataset
        config.dataset = str(ds) if not isinstance(ds, Dataset) else (
            dataset.source if dataset.source != "built-in" else dataset.name)
        diags = [d for d in match_dataset(graph, dataset) if d.severity == "error"]
        if diags:
            lines = []
            for d in diags:
                fix = f" (fix: {d.fixes[0].label})" if d.fixes else ""
                lines.append(f"  - {d.node + ': ' if d.node else ''}{d.message}{fix}")
            raise InputProblem(f"the dataset '{dataset.name}' does not fit the model:\n" + "\n".join(lines))
        if len(dataset.train) == 0:
            raise InputProblem(f"the dataset '{dataset.name}' has no training samples")

        # the device
        try:
            device = resolve_device(config.device)
        except ConfigError as e:
            raise InputProblem(str(e)) from None
        if self.distributed and device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
        if device.type == "cuda":
            torch.cuda.set_device(device)
        self.device = device

        # the model
        from hybrid_studio.compile import CompileError, compile_graph, locate_failure

        torch.manual_seed(config.seed)
        try:
            model = compile_graph(graph)
        except CompileError as e:
            raise InputProblem(str(e)) from None
        gen = model.hs_generated
        self.input_ids, self.output_ids, self.tasks = gen.input_ids, gen.output_ids, gen.tasks
        model.to(device)
        self.model = model
        self.n_params = sum(p.numel() for p in model.parameters())

        # tensors, in the order of the model's forward() arguments
        pairs = {node.id: info for node, info in pair_inputs(graph, dataset)}
        order = [next(k for k, info in enumerate(dataset.inputs) if info is pairs[i]) for i in self.input_ids]

        def tensors(split):
            xs = [torch.from_numpy(np.array(split.x[k])) for k in order]
            y = torch.from_numpy(np.array(split.y))
            return xs, y

        self.x_train, self.y_train = tensors(dataset.train)
        self.x_val, self.y_val = tensors(dataset.val)
        nbytes = sum(t.numel() * t.element_size() for t in [*self.x_train, *self.x_val])
        # Small data lives on the device (no copy per batch); large data is copied batch by batch.
        self.data_on_device = device.type == "cpu" or nbytes < 2 * 2 ** 30
        if self.data_on_device and device.type != "cpu":
            self.x_train = [t.to(device) for t in self.x_train]
            self.y_train = self.y_train.to(device)
            self.x_val = [t.to(device) for t in self.x_val]
            self.y_val = self.y_val.to(device)
        self.sample_inputs = [t[:2].to(device) for t in self.x_train]

        # mixed precision
        self.amp_dtype = None
        self.scaler = None
        if config.amp != "none":
            if device.type != "cuda":
                self.log(f"mixed precision ({config.amp}) runs on CUDA only; training in float32 on {device.type}")
            else:
                self.amp_dtype = torch.bfloat16 if config.amp == "bf16" else torch.float16
                if config.amp == "fp16":
                    self.scaler = torch.amp.GradScaler("cuda")

        # one forward pass on two samples: shape and dtype problems surface before the first step
        model.eval()
        try:
            with torch.no_grad(), self.autocast():
                outs = self.as_tuple(model(*self.sample_inputs))
            for out_id, o in zip(self.output_ids, outs):
                self.loss_terms(out_id, o, self.y_train[:2].to(device))
        except Exception as e:  # noqa: BLE001 - reported as a problem of the model or data
            err = None
            try:
                err = locate_failure(model, *self.sample_inputs)
            except Exception:  # noqa: BLE001
                pass
            raise InputProblem(f"the model fails on the dataset's samples: {err or e}") from None
        model.train()

        # the compiled forward (optional)
        self.forward_model = model
        if config.compile:
            try:
                compiled = torch.compile(model)
                with torch.no_grad(), self.autocast():
                    compiled(*self.sample_inputs)
                self.forward_model = compiled
            except Exception as e:  # noqa: BLE001 - torch.compile is an optimisation: fall back to eager
                self.log(f"torch.compile is not available here ({type(e).__name__}: {e}); training without it")
        if self.distributed:
            from torch.nn.parallel import DistributedDataParallel as DDP

            self.ddp = DDP(self.forward_model, device_ids=[device.index] if device.type == "cuda" else None)
            self.forward_model = self.ddp

        # optimiser, schedule, batches
        per_rank_batch = max(1, config.batch_size // self.world)
        self.batch_size = per_rank_batch
        n_train = len(self.y_train)
        self.steps_per_epoch = len(self.split_batches(list(range(math.ceil(n_train / self.world)))))
        self.optimizer = self.make_optimizer(model.parameters())
        self.scheduler, self.sched_per_step = self.make_scheduler()

        # state
        self.epoch = 0            # completed epochs
        self.step = 0             # optimizer steps taken
        self.batch_start = 0      # first batch of the current epoch (a resumed mid-epoch checkpoint)
        self.partial = _Totals()
        self.best_metric = None
        self.best_epoch = 0
        self.bad_epochs = 0
        self.last_epoch_metrics: dict = {}
        self.early_stopped = False
        self.best_name = "val_accuracy" if dataset.task == "classification" else "val_loss"
        if len(self.y_val) == 0:
            self.best_name = "train_accuracy" if dataset.task == "classification" else "train_loss"
        if self.checkpoint is not None:
            self.restore(self.checkpoint)

        # the run folder (rank 0 only)
        if self.rank == 0:
            self.open_folder()

    def resume_settings(self, config: TrainConfig):
        """The run's own settings and graph, with the overridable settings taken from ``config``."""
        import torch

        run_dir = self.resume
        last = run_dir / "checkpoints" / "last.pt"
        if not last.is_file():
            raise InputProblem(f"cannot resume {run_dir}: it has no checkpoints/last.pt")
        try:
            saved = TrainConfig.from_dict(load_run_config(run_dir))
            graph_dict = load_run_graph(run_dir)
        except (OSError, ValueError) as e:
            raise InputProblem(f"cannot resume {run_dir}: {e}") from None
        changes = {k: getattr(config, k) for k in RESUME_OVERRIDABLE}
        ignored = [k for k in ("optimizer", "lr", "batch_size", "scheduler", "seed", "val_split", "weight_decay")
                   if getattr(config, k) != getattr(saved, k) and getattr(config, k) != getattr(TrainConfig(), k)]
        merged = saved.replace(**changes)
        if ignored:
            self.log(f"resuming keeps the run's own {', '.join(ignored)}")
        try:
            self.checkpoint = torch.load(last, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - a damaged file
            raise InputProblem(f"cannot read {last}: {e}") from None
        if self.checkpoint.get("format") != CHECKPOINT_FORMAT:
            raise InputProblem(f"{last} is not a Hybrid Studio checkpoint")
        self.run_id = run_dir.name
        self.runs_dir = run_dir.parent
        return merged, graph_dict

    def make_optimizer(self, params):
        import torch

        c = self.config
        if c.optimizer == "sgd":
            return torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        if c.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)
        return torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)

    def make_scheduler(self):
        """(scheduler or None, stepped per optimizer step?)."""
        import torch

        c = self.config
        total = c.epochs * self.steps_per_epoch
        if c.scheduler == "step":
            return torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=c.step_size, gamma=c.gamma), False
        if c.scheduler == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=max(1, total)), True
        if c.scheduler == "onecycle":
            return torch.optim.lr_scheduler.OneCycleLR(self.optimizer, max_lr=c.lr, total_steps=max(2, total)), True
        return None, False

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
        self.partial = _Totals(float(p[0]), int(p[1]), float(p[2]), float(p[3]))
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

    def open_folder(self):
        c = self.config
        if self.resume is not None:
            self.folder = RunFolder(self.resume)
            self.folder.reopen(c.to_dict(), self.step)
            self.folder.write_status(status="running", epochs=c.epochs, device=str(self.device), message="",
                                     pid=os.getpid())
            self.log(f"resuming {self.resume} after epoch {self.epoch}, step {self.step}")
            return
        if self.runs_dir is None:
            self.runs_dir = default_runs_dir()
        runs_dir = Path(self.runs_dir)
        runs_dir.mkdir(parents=True, exist_ok=True)
        self.run_id = self.run_id or new_run_id(runs_dir, self.graph.name)
        self.folder = RunFolder(runs_dir / self.run_id)
        status = {"status": "running", "run_id": self.run_id, "started": now_iso(), "device": str(self.device),
                  "dataset": self.dataset.name, "task": self.dataset.task, "epochs": c.epochs, "epoch": 0,
                  "step": 0, "best_metric": None, "best_metric_name": self.best_name, "duration_s": 0.0,
                  "world_size": self.world, "params": self.n_params, "pid": os.getpid(), "message": ""}
        self.folder.create(self.project_text, c.to_dict(), status)

    # ---- helpers used per step ---------------------------------------------------------------------------------------
    def autocast(self):
        import contextlib

        import torch

        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    @staticmethod
    def as_tuple(out):
        return out if isinstance(out, tuple) else (out,)

    def loss_terms(self, out_id, logits, y):
        """(loss, correct, counted) for one Output: cross-entropy (per time step for sequence outputs) or MSE."""
        import torch.nn.functional as F

        logits = logits.float()
        if self.tasks[out_id] == "classification":
            k = logits.shape[-1]
            if logits.dim() == 3 and y.dim() == 1:
                y = y[:, None].expand(-1, logits.shape[1])  # one label per sample, trained at every step
            flat_logits, flat_y = logits.reshape(-1, k), y.reshape(-1)
            if flat_logits.shape[0] != flat_y.shape[0]:
                raise ValueError(f"output '{out_id}' gives {tuple(logits.shape)} but the labels are "
                                 f"{tuple(y.shape)}")
            loss = F.cross_entropy(flat_logits, flat_y)
            correct = (flat_logits.argmax(-1) == flat_y).sum()
            return loss, correct, flat_y.numel()
        target = y.reshape(logits.shape).to(logits.dtype)
        loss = F.mse_loss(logits, target)
        return loss, (logits.detach() - target).abs().sum(), target.numel()

    def batch_loss(self, xs, y):
        outs = self.as_tuple(self.forward_model(*xs))
        total = None
        first = None
        for out_id, o in zip(self.output_ids, outs):
            loss, correct, counted = self.loss_terms(out_id, o, y)
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
                          c.epochs, self.steps_per_epoch, self.epoch, len(self.y_train), len(self.y_val)))
        sampler = DistributedSampler(range(len(self.y_train)), num_replicas=self.world, rank=self.rank,
                                     shuffle=True, seed=c.seed, drop_last=False)
        stop, pause = self.control.stop, self.control.pause
        while self.epoch < c.epochs:
            epoch_no = self.epoch + 1
            sampler.set_epoch(self.epoch)
            order = torch.tensor(list(sampler), dtype=torch.long)
            batches = self.split_batches(order)
            totals = self.partial
            pending_loss, pending_n, pending_correct = [], [], []
            interval_samples, t_interval = 0, time.monotonic()
            t_epoch, cpu_epoch = time.monotonic(), time.process_time()
            self.model.train()
            first = self.batch_start
            self.batch_start, self.partial = 0, _Totals()
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
                    interval_samples, t_interval = 0, time.monotonic()
            if self.scheduler is not None and not self.sched_per_step:
                self.scheduler.step()
            if self.end_epoch(epoch_no, totals, time.monotonic() - t_epoch, time.process_time() - cpu_epoch):
                break
        return self.finish("finished")

    def obey(self, stop, pause, b, epoch_no, totals, t_interval, t_epoch, pending):
        """Wait while paused; on stop, checkpoint the position within the epoch and end the run."""
        if pause.is_set() and not stop.is_set():
            paused_at = time.monotonic()
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
            self.save_checkpoint(epoch_no - 1, batch=b, partial=totals, best=False)
            self.log(f"stopped at epoch {epoch_no}, step {self.step}")
            raise _Stopped()
        return t_interval, t_epoch

    def flush_pending(self, totals: _Totals, pending_loss, pending_n, pending_correct, epoch_no) -> float:
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

    def evaluate(self):
        """(loss, accuracy, mae) over this rank's share of the validation set, summed over ranks."""
        import torch

        n = len(self.y_val)
        if n == 0:
            return None, None, None
        model = self.model
        model.eval()
        idx_all = torch.arange(self.rank, n, self.world)
        loss_sum = correct = counted = abs_sum = 0.0
        samples = 0
        with torch.no_grad(), self.autocast():
            for idx in idx_all.split(max(self.batch_size, 256)):
                xs, y = self.fetch(self.x_val, self.y_val, idx)
                outs = self.as_tuple(model(*xs))
                total = 0.0
                for j, (out_id, o) in enumerate(zip(self.output_ids, outs)):
                    loss, c, k = self.loss_terms(out_id, o, y)
                    total = total + loss
                    if j == 0:
                        if self.dataset.task == "classification":
                            correct += float(c)
                        else:
                            abs_sum += float(c)
                        counted += k
                loss_sum += float(total) * len(idx)
                samples += len(idx)
        model.train()
        loss_sum, samples, correct, counted, abs_sum = self.reduce([loss_sum, samples, correct, counted, abs_sum])
        loss = loss_sum / max(samples, 1)
        if not math.isfinite(loss):
            raise RunFailure(f"the validation loss became {loss}: lower the learning rate (now {self.config.lr:g}) "
                             f"or turn on gradient clipping")
        if self.dataset.task == "classification":
            return loss, correct / max(counted, 1), None
        return loss, None, abs_sum / max(counted, 1)

    def end_epoch(self, epoch_no: int, totals: _Totals, duration: float, cpu: float | None = None) -> bool:
        """Validate, record, checkpoint; True when early stopping ends the run."""
        loss_sum, samples, correct, counted = self.reduce(totals.as_list())
        train_loss = loss_sum / max(samples, 1)
        classification = self.dataset.task == "classification"
        train_acc = correct / max(counted, 1) if classification else None
        val_loss, val_acc, val_mae = self.evaluate()
        self.epoch = epoch_no
        metrics = {"train_loss": train_loss, "train_accuracy": train_acc, "val_loss": val_loss,
                   "val_accuracy": val_acc, "val_mae": val_mae}
        self.last_epoch_metrics = metrics
        value = metrics[self.best_name]
        higher = self.best_name.endswith("accuracy")
        improved = self.best_metric is None or (value > self.best_metric if higher else value < self.best_metric)
        if improved:
            self.best_metric, self.best_epoch, self.bad_epochs = value, epoch_no, 0
        else:
            self.bad_epochs += 1
        self.emit(EpochEnd(epoch_no, self.step, train_loss, val_loss, train_acc, val_acc, val_mae, duration, cpu))
        if self.folder is not None:
            lr, el = self.lr(), round(self.duration(), 3)
            self.folder.add_row(epoch=epoch_no, step=self.step, split="train", scope="epoch", loss=train_loss,
                                accuracy=train_acc, lr=lr, samples_per_s=round(samples / max(duration, 1e-9), 2),
                                elapsed_s=el)
            if val_loss is not None:
                self.folder.add_row(epoch=epoch_no, step=self.step, split="val", scope="epoch", loss=val_loss,
                                    accuracy=val_acc, mae=val_mae, lr=lr, elapsed_s=el)
        self.save_checkpoint(epoch_no, batch=0, partial=_Totals(), best=improved)
        patience = self.config.early_stopping
        if patience and self.bad_epochs >= patience and epoch_no < self.config.epochs:
            self.early_stopped = True
            self.log(f"early stopping: {self.best_name} has not improved for {patience} epoch(s) (best "
                     f"{self.best_metric:.4f} at epoch {self.best_epoch})")
            return True
        return False

    def checkpoint_dict(self, epochs_done: int, batch: int, partial: _Totals) -> dict:
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

    def save_checkpoint(self, epochs_done: int, batch: int, partial: _Totals, best: bool):
        """Write metrics.csv, checkpoints/last.pt (and best.pt when ``best``) and status.json atomically (rank 0)."""
        if self.folder is None:
            return
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
        self.emit(CheckpointSaved(str(last), epochs_done, False))
        if best:
            self.emit(CheckpointSaved(str(self.folder.checkpoints / "best.pt"), epochs_done, True))

    def weights_checksum(self) -> float:
        """A fingerprint of the weights (sum of every parameter, in float64): equal models give equal sums."""
        import torch

        with torch.no_grad():
            return float(sum(p.detach().double().sum().item() for p in self.model.parameters()))

    def finish(self, status: str) -> dict:
        m = self.last_epoch_metrics
        summary = {
            "status": status, "run_id": self.run_id, "run_dir": str(self.folder.path) if self.folder else "",
            "device": str(self.device), "dataset": self.dataset.name, "task": self.dataset.task,
            "epochs": self.epoch, "step": self.step, "params": self.n_params,
            "best_metric": self.best_metric, "best_metric_name": self.best_name, "best_epoch": self.best_epoch,
            "train_loss": m.get("train_loss"), "train_accuracy": m.get("train_accuracy"),
            "val_loss": m.get("val_loss"), "val_accuracy": m.get("val_accuracy"), "val_mae": m.get("val_mae"),
            "early_stopped": bool(getattr(self, "early_stopped", False)), "duration_s": round(self.duration(), 3),
            "world_size": self.world, "weights_checksum": self.weights_checksum(),
        }
        if self.folder is not None:
            self.folder.write_metrics()
            self.folder.write_status(status=status, epoch=self.epoch, step=self.step, best_metric=self.best_metric,
                                     duration_s=summary["duration_s"])
        self.emit(Finished(status, summary))
        return summary
