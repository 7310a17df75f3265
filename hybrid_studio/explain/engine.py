"""The explain engine: load a finished run, attribute its predictions to its inputs, reduce to shares/profiles.

Attributions come from Captum (``IntegratedGradients``, ``Saliency``, ``LayerGradCam``) rather than being
re-implemented. The model is rebuilt as ``train.predict`` rebuilds it: compiled from the run's ``project.json``,
weights from ``checkpoints/<best|last>.pt`` (read with ``weights_only=True``), and the validation split rebuilt
with the run's seed, split and image size, inputs paired with the graph's Inputs as the engine pairs them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

METHODS = ("integrated-gradients", "saliency", "grad-cam")
#: Block types Grad-CAM applies to (their output has spatial axes to map back onto the image).
CONV_TYPES = ("Conv2d", "Conv1d", "Conv3d", "ConvLSTM2d")
#: Axes left out of ``profile``: a channel index has no place in the picture (contract example: CHW -> H, W).
UNPROFILED_AXES = ("C",)
IG_STEPS = 32


class ExplainError(ValueError):
    """A run that cannot be explained as asked; the message says what to do instead."""


@dataclass
class LoadedRun:
    """A run's model (eval mode, CPU), graph, dataset and the pairing of dataset inputs with forward()'s args."""

    run_dir: Path
    graph: object
    model: object
    dataset: object
    order: list  # dataset input index for each of model.hs_generated.input_ids
    input_ids: list
    axes: list  # axes letters per model input
    task: str
    checkpoint: str

    def validation_inputs(self, k: int | None = None) -> list:
        """The first ``k`` validation samples as one array per model input (in forward()'s order)."""
        ds = self.dataset
        x = ds.x_val if len(ds.val) else ds.x_train
        return [np.asarray(x[i][:k]) for i in self.order]

    def validation_targets(self, k: int | None = None) -> np.ndarray:
        ds = self.dataset
        return np.asarray((ds.y_val if len(ds.val) else ds.y_train)[:k])


def load_run(run_dir, checkpoint: str = "best", dataset=None) -> LoadedRun:
    """Rebuild a finished run's model and validation data; raises ExplainError naming the problem."""
    run_dir = Path(run_dir)
    if checkpoint not in ("best", "last"):
        raise ExplainError(f"--checkpoint must be best or last, not {checkpoint!r}")
    if not (run_dir / "project.json").is_file():
        raise ExplainError(f"{run_dir} is not a run folder (no project.json): give a folder under runs/")
    ckpt_path = run_dir / "checkpoints" / f"{checkpoint}.pt"
    if not ckpt_path.is_file():
        other = run_dir / "checkpoints" / ("last.pt" if checkpoint == "best" else "best.pt")
        hint = (f"; try --checkpoint {'last' if checkpoint == 'best' else 'best'}" if other.is_file()
                else ": the run has no checkpoints yet (train it for at least one epoch)")
        raise ExplainError(f"{run_dir}: no checkpoint {ckpt_path.name}{hint}")
    # the folder is checked before torch is imported: a wrong folder is answered at once
    from hybrid_studio.blocks import CATALOG
    from hybrid_studio.compile import compile_graph
    from hybrid_studio.graph.diagnostics import ERROR
    from hybrid_studio.project import loads_project
    from hybrid_studio.train.checkpoints import load_checkpoint
    from hybrid_studio.train.datasets import get_dataset
    from hybrid_studio.train.matching import input_order, input_shape_hints, match_dataset
    from hybrid_studio.train.runs import load_run_config, load_run_graph, read_status
    from hybrid_studio.train.userdata import DatasetError

    try:
        config = load_run_config(run_dir)
        graph = loads_project(json.dumps(load_run_graph(run_dir)), str(run_dir / "project.json"))
    except (OSError, ValueError) as e:
        raise ExplainError(f"{run_dir}: cannot read the run: {e}") from None
    name = dataset or config.get("dataset") or read_status(run_dir).get("dataset")
    if not name:
        raise ExplainError(f"{run_dir}: the run does not say which dataset it trained on; pass --dataset")
    try:
        ds = get_dataset(name, seed=int(config.get("seed") or 0), val_split=float(config.get("val_split") or 0.2),
                         shape_hint=input_shape_hints(graph))
    except (DatasetError, OSError) as e:
        raise ExplainError(f"{run_dir}: cannot load the run's dataset '{name}': {e}") from None
    problems = [d for d in match_dataset(graph, ds) if d.severity == ERROR]
    if problems:
        lines = "; ".join(str(d) for d in problems)
        raise ExplainError(f"{run_dir}: the dataset '{name}' no longer matches the run's model: {lines}")
    model = compile_graph(graph)
    input_ids = list(model.hs_generated.input_ids)
    order = input_order(graph, ds, input_ids)
    ck = load_checkpoint(ckpt_path)
    try:
        model.load_state_dict(ck["model"])
    except (RuntimeError, KeyError) as e:
        raise ExplainError(f"{ckpt_path}: the weights do not fit the run's model: {e}") from None
    model.eval()
    in_block = CATALOG.get("Input")
    axes = [in_block.resolve(graph.node(i).params)[0]["axes"] for i in input_ids]
    return LoadedRun(run_dir, graph, model, ds, order, input_ids, axes, ds.task, checkpoint)


def conv_blocks(run: LoadedRun) -> list[str]:
    """Ids of the run's blocks Grad-CAM applies to."""
    return [n.id for n in run.graph.nodes if n.type in CONV_TYPES]


def _scalar_forward(model, task: str):
    """forward(*xs, targets) -> one number per sample: the predicted class's logit (summed over time steps for
    per-step classes), or for regression the output itself (summed when it has several values). ``targets`` rides
    along as an argument so that Captum expands it with the inputs (IG repeats the batch once per step)."""
    import torch

    def f(*args):
        *xs, targets = args
        out = model(*xs)
        if isinstance(out, (tuple, list)):
            out = out[0]
        if task == "classification":
            mask = torch.nn.functional.one_hot(targets, out.shape[-1]).to(out.dtype)
            return (out * mask).reshape(out.shape[0], -1).sum(1)
        return out.reshape(out.shape[0], -1).sum(1)
    return f


def _targets_or_dummy(targets, n):
    import torch
    return targets if targets is not None else torch.zeros(n, dtype=torch.long)


def predicted_targets(model, xs, task: str):
    """The predicted class per sample (per time step for per-step outputs); None for regression."""
    import torch

    if task != "classification":
        return None
    with torch.no_grad():
        out = model(*xs)
    if isinstance(out, (tuple, list)):
        out = out[0]
    return out.argmax(-1)


def attribute(run: LoadedRun, samples: int = 32, method: str = "integrated-gradients", model=None,
              progress=None) -> list:
    """Per model input, the attributions (numpy, samples first) of the first ``samples`` validation samples.

    Integer inputs (token ids) cannot carry gradients: their attributions are zero (documented in the README).
    ``model``: another model with the same inputs (the randomisation check); ``progress(done, total)``."""
    import torch
    from captum.attr import IntegratedGradients, Saliency

    model = model if model is not None else run.model
    arrays = run.validation_inputs(samples)
    xs = [torch.as_tensor(a) for a in arrays]
    float_idx = [i for i, x in enumerate(xs) if x.is_floating_point()]
    targets = predicted_targets(model, xs, run.task)
    out = [np.zeros(a.shape, np.float32) for a in arrays]
    if not float_idx:
        return out
    chunk = 8
    n = len(arrays[0])
    for start in range(0, n, chunk):
        part = [x[start:start + chunk] for x in xs]
        tgt = _targets_or_dummy(None if targets is None else targets[start:start + chunk], len(part[0]))
        base = _scalar_forward(model, run.task)
        other_idx = [i for i in range(len(part)) if i not in float_idx]

        def fwd(*args, _base=base, _n=len(float_idx), _other=other_idx):
            floats, rest = args[:_n], args[_n:]
            full = [None] * (len(floats) + len(rest) - 1)
            for i, v in zip(float_idx, floats):
                full[i] = v
            for i, v in zip(_other, rest[:-1]):
                full[i] = v
            return _base(*full, rest[-1])

        extra = tuple(part[i] for i in other_idx) + (tgt,)
        inputs = tuple(part[i].clone().requires_grad_(True) for i in float_idx)
        if method == "integrated-gradients":
            attr = IntegratedGradients(fwd).attribute(inputs, baselines=tuple(torch.zeros_like(t) for t in inputs),
                                                      additional_forward_args=extra, n_steps=IG_STEPS,
                                                      internal_batch_size=chunk * IG_STEPS)
        elif method == "saliency":
            attr = Saliency(fwd).attribute(inputs, abs=True, additional_forward_args=extra)
        else:
            raise ExplainError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
        for i, a in zip(float_idx, attr):
            out[i][start:start + chunk] = a.detach().float().numpy()
        if progress:
            progress(min(start + chunk, n), n)
    return out


def reduce(attributions: list, input_ids: list, axes: list) -> dict:
    """The contract's ``inputs`` object: per Input its ``share`` of the total absolute attribution (shares sum to
    1) and, per axis, the mean absolute attribution at each index normalised to sum to 1."""
    totals = [float(np.abs(a).sum()) for a in attributions]
    whole = sum(totals)
    result = {}
    for name, a, ax, tot in zip(input_ids, attributions, axes, totals):
        a = np.abs(np.asarray(a, np.float64))
        profile = {}
        for k, letter in enumerate(ax):
            if letter in UNPROFILED_AXES or k + 1 >= a.ndim:
                continue
            other = tuple(d for d in range(a.ndim) if d != k + 1)
            mean = a.mean(axis=other)
            s = mean.sum()
            profile[letter] = [float(v) for v in (mean / s if s > 0 else np.full_like(mean, 1.0 / len(mean)))]
        result[name] = {"share": tot / whole if whole > 0 else 1.0 / len(input_ids), "axes": ax, "profile": profile}
    return result


def grad_cam(run: LoadedRun, block: str, samples: int = 32, progress=None) -> dict:
    """Grad-CAM (Captum's LayerGradCam) on the conv block ``block``: the class-weighted activation map of the
    block's output, upsampled over the Input's spatial axes (per frame for video, per step for ConvLSTM, whose
    maps are averaged over the time axis for the profile). Returns ``{"block", "axes", "maps", "profile"}``."""
    import torch
    from captum.attr import LayerAttribution, LayerGradCam

    convs = conv_blocks(run)
    node = run.graph.node(block) if block in {n.id for n in run.graph.nodes} else None
    if node is None or node.type not in CONV_TYPES:
        what = f"'{block}' is a {node.type} block" if node is not None else f"there is no block '{block}'"
        pick = f"pick one of the convolution blocks: {', '.join(convs)}" if convs else \
            "the model has no convolution block; use --method integrated-gradients or saliency"
        raise ExplainError(f"Grad-CAM needs a convolution block: {what}; {pick}")
    layer = getattr(run.model, block, None)
    if layer is None:
        raise ExplainError(f"block '{block}' has no module in the compiled model")
    arrays = run.validation_inputs(samples)
    xs = [torch.as_tensor(a) for a in arrays]
    targets = predicted_targets(run.model, xs, run.task)
    from hybrid_studio.blocks import checker_for
    out_axes = checker_for(run.graph).result(block).output.axes
    # a block applied to every frame (Conv2d on TCHW, ConvLSTM2d): one map per frame, time before channels
    per_frame = out_axes == "TCHW"
    maps = []
    n = len(arrays[0])
    for start in range(0, n, 16):
        part = [x[start:start + 16] for x in xs]
        tgt = _targets_or_dummy(None if targets is None else targets[start:start + 16], len(part[0]))
        fwd = _scalar_forward(run.model, run.task)
        if per_frame:
            cam = _per_frame_cam(fwd, layer, tuple(part), tgt)
        else:
            cam = LayerGradCam(fwd, layer).attribute(tuple(part), additional_forward_args=(tgt,),
                                                     relu_attributions=True)
        if isinstance(cam, tuple):
            cam = cam[0]
        maps.append(cam.detach())
        if progress:
            progress(min(start + 16, n), n)
    cam = torch.cat(maps)  # (N, 1, *spatial) for Conv1d/2d/3d; (N, T, H, W) per frame
    # map back onto the spatial size of the Input feeding this block (the first image-like Input)
    img = next((k for k, ax in enumerate(run.axes) if "H" in ax and "W" in ax), None)
    spatial_axes = "".join(c for c in run.axes[img] if c in "HW") if img is not None else ""
    if img is not None and cam.dim() == 4:
        h, w = arrays[img].shape[-2:]
        cam = LayerAttribution.interpolate(cam, (h, w), interpolate_mode="bilinear")
    if per_frame:
        spatial_axes = "T" + spatial_axes
        cam = cam.unsqueeze(1)
    maps_np = cam.float().numpy().reshape(cam.shape[0], *cam.shape[2:]) if cam.dim() > 2 else cam.float().numpy()
    a = np.abs(maps_np)
    axes = spatial_axes if len(spatial_axes) == a.ndim - 1 else "".join("?" * (a.ndim - 1))
    profile = {}
    for k, letter in enumerate(axes):
        mean = a.mean(axis=tuple(d for d in range(a.ndim) if d != k + 1))
        s = mean.sum()
        profile[letter] = [float(v) for v in (mean / s if s > 0 else np.full_like(mean, 1.0 / len(mean)))]
    return {"block": block, "axes": axes, "maps": maps_np, "profile": profile}


def _per_frame_cam(fwd, layer, inputs, targets):
    """Grad-CAM per frame for a layer whose output is (N, T, C, H, W) or (N*T, C, H, W): each frame's channels weighted by their
    mean gradient over that frame, summed, ReLU'd. Captum's LayerGradCam takes dim 1 as the channels, so the
    gradients and activations come from Captum's layer attribution of gradients and the weighting is done here."""
    import torch
    from captum.attr import LayerActivation, LayerGradientXActivation

    grads = LayerGradientXActivation(fwd, layer, multiply_by_inputs=False).attribute(
        inputs, additional_forward_args=(targets,))
    acts = LayerActivation(fwd, layer).attribute(inputs, additional_forward_args=(targets,))
    if isinstance(grads, tuple):
        grads, acts = grads[0], acts[0]
    weights = grads.mean(dim=(-2, -1), keepdim=True)
    n = inputs[0].shape[0]
    if acts.dim() == 4:  # a per-frame Conv2d runs on the frames folded into the batch: (N*T, C, H, W)
        cam = (weights * acts).sum(dim=1)
        return torch.relu(cam.reshape(n, -1, *cam.shape[-2:]))
    return torch.relu((weights * acts).sum(dim=2))  # (N, T, H, W)


#: Block types whose activations are a hidden state over time (shown as a units x time heatmap).
RECURRENT_TYPES = ("LSTM", "GRU", "ConvLSTM2d")


def activations(run: LoadedRun, sample: int = 0, progress=None) -> dict:
    """Each block's output for validation sample ``sample`` (numpy, without the batch axis), Inputs included.

    The compiled model is run node by node (a torch.fx Interpreter): every fx node remembers the block whose
    generated line made it, so a block's output is its last node's value - after its inline activation and, for a
    per-frame convolution, with the frames unfolded again (T, C, H, W). Recurrent blocks give their hidden state
    at every time step whatever ``return_sequences`` says: LSTM/GRU the layer's output sequence (T, F'),
    ConvLSTM2d its hidden state per step (T, C', H', W'). ``progress(done, total)`` is called per block."""
    import torch
    import torch.fx

    arrays = run.validation_inputs(sample + 1)
    if not 0 <= sample < len(arrays[0]):
        raise ExplainError(f"there is no validation sample {sample}: the run has {len(run.validation_targets())}")
    xs = [torch.as_tensor(a[sample:sample + 1]) for a in arrays]
    types = {n.id: n.type for n in run.graph.nodes}
    model = run.model
    got = {bid: np.asarray(a[sample]) for bid, a in zip(run.input_ids, arrays)}
    sequences = {}
    blocks_done = set()
    # the blocks that run code of their own (Inputs and Outputs make no fx node): progress counts these
    total = len({n.meta.get("block_id") for n in model.graph.nodes} & set(types))

    def plain(value):
        if isinstance(value, (tuple, list)):
            value = value[0]
        return value.detach()[0].float().numpy() if torch.is_tensor(value) and value.dim() > 0 else None

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n):
            value = super().run_node(n)
            bid = n.meta.get("block_id")
            if bid is None or bid not in types:
                return value
            if n.op == "call_module" and types[bid] in ("LSTM", "GRU"):
                sequences[bid] = plain(value)  # output[0]: the last layer's state at every step (N, T, F')
            elif n.op == "call_module" and types[bid] == "ConvLSTM2d":
                module = self.fetch_attr(n.target)
                if getattr(module, "return_sequences", True):
                    sequences[bid] = plain(value)
                else:  # the same weights run again keeping every step (the graph itself only reads the last)
                    module.return_sequences = True
                    try:
                        sequences[bid] = plain(module(*self.fetch_args_kwargs_from_env(n)[0]))
                    finally:
                        module.return_sequences = False
            out = plain(value)
            if out is not None:  # the block's last tensor so far (sizes read on the way are not tensors)
                got[bid] = out
            if bid not in blocks_done:
                blocks_done.add(bid)
                if progress:
                    progress(len(blocks_done), total)
            return value

    with torch.no_grad():
        Recorder(model).run(*xs)  # load_run compiles a traced model (an fx GraphModule)
    got.update(sequences)
    return {k: v for k, v in got.items() if v is not None}


