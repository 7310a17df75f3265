"""ONNX import: an ``.onnx`` file (read with the ``onnx`` package, as protobuf data) -> studio blocks and weights.

Each ONNX value becomes an ``OT``: the studio block computing it, the studio's axis letters, and the same letters in
ONNX's order (with the batch ``N``, and ``D`` for the direction axis of a recurrent output). Transposes only reorder
the ONNX letters; a block is added only where the computation needs it, so the patterns exporters write (a
Transpose + Reshape that turns an image into a sequence, the slices and concats that reorder LSTM gates, the
gathers and concats over a bidirectional state) become the studio's blocks (ToSequence, one LSTM). Constant
sub-graphs are folded with numpy; sizes come from ONNX shape inference; Shape arithmetic is ignored.

Blocks ONNX spells as many ops (MultiheadAttention, ConvLSTM2d unrolled over time, AttentionPool) come back from
the studio's own exports: the exporter records them in the metadata ``hybrid_studio.blocks`` (JSON, read as data:
id, type, params, the node-name scope of their ops, weight shapes), and the nodes of each scope become that one
block, its weights taken from the constants they use (transposed MatMul weights, MHA's q/k/v parts and ConvLSTM2d's
two convolutions put back together). Entries that do not fit the file are reported; their nodes import op by op.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from hybrid_studio.compile.onnx_export import OUTPUT_TASKS_KEY, RECORDED_BLOCKS_KEY, RECORDED_TYPES

from .builder import Builder, clean_id
from .result import ImportFailure, ImportResult, ReportEntry, Unsupported

#: ONNX recurrent ops; each becomes the studio block of the same name.
RNN_OPS = ("LSTM", "GRU", "RNN")
ACT = {"Relu": "relu", "Tanh": "tanh", "Sigmoid": "sigmoid", "Elu": "elu", "Gelu": "gelu", "Softmax": "softmax"}
#: How a recorded block reorders its input before its first op (MultiheadAttention, batch first, works time first):
#: the exporter folds the transpose that makes the block's input into that one, and the import takes it out again.
ENTRY_PERM = {"MultiheadAttention": (1, 0, 2)}
#: MultiheadAttention's input projections, in the order its ops apply them (in_proj_* are all three at once).
QKV_KEYS = ("q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_weight", "in_proj_bias")
#: Studio axis letters of a tensor by its rank (batch included), for the ports of a recorded block.
RANK_LETTERS = {2: "F", 3: "TF", 4: "CHW", 5: "TCHW"}
SHAPE = object()   # a value computed from Shape (sizes): only ever used as a shape argument
ZEROS = object()   # an all-zero tensor of a computed size (an RNN's initial state)


@dataclass
class RNN:
    """An ONNX LSTM/GRU/RNN whose studio block is made once its consumers say which output form they want."""

    kind: str
    onnx_name: str
    x: "OT"
    hidden: int
    dirs: int
    weights: dict          # torch key suffix -> array
    bias: bool
    #: block params beyond the shared ones (a GRU's reset_after, an RNN's nonlinearity)
    extra: dict = field(default_factory=dict)
    made: dict = field(default_factory=dict)   # (return_sequences, merge) -> studio id
    entry: object = None                         # its report entry (blocks are added when made)


@dataclass(frozen=True)
class OT:
    node: str | None
    studio: str
    src: str                 # ONNX order, with N (and D for a recurrent output)
    sizes: tuple             # sizes in ``src`` order
    rnn: RNN | None = None
    direction: int | None = None   # a single direction of a recurrent final state
    dtype: str = "float32"
    #: the studio tensor has a time axis T that ONNX folded into the batch (N*T, ...): per-frame layers
    folded: bool = False

    def size(self, letter):
        return self.sizes[self.src.index(letter)]


class OnnxImporter:
    def __init__(self, path, model):
        self.path = str(path)
        self.model = model
        g = model.graph
        self.b = Builder(g.name or Path(path).stem, self.path)
        self.values: dict = {}
        self.consumers: dict = {}
        for node in g.node:
            for name in node.input:
                if name:
                    self.consumers.setdefault(name, []).append(node)
        self.shapes = _inferred_shapes(model)
        self._views: dict = {}
        self._rnns: list = []
        #: node name -> its recorded block (metadata ``hybrid_studio.blocks`` of the studio's own exports)
        self._group_of: dict = {}

    # ---- helpers ---------------------------------------------------------------------------------------------
    def fail(self, message):
        raise Unsupported(message)

    def const(self, name):
        v = self.values.get(name)
        return v if isinstance(v, np.ndarray) else None

    def need_const(self, node, i, what):
        v = self.const(node.input[i]) if len(node.input) > i and node.input[i] else None
        if v is None:
            self.fail(f"{node.op_type} needs a constant {what} (input {i + 1})")
        return v

    def out_sizes(self, name):
        return self.shapes.get(name)

    def as_layout(self, t: OT, letters: str, hint: str) -> OT:
        """``t`` with the batch first and the studio's order equal to ONNX's, named ``letters``."""
        if t.rnn is not None:
            t = self.materialize(t, hint)
        if t.folded:
            if t.studio == "T" + t.src[1:] and t.src[1:] == letters:
                return t
            self.fail("reordering the axes of frames folded into the batch is not supported")
        if t.src[0] != "N":
            self.fail(f"the batch axis is not first ({t.src}); the studio keeps the batch first")
        key = (t.node, t.studio, t.src, letters)
        if key in self._views:  # the same reordering made before (another consumer): reuse its blocks
            return self._views[key]
        self._views[key] = t = self._as_layout(t, letters, hint)
        return t

    def _as_layout(self, t: OT, letters: str, hint: str) -> OT:
        if t.studio == "CL" and t.src == "NLC" and letters == "TF":  # a signal read as a sequence
            nid = self.b.add("ToSequence", {}, [_kt(t)], hint)
            return OT(nid, "TF", "NTF", t.sizes, dtype=t.dtype)
        order = t.src[1:]
        if t.studio != order:
            nid = self.b.add("Permute", {"axes": order}, [_kt(t)], f"{hint}_perm")
            t = replace(t, node=nid, studio=order)
        if order != letters:
            if len(letters) != len(order):
                self.fail(f"expected {len(letters)} axes, got {len(order)}")
            shape = [s if s is not None else -1 for s in t.sizes[1:]]
            if shape.count(-1) > 1:
                self.fail(f"cannot relabel a tensor with several unknown sizes {t.sizes[1:]}")
            nid = self.b.add("Reshape", {"shape": shape, "axes": letters}, [_kt(t)], f"{hint}_axes")
            t = replace(t, node=nid, studio=letters, src="N" + letters)
        return t

    def produce(self, nid, studio, src, sizes, dtype="float32") -> OT:
        return OT(nid, studio, src, tuple(sizes), dtype=dtype)

    # ---- recurrent outputs -----------------------------------------------------------------------------------
    def materialize(self, t: OT, hint: str) -> OT:
        """Make the studio recurrent block a pending output stands for (when its form is one the block gives)."""
        r = t.rnn
        if t.direction is not None:
            if r.dirs != 1:
                self.fail("one direction of a bidirectional state on its own is not supported (the studio joins "
                          "both: concat or sum)")
            return self._rnn_block(r, False, "concat", "F", "NF", (None, r.hidden))
        if "D" in t.src:
            self.fail(f"the {r.kind} output still has its direction axis ({t.src}); the studio merges it")
        if sorted(t.src) == sorted("NTF"):
            o = self._rnn_block(r, True, "concat", "TF", "NTF", (None, t.size("T"), t.size("F")))
            return replace(o, src=t.src, sizes=t.sizes)
        self.fail(f"the {r.kind} output in the order {t.src} is not supported")

    def _rnn_block(self, r: RNN, seq: bool, merge: str, studio, src, sizes) -> OT:
        key = (seq, merge)
        if key not in r.made:
            params = {"hidden_size": r.hidden}
            if r.dirs == 2:
                params["bidirectional"] = True
                if merge == "sum":
                    params["merge_mode"] = "sum"
            if seq:
                params["return_sequences"] = True
            if not r.bias:
                params["bias"] = False
            params.update(r.extra)
            nid = self.b.add(r.kind, params, [_kt(r.x)], _weight_owner(r.onnx_name)
                             if "." in r.onnx_name else clean_id(r.onnx_name))
            if r.entry is not None and nid not in r.entry.blocks:
                r.entry.blocks.append(nid)
            for k, v in r.weights.items():
                self.b.set_weight(f"{nid}.{k}", v)
            r.made[key] = nid
        return OT(r.made[key], studio, src, tuple(sizes))

    # ---- the walk --------------------------------------------------------------------------------------------
    def run(self) -> ImportResult:
        g = self.model.graph
        for init in g.initializer:
            self.values[init.name] = _array(init)
        init_names = {i.name for i in g.initializer}
        for inp in g.input:
            if inp.name in init_names:
                continue
            self.b.begin()
            try:
                self.values[inp.name] = self._input(inp)
            except Unsupported as e:
                raise ImportFailure(self.path, f"input '{inp.name}': {e}") from None
            self.b.entries.append(ReportEntry(inp.name, "input", self.b.created()))
        self._read_recorded_blocks()
        for node in g.node:
            group = self._group_of.get(node.name)
            if group is not None and node.op_type != "Constant":
                if node.name == group["last"]:
                    self._group(group)
                continue
            self._node(node)
        for out in g.output:
            t = self.values.get(out.name)
            if not isinstance(t, OT):
                raise ImportFailure(self.path, f"output '{out.name}' is not computed from the inputs")
            self.b.begin()
            try:
                if t.node is None or t.rnn is not None:
                    t = self.materialize(t, out.name)
                t = self.as_layout(t, t.src[1:] if t.src[0] == "N" else t.studio, out.name)
                self.b.add("Output", {"task": self._task(out.name, t)}, [_kt(t)], out.name)
                self.b.entries.append(ReportEntry(out.name, "output", self.b.created()))
            except Unsupported as e:
                raise ImportFailure(self.path, f"output '{out.name}': {e}") from None
        return ImportResult(self.b.graph, self.b.weights, self.b.entries, self.path, has_weights=True)

    def _task(self, name: str, t: OT) -> str:
        """The Output's task: as the studio's own export recorded it (metadata ``hybrid_studio.output_tasks``),
        else classification for a feature vector that ends in Softmax (as the Keras import decides), else
        regression."""
        recorded = self._recorded_tasks().get(name)
        if recorded in ("classification", "regression", "ctc"):
            return recorded
        node = self.b.graph.get(t.node) if t.node else None
        if node is not None and t.studio == "F" and (node.params.get("activation") == "softmax" or (
                node.type == "Activation" and node.params.get("function") == "softmax")):
            return "classification"
        return "regression"

    def _recorded_tasks(self) -> dict:
        for prop in self.model.metadata_props:
            if prop.key == OUTPUT_TASKS_KEY:
                try:
                    tasks = json.loads(prop.value)
                except ValueError:
                    return {}
                return tasks if isinstance(tasks, dict) else {}
        return {}

    # ---- blocks the studio recorded in its own export ------------------------------------------------------------
    def _read_recorded_blocks(self):
        """Read ``hybrid_studio.blocks`` (JSON data, never executed): each valid entry makes the nodes of its scope
        one block. An entry that does not fit the file is reported and its nodes import one by one (placeholders)."""
        raw = next((p.value for p in self.model.metadata_props if p.key == RECORDED_BLOCKS_KEY), None)
        if raw is None:
            return
        try:
            entries = json.loads(raw)
        except ValueError as e:
            return self._note_metadata(f"not valid JSON ({e}); its blocks import op by op")
        if not isinstance(entries, list):
            return self._note_metadata("not a list; its blocks import op by op")
        from hybrid_studio.blocks import CATALOG
        nodes = list(self.model.graph.node)
        for i, e in enumerate(entries):
            try:
                if not isinstance(e, dict):
                    raise Unsupported("not an object")
                bid, btype, params, scope, weights = (e.get(k) for k in ("id", "type", "params", "scope", "weights"))
                if not isinstance(bid, str) or not bid or btype not in RECORDED_TYPES or btype not in CATALOG:
                    raise Unsupported(f"id {bid!r} / type {btype!r} is not a recorded block")
                if not isinstance(params, dict) or not isinstance(weights, dict):
                    raise Unsupported("params and weights must be objects")
                problems = CATALOG.get(btype).resolve(params)[1]
                if problems:
                    raise Unsupported("; ".join(m for _, m in problems))
                if not isinstance(scope, str) or not scope.startswith("/") or not scope.endswith("/"):
                    raise Unsupported(f"scope {scope!r} is not a node-name scope like '/{bid}/'")
                members = [n for n in nodes if n.name.startswith(scope)]
                if not [n for n in members if n.op_type != "Constant"]:
                    raise Unsupported(f"no node of the file is in scope {scope!r}")
                if any(n.name in self._group_of for n in members):
                    raise Unsupported(f"scope {scope!r} overlaps another recorded block")
            except Unsupported as err:
                self._note_metadata(f"entry {i}: {err}; its nodes import op by op")
                continue
            group = dict(id=bid, type=btype, params=params, scope=scope, weights=weights, output=e.get("output"),
                         nodes=members, last=[n.name for n in members if n.op_type != "Constant"][-1])
            for n in members:
                self._group_of[n.name] = group

    def _note_metadata(self, message):
        self.b.entries.append(ReportEntry(f"metadata {RECORDED_BLOCKS_KEY}", "metadata", [],
                                          note=f"{message} ({Path(self.path).name})"))

    def _group(self, group):
        """The recorded block for the nodes of ``group``: wired to the group's outside inputs and outputs, its
        weights from the initializers the group consumes; a placeholder (with the reason) when they do not fit."""
        nodes = [n for n in group["nodes"] if n.op_type != "Constant"]
        made = {o for n in nodes for o in n.output}
        ext_in, first_use = [], {}
        for n in nodes:
            for name in n.input:
                if name and name not in made and isinstance(self.values.get(name), OT) and name not in first_use:
                    first_use[name] = n
                    ext_in.append(name)
        graph_outs = {o.name for o in self.model.graph.output}
        ext_out = [o for n in nodes for o in n.output if o in graph_outs or any(
            c.name not in self._group_of or self._group_of[c.name] is not group for c in self.consumers.get(o, []))]
        source = f"{group['scope']} ({len(nodes)} nodes)"
        self.b.begin()
        try:
            if not ext_in or not ext_out:
                self.fail(f"the nodes of scope {group['scope']} have no computed input or no output used outside")
            kts = []
            for name in ext_in:
                t = self.values[name]
                use = first_use[name]
                perm = ENTRY_PERM.get(group["type"])
                if perm is not None and use.op_type == "Transpose":
                    p = list(_attrs(use).get("perm") or [])
                    if sorted(p) != list(range(len(t.src))) or len(p) != len(perm):
                        self.fail(f"its Transpose {use.name} does not fit a {len(t.src)}-axis input")
                    q = [p[r] for r in perm]  # the transpose made before the block (the exporter fused both)
                    t = replace(t, src="".join(t.src[i] for i in q), sizes=tuple(t.sizes[i] for i in q))
                letters = RANK_LETTERS.get(len(t.src))
                if letters is None:
                    self.fail(f"input {name} has {len(t.src)} axes")
                kts.append(_kt(self.as_layout(t, letters, group["id"])))
            nid = self.b.add(group["type"], group["params"], kts, group["id"])
            for key, shape in group["weights"].items():
                self.b.set_weight(f"{nid}.{key}", self._group_weight(group, nodes, key, shape))
            outs = {}
            recorded = group["output"] if isinstance(group.get("output"), dict) else {}
            for name in ext_out:
                sizes = self.out_sizes(name)
                shape, axes = recorded.get("shape"), recorded.get("axes")
                if not sizes and isinstance(shape, list) and isinstance(axes, str) and len(axes) == len(shape) \
                        and all(s is None or isinstance(s, int) for s in shape) and RANK_LETTERS.get(len(shape) + 1):
                    sizes = [None, *shape]  # as the export recorded it (shape inference stops at a loop's ops)
                letters = RANK_LETTERS.get(len(sizes) if sizes else 0)
                if letters is None or sizes[0] is not None:
                    self.fail(f"its output {name} is not batch first with a known rank")
                outs[name] = OT(nid, letters, "N" + letters, tuple(sizes))
            self.values.update(outs)
            self.b.entries.append(ReportEntry(source, group["type"], self.b.created(),
                                              note="recorded by the studio's export"))
        except (Unsupported, ValueError, TypeError, KeyError, IndexError) as e:  # metadata is untrusted data
            e = e if isinstance(e, Unsupported) else f"its metadata does not fit the file ({type(e).__name__}: {e})"
            self.b.roll_back()
            self._views = {k: v for k, v in self._views.items() if self.b.graph.get(v.node) is not None}
            reason = f"{e} (recorded block '{group['id']}' in {Path(self.path).name})"
            kts = [_kt(self.values[n]) for n in ext_in if self.values[n].node is not None]
            nid = self.b.add("Placeholder", {"source": group["scope"], "op": group["type"],
                                             "file": Path(self.path).name, "reason": reason}, kts, group["id"])
            for name in ext_out:
                sizes = self.out_sizes(name)
                letters = RANK_LETTERS.get(len(sizes) if sizes else 0, "F")
                self.values[name] = OT(nid, letters, "N" + letters, tuple(sizes) if sizes and len(sizes) ==
                                       len(letters) + 1 else (None,) * (len(letters) + 1))
            self.b.entries.append(ReportEntry(source, group["type"], self.b.created(), reason=reason))

    def _group_weight(self, group, nodes, key, shape):
        """The recorded weight ``key`` of a recorded block: the initializer of that name, or the constant a MatMul
        of its sub-module's scope multiplies by (the exporter stores a Linear's weight transposed there)."""
        if not isinstance(shape, list) or not all(isinstance(s, int) for s in shape):
            self.fail(f"weight {key}: shape {shape!r} is not a list of sizes")
        v = self.const(f"{group['id']}.{key}")
        if v is not None and list(v.shape) == shape:
            return v
        sub = group["scope"] + key.rsplit(".", 1)[0].replace(".", "/") + "/" if "." in key else None
        for n in nodes:
            if sub and n.name.startswith(sub) and n.op_type == "MatMul" and len(n.input) > 1:
                w = self.const(n.input[1])
                if w is not None and w.ndim == 2 and list(w.T.shape) == shape:
                    return w.T
        if group["type"] == "MultiheadAttention" and key in QKV_KEYS:
            v = self._qkv_weight(nodes, key)
            if v is not None and list(v.shape) == shape:
                return v
        if len(shape) > 2:  # a convolution the block runs in parts (ConvLSTM2d: the input's, then the state's)
            parts, seen = [], set()
            for n in nodes:
                w = self.const(n.input[1]) if n.op_type == "Conv" and len(n.input) > 1 else None
                if w is not None and n.input[1] not in seen and w.shape[0] == shape[0] and \
                        list(w.shape[2:]) == shape[2:]:
                    seen.add(n.input[1])
                    parts.append(w)
            if parts and sum(w.shape[1] for w in parts) == shape[1]:
                return np.concatenate(parts, axis=1)
        self.fail(f"weight {key} {tuple(shape)} is not among the constants its nodes use")

    def _qkv_weight(self, nodes, key):
        """MultiheadAttention's projections the exporter folded: its first three MatMuls by a constant are the
        query, key and value projections (weights transposed), each followed by an Add of its bias part."""
        mms = [n for n in nodes if n.op_type == "MatMul" and len(n.input) > 1 and self.const(n.input[1]) is not None
               and self.const(n.input[1]).ndim == 2][:3]
        if len(mms) != 3:
            return None
        ws = [self.const(n.input[1]).T for n in mms]
        if key != "in_proj_bias":
            return ws[QKV_KEYS.index(key)] if key != "in_proj_weight" else np.concatenate(ws, axis=0)
        biases = []
        for n in mms:
            adds = [c for c in self.consumers.get(n.output[0], []) if c.op_type == "Add"]
            b = [self.const(i) for c in adds for i in c.input if i != n.output[0] and self.const(i) is not None]
            if len(b) != 1 or b[0].ndim != 1:
                return None
            biases.append(b[0])
        return np.concatenate(biases)

    def _input(self, inp) -> OT:
        tt = inp.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        if len(dims) < 2:
            raise Unsupported("inputs need a batch axis and at least one more")
        per = dims[1:]
        is_int = tt.elem_type in (6, 7)  # INT32, INT64
        if is_int:
            if len(per) != 1:
                raise Unsupported("integer inputs are supported as token ids (N, T)")
            letters = "T"
        else:
            first = [n.op_type for n in self.consumers.get(inp.name, [])]
            letters = {1: "F", 2: "CL" if set(first) & {"Conv", "MaxPool", "AveragePool"} else "TF", 3: "CHW",
                       4: "TCHW"}.get(len(per))
            if letters is None:
                raise Unsupported(f"inputs of rank {len(per)} are not supported")
        params = {"shape": per, "axes": letters}
        if is_int:
            params["dtype"] = "int64"
        nid = self.b.add("Input", params, [], inp.name)
        return OT(nid, letters, "N" + letters, tuple([None] + per), dtype="int64" if is_int else "float32")

    def _node(self, node):
        ins = [self.values.get(n) if n else None for n in node.input]
        if node.op_type == "Constant":
            self.values[node.output[0]] = _constant(node)
            return
        if all(isinstance(v, np.ndarray) for v in ins if v is not None) and not any(isinstance(v, OT) for v in ins):
            if any(v is SHAPE for v in ins) or node.op_type == "Shape":
                self._mark(node, SHAPE)
                return
            if node.op_type in ("ConstantOfShape",) and all(v is not None for v in ins):
                folded = _fold(node, ins)
                self._set_outputs(node, folded)
                return
            folded = _fold(node, ins)
            if folded is not None:
                self._set_outputs(node, folded)
                return
        if any(v is SHAPE for v in ins if v is not None) and not any(isinstance(v, OT) for v in ins):
            self._mark(node, ZEROS if node.op_type in ("ConstantOfShape", "Expand") else SHAPE)
            return
        if node.op_type == "Shape":
            self._mark(node, SHAPE)
            return
        if not any(isinstance(v, OT) for v in ins):
            self._mark(node, SHAPE)
            return
        self.b.begin()
        name = node.name or node.output[0]
        try:
            handler = getattr(self, f"op_{node.op_type}", None)
            if handler is None:
                self.fail(f"ONNX op {node.op_type} is not supported")
            outs = handler(node, ins)
            if not isinstance(outs, (list, tuple)):
                outs = [outs]
            for o_name, o in zip(node.output, outs):
                self.values[o_name] = o
            # a recurrent block made while converting a consumer is reported under its own LSTM/GRU node
            rnn_blocks = {nid for r in self._rnns for nid in r.made.values()}
            created = [c for c in self.b.created() if c not in rnn_blocks or node.op_type in RNN_OPS]
            if created or not self._is_plumbing(node):
                entry = ReportEntry(name, node.op_type, created)
                if not created and isinstance(outs[0], OT) and outs[0].node and outs[0].rnn is None:
                    entry.blocks, entry.note = [outs[0].node], f"folded into {outs[0].node}"
                if node.op_type in RNN_OPS:
                    outs[0].rnn.entry = entry
                    entry.blocks = list(outs[0].rnn.made.values())
                self.b.entries.append(entry)
        except Unsupported as e:
            gone = self.b.roll_back()
            self._views = {k: v for k, v in self._views.items() if v.node not in gone and k[0] not in gone}
            for r in self._rnns:
                r.made = {k: v for k, v in r.made.items() if v not in gone}
            reason = f"{e} (node '{name}' in {Path(self.path).name})"
            src = [v for v in ins if isinstance(v, OT)]
            kts = [_kt(v) for v in src if v.node is not None and v.rnn is None]
            nid = self.b.add("Placeholder", {"source": name, "op": node.op_type, "file": Path(self.path).name,
                                             "reason": reason}, kts, name)
            for o_name in node.output:
                shape = self.out_sizes(o_name)
                letters = {2: "F", 3: "TF", 4: "CHW", 5: "TCHW"}.get(len(shape) if shape else 0, "F")
                self.values[o_name] = OT(nid, letters, "N" + letters,
                                         tuple(shape) if shape and len(shape) == len(letters) + 1
                                         else (None,) * (len(letters) + 1))
            self.b.entries.append(ReportEntry(name, node.op_type, self.b.created(), reason=reason))

    @staticmethod
    def _is_plumbing(node) -> bool:
        return node.op_type in ("Transpose", "Squeeze", "Unsqueeze", "Identity", "Dropout", "Gather", "Reshape",
                                "Flatten", "Cast", "Slice")

    def _mark(self, node, value):
        for o in node.output:
            self.values[o] = value

    def _set_outputs(self, node, folded):
        if folded is None:
            self._mark(node, SHAPE)
            return
        for o, v in zip(node.output, folded):
            self.values[o] = v

    # ---- ops -------------------------------------------------------------------------------------------------
    def _ot(self, ins, i=0) -> OT:
        v = ins[i]
        if not isinstance(v, OT):
            self.fail(f"input {i + 1} is not a tensor computed from the model's inputs")
        return v

    def _hint(self, node, weight_input=1):
        scope = _module_scope(node)
        if scope:
            return clean_id(scope)
        if len(node.input) > weight_input and node.input[weight_input] in self._initializer_names():
            return _weight_owner(node.input[weight_input])
        return clean_id(node.output[0])

    def _initializer_names(self):
        if not hasattr(self, "_inits"):
            self._inits = {i.name for i in self.model.graph.initializer}
        return self._inits

    def _spatial(self, t: OT, hint):
        """(t in a conv/pool layout, studio letters, spatial letters, 1-d over time)."""
        if t.rnn is not None:
            t = self.materialize(t, hint)
        rank = len(t.src) - 1
        if rank == 3:
            return self.as_layout(t, "CHW", hint), "CHW", "HW", False
        if rank == 2:
            if t.studio == "TF" and t.src == "NFT":
                return t, "TF", "T", True
            return self.as_layout(t, "CL", hint), "CL", "L", False
        self.fail(f"convolution and pooling over {rank - 1} spatial axes are not supported here")

    def op_Conv(self, node, ins):
        a = _attrs(node)
        t, studio, spatial, over_time = self._spatial(self._ot(ins), node.output[0])
        w = self.need_const(node, 1, "weight")
        if a.get("group", 1) != 1:
            self.fail("grouped convolutions are not supported")
        nd = len(spatial)
        ks = list(w.shape[2:])
        cin = t.size("F" if over_time else "C")
        if cin is not None and w.shape[1] != cin:
            self.fail(f"weight {node.input[1]} has shape {tuple(w.shape)} but the input has {cin} channels")
        params = {"out_channels": int(w.shape[0]), "kernel_size": _pv(ks)}
        pads = _pads(node, a, nd)
        if pads == "same":
            params["padding"] = "same"
        elif any(pads):
            params["padding"] = _pv(pads)
        if any(s != 1 for s in a.get("strides", [1] * nd)):
            params["stride"] = _pv(a["strides"])
        if any(d != 1 for d in a.get("dilations", [1] * nd)):
            params["dilation"] = _pv(a["dilations"])
        bias = self.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if bias is None:
            params["bias"] = False
        if nd == 1:
            params = {k: (v[0] if isinstance(v, list) else v) for k, v in params.items()}
        nid = self.b.add(f"Conv{nd}d", params, [_kt(t)], self._hint(node))
        self.b.set_weight(f"{nid}.weight", w)
        if bias is not None:
            self.b.set_weight(f"{nid}.bias", bias)
        return self._same_layout(nid, t, node.output[0])

    def _same_layout(self, nid, t: OT, out_name) -> OT:
        sizes = self.out_sizes(out_name)
        if sizes is None or len(sizes) != len(t.src):
            sizes = (None,) * len(t.src)
        return replace(t, node=nid, sizes=(None,) + tuple(sizes[1:]))

    def _pool(self, node, ins, op):
        a = _attrs(node)
        t, studio, spatial, over_time = self._spatial(self._ot(ins), node.output[0])
        if a.get("ceil_mode", 0):
            self.fail("ceil_mode=1 is not supported")
        nd = len(spatial)
        ks = list(a["kernel_shape"])
        ss = list(a.get("strides", [1] * nd))
        pads = _pads(node, a, nd)
        if op == "Avg" and any(pads) and not a.get("count_include_pad", 0):
            self.fail("average pooling that leaves the padding out of the count is not supported")
        if any(d != 1 for d in a.get("dilations", [1] * nd)):
            self.fail("dilated pooling is not supported")
        params = {"kernel_size": _pv(ks)}
        if ss != ks:
            params["stride"] = _pv(ss)
        if any(pads):
            params["padding"] = _pv(pads)
        if nd == 1:
            params = {k: (v[0] if isinstance(v, list) else v) for k, v in params.items()}
        nid = self.b.add(f"{op}Pool{nd}d", params, [_kt(t)], self._hint(node, 99))
        return self._same_layout(nid, t, node.output[0])

    def op_MaxPool(self, node, ins):
        if len(node.output) > 1 and node.output[1]:
            self.fail("MaxPool with indices is not supported")
        return self._pool(node, ins, "Max")

    def op_AveragePool(self, node, ins):
        return self._pool(node, ins, "Avg")

    def op_GlobalAveragePool(self, node, ins):
        t = self._ot(ins)
        rank = len(t.src) - 1
        t = self.as_layout(t, "CHW" if rank == 3 else "CL", node.output[0])
        nid = self.b.add("GlobalAvgPool", {}, [_kt(t)], self._hint(node, 99))
        # (N, C, 1, 1): the size-1 axes X, Y vanish in the Flatten/Reshape/Squeeze that follows
        return OT(nid, "F", "NF" + "XY"[: rank - 1], (None, t.size("C")) + (1,) * (rank - 1))

    def op_ReduceMean(self, node, ins):
        t = self._ot(ins)
        a = _attrs(node)
        axes = a.get("axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            axes = [int(v) for v in self.need_const(node, 1, "axes")]
        rank = len(t.src)
        axes = sorted(x % rank for x in (axes or []))
        letters = {t.src[x] for x in axes}
        if a.get("keepdims", 1):
            self.fail("ReduceMean keeping the reduced axes is not supported")
        if t.rnn is not None:
            t = self.materialize(t, node.output[0])
        if t.src[0] == "N" and letters in ({"H", "W"}, {"L"}) and "C" in t.src:
            t = self.as_layout(t, "CHW" if letters == {"H", "W"} else "CL", node.output[0])
            nid = self.b.add("GlobalAvgPool", {}, [_kt(t)], self._hint(node, 99))
            return OT(nid, "F", "NF", (None, t.size("C")))
        if letters == {"T"} and t.studio == "TF" and t.src in ("NTF",):
            nid = self.b.add("GlobalAvgPool", {}, [_kt(t)], self._hint(node, 99))
            return OT(nid, "F", "NF", (None, t.size("F")))
        self.fail(f"mean over {''.join(sorted(letters))} is not supported")

    def op_BatchNormalization(self, node, ins):
        t = self._ot(ins)
        if t.rnn is not None:
            t = self.materialize(t, node.output[0])
        rank = len(t.src) - 1
        if rank == 2 and t.studio == "TF" and t.src == "NFT":
            pass
        elif rank == 3:
            t = self.as_layout(t, "CHW", node.output[0])
        elif rank == 2:
            t = self.as_layout(t, "CL", node.output[0])
        elif rank == 1:
            t = self.as_layout(t, "F", node.output[0])
        else:
            self.fail(f"BatchNormalization on rank {rank} is not supported")
        a = _attrs(node)
        scale, bias, mean, var = (self.need_const(node, i, w) for i, w in
                                  ((1, "scale"), (2, "bias"), (3, "mean"), (4, "variance")))
        params = {}
        eps = float(a.get("epsilon", 1e-5))
        if abs(eps - 1e-5) > 1e-12:
            params["eps"] = float(np.float32(eps))
        mom = round(1.0 - float(a.get("momentum", 0.9)), 6)
        if abs(mom - 0.1) > 1e-9:
            params["momentum"] = mom
        nid = self.b.add("BatchNorm", params, [_kt(t)], self._hint(node))
        for k, v in (("weight", scale), ("bias", bias), ("running_mean", mean), ("running_var", var)):
            self.b.set_weight(f"{nid}.{k}", v)
        self.b.set_weight(f"{nid}.num_batches_tracked", np.array(0, dtype=np.int64))
        return self._same_layout(nid, t, node.output[0])

    def op_LayerNormalization(self, node, ins):
        t = self._ot(ins)
        a = _attrs(node)
        if a.get("axis", -1) not in (-1, len(t.src) - 1):
            self.fail("LayerNormalization over several axes is not supported")
        t = self.as_layout(t, t.src[1:], node.output[0])
        scale = self.need_const(node, 1, "scale")
        bias = self.const(node.input[2]) if len(node.input) > 2 and node.input[2] else np.zeros_like(scale)
        params = {}
        eps = float(a.get("epsilon", 1e-5))
        if abs(eps - 1e-5) > 1e-12:
            params["eps"] = float(np.float32(eps))
        nid = self.b.add("LayerNorm", params, [_kt(t)], self._hint(node))
        self.b.set_weight(f"{nid}.weight", scale)
        self.b.set_weight(f"{nid}.bias", bias)
        return self._same_layout(nid, t, node.output[0])

    def _activation(self, node, ins, fn):
        t = self._ot(ins)
        if t.rnn is not None:
            t = self.materialize(t, node.output[0])
        if fn == "softmax":
            axis = _attrs(node).get("axis", -1) % len(t.src)
            letter = t.src[axis]
            want = "C" if "C" in t.studio else t.studio[-1]
            if letter != want:
                self.fail(f"softmax over {letter} has no studio equivalent (the studio's runs over {want})")
        # fold into the convolution or linear layer right before, as the studio writes it
        prev = self.b.graph.get(t.node) if t.node else None
        if prev is not None and prev.type in ("Conv1d", "Conv2d", "Linear") and not prev.params.get("activation") \
                and len(self.consumers.get(node.input[0], [])) == 1 and t.node not in self._outputs_taken():
            self.b.graph.replace_params(t.node, {**prev.params, "activation": fn})
            self._outputs_taken().add(t.node)
            return t
        nid = self.b.add("Activation", {"function": fn}, [_kt(t)], self._hint(node, 99))
        return replace(t, node=nid)

    def _outputs_taken(self):
        if not hasattr(self, "_taken"):
            self._taken = set()
        return self._taken

    def op_Relu(self, node, ins):
        return self._activation(node, ins, "relu")

    def op_Tanh(self, node, ins):
        return self._activation(node, ins, "tanh")

    def op_Sigmoid(self, node, ins):
        return self._activation(node, ins, "sigmoid")

    def op_Elu(self, node, ins):
        if abs(_attrs(node).get("alpha", 1.0) - 1.0) > 1e-6:
            self.fail("Elu with alpha other than 1 is not supported")
        return self._activation(node, ins, "elu")

    def op_LeakyRelu(self, node, ins):
        if abs(_attrs(node).get("alpha", 0.01) - 0.01) > 1e-6:
            self.fail("LeakyRelu with alpha other than 0.01 is not supported")
        return self._activation(node, ins, "leaky_relu")

    def op_Gelu(self, node, ins):
        if _attrs(node).get("approximate", b"none") not in (b"none", "none"):
            self.fail("the tanh approximation of gelu is not supported")
        return self._activation(node, ins, "gelu")

    def op_Softmax(self, node, ins):
        return self._activation(node, ins, "softmax")

    def op_Identity(self, node, ins):
        return self._ot(ins)

    def op_Dropout(self, node, ins):
        return [self._ot(ins), None]

    def op_Cast(self, node, ins):
        return self._ot(ins)

    def op_Transpose(self, node, ins):
        t = self._ot(ins)
        perm = _attrs(node).get("perm") or list(reversed(range(len(t.src))))
        if sorted(perm) != list(range(len(t.src))):  # e.g. after a placeholder whose rank was a guess
            self.fail(f"Transpose with perm {list(perm)} does not fit its input's {len(t.src)} axes ({t.src})")
        return replace(t, src="".join(t.src[p] for p in perm), sizes=tuple(t.sizes[p] for p in perm))

    def op_Squeeze(self, node, ins):
        t = self._ot(ins)
        axes = _attrs(node).get("axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            axes = [int(v) for v in self.need_const(node, 1, "axes")]
        axes = [x % len(t.src) for x in (axes or [i for i, s in enumerate(t.sizes) if s == 1])]
        for x in axes:
            if t.src[x] not in "XYD" and t.sizes[x] != 1:
                self.fail(f"squeezing axis {t.src[x]} of size {t.sizes[x]}")
        if any(t.src[x] not in "XYD" for x in axes):
            self.fail("squeezing a real axis is not supported")
        keep = [i for i in range(len(t.src)) if i not in axes]
        if t.rnn is not None and "D" in [t.src[x] for x in axes] and t.rnn.dirs != 1:
            self.fail("squeezing the direction axis of a bidirectional output")
        return replace(t, src="".join(t.src[i] for i in keep), sizes=tuple(t.sizes[i] for i in keep))

    def op_Flatten(self, node, ins):
        t = self._ot(ins)
        if _attrs(node).get("axis", 1) != 1:
            self.fail("Flatten keeps the batch only (axis=1)")
        return self._reshape_to(t, [t.sizes[0], None], node.output[0], flatten=True)

    def op_Reshape(self, node, ins):
        t = self._ot(ins)
        target = self.out_sizes(node.output[0])
        if target is None:
            c = self.const(node.input[1])
            if c is not None and 0 not in c and list(c).count(-1) == 0:
                target = [None] + [int(v) for v in c[1:]]
        if target is not None and sum(v is None for v in target[1:]) == 1:
            n = _prod([sz for a, sz in zip(t.src, t.sizes) if a != "N"])
            known = _prod([v for v in target[1:] if v is not None])
            if n is not None and known and n % known == 0 and (t.rnn is None or "D" not in t.src):
                target = [target[0]] + [n // known if v is None else v for v in target[1:]]
        if target is None:
            self.fail("the target shape of this Reshape cannot be resolved (a dynamic size); export the model "
                      "with fixed sizes except the batch")
        return self._reshape_to(t, list(target), node.output[0])

    def _reshape_to(self, t: OT, target: list, hint: str, flatten=False) -> OT:
        # size-1 placeholders (X, Y) vanish; the batch stays first
        if t.src[0] != "N" and t.rnn is None:
            self.fail("reshaping with the batch axis moved is not supported")
        letters = [(a, s) for a, s in zip(t.src, t.sizes) if a not in "XY"]
        per = [(a, s) for a, s in letters if a != "N"]
        head = [a for a, _ in letters]
        if t.rnn is not None:
            return self._reshape_rnn(t, letters, target, hint)
        folded = self._fold_time(t, per, target, hint)
        if folded is not None:
            return folded
        if t.folded:
            self.fail("this reshape of frames folded into the batch is not supported")
        if t.studio[0:1] == "T" and len(t.studio) > 2 and len(target) == 3 and t.src == "N" + t.studio and \
                not flatten:
            nid = self.b.add("Flatten", {}, [_kt(t)], hint)  # per-step flatten: the time axis stays
            return OT(nid, "TF", "NTF", (None, t.size("T"), _prod([s for a, s in per if a != "T"])))
        if flatten or (len(target) == 2):
            # everything but the batch into one axis
            if len(per) == 1:
                a = per[0][0]
                return OT(t.node, t.studio, "N" + a, (None, per[0][1]))
            if t.studio[0] == "T" and len(target) == 3 and t.src == "N" + t.studio:
                nid = self.b.add("Flatten", {}, [_kt(t)], hint)  # per-step flatten: the time axis stays
                return OT(nid, "TF", "NTF", (None, t.size("T"), _prod([s for a, s in per if a != "T"])))
            if "T" not in t.studio:
                t2 = self.as_layout(replace(t, src="".join(head), sizes=tuple(s for _, s in letters)),
                                    "".join(a for a, _ in per), hint)
                nid = self.b.add("Flatten", {}, [_kt(t2)], hint)
                return OT(nid, "F", "NF", (None, _prod([s for _, s in per])))
        if len(target) == 3 and t.studio == "CHW" and len(per) == 3:
            order = "".join(a for a, _ in per)
            seq = {"CHW": ("spatial", "NFT"), "WCH": ("width", "NTF"), "HCW": ("height", "NTF")}.get(order)
            sizes = dict(per)
            grouped = {"CHW": (sizes["C"], _prod([sizes["H"], sizes["W"]])),
                       "WCH": (sizes["W"], _prod([sizes["C"], sizes["H"]])),
                       "HCW": (sizes["H"], _prod([sizes["C"], sizes["W"]]))}.get(order)
            if seq and tuple(target[1:]) == grouped:
                nid = self.b.add("ToSequence", {"axis": seq[0]}, [_kt(t)], hint)
                f, steps = ((sizes["C"], grouped[1]) if seq[0] == "spatial" else (grouped[1], grouped[0]))
                src_sizes = (None, f, steps) if seq[1] == "NFT" else (None, steps, f)
                return OT(nid, "TF", seq[1], src_sizes)
        # generic: the studio computes in ONNX's order, then reshapes row-major like ONNX
        rank = len(target) - 1
        new_letters = {1: "F", 2: "TF", 3: "CHW", 4: "TCHW"}.get(rank)
        if new_letters is None:
            self.fail(f"reshaping to rank {rank} is not supported")
        t2 = self.as_layout(replace(t, src="".join(head), sizes=tuple(s for _, s in letters)),
                            "".join(a for a, _ in per), hint)
        shape = [-1 if s is None else int(s) for s in target[1:]]
        if shape.count(-1) > 1:
            self.fail(f"the target shape {target} has several unknown sizes (a dynamic shape that cannot be "
                      f"resolved)")
        nid = self.b.add("Reshape", {"shape": shape, "axes": new_letters}, [_kt(t2)], hint)
        return OT(nid, new_letters, "N" + new_letters, tuple(target))

    def _fold_time(self, t: OT, per, target, hint):
        """Per-frame models fold time into the batch, (N, T, C, H, W) -> (N*T, C, H, W), run the frame layers and
        unfold; the studio's spatial blocks run per step on (N, T, C, H, W) themselves, so neither is a block."""
        if not t.folded and t.studio.startswith("T") and t.src == "N" + t.studio and len(target) == len(t.src) - 1 \
                and [s for _, s in per[1:]] == list(target[1:]):
            return replace(t, src="N" + t.studio[1:], sizes=(None,) + tuple(target[1:]), folded=True)
        if t.folded and len(target) == len(t.src) and list(target[1:]) == [s for _, s in per]:
            return t  # a view to the same frame shape
        if t.folded and len(target) == 3 and target[2] is not None and target[2] == _prod([s for _, s in per]):
            nid = self.b.add("Flatten", {}, [_kt(t)], hint)  # unfold and flatten every frame: T stays
            return OT(nid, "TF", "NTF", (None, target[1], target[2]))
        if t.folded and len(target) == len(t.src) + 1 and list(target[2:]) == [s for _, s in per]:
            return replace(t, src="N" + t.studio, sizes=(None, target[1]) + tuple(target[2:]), folded=False)
        return None

    def _reshape_rnn(self, t: OT, letters, target, hint) -> OT:
        """Reshapes of a recurrent output: merging the direction axis into the features (D, F -> F) or splitting
        it back out (F -> D, F)."""
        src = "".join(a for a, _ in letters)
        sizes = [s for _, s in letters]
        h, dirs = t.rnn.hidden, t.rnn.dirs
        if "DF" in src and len(target) == len(src) - 1:
            i = src.index("DF")
            new_src = src[:i] + "F" + src[i + 2:]
            new_sizes = sizes[:i] + [dirs * h] + sizes[i + 2:]
            return replace(t, src=new_src, sizes=tuple(new_sizes), direction=None)
        if "D" not in src and src.endswith("F") and len(target) == len(src) + 1 and target[-2:] == [dirs, h]:
            return replace(t, src=src[:-1] + "DF", sizes=tuple(sizes[:-1] + [dirs, h]))
        if "D" in src and dirs == 1 and len(target) == len(src) - 1:
            i = src.index("D")
            return replace(t, src=src[:i] + src[i + 1:], sizes=tuple(sizes[:i] + sizes[i + 1:]))
        mat = self.materialize(t, hint)
        return self._reshape_to(mat, target, hint)

    def op_Unsqueeze(self, node, ins):
        t = self._ot(ins)
        self.fail(f"Unsqueeze of a {t.src} tensor is not supported")

    def op_Gemm(self, node, ins):
        a = _attrs(node)
        t = self._ot(ins)
        if a.get("transA", 0) or abs(a.get("alpha", 1.0) - 1) > 1e-9 or abs(a.get("beta", 1.0) - 1) > 1e-9:
            self.fail("Gemm with transA, alpha or beta other than the defaults is not supported")
        w = self.need_const(node, 1, "weight")
        w = w if a.get("transB", 0) else w.T
        bias = self.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        return self._linear(node, t, w, bias)

    def op_MatMul(self, node, ins):
        t = self._ot(ins)
        w = self.const(node.input[1])
        if w is None or w.ndim != 2:
            self.fail("MatMul of two computed tensors is not supported (a constant weight matrix is)")
        return self._linear(node, t, w.T, None)

    def _linear(self, node, t, w, bias):
        if t.rnn is not None:
            t = self.materialize(t, node.output[0])
        if t.studio[-1] != t.src[-1]:
            t = self.as_layout(t, t.src[1:], node.output[0])
        f_in = t.sizes[-1]
        if f_in is not None and w.shape[1] != f_in:
            self.fail(f"weight has shape {tuple(w.shape)} but the input has {f_in} features")
        params = {"out_features": int(w.shape[0])}
        if bias is None:
            params["bias"] = False
        owner = self._hint(node)
        nid = self.b.add("Linear", params, [_kt(t)], owner if owner != clean_id(node.output[0]) else "fc")
        self.b.set_weight(f"{nid}.weight", w)
        if bias is not None:
            self.b.set_weight(f"{nid}.bias", bias)
        return OT(nid, t.studio, t.src, t.sizes[:-1] + (int(w.shape[0]),))

    def op_Add(self, node, ins):
        return self._binary(node, ins, "Add")

    def op_Mul(self, node, ins):
        return self._binary(node, ins, "Multiply")

    def _binary(self, node, ins, op):
        a, b = ins[0], ins[1]
        if isinstance(a, OT) and isinstance(b, np.ndarray) or isinstance(b, OT) and isinstance(a, np.ndarray):
            t, c = (a, b) if isinstance(a, OT) else (b, a)
            prev = self.b.graph.get(t.node) if t.node else None
            # MatMul + Add of a bias vector: the bias of the Linear layer before
            if op == "Add" and prev is not None and prev.type == "Linear" and prev.params.get("bias") is False \
                    and c.reshape(-1).shape == (prev.params["out_features"],) and \
                    len(self.consumers.get(node.input[0 if t is a else 1], [])) == 1:
                params = dict(prev.params)
                del params["bias"]
                self.b.graph.replace_params(t.node, params)
                self.b.set_weight(f"{t.node}.bias", c.reshape(-1))
                return t
            self.fail(f"{node.op_type} with a constant is not supported (only a Linear layer's bias)")
        if not (isinstance(a, OT) and isinstance(b, OT)):
            self.fail(f"{node.op_type} needs two computed tensors")
        if a.rnn is not None and b.rnn is not None and a.rnn is b.rnn and op == "Add" and \
                {a.direction, b.direction} == {0, 1}:
            if "T" in a.src:  # the two halves of every step (see op_Slice): a sum merge of the sequences
                o = self._rnn_block(a.rnn, True, "sum", "TF", "NTF", (None, a.size("T"), a.rnn.hidden))
                return replace(o, src=a.src, sizes=a.sizes)
            return self._rnn_block(a.rnn, False, "sum", "F", "NF", (None, a.rnn.hidden))
        if a.rnn is not None and a.rnn is b.rnn:
            self.fail("combining the directions of a recurrent output this way is not supported")
        if a.rnn is not None:
            a = self.materialize(a, node.output[0])
        if a.src[0] != "N" or a.src[1:] != a.studio:
            a = self.as_layout(a, a.src[1:], node.output[0])
        b = self._like(b, a, node.output[0])
        nid = self.b.add(op, {}, [_kt(a), _kt(b)], node.output[0])
        return replace(a, node=nid)

    def _like(self, t: OT, ref: OT, hint) -> OT:
        """``t`` in ``ref``'s layout (the same ONNX order and studio order)."""
        if t.rnn is not None:
            t = self.materialize(t, hint)
        if t.src == ref.src and t.studio == ref.studio:
            return t
        if sorted(t.src) != sorted(ref.src):
            t = self.as_layout(t, ref.src[1:], hint)
            return self._like(t, ref, hint) if t.studio != ref.studio else t
        t = self.as_layout(t, t.src[1:], hint)
        if ref.studio != t.studio:
            nid = self.b.add("Permute", {"axes": ref.studio}, [_kt(t)], f"{hint}_perm")
            t = replace(t, node=nid, studio=ref.studio)
        return t

    def op_Concat(self, node, ins):
        ts = [self._ot(ins, i) for i in range(len(ins))]
        axis = _attrs(node).get("axis", 0)
        rnn = ts[0].rnn
        if rnn is not None and len(ts) == 2 and all(t.rnn is rnn and t.direction is not None for t in ts):
            if [t.direction for t in ts] != [0, 1]:
                self.fail("the directions of a bidirectional state joined backward first")
            return self._rnn_block(rnn, False, "concat", "F", "NF", (None, 2 * rnn.hidden))
        first = ts[0]
        if first.rnn is not None or first.src[0] != "N":
            first = self.as_layout(first, first.src[1:] if first.src[0] == "N" else first.studio, node.output[0])
        rest = [self._like(t, first, node.output[0]) for t in ts[1:]]
        letter = first.src[axis % len(first.src)]
        feature = "C" if "C" in first.studio else "F"
        if letter == feature:
            params = {}
        elif letter == "T":
            params = {"axis": "time"}
        else:
            self.fail(f"joining along {letter} is not supported")
        if len(ts) != 2:
            params["inputs"] = len(ts)
        nid = self.b.add("Concat", params, [_kt(first)] + [_kt(t) for t in rest], node.output[0])
        sizes = self.out_sizes(node.output[0])
        return OT(nid, first.studio, first.src, tuple(sizes) if sizes and len(sizes) == len(first.src)
                  else (None,) * len(first.src))

    def op_Gather(self, node, ins):
        data, idx = ins[0], ins[1]
        axis = _attrs(node).get("axis", 0)
        if isinstance(data, np.ndarray) and isinstance(idx, OT):  # an embedding lookup
            if axis != 0 or data.ndim != 2 or idx.dtype != "int64":
                self.fail("Gather of a constant table is supported as an embedding lookup of token ids")
            nid = self.b.add("Embedding", {"num_embeddings": int(data.shape[0]), "embedding_dim": int(data.shape[1])},
                             [_kt(idx)], self._hint(node, 0))
            self.b.set_weight(f"{nid}.weight", data)
            return OT(nid, "TF", "NTF", (None, idx.sizes[1], int(data.shape[1])))
        t = self._ot(ins)
        i = self.const(node.input[1])
        if t.rnn is not None and t.src[axis] == "D" and i is not None and i.ndim == 0:
            d = int(i) % t.rnn.dirs
            keep = [k for k in range(len(t.src)) if k != axis]
            out = replace(t, src="".join(t.src[k] for k in keep), sizes=tuple(t.sizes[k] for k in keep),
                          direction=d)
            if t.rnn.dirs == 1:
                return self.materialize(out, node.output[0])
            return out
        self.fail("Gather is supported on a recurrent state and as an embedding lookup")

    def op_Slice(self, node, ins):
        """One direction's half of a bidirectional recurrent layer's steps (``y[..., :H]``, ``y[..., H:]``): the
        studio writes a sum merge of sequences so, and the Add of the two halves becomes that block."""
        t = self._ot(ins)
        starts, ends = (self.need_const(node, i, what) for i, what in ((1, "start"), (2, "end")))
        axes = self.const(node.input[3]) if len(node.input) > 3 and node.input[3] else np.zeros(1, np.int64)
        steps = self.const(node.input[4]) if len(node.input) > 4 and node.input[4] else np.ones(1, np.int64)
        r = t.rnn
        if r is not None and t.node is None and r.dirs == 2 and "T" in t.src and starts.size == 1 and \
                steps.reshape(-1)[0] == 1:
            axis = int(axes.reshape(-1)[0]) % len(t.src)
            h = r.hidden
            half = {(0, h): 0, (h, 2 * h): 1}.get((int(starts.reshape(-1)[0]), min(int(ends.reshape(-1)[0]), 2 * h)))
            if t.src[axis] == "F" and half is not None:
                return replace(t, sizes=tuple(h if k == axis else s for k, s in enumerate(t.sizes)), direction=half)
        self.fail("Slice is supported as the halves of a bidirectional recurrent layer's steps (a sum merge)")

    def _rnn(self, node, ins, kind):
        a = _attrs(node)
        x = self._ot(ins)
        if x.rnn is not None:
            x = self.materialize(x, node.output[0])
        if a.get("layout", 0) == 0:
            if len(x.src) != 3 or x.src[1] != "N":
                self.fail(f"the {kind} input must be a sequence (T, N, F), got the order {x.src}")
            x = replace(x, src="N" + x.src[0] + x.src[2], sizes=(None, x.sizes[0], x.sizes[2]))
        if x.studio != "TF" or x.src != "NTF":
            x = self.as_layout(x, "TF", node.output[0])
        extra = {}
        acts = [v.decode() if isinstance(v, bytes) else v for v in a.get("activations", [])]
        if kind == "RNN" and acts and len(set(acts)) == 1 and acts[0] in ("Tanh", "Relu"):
            if acts[0] == "Relu":
                extra["nonlinearity"] = "relu"
        elif acts:
            self.fail(f"{kind} with activations {acts} is not supported (the studio's {kind} uses "
                      f"{'Tanh or Relu' if kind == 'RNN' else 'the default ones'})")
        for key in ("clip", "activation_alpha", "activation_beta"):
            if key in a:
                self.fail(f"{kind} with custom {key} is not supported")
        if a.get("input_forget", 0):
            self.fail("input_forget=1 is not supported")
        # linear_before_reset=0 (ONNX's default) applies the reset gate before the recurrent matrix: the studio's
        # GRU with reset_after=false, whose one bias per gate is ONNX's two added up
        reset_before = kind == "GRU" and not a.get("linear_before_reset", 0)
        if reset_before:
            extra["reset_after"] = False
        for i in (4,):
            if len(node.input) > i and node.input[i]:
                self.fail("per-sample sequence lengths are not supported")
        for i in (5, 6):
            if len(node.input) > i and node.input[i]:
                v = ins[i]
                if not (v is ZEROS or v is SHAPE or (isinstance(v, np.ndarray) and not v.any())):
                    self.fail("a non-zero initial state is not supported")
        direction = a.get("direction", b"forward")
        direction = direction.decode() if isinstance(direction, bytes) else direction
        if direction not in ("forward", "bidirectional"):
            self.fail(f"direction '{direction}' is not supported")
        dirs = 2 if direction == "bidirectional" else 1
        h = int(a["hidden_size"])
        W, R = self.need_const(node, 1, "W"), self.need_const(node, 2, "R")
        B = self.const(node.input[3]) if len(node.input) > 3 and node.input[3] else None
        g = {"LSTM": 4, "GRU": 3, "RNN": 1}[kind]
        # ONNX gate blocks -> PyTorch's: LSTM i,o,f,c -> i,f,g,o; GRU z,r,h -> r,z,n; RNN: one
        order = {"LSTM": [0, 2, 3, 1], "GRU": [1, 0, 2], "RNN": [0]}[kind]

        def reorder(m):
            return np.concatenate([m[k * h:(k + 1) * h] for k in order], axis=0)

        f_in = x.sizes[-1]
        if W.shape != (dirs, g * h, f_in) and f_in is not None:
            self.fail(f"W has shape {tuple(W.shape)}, expected {(dirs, g * h, f_in)}")
        weights = {}
        for d in range(dirs):
            sfx = "_reverse" if d == 1 else ""
            weights[f"weight_ih_l0{sfx}"] = reorder(W[d])
            weights[f"weight_hh_l0{sfx}"] = reorder(R[d])
            if B is not None and reset_before:
                weights[f"bias_l0{sfx}"] = reorder(B[d][:g * h] + B[d][g * h:])
            elif B is not None:
                weights[f"bias_ih_l0{sfx}"] = reorder(B[d][:g * h])
                weights[f"bias_hh_l0{sfx}"] = reorder(B[d][g * h:])
        xs = x
        r = RNN(kind, node.input[1] if node.input[1] in self._initializer_names() and "." in node.input[1]
                else node.output[0], xs, h, dirs, weights, B is not None, extra)
        self._rnns.append(r)
        r.onnx_name = _module_scope(node) or self._rnn_name(node, r.onnx_name)
        r.entry = None
        t_size = x.size("T")
        y = OT(None, "TF", "TDNF", (t_size, dirs, None, h), rnn=r)
        y_h = OT(None, "F", "DNF", (dirs, None, h), rnn=r)
        outs = [y, y_h]
        if kind == "LSTM":
            outs.append(OT(None, "F", "DNF", (dirs, None, h), rnn=None))
        return outs

    def _rnn_name(self, node, fallback):
        """The studio id for a recurrent layer: the PyTorch module name when the weights still carry it."""
        for name in node.input[1:3]:
            src = self._weight_source(name)
            if src:
                return src
        return fallback

    def _weight_source(self, name, depth=0):
        """Follow constant-folded slices and concats back to an initializer named ``<module>.weight_...``."""
        if name in self._initializer_names() and ".weight_" in name:
            return name
        if depth > 6:
            return None
        for node in self.model.graph.node:
            if name in node.output:
                for i in node.input:
                    if i:
                        found = self._weight_source(i, depth + 1)
                        if found:
                            return found
        return None

    def op_LSTM(self, node, ins):
        return self._rnn(node, ins, "LSTM")

    def op_GRU(self, node, ins):
        return self._rnn(node, ins, "GRU")

    def op_RNN(self, node, ins):
        return self._rnn(node, ins, "RNN")


