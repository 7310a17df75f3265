"""A Keras model (read as data by ``keras_files``) -> studio graph + weights + import report.

Sequential models are a chain; functional models are walked in the order of their ``layers`` list (Keras writes
each layer after the layers it reads from), following ``inbound_nodes`` in both the Keras 3 form
(``{"args": [keras tensors], "kwargs": {...}}``) and the Keras 2 form (``[[name, node, tensor, kwargs], ...]``).
"""

from __future__ import annotations

from pathlib import Path

from .builder import CANON, KT, STD, Builder
from .keras_files import KerasSource, read_keras
from .keras_layers import CONVERTERS, HINTS, Layer
from .result import ImportFailure, ImportResult, ReportEntry, Unsupported

_INT_DTYPES = ("int32", "int64", "int16", "int8", "uint8", "uint16", "uint32")


def import_keras(path) -> ImportResult:
    """Import a Keras file (``.keras``, ``.h5``, ``to_json()`` JSON); raises ImportFailure when it is unreadable."""
    src = read_keras(path)
    try:
        return convert(src)
    except ImportFailure:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        raise ImportFailure(path, f"the model config is malformed ({type(e).__name__}: {e})") from None


def convert(src: KerasSource) -> ImportResult:
    cfg = src.config
    inner = cfg["config"]
    b = Builder(inner.get("name") or Path(src.path).stem, src.path)
    if cfg["class_name"] == "Sequential":
        _sequential(b, src, inner)
    else:
        _functional(b, src, inner)
    return ImportResult(b.graph, b.weights if src.has_weights else {}, b.entries, src.path,
                        has_weights=src.has_weights)


# ---- inputs and outputs ------------------------------------------------------------------------------------------------
def _input_block(b: Builder, name: str, shape, dtype) -> KT:
    shape = list(shape or [])
    per_sample = shape[1:] if shape else []
    if not per_sample:
        raise Unsupported("an input without a per-sample shape")
    is_int = str(dtype) in _INT_DTYPES
    rank = len(per_sample)
    if is_int:
        if rank != 1:
            raise Unsupported(f"integer inputs of rank {rank} are not supported (token ids (T,) are)")
        letters, studio = "T", "T"
    else:
        if rank not in STD:
            raise Unsupported(f"inputs of rank {rank} are not supported (ranks 1 to 4 are)")
        letters = STD[rank]
        studio = CANON[letters]
    by_letter = dict(zip(letters, per_sample))
    params = {"shape": [by_letter[a] for a in studio], "axes": studio}
    if is_int:
        params["dtype"] = "int64"
    nid = b.add("Input", params, [], name)
    return b.out(nid, studio, letters, fallback=per_sample, dtype="int64" if is_int else "float32")


def _input_shape(layer_cfg: dict):
    c = layer_cfg.get("config", {})
    return c.get("batch_shape") or c.get("batch_input_shape")


def _add_output(b: Builder, t: KT, softmax: bool, hint: str = "out") -> str:
    if t.keras in CANON and t.studio != CANON[t.keras]:
        t = b.conform(t, t.keras, CANON[t.keras], "out")
    elif t.keras not in CANON and t.rank in STD:
        t = b.canon(t, "out")
    task = "classification" if softmax and t.rank == 1 else "regression"
    return b.add("Output", {"task": task}, [t], hint)


def _entry_convert(b: Builder, layer: Layer, ins: list, entry_op: str) -> KT:
    """Convert one layer (or make its placeholder) and record it in the report."""
    b.begin()
    fn = CONVERTERS.get(layer.cls)
    try:
        if any(t.node is None for t in ins):
            raise Unsupported("an input of this layer was not converted")
        if fn is None:
            raise Unsupported(_unknown_reason(layer))
        out = fn(b, layer, ins)
        b.entries.append(ReportEntry(layer.name, entry_op, b.created()))
        return out
    except Unsupported as e:
        # roll back what the converter added before it gave up, then stand a placeholder in its place
        b.roll_back()
        reason = f"{e} (layer '{layer.name}' in {Path(b.source_file).name})"
        out = b.placeholder(layer.name, layer.cls, reason, [t for t in ins if t.node],
                            layer.declared or _guess_shape(layer, ins))
        b.entries.append(ReportEntry(layer.name, entry_op, b.created(), reason=reason))
        return out