def activation_view(block_type: str, axes: str, array) -> dict:
    """How to show one block's activations (Qt-free, so the worker prepares it and the view only draws).

    ``axes``: the block's output axes (the shape checker's letters, without the batch). Returns ``{"kind", "data",
    "rows", "cols", "title"}``: ``"maps"`` - a grid of feature maps (one tile per channel; for a per-frame
    convolution a row per frame), ``data`` an image of rows x cols tiles; ``"state"`` - the hidden state over time
    of a recurrent block as a units x time heatmap (ConvLSTM2d's channels averaged over H, W); ``"heatmap"`` - any
    other two-axis output (e.g. a sequence T x F, shown features x time); ``"vector"`` - one value per feature."""
    a = np.asarray(array, np.float32)
    if block_type in RECURRENT_TYPES and a.ndim >= 2:
        state = a.reshape(a.shape[0], a.shape[1], -1).mean(-1) if a.ndim > 2 else a  # (T, units)
        return {"kind": "state", "data": state.T, "rows": "unit", "cols": "time step",
                "title": f"hidden state over time ({state.shape[1]} units x {state.shape[0]} steps)"}
    if a.ndim == 3:  # (C, H, W) feature maps: a grid of channels
        c, h, w = a.shape
        cols = int(np.ceil(np.sqrt(c)))
        rows = int(np.ceil(c / cols))
        grid = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan, np.float32)
        for k in range(c):
            r, q = divmod(k, cols)
            grid[r * (h + 1):r * (h + 1) + h, q * (w + 1):q * (w + 1) + w] = a[k]
        return {"kind": "maps", "data": grid, "rows": rows, "cols": cols,
                "title": f"{c} feature maps of {h}x{w}"}
    if a.ndim == 4:  # (T, C, H, W) per-frame feature maps: a row of channels per frame
        t, c, h, w = a.shape
        grid = np.full((t * (h + 1) - 1, c * (w + 1) - 1), np.nan, np.float32)
        for i in range(t):
            for k in range(c):
                grid[i * (h + 1):i * (h + 1) + h, k * (w + 1):k * (w + 1) + w] = a[i, k]
        return {"kind": "maps", "data": grid, "rows": t, "cols": c,
                "title": f"{c} feature maps of {h}x{w} per frame ({t} frames, a row each)"}
    if a.ndim == 2:
        # time (or length) runs along x: features/channels x steps
        data = a.T if axes[:1] == "T" else a
        return {"kind": "heatmap", "data": data, "rows": axes[1:2] if axes[:1] == "T" else axes[:1],
                "cols": axes[:1] if axes[:1] == "T" else axes[1:2], "title": f"{axes} {tuple(a.shape)}"}
    flat = a.reshape(-1)
    return {"kind": "vector", "data": flat, "rows": "", "cols": "feature", "title": f"{flat.size} values"}


