"""Checking a dataset against a graph's Inputs and Outputs before training, with fixes that are edits.

``match_dataset`` returns Diagnostics in the user's terms ("image expects 1x28x28 but digits serves ...") whose
fixes set the Input's shape/axes/dtype, the Output's task, or the size of the layer feeding an Output.
``adapt_graph_edit`` gathers the parameter fixes into one undoable Batch.
"""

from __future__ import annotations

import json

import numpy as np

from hybrid_studio.graph import ERROR, WARNING, Batch, Diagnostic, Fix, Node, SetParams, insert_between

from .datasets import Dataset

CODE = "dataset"


def _show(v) -> str:
    return json.dumps(v)


def _set_fix(node_id: str, changes: dict) -> Fix:
    label = " and ".join(f"{node_id}.{k} to {_show(v)}" for k, v in changes.items())
    return Fix(f"set {label}", lambda g, nid=node_id, ch=dict(changes): SetParams(nid, dict(ch)))


def _insert_linear_fix(graph, out_id: str, size: int) -> Fix | None:
    edge = graph.edge_into(out_id, "in")
    if edge is None:
        return None
    label = f"insert Linear(out_features={size}) before {out_id}"

    def build(g, out_id=out_id, size=size):
        e = g.edge_into(out_id, "in")
        node = Node(g.new_id("Linear"), "Linear", {"out_features": size}, None)
        return insert_between(g, e, node, label=label[0].upper() + label[1:])
    return Fix(label, build)


def _describe(info) -> str:
    dims = "x".join(str(s) for s in info.shape)
    return f"{info.axes} {dims}" + ("" if info.dtype == "float32" else f" {info.dtype}")


def input_shape_hints(graph) -> list:
    """The shape each Input declares, in file order, with defaults filled in (an Input may leave its shape to the
    default): what image folders are resized to. The engine, the results view and the app's picker all use this."""
    from hybrid_studio.blocks import CATALOG

    block = CATALOG.get("Input")
    return [block.resolve(n.params)[0].get("shape") for n in graph.nodes if n.type == "Input"]


def input_order(graph, dataset: Dataset, input_ids) -> list[int]:
    """For each of the model's inputs (``input_ids``, forward()'s arguments), the index of the dataset input paired
    with it (by name first, as ``pair_inputs`` pairs them)."""
    pairs = {node.id: info for node, info in pair_inputs(graph, dataset)}
    return [next(k for k, info in enumerate(dataset.inputs) if info is pairs[i]) for i in input_ids]


def pair_inputs(graph, dataset: Dataset) -> list[tuple]:
    """(Input node, InputInfo or None) pairs: an Input whose id is one of the dataset's input names gets that
    input; the others take the remaining dataset inputs in file order."""
    nodes = [n for n in graph.nodes if n.type == "Input"]
    by_name = {i.name: i for i in dataset.inputs if i.name}
    paired = {n.id: by_name[n.id] for n in nodes if n.id in by_name}
    used = {id(i) for i in paired.values()}
    rest = iter([i for i in dataset.inputs if id(i) not in used])
    return [(n, paired[n.id] if n.id in paired else next(rest, None)) for n in nodes]