def _guess_shape(layer: Layer, ins: list):
    """The output shape of a layer that was not converted, when the file does not declare it (legacy .h5): from
    ``units`` for recurrent and dense layers, else the input's (most unknown layers keep the shape). The weight
    checks downstream catch a wrong guess."""
    if not ins:
        return None
    shape = ins[0].shape
    units = layer.cfg.get("units")
    if isinstance(units, int):
        if layer.cls in ("Dense",):
            return tuple(shape[:-1]) + (units,)
        if len(shape) == 2:  # recurrent layers read (steps, features)
            return (shape[0], units) if layer.cfg.get("return_sequences") else (units,)
    return tuple(shape)


def _unknown_reason(layer: Layer) -> str:
    if layer.cls in HINTS:
        return HINTS[layer.cls]
    if layer.cls in ("Sequential", "Functional", "Model"):
        return "a model nested as a layer is not supported; import it on its own, or save the outer model flattened"
    reg = layer.registered
    if reg and (">" in reg or not str(layer.module or "").startswith("keras")):
        return (f"custom layer class '{layer.cls}' (registered as '{reg}'): its code is not in the file and is never "
                f"run; replace the placeholder with blocks that do the same")
    return f"Keras layer {layer.cls} has no studio block yet; replace the placeholder with blocks that do the same"


def _layer(src: KerasSource, raw: dict, declared=None) -> Layer:
    cls = raw.get("class_name", "?")
    cfg = raw.get("config", {}) or {}
    name = cfg.get("name") or raw.get("name") or cls.lower()
    L = Layer(str(name), str(cls), cfg, declared=declared)
    L.registered = raw.get("registered_name")
    L.module = raw.get("module")
    if not src.has_weights:
        L.weights = None
    elif cls in CONVERTERS:  # read weights only for layers we convert (a custom layer's are of no use)
        L.weights = src.weights(raw)
    return L


Layer.registered = None  # set per instance by _layer
Layer.module = None


# ---- Sequential ----------------------------------------------------------------------------------------------------
def _sequential(b: Builder, src: KerasSource, inner: dict) -> None:
    layers = list(inner["layers"])
    if not layers:
        raise ImportFailure(src.path, "the Sequential model has no layers")
    shape, dtype = None, "float32"
    if layers[0].get("class_name") == "InputLayer":
        first = layers.pop(0)
        shape = _input_shape(first)
        dtype = first.get("config", {}).get("dtype", "float32")
        in_name = first.get("config", {}).get("name", "input")
    else:
        in_name = "input"
        shape = _input_shape(layers[0]) or inner.get("build_input_shape") or \
            (layers[0].get("build_config") or {}).get("input_shape")
        dtype = layers[0].get("config", {}).get("dtype", "float32")
    if isinstance(dtype, dict):
        dtype = dtype.get("config", {}).get("name", "float32")
    if not shape:
        raise ImportFailure(src.path, "the Sequential model does not say its input shape (save it after building "
                                      "it, or start it with keras.Input)")
    b.begin()
    try:
        t = _input_block(b, in_name, shape, dtype)
    except Unsupported as e:
        raise ImportFailure(src.path, f"input '{in_name}': {e}") from None
    b.entries.append(ReportEntry(in_name, "InputLayer", b.created()))
    softmax = False
    for i, raw in enumerate(layers):
        L = _layer(src, raw)
        if i + 1 < len(layers):  # Keras 3 writes each layer's input shape: the previous layer's output shape
            nxt = (layers[i + 1].get("build_config") or {}).get("input_shape")
            L.declared = tuple(nxt[1:]) if isinstance(nxt, list) and nxt and not isinstance(nxt[0], list) else None
        own = (raw.get("build_config") or {}).get("input_shape")
        if isinstance(own, list) and len(own) == t.rank + 1 and None in t.shape:
            t = KT(t.node, t.studio, t.keras, tuple(own[1:]), t.dtype)  # the sizes Keras declares for it
        t = _entry_convert(b, L, [t], L.cls)
        softmax = _ends_in_softmax(L)
    b.begin()
    _add_output(b, t, softmax)


def _ends_in_softmax(L: Layer) -> bool:
    act = L.cfg.get("activation")
    return act == "softmax" or L.cls == "Softmax"