def activation_views(run: LoadedRun, sample: int = 0, progress=None) -> dict:
    """``activation_view`` of every block for one sample: ``{block_id: view}`` (what the app's worker sends)."""
    from hybrid_studio.blocks import checker_for

    checker = checker_for(run.graph)
    types = {n.id: n.type for n in run.graph.nodes}
    views = {}
    for bid, a in activations(run, sample, progress).items():
        res = checker.result(bid)
        axes = res.output.axes if res is not None and res.output is not None else ""
        views[bid] = activation_view(types.get(bid, ""), axes, a)
        views[bid]["shape"] = tuple(np.shape(a))
    return views


def sample_outcomes(run: LoadedRun, k: int) -> dict:
    """Targets and predictions of the first ``k`` validation samples (the app's right / wrong / class filter):
    ``{"targets", "predictions", "correct"}``, ``correct`` None per sample where they cannot be compared
    (regression, or per-step outputs whose length differs from the labels', as with CTC)."""
    import torch

    arrays = run.validation_inputs(k)
    y = run.validation_targets(k)
    with torch.no_grad():
        out = run.model(*[torch.as_tensor(a) for a in arrays])
    if isinstance(out, (tuple, list)):
        out = out[0]
    out = out.float().numpy()
    pred = out.argmax(-1) if run.task == "classification" else out.reshape(len(out), -1)
    correct = []
    for p, t in zip(pred, y):
        if run.task != "classification" or np.shape(p) != np.shape(t):
            correct.append(None)
        else:
            correct.append(bool(np.all(p == t)))
    return {"targets": y, "predictions": pred, "correct": correct}