def match_dataset(graph, dataset: Dataset, checker=None) -> list[Diagnostic]:
    """Diagnostics for every way ``dataset`` does not fit ``graph``'s Inputs and Outputs (empty when it fits)."""
    from hybrid_studio.blocks import CATALOG, checker_for

    checker = checker or checker_for(graph)
    checker.flush()
    out: list[Diagnostic] = []
    in_block = CATALOG.get("Input")
    pairs = pair_inputs(graph, dataset)
    if len(pairs) < len(dataset.inputs):
        have = ", ".join(_describe(i) for i in dataset.inputs)
        out.append(Diagnostic(None, ERROR, f"the dataset '{dataset.name}' has {len(dataset.inputs)} inputs ({have}) "
                              f"but the model has {len(pairs)} Input block(s): add an Input for each", [], CODE))
    for node, info in pairs:
        if info is None:
            out.append(Diagnostic(node.id, ERROR, f"{node.id} has no data: the dataset '{dataset.name}' has only "
                                  f"{len(dataset.inputs)} input(s)", [], CODE))
            continue
        p = in_block.resolve(node.params)[0]
        want_shape, want_axes = list(info.shape), info.axes
        shape, axes = list(p["shape"]), p["axes"]
        changes = {}
        if axes != want_axes or len(shape) != len(want_shape):
            changes = {"shape": want_shape, "axes": want_axes}
        elif any(s is not None and s != w for s, w in zip(shape, want_shape)):
            # unknown sizes (a variable-length T) stay unknown: they accept any size
            changes = {"shape": [None if s is None else w for s, w in zip(shape, want_shape)]}
        if changes:
            got = f"{axes} " + "x".join("?" if s is None else str(s) for s in shape)
            out.append(Diagnostic(node.id, ERROR, f"{node.id} expects {got} but the dataset '{dataset.name}' serves "
                                  f"{_describe(info)} per sample", [_set_fix(node.id, changes)], CODE))
        if p["dtype"] != info.dtype:
            out.append(Diagnostic(node.id, ERROR, f"{node.id} takes {p['dtype']} but the dataset serves {info.dtype}",
                                  [_set_fix(node.id, {"dtype": info.dtype})], CODE))
        k = dataset.inputs.index(info)
        if not p["variable_length"] and any(s.input_lengths(k) is not None for s in (dataset.train, dataset.val)):
            out.append(Diagnostic(node.id, WARNING, f"the dataset '{dataset.name}' gives per-sample lengths for "
                                  f"{node.id} (padded sequences) but {node.id} is not variable_length: the model "
                                  f"would read the padding as data", [_set_fix(node.id, {"variable_length": True})],
                                  CODE))
    outputs = [n for n in graph.nodes if n.type == "Output"]
    for node in outputs:
        out.extend(_match_output(graph, checker, node, dataset))
    return out


def _match_output(graph, checker, node, dataset: Dataset) -> list[Diagnostic]:
    from hybrid_studio.blocks import CATALOG

    diags = []
    task = CATALOG.get("Output").resolve(node.params)[0]["task"]
    if task != dataset.task:
        diags.append(Diagnostic(node.id, ERROR, f"{node.id} is a {task} output but the dataset '{dataset.name}' is a "
                                f"{dataset.task} task", [_set_fix(node.id, {"task": dataset.task})], CODE))
    spec = checker.result(node.id).output
    if spec is None:
        return diags  # the graph's own diagnostics explain why the shape is unknown
    if dataset.task == "ctc":
        want, what = dataset.num_classes + 1, f"{dataset.num_classes} symbols + the blank (K = {dataset.num_classes + 1})"
        allowed = ("TF",)
        if spec.axes == "TF" and spec.lengths:
            diags += _ctc_sample_lengths(graph, checker, node, dataset)
        elif spec.axes == "TF" and spec.shape[0] is not None:
            diags += _ctc_lengths(node, spec.shape[0], dataset)
    elif dataset.task == "classification":
        want, what = dataset.num_classes, f"{dataset.num_classes} classes"
        allowed = ("TF",) if dataset.per_step_labels else ("F", "TF")
    elif dataset.target_axes:
        return diags + _match_tensor_target(node, spec, dataset)
    else:
        want, what = dataset.num_targets, f"{dataset.num_targets} target value(s)"
        allowed = ("F",)
    if spec.axes not in allowed:
        kinds = " or ".join({"F": "a vector (F)", "TF": "a sequence (T, F)"}[a] for a in allowed)
        diags.append(Diagnostic(node.id, ERROR, f"{node.id} receives {spec.describe_axes()} but a "
                                f"{dataset.task} output must be {kinds} of {what}: add Flatten or GlobalAvgPool "
                                f"and a Linear layer before it", [], CODE))
        return diags
    if dataset.per_step_labels:
        steps = dataset.train.y.shape[1]
        if spec.shape[0] is not None and spec.shape[0] != steps:
            diags.append(Diagnostic(node.id, ERROR, f"{node.id} gives {spec.shape[0]} time steps but the dataset "
                                    f"labels {steps} steps per sample", [], CODE))
    elif spec.axes == "TF" and dataset.task == "classification":
        diags.append(Diagnostic(node.id, WARNING, f"{node.id} gives class scores per time step "
                                f"{spec.describe_axes()}; every step is trained on the sample's label (set "
                                f"return_sequences off on the recurrent layer for one prediction per sample)",
                                [], CODE))
    size = spec.shape[-1]
    if size != want:
        fixes = []
        edge = graph.edge_into(node.id, "in")
        src = graph.get(edge.source) if edge else None
        if src is not None and src.type == "Linear":
            fixes.append(_set_fix(src.id, {"out_features": want}))
        ins = _insert_linear_fix(graph, node.id, want)
        if ins is not None:
            fixes.append(ins)
        per = "step" if spec.axes == "TF" else "sample"
        diags.append(Diagnostic(node.id, ERROR, f"{node.id} gives {size} values per {per} "
                                f"{spec.describe_axes()} but the dataset '{dataset.name}' has {what}", fixes, CODE))
    return diags