# ---- Functional ----------------------------------------------------------------------------------------------------
def _tensors(obj) -> list:
    """(layer name, node index, tensor index, declared shape) of every Keras 3 tensor reference inside ``obj``."""
    out = []
    if isinstance(obj, dict):
        if obj.get("class_name") == "__keras_tensor__":
            c = obj.get("config", {})
            h = c.get("keras_history")
            shape = c.get("shape")
            out.append((h[0], h[1], h[2], tuple(shape[1:]) if shape else None))
        else:
            for v in obj.values():
                out += _tensors(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            out += _tensors(v)
    return out


def _calls(raw: dict) -> list:
    """One list of input references per call of the layer."""
    calls = []
    for node in raw.get("inbound_nodes", []) or []:
        if isinstance(node, dict):  # Keras 3
            refs = _tensors(node.get("args", []))
            refs += _tensors(node.get("kwargs", {}))
            calls.append(refs)
        elif isinstance(node, list):  # Keras 2: [[name, node_index, tensor_index, kwargs], ...]
            calls.append([(r[0], r[1], r[2], None) for r in node if isinstance(r, list) and len(r) >= 3])
    return calls


def _refs(v) -> list:
    """``input_layers`` / ``output_layers``: one [name, node, tensor] or a list of them."""
    if isinstance(v, list) and len(v) == 3 and isinstance(v[0], str):
        return [v]
    return list(v or [])


def _functional(b: Builder, src: KerasSource, inner: dict) -> None:
    produced: dict = {}   # (layer name, node index, tensor index) -> KT
    classes: dict = {}
    for raw in inner["layers"]:
        cls = raw.get("class_name")
        cfg = raw.get("config", {}) or {}
        name = cfg.get("name") or raw.get("name")
        classes[name] = raw
        if cls == "InputLayer":
            dtype = cfg.get("dtype", "float32")
            if isinstance(dtype, dict):
                dtype = dtype.get("config", {}).get("name", "float32")
            b.begin()
            try:
                produced[(name, 0, 0)] = _input_block(b, name, _input_shape(raw), dtype)
            except Unsupported as e:
                raise ImportFailure(src.path, f"input '{name}': {e}") from None
            b.entries.append(ReportEntry(name, "InputLayer", b.created()))
            continue
        calls = _calls(raw)
        if not calls:
            continue  # never called: not part of the model's graph
        declared = None
        L = _layer(src, raw, declared)
        if len(calls) > 1:
            ins = [produced.get(r[:3]) or KT(None, "F", "F", (None,)) for r in calls[0]]
            b.begin()
            reason = (f"layer '{name}' is shared (called {len(calls)} times with the same weights); the studio "
                      f"has no shared blocks (in {Path(src.path).name})")
            out = b.placeholder(name, cls, reason, [t for t in ins if t.node])
            b.entries.append(ReportEntry(name, cls, b.created(), reason=reason))
            for k in range(len(calls)):
                produced[(name, k, 0)] = out
            continue
        refs = calls[0]
        ins = []
        for r in refs:
            t = produced.get(r[:3])
            if t is None:
                raise ImportFailure(src.path, f"layer '{name}' reads '{r[0]}', which is not defined before it")
            if r[3] is not None and None in t.shape and len(r[3]) == t.rank:
                t = KT(t.node, t.studio, t.keras, tuple(r[3]), t.dtype)  # the sizes Keras declares for it
            ins.append(t)
        out = _entry_convert(b, L, ins, cls)
        produced[(name, 0, 0)] = out
    outputs = _refs(inner.get("output_layers"))
    if not outputs:
        raise ImportFailure(src.path, "the functional model lists no outputs")
    for ref in outputs:
        key = (ref[0], ref[1], ref[2])
        t = produced.get(key)
        if t is None:
            raise ImportFailure(src.path, f"the model's output '{ref[0]}' is not produced by any layer")
        raw = classes.get(ref[0], {})
        L = Layer(ref[0], raw.get("class_name", ""), raw.get("config", {}) or {})
        b.begin()
        # several outputs are named after their layers, so forward()'s results say what they are
        _add_output(b, t, _ends_in_softmax(L), "out" if len(outputs) == 1 else f"{ref[0]}_out")