# ---- module-level helpers ------------------------------------------------------------------------------------
def _kt(t: OT):
    """A builder tensor for wiring (only the node matters to ``Builder.add``)."""
    from .builder import KT
    return KT(t.node, t.studio, t.studio, (None,) * len(t.studio), t.dtype)


def _weight_owner(name: str) -> str:
    """``conv1.weight`` -> ``conv1``: keep the PyTorch module name as the block id (a round trip keeps ids)."""
    base = name.rsplit(".", 1)[0] if "." in name else name
    return clean_id(base)


def _module_scope(node):
    """The PyTorch module a node came from, as torch's exporter records it (``conv1``), or None."""
    for p in node.metadata_props:
        if p.key == "pkg.torch.onnx.name_scopes":
            try:
                import ast
                scopes = ast.literal_eval(p.value)
            except (ValueError, SyntaxError):
                return None
            if isinstance(scopes, list) and len(scopes) >= 3 and isinstance(scopes[1], str) and scopes[1]:
                return scopes[1]
    # the TorchScript exporter names nodes by module path: /gru/GRU, /layer1/conv/Conv
    parts = node.name.split("/")
    if node.name.startswith("/") and len(parts) >= 3:
        return "_".join(p for p in parts[1:-1] if p)
    return None


def _prod(sizes):
    out = 1
    for s in sizes:
        if s is None:
            return None
        out *= s
    return out


