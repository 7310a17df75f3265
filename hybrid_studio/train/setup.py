"""Everything a run does before its first step (a mixin of the engine's trainer): read the settings, the graph
and the dataset, match them, pick the device, compile the model and try it on two samples, build the optimiser and
schedule, restore a checkpoint when resuming, and open the run folder. Problems raise ``InputProblem``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from .checkpoints import load_checkpoint
from .config import ConfigError, TrainConfig, resolve_device
from .errors import InputProblem
from .losses import Totals
from .runs import (RunFolder, RunInUse, acquire_lock, default_runs_dir, load_run_config, load_run_graph, new_run_id,
                   now_iso)

#: Settings a resumed run may change; the rest come from the run's config.json so the curve continues unchanged.
RESUME_OVERRIDABLE = ("epochs", "device", "amp", "compile", "early_stopping", "num_threads")


class SetupMixin:
    """``prepare`` and its helpers; mixed into the engine's ``_Trainer`` (which holds the state they set)."""

    def prepare(self):
        import numpy as np
        import torch

        from hybrid_studio.project import ProjectError, dumps_project, loads_project

        from .datasets import Dataset, DatasetError, get_dataset
        from .matching import input_order, input_shape_hints, match_dataset

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
        hint = input_shape_hints(graph)
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
        if config.init_weights and self.resume is None:  # a resumed run has its own checkpoint
            from .init_weights import load_init_weights
            load_init_weights(model, config.init_weights)
        gen = model.hs_generated
        self.input_ids, self.output_ids, self.tasks = gen.input_ids, gen.output_ids, gen.tasks
        model.to(device)
        self.model = model
        self.n_params = sum(p.numel() for p in model.parameters())

        # tensors, in the order of the model's forward() arguments
        order = input_order(graph, dataset, self.input_ids)

        # variable-length Inputs: their per-sample lengths follow the inputs (forward()'s extra arguments), and
        # the plan gives the outputs' lengths by the model's own rule (for CTC and its decoding)
        from hybrid_studio.blocks import checker_for
        from hybrid_studio.compile.lengths import length_plan

        from .seqlen import input_lengths

        self.length_inputs = list(gen.length_args)
        self.length_plan = length_plan(graph, checker_for(graph)) if self.length_inputs else None

        def tensors(split):
            xs = [torch.from_numpy(np.array(split.x[k])) for k in order]
            xs += [torch.from_numpy(a) for a in input_lengths(gen, order, split)]
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
            lengths = self.output_lengths(self.sample_inputs)
            for out_id, o in zip(self.output_ids, outs):
                self.loss_terms(out_id, o, self.y_train[:2].to(device), lengths.get(out_id))
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
        self.partial = Totals()
        self.best_metric = None
        self.best_epoch = 0
        self.bad_epochs = 0
        self.last_epoch_metrics: dict = {}
        self.early_stopped = False
        self.best_name = {"classification": "val_accuracy", "ctc": "val_cer"}.get(dataset.task, "val_loss")
        if len(self.y_val) == 0:
            self.best_name = "train_accuracy" if dataset.task == "classification" else "train_loss"
        if self.checkpoint is not None:
            try:
                self.restore(self.checkpoint)
            except (RuntimeError, KeyError, ValueError, TypeError) as e:
                # e.g. project.json was edited after the checkpoint: the weights no longer fit the model
                raise InputProblem(f"cannot resume {self.resume}: its checkpoint does not fit the run's model or "
                                   f"settings ({type(e).__name__}: {e})") from None

        # the run folder (rank 0 only)
        if self.rank == 0:
            try:
                self.open_folder()
            except OSError as e:
                where = self.resume if self.resume is not None else self.runs_dir
                raise InputProblem(f"cannot write the run folder in {where}: {e.strerror or e}"
                                   + (f" ({e.filename})" if e.filename else "")) from None

    def resume_settings(self, config: TrainConfig):
        """The run's own settings and graph, with the overridable settings taken from ``config``."""

        run_dir = self.resume
        last = run_dir / "checkpoints" / "last.pt"
        if not last.is_file():
            if self.rank == 0 and (run_dir / "status.json").is_file():
                # a run killed while writing its first checkpoint leaves that write's temporary file: taking the
                # lock cleans it (it was left for good otherwise, since such a run can never be resumed)
                try:
                    os.close(acquire_lock(run_dir))
                except (RunInUse, OSError):
                    pass
            raise InputProblem(f"cannot resume {run_dir}: it has no checkpoints/last.pt (a run stopped before its "
                               f"first checkpoint had trained no step yet: start a new run instead)")
        if self.rank == 0:  # before reading anything: a second resume of the folder is refused here
            try:
                self.run_lock = acquire_lock(run_dir)
            except RunInUse as e:
                raise InputProblem(f"cannot resume: {e}") from None
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
        if self.dataset_arg and saved.dataset and str(self.dataset_arg) != str(saved.dataset):
            self.log(f"resuming on the dataset {self.dataset_arg}; the run trained on {saved.dataset} until now")
        try:
            self.checkpoint = load_checkpoint(last)
        except ValueError as e:
            raise InputProblem(str(e)) from None
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
        self.folder.path.mkdir(parents=True, exist_ok=True)
        try:  # the lock before the first "running": a reader never sees a new run as interrupted
            self.run_lock = acquire_lock(self.folder.path)
        except RunInUse as e:
            raise InputProblem(str(e)) from None
        status = {"status": "running", "run_id": self.run_id, "started": now_iso(), "device": str(self.device),
                  "dataset": self.dataset.name, "task": self.dataset.task, "epochs": c.epochs, "epoch": 0,
                  "step": 0, "best_metric": None, "best_metric_name": self.best_name, "duration_s": 0.0,
                  "world_size": self.world, "params": self.n_params, "pid": os.getpid(), "message": ""}
        self.folder.create(self.project_text, c.to_dict(), status)
