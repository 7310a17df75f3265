"""Attributions of a trained run's output to its inputs, on Captum, reduced along the named axes (contract 5.4).

For K validation samples, Captum's integrated gradients or saliency attribute the model's output (the predicted
class for classification, the output itself for regression) to every Input at once; the absolute attributions are
then summed into each Input's ``share`` of the total and, for each per-sample axis (``C``, ``H``, ``W``, ``T``,
``F``...), a ``profile``: the mean absolute attribution at each index of that axis, normalised to sum to 1.
Grad-CAM (Captum's LayerGradCam) looks at one convolution block instead: its feature maps weighted by their
gradients, as a heat map over the block's own spatial axes. Imports torch and Captum; no Qt.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

METHODS = ("integrated-gradients", "saliency", "grad-cam")
CONV_TYPES = ("Conv1d", "Conv2d", "Conv3d", "ConvLSTM2d")


class ExplainError(ValueError):
    """A run or a request that cannot be explained, with what to pick instead."""


@dataclass
class InputAttribution:
    """One Input's part of the attributions: its share of the total, per-axis profiles and the mean map."""

    share: float
    axes: str
    profile: dict
    #: mean absolute attribution per sample position, over the explained samples (for heat maps)
    mean_map: np.ndarray | None = None


@dataclass
class Explanation:
    method: str
    samples: int
    inputs: dict = field(default_factory=dict)   # input id -> InputAttribution
    block: str | None = None                     # grad-cam: the block explained
    cam: np.ndarray | None = None                # grad-cam: mean heat map over the block's spatial axes
    cam_axes: str = ""
    predicted: list = field(default_factory=list)
    targets: list = field(default_factory=list)

    def to_json(self) -> dict:
        """The contract's ``--json`` object (plus ``block`` and ``cam`` for grad-cam)."""
        out = {"method": self.method, "samples": self.samples,
               "inputs": {k: {"share": round(float(v.share), 6), "axes": v.axes,
                              "profile": {a: [round(float(x), 6) for x in p] for a, p in v.profile.items()}}
                          for k, v in self.inputs.items()}}
        if self.block is not None:
            out["block"] = self.block
            out["cam_axes"] = self.cam_axes
            out["cam"] = np.round(np.asarray(self.cam, np.float64), 6).tolist() if self.cam is not None else None
        return out


def reduce_attributions(attrs: dict, axes: dict) -> dict:
    """{input id: (N, *per-sample) attribution array} -> {input id: InputAttribution}: shares of the total absolute
    attribution (summing to 1), and per axis the mean absolute attribution at each index, normalised to sum 1."""
    totals = {k: float(np.abs(a).sum()) for k, a in attrs.items()}
    grand = sum(totals.values())
    out = {}
    for k, a in attrs.items():
        mag = np.abs(np.asarray(a, np.float64))
        letters = axes[k]
        profile = {}
        for i, letter in enumerate(letters):
            others = tuple(j for j in range(mag.ndim) if j != i + 1)
            per_index = mag.mean(axis=others)
            s = per_index.sum()
            profile[letter] = (per_index / s if s > 0 else np.full_like(per_index, 1 / len(per_index))).tolist()
        share = totals[k] / grand if grand > 0 else 1 / len(attrs)
        out[k] = InputAttribution(share, letters, profile, mag.mean(axis=0))
    return out


def _targets(model, xs, task: str):
    """What to attribute: the predicted class per sample (classification), or None (the summed output)."""
    import torch

    with torch.no_grad():
        out = model(*xs)
    out = out[0] if isinstance(out, (tuple, list)) else out
    if task == "classification":
        pred = out.argmax(-1)
        if pred.dim() > 1:  # per-step scores: the class the last step predicts
            pred = pred[:, -1]
        return pred, pred.tolist()
    return None, []


class _FirstOutput:
    """The model as Captum wants it: one tensor out (the first Output), the target's score per sample."""

    def __init__(self, model, task: str):
        self.model, self.task = model, task

    def __call__(self, *xs):
        out = self.model(*xs)
        out = out[0] if isinstance(out, (tuple, list)) else out
        if self.task == "classification" and out.dim() == 3:
            out = out[:, -1]  # per-step scores: the last step's
        if self.task != "classification":
            return out.reshape(len(out), -1).sum(-1)  # regression: the output itself (summed per sample)
        return out


