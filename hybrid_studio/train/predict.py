"""Predictions of a finished run on its validation set, for the app's results view (no Qt here).

The model is compiled from the graph the run trained (``project.json``) and loaded from its best checkpoint; the
dataset is rebuilt with the run's seed, split and image size, and its inputs are paired with the graph's Inputs as
the engine pairs them, so these are the samples the run validated on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SHOWN_SAMPLES = 8
MAX_PREDICTED = 2000  # validation samples predicted for the matrix (bounded so big sets stay quick)


@dataclass
class Predictions:
    """What the results view draws."""

    task: str
    class_names: list
    y_true: np.ndarray
    y_pred: np.ndarray
    inputs: list = field(default_factory=list)  # InputInfo per input
    samples: list = field(default_factory=list)  # per-input arrays of the shown samples
    run_dir: str = ""
    #: Axes of a tensor-shaped regression target (``CHW``: a predicted frame), else empty.
    target_axes: str = ""
    #: The validation loss of the dataset's trivial baseline (copy-last-frame), when it has one.
    baseline: str = ""
    baseline_loss: float | None = None
    #: ctc: (target text, decoded text, edit distance) per validation sample, and the character error rate
    decoded: list = field(default_factory=list)
    cer: float | None = None

    def mse(self) -> float:
        """The mean squared error of the predictions (regression)."""
        if not len(self.y_true):
            return float("nan")
        return float(np.mean((np.asarray(self.y_true, np.float64) - np.asarray(self.y_pred, np.float64)) ** 2))

    def confusion(self) -> np.ndarray:
        """Counts [true, predicted] over every predicted label (per time step for sequence outputs)."""
        n = max(len(self.class_names), int(max(self.y_true.max(initial=0), self.y_pred.max(initial=0))) + 1)
        m = np.zeros((n, n), dtype=int)
        np.add.at(m, (self.y_true.reshape(-1).astype(int), self.y_pred.reshape(-1).astype(int)), 1)
        return m


@dataclass
class LoadedRun:
    """A finished run ready to predict: its graph, the dataset as it validated on it, the model with the chosen
    checkpoint's weights (eval mode), and the dataset's input index for each of forward()'s arguments."""

    run_dir: Path
    graph: object
    dataset: object
    model: object
    order: list
    checkpoint: Path


def load_run_model(run_dir, dataset=None, checkpoint: str = "best") -> LoadedRun:
    """Rebuild a run: the graph it trained (``project.json``) compiled, the weights of ``checkpoints/<best|last>.pt``
    (best falls back to last), the dataset with the run's seed, split and image size, its inputs paired with the
    graph's Inputs as the engine pairs them. Imports torch; raises ValueError/OSError with a message."""
    from hybrid_studio.compile import compile_graph
    from hybrid_studio.project import loads_project

    from .checkpoints import load_checkpoint
    from .datasets import get_dataset
    from .matching import input_order, input_shape_hints
    from .runs import load_run_config, load_run_graph, read_status

    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    name = dataset or config.get("dataset") or read_status(run_dir).get("dataset")
    graph = loads_project(json.dumps(load_run_graph(run_dir)), str(run_dir / "project.json"))
    # the same seed, split and image size as the run, so these are the samples it validated on
    ds = get_dataset(name, seed=int(config.get("seed") or 0), val_split=float(config.get("val_split") or 0.2),
                     shape_hint=input_shape_hints(graph))
    model = compile_graph(graph)
    # the dataset's inputs in the order of forward()'s arguments, paired as the engine pairs them (by name first)
    order = input_order(graph, ds, model.hs_generated.input_ids)
    ckpt_path = run_dir / "checkpoints" / f"{checkpoint}.pt"
    if checkpoint == "best" and not ckpt_path.exists():
        ckpt_path = run_dir / "checkpoints" / "last.pt"
    if not ckpt_path.exists():
        raise ValueError(f"{run_dir} has no checkpoints/{checkpoint}.pt: train it first (or pick another run)")
    model.load_state_dict(load_checkpoint(ckpt_path)["model"])
    model.eval()
    return LoadedRun(run_dir, graph, ds, model, list(order), ckpt_path)


def predict_run(run_dir, dataset=None, limit: int = MAX_PREDICTED) -> Predictions:
    """Predict the validation set of the run's dataset with its best checkpoint (imports torch; call off the UI)."""
    import torch

    loaded = load_run_model(run_dir, dataset)
    run_dir, ds, model, order = loaded.run_dir, loaded.dataset, loaded.model, loaded.order
    xs = [np.asarray(ds.x_val[k][:limit]) for k in order]
    # variable-length Inputs: each sample read up to its own length, decoded up to its output's length
    from .seqlen import input_lengths

    gen = model.hs_generated
    lengths = [a[:limit] for a in input_lengths(gen, order, ds.val)]
    steps = None
    if lengths:
        from hybrid_studio.blocks import checker_for
        from hybrid_studio.compile.lengths import length_plan

        plan = length_plan(loaded.graph, checker_for(loaded.graph))
        steps = plan.output_lengths(dict(zip(gen.length_args, lengths)), gen.output_ids)[gen.output_ids[0]]
    with torch.no_grad():
        out = model(*[torch.as_tensor(x) for x in xs], *[torch.as_tensor(a) for a in lengths])
    if isinstance(out, (tuple, list)):
        out = out[0]
    out = out.float().numpy()
    y_true = np.asarray(ds.y_val[:limit])
    decoded, cer = [], None
    if ds.task == "ctc":
        from .ctc import edit_distance, greedy_decode, to_text
        best = greedy_decode(out, steps)
        y_pred = np.zeros((len(y_true), 0))
        total = length = 0
        for row, seq in zip(y_true, best):
            target = [int(v) for v in row if v > 0]
            d = edit_distance(seq, target)
            total, length = total + d, length + len(target)
            decoded.append((to_text(target, ds.class_names), to_text(seq, ds.class_names), d))
        cer = total / max(length, 1)
    else:
        y_pred = out.argmax(-1) if ds.task == "classification" else out.reshape(y_true.shape)
    return Predictions(ds.task, list(ds.class_names or []), y_true, y_pred, [ds.inputs[k] for k in order],
                       [[x[i] for x in xs] for i in range(min(SHOWN_SAMPLES, len(y_true)))], str(run_dir),
                       ds.target_axes, ds.baseline, ds.baseline_loss(), decoded, cer)