def _score(run: LoadedRun, out, y) -> float:
    """Accuracy (classification, per step for per-step labels) or minus the mean squared error (regression)."""
    if isinstance(out, (tuple, list)):
        out = out[0]
    out = out.float().numpy()
    if run.task == "classification":
        return float(np.mean(out.argmax(-1).reshape(y.shape) == y))
    return -float(np.mean((out.reshape(y.shape) - y) ** 2))


def branch_contributions(run: LoadedRun, samples: int = 256) -> dict:
    """For each fusion block (a block with several incoming edges), per incoming branch, the drop in accuracy
    (regression: the rise in mean squared error) when that branch's features entering the fusion block are
    replaced by their mean over the samples. A branch whose source is an Input has that input replaced; one
    whose source block has no module of its own (a reshape done inline) is left out.
    ``{fusion_id: {source_id: drop}}``."""
    import torch

    arrays = run.validation_inputs(samples)
    y = run.validation_targets(samples)
    xs = [torch.as_tensor(a) for a in arrays]
    with torch.no_grad():
        base = _score(run, run.model(*xs), y)
    result = {}
    for node in run.graph.nodes:
        sources = list(dict.fromkeys(e.source for e in run.graph.in_edges(node.id)))
        if len(sources) < 2:
            continue
        drops = {}
        for src in sources:
            if src in run.input_ids:
                k = run.input_ids.index(src)
                if not xs[k].is_floating_point():
                    continue
                ablated = list(xs)
                ablated[k] = xs[k].mean(0, keepdim=True).expand_as(xs[k])
                with torch.no_grad():
                    score = _score(run, run.model(*ablated), y)
            else:
                module = getattr(run.model, src, None)
                if not isinstance(module, torch.nn.Module):
                    continue
                kept = {}

                def grab(_m, _i, out, _kept=kept):
                    _kept["out"] = out

                h = module.register_forward_hook(grab)
                with torch.no_grad():
                    run.model(*xs)
                h.remove()
                feats = kept["out"]
                if not torch.is_tensor(feats):
                    continue
                mean = feats.mean(0, keepdim=True).expand_as(feats)
                h = module.register_forward_hook(lambda _m, _i, _o, _mean=mean: _mean)
                with torch.no_grad():
                    score = _score(run, run.model(*xs), y)
                h.remove()
            drops[src] = base - score
        if drops:
            result[node.id] = drops
    return result