def explain(loaded, samples: int = 32, method: str = "integrated-gradients", block: str | None = None,
            progress=None) -> Explanation:
    """Attribute ``loaded`` (a ``train.predict.LoadedRun``) over its first ``samples`` validation samples."""
    import torch

    if method not in METHODS:
        raise ExplainError(f"unknown method '{method}': use {', '.join(METHODS)}")
    ds, model = loaded.dataset, loaded.model
    n = min(int(samples), len(ds.val) or len(ds.train))
    if n < 1:
        raise ExplainError(f"{loaded.run_dir}: its dataset has no samples to explain")
    split = ds.val if len(ds.val) else ds.train
    if ds.task == "ctc":
        raise ExplainError("ctc outputs are not explained yet: pick a classification or regression run")
    xs = []
    for k in loaded.order:
        a = np.asarray(split.x[k][:n])
        if a.dtype.kind in "iu":
            raise ExplainError("an Input of int64 token ids has no gradient to attribute: explain a run whose "
                               "inputs are numbers (images, series)")
        xs.append(torch.as_tensor(a, dtype=torch.float32))
    target, predicted = _targets(model, xs, ds.task)
    forward = _FirstOutput(model, ds.task)
    ids = list(loaded.model.hs_generated.input_ids)
    axes = {}
    for k, nid in zip(loaded.order, ids):
        axes[nid] = ds.inputs[k].axes
    result = Explanation(method, n, predicted=predicted,
                         targets=np.asarray(split.y[:n]).tolist() if ds.task == "classification" else [])
    if method == "grad-cam":
        return _grad_cam(loaded, forward, xs, target, block, result)
    from captum.attr import IntegratedGradients, Saliency

    inputs = tuple(x.clone().requires_grad_(True) for x in xs)
    if progress:
        progress(0, 1)
    if method == "saliency":
        attrs = Saliency(forward).attribute(inputs, target=target, abs=True)
    else:
        attrs = IntegratedGradients(forward).attribute(inputs, target=target, n_steps=32,
                                                       internal_batch_size=max(n, 1))
    if progress:
        progress(1, 1)
    attrs = attrs if isinstance(attrs, tuple) else (attrs,)
    result.inputs = reduce_attributions({nid: a.detach().numpy() for nid, a in zip(ids, attrs)}, axes)
    return result


def _grad_cam(loaded, forward, xs, target, block, result: Explanation) -> Explanation:
    """Captum's LayerGradCam on the convolution block ``block``: per frame for video (the block runs per time step,
    so its output keeps T), averaged over the samples."""
    from captum.attr import LayerGradCam

    graph = loaded.graph
    convs = [n.id for n in graph.nodes if n.type in CONV_TYPES]
    if block is None:
        if not convs:
            raise ExplainError("grad-cam needs a convolution block, and this graph has none: use "
                               "--method integrated-gradients or saliency")
        block = convs[-1]  # the last convolution: the highest-level features
    node = graph.get(block)
    if node is None or node.type not in CONV_TYPES:
        what = f"'{block}' is a {node.type} block" if node is not None else f"there is no block '{block}'"
        raise ExplainError(f"grad-cam explains a convolution block but {what}; pick one of: "
                           f"{', '.join(convs) or '(none in this graph)'}")
    layer = getattr(loaded.model, block, None)
    if layer is None:
        raise ExplainError(f"block '{block}' has no layer of its own in the compiled model")
    inputs = tuple(x.clone().requires_grad_(True) for x in xs)
    cam = LayerGradCam(forward, layer).attribute(inputs, target=target, relu_attributions=True)
    cam = cam.detach().numpy()
    cam = cam.mean(axis=0)  # over the samples
    while cam.ndim > 2 and cam.shape[0] == 1:  # the single channel LayerGradCam leaves
        cam = cam[0]
    result.block = block
    result.cam = cam
    result.cam_axes = "HW" if cam.ndim == 2 else "L" if cam.ndim == 1 else "THW"
    return result