def _pv(v):
    v = [int(x) for x in v]
    return v[0] if all(x == v[0] for x in v) else v


def _pads(node, a, nd):
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto == "SAME_UPPER" and node.op_type == "Conv" and all(x == 1 for x in a.get("strides", [1] * nd)):
        return "same"  # PyTorch's padding='same' (stride 1; an even kernel's extra pad goes last, as SAME_UPPER's)
    if auto not in ("NOTSET", "VALID"):
        raise Unsupported(f"auto_pad {auto} is not supported")
    pads = list(a.get("pads", [0] * (2 * nd)))
    if pads[:nd] != pads[nd:]:
        raise Unsupported(f"uneven padding {pads} is not supported (PyTorch pads both sides alike)")
    return pads[:nd]


def _attrs(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _array(tensor):
    from onnx import numpy_helper
    arr = numpy_helper.to_array(tensor)
    return arr.astype(np.float32) if arr.dtype.kind == "f" else arr


def _constant(node):
    a = {x.name: x for x in node.attribute}
    if "value" in a:
        return _array(a["value"].t)
    for k in ("value_float", "value_int"):
        if k in a:
            return np.array(a[k].f if k == "value_float" else a[k].i)
    for k in ("value_floats", "value_ints"):
        if k in a:
            return np.array(list(a[k].floats) if k == "value_floats" else list(a[k].ints))
    return SHAPE


def _fold(node, ins):
    """Evaluate a node whose inputs are all constants (weight slicing and reordering), or None."""
    try:
        from onnx.reference import ReferenceEvaluator
        import onnx

        inputs = [n for n in node.input]
        feeds = {}
        graph_inputs = []
        for name, v in zip(inputs, ins):
            if not name:
                continue
            feeds[name] = v
            graph_inputs.append(onnx.helper.make_tensor_value_info(name, onnx.helper.np_dtype_to_tensor_dtype(
                v.dtype), list(v.shape)))
        outs = [onnx.helper.make_tensor_value_info(o, 0, None) for o in node.output if o]
        g = onnx.helper.make_graph([node], "fold", graph_inputs, outs)
        ev = ReferenceEvaluator(onnx.helper.make_model(g))
        res = ev.run(None, feeds)
        return [np.asarray(r) for r in res]
    except Exception:  # noqa: BLE001 - not foldable: treated as shape arithmetic
        return None


def _inferred_shapes(model) -> dict:
    """value name -> sizes (None for the batch and for unknown sizes), from ONNX shape inference."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:  # noqa: BLE001 - inference is a help, not a requirement
        inferred = model
    out = {}
    g = inferred.graph
    for v in list(g.value_info) + list(g.input) + list(g.output):
        if not v.type.HasField("tensor_type") or not v.type.tensor_type.HasField("shape"):
            continue
        dims = [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
        if dims:
            dims[0] = None  # the batch: whatever the example had, the studio keeps it open
        out[v.name] = dims
    return out


def import_onnx(path) -> ImportResult:
    """Import an ``.onnx`` file; raises ImportFailure naming the file when it cannot be read."""
    try:
        import onnx
    except ImportError:
        raise ImportFailure(path, "importing ONNX needs the onnx package: pip install 'hybrid-studio[onnx]'") from None
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # noqa: BLE001 - protobuf raises several kinds for a corrupt file
        raise ImportFailure(path, f"is not a readable ONNX model ({type(e).__name__}: {e})") from None
    if not model.graph.node and not model.graph.input:
        raise ImportFailure(path, "is not an ONNX model (no graph)")
    try:
        return OnnxImporter(path, model).run()
    except ImportFailure:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        raise ImportFailure(path, f"the ONNX graph is malformed ({type(e).__name__}: {e})") from None