def explain(run_dir, checkpoint: str = "best", samples: int = 32, method: str = "integrated-gradients",
            block: str | None = None, dataset=None, progress=None, run: LoadedRun | None = None) -> dict:
    """The contract's JSON object for ``hybrid-studio explain`` (plus ``"attributions"``/``"cam"`` arrays under
    private keys starting with ``_`` that the report draws and ``--json`` leaves out)."""
    if method not in METHODS:
        raise ExplainError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    if samples < 1:
        raise ExplainError("--samples must be at least 1")
    run = run or load_run(run_dir, checkpoint, dataset)
    k = min(samples, len(run.validation_targets()))
    result = {"method": method, "samples": k}
    if method == "grad-cam":
        if block is None:
            convs = conv_blocks(run)
            if not convs:
                raise ExplainError("Grad-CAM needs a convolution block and the model has none; "
                                   "use --method integrated-gradients or saliency")
            block = convs[-1]  # the last conv: the coarsest, most semantic maps (as Grad-CAM's authors advise)
        cam = grad_cam(run, block, k, progress)
        result["block"] = block
        result["inputs"] = {}
        result["cam"] = {"axes": cam["axes"], "profile": cam["profile"]}
        result["_cam"] = cam["maps"]
    else:
        attrs = attribute(run, k, method, progress=progress)
        result["inputs"] = reduce(attrs, run.input_ids, run.axes)
        branches = branch_contributions(run, max(k, 256))
        if branches:  # fusion graphs: the accuracy drop when a branch's features are replaced by their mean
            result["branches"] = branches
        result["_attributions"] = attrs
    result["_samples"] = run.validation_inputs(k)
    result["_outcomes"] = sample_outcomes(run, k)  # the app's sample list: targets, predictions, right/wrong
    result["_run_dir"] = str(run.run_dir)
    result["_checkpoint"] = run.checkpoint
    result["_block_types"] = {n.id: n.type for n in run.graph.nodes}
    result["_class_names"] = list(getattr(run.dataset, "class_names", None) or [])
    result["_input_ids"] = run.input_ids
    result["_axes"] = dict(zip(run.input_ids, run.axes))
    return result


def public(result: dict) -> dict:
    """The result without its private arrays (what ``--json`` prints)."""
    return {k: v for k, v in result.items() if not k.startswith("_")}