def _ctc_lengths(node, steps: int, dataset: Dataset) -> list[Diagnostic]:
    """A label sequence longer than the output's T cannot be aligned by CTC (its loss would be infinite): named
    before training, with the sample and both lengths."""
    from .ctc import too_long

    for split, name in ((dataset.train, "training"), (dataset.val, "validation")):
        bad = too_long(split.y, steps) if len(split) else None
        if bad is not None:
            i, need = bad
            return [Diagnostic(node.id, ERROR, f"{name} sample {i} of '{dataset.name}' needs {need} output steps "
                               f"(its labels, with a blank between repeats) but {node.id} gives T={steps}: CTC cannot "
                               f"align it; pool less along the time axis (e.g. width) or use shorter labels", [],
                               CODE)]
    return []


def _ctc_sample_lengths(graph, checker, node, dataset: Dataset) -> list[Diagnostic]:
    """As ``_ctc_lengths`` for an output of a variable-length input: each sample's labels against its own output
    length (from its input length, by the model's rule)."""
    from hybrid_studio.compile.lengths import length_plan

    from .ctc import min_steps

    plan = length_plan(graph, checker)
    pairs = {n.id: info for n, info in pair_inputs(graph, dataset)}
    for split, name in ((dataset.train, "training"), (dataset.val, "validation")):
        if not len(split):
            continue
        given = {}
        for nid in plan.inputs:
            k = dataset.inputs.index(pairs[nid])
            lengths = split.input_lengths(k)
            given[nid] = lengths if lengths is not None else np.full(len(split), split.x[k].shape[1], np.int64)
        steps = plan.lengths(given)[node.id]
        for i, row in enumerate(split.y):
            need = min_steps(row)
            if need > steps[i] or steps[i] < 1:
                ins = ", ".join(f"{nid} length {int(given[nid][i])}" for nid in plan.inputs)
                return [Diagnostic(node.id, ERROR, f"{name} sample {i} of '{dataset.name}' needs {need} output steps "
                                   f"(its labels, with a blank between repeats) but {node.id} gives it "
                                   f"{int(steps[i])} steps ({ins}): CTC cannot align it; pool or stride less along "
                                   f"time, or use shorter labels", [], CODE)]
    return []


def _match_tensor_target(node, spec, dataset: Dataset) -> list[Diagnostic]:
    """A regression to a tensor (a predicted frame ``CHW``): the Output must give exactly the target's axes and
    sizes (unknown sizes accept any)."""
    want = tuple(int(s) for s in dataset.train.y.shape[1:])
    target = f"({', '.join(f'{a}={s}' for a, s in zip(dataset.target_axes, want))})"
    if spec.axes != dataset.target_axes or any(s is not None and s != w for s, w in zip(spec.shape, want)):
        hint = ("; end the model with a Conv2d of out_channels=" + str(want[0]) + ' and padding "same"'
                if dataset.target_axes == "CHW" else "")
        return [Diagnostic(node.id, ERROR, f"{node.id} receives {spec.describe_axes()} but the dataset "
                           f"'{dataset.name}' predicts {target} per sample{hint}", [], CODE)]
    return []


def adapt_graph_edit(graph, dataset: Dataset):
    """One Batch of SetParams that makes ``graph`` fit ``dataset`` (Input shapes/axes/dtypes, Output tasks, the
    size of the Linear feeding each Output), or None when there is nothing such an edit can fix."""
    work = graph.copy()
    edits = []
    for _ in range(4):  # a changed Input can change the Output's size; re-match until stable
        round_edits = []
        for d in match_dataset(work, dataset):
            for fix in d.fixes:
                e = fix.edit(work)
                if isinstance(e, SetParams):
                    round_edits.append(e)
                    break
        if not round_edits:
            break
        for e in round_edits:
            e.apply(work)
        edits.extend(round_edits)
    if not edits:
        return None
    return Batch([SetParams(e.node_id, dict(e.changes)) for e in edits], f"Adapt the graph to {dataset.name}")
