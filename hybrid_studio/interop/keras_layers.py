"""One converter per Keras layer class: config + weights -> studio blocks + a state_dict slice.

A converter gets the Builder, the layer (``L``) and its input tensors, adds blocks and weights, and returns the
output tensor; it raises ``Unsupported`` (a reason in words) for what the studio cannot compute exactly, and the
layer then becomes a placeholder. Kernels are transposed from Keras's (..., in, out) to PyTorch's (out, in, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .builder import KT, STD, Builder
from .result import Unsupported

ACTIVATIONS = {None: None, "linear": None, "relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid",
               "softmax": "softmax", "elu": "elu", "gelu": "gelu", "silu": "silu", "swish": "silu"}


@dataclass
class Layer:
    name: str
    cls: str
    cfg: dict
    weights: list = field(default_factory=list)
    #: inside TimeDistributed: the inputs carry a time axis in front of what the layer sees
    td: bool = False
    #: Keras's declared output shape, when the file says (for placeholders)
    declared: tuple | None = None


def activation(value, layer: Layer):
    if isinstance(value, dict):
        value = value.get("config", {}).get("name") or value.get("class_name")
    if isinstance(value, str):
        value = value.lower()
    if value not in ACTIVATIONS:
        raise Unsupported(f"activation '{value}' has no exact studio equivalent; put an Activation block after it")
    return ACTIVATIONS[value]


def expect(layer: Layer, i: int, shape: tuple, what: str) -> np.ndarray:
    """Weight ``i`` of the layer, checked against the shape its config implies (both shapes named if not)."""
    if layer.weights is None:  # a file without weights (to_json): the shapes still come from the config
        return np.zeros(shape, np.float32)
    if i >= len(layer.weights):
        raise Unsupported(f"the file holds {len(layer.weights)} weight array(s) for this layer, but its config "
                          f"needs {what} as array {i + 1}")
    w = layer.weights[i]
    if tuple(w.shape) != tuple(shape):
        raise Unsupported(f"weight {what} has shape {tuple(w.shape)} in the file but the config implies "
                          f"{tuple(shape)}")
    return w


def _ints(v, n):
    if isinstance(v, int):
        return [v] * n
    v = list(v)
    if len(v) != n or not all(isinstance(x, int) for x in v):
        raise Unsupported(f"expected {n} integer(s), got {v}")
    return v


def _param(v: list):
    """An int when every entry is the same (as a project writes it), else the list."""
    return v[0] if all(x == v[0] for x in v) else list(v)


def _channels_last(layer: Layer):
    fmt = layer.cfg.get("data_format") or "channels_last"
    if fmt != "channels_last":
        raise Unsupported(f"data_format '{fmt}' is not supported (only channels_last, Keras's default)")


def _same_padding(sizes, ks, ss, ds, layer: Layer) -> list:
    """Keras's "same" padding with strides as symmetric PyTorch padding, when it is symmetric."""
    pads = []
    for n, k, s, d in zip(sizes, ks, ss, ds):
        if n is None:
            raise Unsupported('padding "same" with a stride needs a known input size')
        out = -(-n // s)
        total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
        if total % 2:
            raise Unsupported(f'padding "same" with stride {s} pads {total} unevenly (TensorFlow style) on an axis '
                              f'of size {n}; PyTorch pads evenly: use padding "valid" or an input size that divides')
        pads.append(total // 2)
    return pads


# ---- convolution and pooling ---------------------------------------------------------------------------------------
def _spatial_layout(nd: int, t: KT, layer: Layer):
    """(source letters, studio letters, spatial letters) for an nd-d spatial layer on ``t``."""
    if nd == 1:
        if t.rank == 2:
            return "TF", "TF", "T"
        raise Unsupported("1-D layers are supported on sequences (steps, channels) only")
    if nd == 2:
        if t.rank == 3:
            return "HWC", "CHW", "HW"
        if t.rank == 4 and layer.td:
            return "THWC", "TCHW", "HW"
        raise Unsupported(f"expected an image (H, W, C), got a tensor of rank {t.rank}")
    if t.rank == 4:
        return "THWC", "TCHW", "THW"
    raise Unsupported(f"expected a volume (D, H, W, C), got a tensor of rank {t.rank}")


def conv(b: Builder, L: Layer, ins, nd: int) -> KT:
    _channels_last(L)
    cfg = L.cfg
    if cfg.get("groups", 1) != 1:
        raise Unsupported("grouped convolutions (groups > 1) are not supported")
    keras, studio, spatial = _spatial_layout(nd, ins[0], L)
    t = b.conform(ins[0], keras, studio, L.name)
    ks = _ints(cfg["kernel_size"], nd)
    ss = _ints(cfg.get("strides", 1), nd)
    ds = _ints(cfg.get("dilation_rate", 1), nd)
    cin = t.size("F" if nd == 1 else "C")
    if cin is None:
        raise Unsupported("the number of input channels is unknown")
    pad_mode = cfg.get("padding", "valid")
    if pad_mode == "valid":
        padding = 0
    elif pad_mode == "same" and all(s == 1 for s in ss):
        padding = "same"
    elif pad_mode == "same":
        padding = _param(_same_padding([t.size(a) for a in spatial], ks, ss, ds, L))
    else:
        raise Unsupported(f"padding '{pad_mode}' is not supported (valid and same are)")
    filters = cfg["filters"]
    params = {"out_channels": filters, "kernel_size": _param(ks), "padding": padding,
              "activation": activation(cfg.get("activation"), L)}
    if any(s != 1 for s in ss):
        params["stride"] = _param(ss)
    if any(d != 1 for d in ds):
        params["dilation"] = _param(ds)
    bias = cfg.get("use_bias", True)
    if not bias:
        params["bias"] = False
    if nd == 1:  # Conv1d takes ints only
        params = {k: (v[0] if isinstance(v, list) else v) for k, v in params.items()}
    kernel = expect(L, 0, (*ks, cin, filters), "kernel")
    nid = b.add(f"Conv{nd}d", _drop_defaults(params), [t], L.name)
    b.set_weight(f"{nid}.weight", np.transpose(kernel, (nd + 1, nd, *range(nd))))
    if bias:
        b.set_weight(f"{nid}.bias", expect(L, 1, (filters,), "bias"))
    return b.out(nid, studio, keras)


def _drop_defaults(params: dict) -> dict:
    defaults = {"padding": 0, "activation": None, "stride": 1, "dilation": 1, "bias": True}
    return {k: v for k, v in params.items() if not (k in defaults and defaults[k] == v)}


def pool(b: Builder, L: Layer, ins, nd: int, op: str) -> KT:
    _channels_last(L)
    cfg = L.cfg
    keras, studio, spatial = _spatial_layout(nd, ins[0], L)
    t = b.conform(ins[0], keras, studio, L.name)
    ks = _ints(cfg.get("pool_size", 2), nd)
    ss = _ints(cfg.get("strides") or ks, nd)
    pad_mode = cfg.get("padding", "valid")
    if pad_mode == "valid":
        pads = [0] * nd
    else:
        pads = _same_padding([t.size(a) for a in spatial], ks, ss, [1] * nd, L)
        if op == "Avg" and any(pads):
            raise Unsupported('average pooling with padding "same" averages over the real elements only at the '
                              'borders; PyTorch counts the padding: use padding "valid"')
        if any(p > k // 2 for p, k in zip(pads, ks)):
            raise Unsupported(f'padding "same" here needs padding {pads}, more than half the pool size {ks}')
    params = {"kernel_size": _param(ks)}
    if ss != ks:
        params["stride"] = _param(ss)
    if any(pads):
        params["padding"] = _param(pads)
    nid = b.add(f"{op}Pool{nd}d", params, [t], L.name)
    return b.out(nid, studio, keras)


def global_avg(b: Builder, L: Layer, ins, nd: int) -> KT:
    _channels_last(L)
    if L.cfg.get("keepdims"):
        raise Unsupported("keepdims=True is not supported; the studio's GlobalAvgPool gives feature vectors")
    keras, studio, _ = _spatial_layout(nd, ins[0], L)
    t = b.conform(ins[0], keras, studio, L.name)
    nid = b.add("GlobalAvgPool", {}, [t], L.name)
    letters = "TF" if t.rank == 4 else "F"
    return b.out(nid, letters, letters)


# ---- normalisation, activations -------------------------------------------------------------------------------------
def _last_axis(L: Layer, t: KT):
    axis = L.cfg.get("axis", -1)
    if isinstance(axis, list):
        if len(axis) != 1:
            raise Unsupported(f"normalising over several axes {axis} is not supported")
        axis = axis[0]
    if axis not in (-1, t.rank):
        raise Unsupported(f"axis {axis} is not supported (only the last axis, -1)")


def batch_norm(b: Builder, L: Layer, ins, **_) -> KT:
    cfg = L.cfg
    _last_axis(L, ins[0])
    t = b.canon(ins[0], L.name)
    axis = "C" if "C" in t.keras else "F"
    if t.keras[-1] != axis:
        raise Unsupported(f"BatchNorm on the last axis of a ({', '.join(t.keras)}) tensor is not supported")
    n = t.size(axis)
    eps = float(cfg.get("epsilon", 1e-3))
    mom = float(cfg.get("momentum", 0.99))
    params = {"eps": eps, "momentum": round(1.0 - mom, 6)}
    nid = b.add("BatchNorm", params, [t], L.name)
    i = 0
    gamma = beta = None
    if cfg.get("scale", True):
        gamma = expect(L, i, (n,), "gamma")
        i += 1
    if cfg.get("center", True):
        beta = expect(L, i, (n,), "beta")
        i += 1
    mean = expect(L, i, (n,), "moving_mean")
    var = expect(L, i + 1, (n,), "moving_variance")
    b.set_weight(f"{nid}.weight", gamma if gamma is not None else np.ones(n, np.float32))
    b.set_weight(f"{nid}.bias", beta if beta is not None else np.zeros(n, np.float32))
    b.set_weight(f"{nid}.running_mean", mean)
    b.set_weight(f"{nid}.running_var", var)
    b.set_weight(f"{nid}.num_batches_tracked", np.array(0, dtype=np.int64))
    return b.out(nid, t.studio, t.keras)


def layer_norm(b: Builder, L: Layer, ins, **_) -> KT:
    cfg = L.cfg
    _last_axis(L, ins[0])
    if cfg.get("rms_scaling"):
        raise Unsupported("rms_scaling=True (RMS normalisation) is not supported")
    t = ins[0]
    if t.studio[-1] != t.keras[-1]:
        t = b.source_order(t, L.name)
    n = t.shape[-1]
    nid = b.add("LayerNorm", {"eps": float(cfg.get("epsilon", 1e-3))}, [t], L.name)
    i = 0
    gamma = beta = None
    if cfg.get("scale", True):
        gamma = expect(L, i, (n,), "gamma")
        i += 1
    if cfg.get("center", True):
        beta = expect(L, i, (n,), "beta")
    b.set_weight(f"{nid}.weight", gamma if gamma is not None else np.ones(n, np.float32))
    b.set_weight(f"{nid}.bias", beta if beta is not None else np.zeros(n, np.float32))
    return b.out(nid, t.studio, t.keras)


def dropout(b: Builder, L: Layer, ins, **_) -> KT:
    t = ins[0]
    nid = b.add("Dropout", {"p": float(L.cfg.get("rate", 0.5))}, [t], L.name)
    return b.out(nid, t.studio, t.keras)


def _softmax_ready(b: Builder, t: KT, L: Layer) -> KT:
    """The studio's softmax runs over C when there is one, else the last axis; Keras's over the last axis."""
    def ok(x):
        return x.keras[-1] == "C" if "C" in x.studio else x.studio[-1] == x.keras[-1]
    if not ok(t):
        t = b.source_order(t, L.name)
        if not ok(t):
            raise Unsupported("softmax over this axis has no studio equivalent")
    return t


def activation_layer(b: Builder, L: Layer, ins, fn=None, **_) -> KT:
    cfg = L.cfg
    if fn is None:
        fn = activation(cfg.get("activation"), L)
    t = ins[0]
    if fn is None:  # linear: nothing to do
        return t
    if fn == "softmax":
        if cfg.get("axis", -1) != -1:
            raise Unsupported(f"softmax over axis {cfg.get('axis')} is not supported (only -1)")
        t = _softmax_ready(b, t, L)
    nid = b.add("Activation", {"function": fn}, [t], L.name)
    return b.out(nid, t.studio, t.keras)


def relu_layer(b: Builder, L: Layer, ins, **_) -> KT:
    cfg = L.cfg
    if cfg.get("max_value") is not None or cfg.get("negative_slope", 0) or cfg.get("threshold", 0):
        raise Unsupported("ReLU with max_value, negative_slope or threshold has no studio equivalent")
    return activation_layer(b, L, ins, fn="relu")


def leaky_relu_layer(b: Builder, L: Layer, ins, **_) -> KT:
    slope = L.cfg.get("negative_slope", L.cfg.get("alpha", 0.3))
    if abs(slope - 0.01) > 1e-12:
        raise Unsupported(f"LeakyReLU with negative_slope {slope}: the studio's leaky_relu uses 0.01")
    return activation_layer(b, L, ins, fn="leaky_relu")


def elu_layer(b: Builder, L: Layer, ins, **_) -> KT:
    if L.cfg.get("alpha", 1.0) != 1.0:
        raise Unsupported(f"ELU with alpha {L.cfg.get('alpha')}: the studio's elu uses 1.0")
    return activation_layer(b, L, ins, fn="elu")


def softmax_layer(b: Builder, L: Layer, ins, **_) -> KT:
    return activation_layer(b, L, ins, fn="softmax")


# ---- shape ---------------------------------------------------------------------------------------------------------
def flatten(b: Builder, L: Layer, ins, **_) -> KT:
    _channels_last(L)
    t = b.source_order(ins[0], L.name)
    if L.td:
        if t.rank <= 2:
            return t  # each step is a vector already
        nid = b.add("Flatten", {}, [t], L.name)  # keeps the time axis in front
        return b.out(nid, "TF", "TF")
    if t.rank == 1:
        return t
    if "T" in t.keras:
        nid = b.add("Reshape", {"shape": [-1], "axes": "F"}, [t], L.name)
    else:
        nid = b.add("Flatten", {}, [t], L.name)
    return b.out(nid, "F", "F")


def reshape(b: Builder, L: Layer, ins, **_) -> KT:
    target = list(L.cfg["target_shape"])
    t = ins[0]
    if len(target) not in STD:
        raise Unsupported(f"reshaping to rank {len(target)} ({target}) is not supported (ranks 1 to 4 are)")
    known = [s for s in target if s != -1]
    # an image (H, W, C) read as H*W steps of C features is the studio's ToSequence(spatial)
    if t.keras == "HWC" and len(target) == 2 and t.size("C") is not None and target[1] == t.size("C") and \
            (target[0] == -1 or (None not in t.shape and target[0] == t.size("H") * t.size("W"))):
        t = b.conform(t, "HWC", "CHW", L.name)
        nid = b.add("ToSequence", {"axis": "spatial"}, [t], L.name)
        return b.out(nid, "TF", "TF")
    if any(s is None or s == 0 or s < -1 for s in target) or not known:
        raise Unsupported(f"target shape {target} is not supported")
    t = b.source_order(t, L.name)
    letters = STD[len(target)]
    nid = b.add("Reshape", {"shape": target, "axes": letters}, [t], L.name)
    return b.out(nid, letters, letters)


def permute(b: Builder, L: Layer, ins, **_) -> KT:
    dims = list(L.cfg["dims"])
    t = ins[0]
    if sorted(dims) != list(range(1, t.rank + 1)):
        raise Unsupported(f"dims {dims} is not a permutation of the axes 1..{t.rank}")
    keras = "".join(t.keras[d - 1] for d in dims)
    shape = tuple(t.shape[d - 1] for d in dims)
    # nothing to compute yet: the letters move with their sizes, and the next layer that cares reorders the data
    return KT(t.node, t.studio, keras, shape, t.dtype)


# ---- dense, embedding ------------------------------------------------------------------------------------------------
def dense(b: Builder, L: Layer, ins, **_) -> KT:
    cfg = L.cfg
    t = ins[0]
    if t.studio[-1] != t.keras[-1]:
        t = b.source_order(t, L.name)
    f_in, units = t.shape[-1], cfg["units"]
    if f_in is None:
        raise Unsupported("the input's last axis has an unknown size")
    act = activation(cfg.get("activation"), L)
    bias = cfg.get("use_bias", True)
    params = {"out_features": units}
    if not bias:
        params["bias"] = False
    if act:
        params["activation"] = act
    kernel = expect(L, 0, (f_in, units), "kernel")
    nid = b.add("Linear", params, [t], L.name)
    b.set_weight(f"{nid}.weight", kernel.T)
    if bias:
        b.set_weight(f"{nid}.bias", expect(L, 1, (units,), "bias"))
    out = b.out(nid, t.studio, t.keras)
    if act == "softmax" and not ("C" not in out.studio or out.keras[-1] == "C"):
        raise Unsupported("softmax after Dense over this axis has no studio equivalent")
    return out


def embedding(b: Builder, L: Layer, ins, **_) -> KT:
    cfg = L.cfg
    t = ins[0]
    if t.dtype != "int64" or t.rank != 1:
        raise Unsupported("Embedding takes a sequence of integer token ids (an int32/int64 Input of shape (T,))")
    v, d = cfg["input_dim"], cfg["output_dim"]
    nid = b.add("Embedding", {"num_embeddings": v, "embedding_dim": d}, [t], L.name)
    b.set_weight(f"{nid}.weight", expect(L, 0, (v, d), "embeddings"))
    return b.out(nid, "TF", "TF")


# ---- recurrent -------------------------------------------------------------------------------------------------------
#: Keras recurrent layer class -> the studio block it becomes.
RNN_BLOCKS = {"LSTM": "LSTM", "GRU": "GRU", "SimpleRNN": "RNN"}


def _act_name(got):
    if isinstance(got, dict):
        got = got.get("config", {}).get("name") or got.get("class_name")
    return got


def _check_rnn(cfg: dict, kind: str):
    if kind == "SimpleRNN":  # one activation, tanh or relu (nn.RNN's nonlinearity)
        got = _act_name(cfg.get("activation", "tanh"))
        if got not in ("tanh", "relu"):
            raise Unsupported(f"SimpleRNN with activation='{got}': the studio's RNN uses tanh or relu")
    else:
        for key, want in (("activation", "tanh"), ("recurrent_activation", "sigmoid")):
            got = _act_name(cfg.get(key, want))
            if got != want:
                raise Unsupported(f"{kind} with {key}='{got}': PyTorch's {kind} uses {want}")
    for key in ("stateful", "return_state"):
        if cfg.get(key):
            raise Unsupported(f"{key}=True is not supported")


def _rnn_weights(b: Builder, L: Layer, nid: str, kind: str, f_in: int, h: int, offset: int, suffix: str,
                 bias: bool, reset_after: bool = True) -> int:
    """Copy one direction's Keras weights (from array ``offset``) into ``nid``; returns the next offset."""
    g = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}[kind]
    kernel = expect(L, offset, (f_in, g * h), "kernel")
    rec = expect(L, offset + 1, (h, g * h), "recurrent_kernel")
    if kind != "GRU":  # LSTM: Keras's gate order i, f, c, o is PyTorch's i, f, g, o; SimpleRNN: one gate
        def order(w):
            return w
    else:  # Keras z, r, h -> PyTorch r, z, n
        def order(w):
            return np.concatenate([w[h:2 * h], w[:h], w[2 * h:]], axis=0)
    b.set_weight(f"{nid}.weight_ih_l0{suffix}", order(kernel.T))
    b.set_weight(f"{nid}.weight_hh_l0{suffix}", order(rec.T))
    if not bias:
        return offset + 2
    if kind != "GRU":  # one Keras bias; PyTorch adds its two
        bvec = expect(L, offset + 2, (g * h,), "bias")
        b.set_weight(f"{nid}.bias_ih_l0{suffix}", bvec)
        b.set_weight(f"{nid}.bias_hh_l0{suffix}", np.zeros_like(bvec))
    elif not reset_after:  # one bias per gate, as the studio's GRU with reset_after=false keeps it
        b.set_weight(f"{nid}.bias_l0{suffix}", order(expect(L, offset + 2, (g * h,), "bias")))
    else:  # reset_after: an input bias and a recurrent bias
        bvec = expect(L, offset + 2, (2, g * h), "bias")
        b.set_weight(f"{nid}.bias_ih_l0{suffix}", order(bvec[0]))
        b.set_weight(f"{nid}.bias_hh_l0{suffix}", order(bvec[1]))
    return offset + 3


def recurrent(b: Builder, L: Layer, ins, kind: str, **_) -> KT:
    if L.td:
        raise Unsupported(f"{kind} inside TimeDistributed is not supported")
    cfg = L.cfg
    _check_rnn(cfg, kind)
    if cfg.get("go_backwards"):
        raise Unsupported("go_backwards=True on its own is not supported (inside Bidirectional it is)")
    t = b.conform(ins[0], "TF", "TF", L.name) if ins[0].rank == 2 else None
    if t is None:
        raise Unsupported(f"{kind} reads sequences (steps, features), got rank {ins[0].rank}")
    return _recurrent_block(b, L, t, kind, cfg, bidirectional=False, merge=None)


def _recurrent_block(b, L, t, kind, cfg, bidirectional, merge) -> KT:
    h, f_in = cfg["units"], t.size("F")
    bias = cfg.get("use_bias", True)
    params = {"hidden_size": h}
    if bidirectional:
        params["bidirectional"] = True
        if merge == "sum":
            params["merge_mode"] = "sum"
    if cfg.get("return_sequences"):
        params["return_sequences"] = True
    if not bias:
        params["bias"] = False
    reset_after = kind != "GRU" or cfg.get("reset_after", True)  # Keras 2.3+ defaults to True
    if not reset_after:
        params["reset_after"] = False
    if kind == "SimpleRNN" and _act_name(cfg.get("activation", "tanh")) == "relu":
        params["nonlinearity"] = "relu"
    nid = b.add(RNN_BLOCKS[kind], params, [t], L.name)
    nxt = _rnn_weights(b, L, nid, kind, f_in, h, 0, "", bias, reset_after)
    if bidirectional:
        _rnn_weights(b, L, nid, kind, f_in, h, nxt, "_reverse", bias, reset_after)
    letters = "TF" if cfg.get("return_sequences") else "F"
    return b.out(nid, letters, letters)


def bidirectional(b: Builder, L: Layer, ins, **_) -> KT:
    cfg = L.cfg
    inner = cfg.get("layer", {})
    kind = inner.get("class_name")
    if kind not in RNN_BLOCKS:
        raise Unsupported(f"Bidirectional around {kind} is not supported (LSTM, GRU and SimpleRNN are)")
    merge = cfg.get("merge_mode", "concat")
    if merge not in ("concat", "sum"):
        raise Unsupported(f"merge_mode '{merge}' is not supported; the studio's bidirectional layers concat or sum")
    icfg = inner.get("config", {})
    _check_rnn(icfg, kind)
    back = (cfg.get("backward_layer") or {}).get("config")
    if back:
        _check_rnn(back, kind)
        for key in ("units", "use_bias", "return_sequences", "reset_after", "activation"):
            if back.get(key) != icfg.get(key):
                raise Unsupported(f"the backward layer's {key} differs from the forward layer's")
    if ins[0].rank != 2:
        raise Unsupported(f"{kind} reads sequences (steps, features), got rank {ins[0].rank}")
    t = b.conform(ins[0], "TF", "TF", L.name)
    return _recurrent_block(b, L, t, kind, icfg, bidirectional=True, merge=merge)


def conv_lstm(b: Builder, L: Layer, ins, **_) -> KT:
    _channels_last(L)
    cfg = L.cfg
    _check_rnn(cfg, "ConvLSTM2D")
    if cfg.get("go_backwards"):
        raise Unsupported("go_backwards=True is not supported")
    if ins[0].rank != 4:
        raise Unsupported(f"ConvLSTM2D reads video (T, H, W, C), got rank {ins[0].rank}")
    if _ints(cfg.get("strides", 1), 2) != [1, 1] or _ints(cfg.get("dilation_rate", 1), 2) != [1, 1]:
        raise Unsupported("strides or dilation other than 1 are not supported")
    pad = cfg.get("padding", "valid")
    if pad not in ("valid", "same"):
        raise Unsupported(f"padding '{pad}' is not supported")
    t = b.conform(ins[0], "THWC", "TCHW", L.name)
    ks = _ints(cfg["kernel_size"], 2)
    f, c = cfg["filters"], t.size("C")
    bias = cfg.get("use_bias", True)
    params = {"hidden_channels": f, "kernel_size": _param(ks)}
    if pad != "same":
        params["padding"] = pad
    if not cfg.get("return_sequences"):
        params["return_sequences"] = False
    if not bias:
        params["bias"] = False
    kernel = expect(L, 0, (*ks, c, 4 * f), "kernel")
    rec = expect(L, 1, (*ks, f, 4 * f), "recurrent_kernel")
    nid = b.add("ConvLSTM2d", params, [t], L.name)
    w = np.concatenate([np.transpose(kernel, (3, 2, 0, 1)), np.transpose(rec, (3, 2, 0, 1))], axis=1)
    b.set_weight(f"{nid}.conv.weight", w)
    if bias:
        b.set_weight(f"{nid}.conv.bias", expect(L, 2, (4 * f,), "bias"))
    if cfg.get("return_sequences"):
        return b.out(nid, "TCHW", "THWC")
    return b.out(nid, "CHW", "HWC")


# ---- fusion, attention -----------------------------------------------------------------------------------------------
def _aligned(b: Builder, L: Layer, ins) -> list:
    first = b.canon(ins[0], L.name)
    out = [first]
    for t in ins[1:]:
        if t.rank != first.rank:
            raise Unsupported(f"inputs of rank {first.rank} and {t.rank} cannot be joined")
        out.append(b.conform(t, first.keras, first.studio, L.name))
    return out


def concatenate(b: Builder, L: Layer, ins, **_) -> KT:
    ts = _aligned(b, L, ins)
    first = ts[0]
    axis = L.cfg.get("axis", -1)
    if axis < 0:
        axis += first.rank + 1
    if not 1 <= axis <= first.rank:
        raise Unsupported(f"axis {L.cfg.get('axis')} is not an axis of the inputs")
    letter = first.keras[axis - 1]
    feature = "C" if "C" in first.studio else "F"
    if letter == feature:
        params = {}
    elif letter == "T":
        params = {"axis": "time"}
    else:
        raise Unsupported(f"joining along {letter} is not supported (the studio joins along channels, features "
                          f"or time)")
    if len(ts) != 2:
        params["inputs"] = len(ts)
    nid = b.add("Concat", params, ts, L.name)
    return b.out(nid, first.studio, first.keras)


def elementwise(b: Builder, L: Layer, ins, op: str, **_) -> KT:
    ts = _aligned(b, L, ins)
    params = {} if len(ts) == 2 else {"inputs": len(ts)}
    nid = b.add(op, params, ts, L.name)
    return b.out(nid, ts[0].studio, ts[0].keras)


def multi_head_attention(b: Builder, L: Layer, ins, **_) -> KT:
    cfg = L.cfg
    if len(ins) == 3 and ins[2] != ins[1]:
        raise Unsupported("a key tensor different from the value tensor is not supported (the studio attends "
                          "with keys = values)")
    if cfg.get("output_shape") is not None or cfg.get("attention_axes") not in (None, [1], (1,)):
        raise Unsupported("output_shape or attention_axes other than the defaults are not supported")
    q = b.conform(ins[0], "TF", "TF", L.name) if ins[0].rank == 2 else None
    kv = b.conform(ins[1], "TF", "TF", L.name) if len(ins) > 1 and ins[1].rank == 2 else None
    if q is None or kv is None:
        raise Unsupported("MultiHeadAttention is supported on sequences (steps, features) as query and value")
    heads, kd = cfg["num_heads"], cfg["key_dim"]
    vd = cfg.get("value_dim") or kd
    f, f2 = q.size("F"), kv.size("F")
    if heads * kd != f or vd != kd:
        raise Unsupported(f"key_dim {kd} x num_heads {heads} must equal the query's features {f} (and value_dim "
                          f"= key_dim) for PyTorch's MultiheadAttention")
    bias = cfg.get("use_bias", True)
    self_attn = q == kv
    params = {"num_heads": heads}
    if not bias:
        params["bias"] = False
    if self_attn:
        params["inputs"] = 1
    i = 0
    mats, biases = [], []
    for what, fin in (("query", f), ("key", f2), ("value", f2)):
        mats.append(expect(L, i, (fin, heads, kd), f"{what} kernel").reshape(fin, f).T)
        i += 1
        if bias:
            biases.append(expect(L, i, (heads, kd), f"{what} bias").reshape(f))
            i += 1
    out_k = expect(L, i, (heads, kd, f), "output kernel").reshape(f, f).T
    nid = b.add("MultiheadAttention", params, [q] if self_attn else [q, kv], L.name)
    if f2 == f:
        b.set_weight(f"{nid}.in_proj_weight", np.concatenate(mats, axis=0))
    else:
        for name, m in zip(("q", "k", "v"), mats):
            b.set_weight(f"{nid}.{name}_proj_weight", m)
    b.set_weight(f"{nid}.out_proj.weight", out_k)
    if bias:
        b.set_weight(f"{nid}.in_proj_bias", np.concatenate(biases))
        b.set_weight(f"{nid}.out_proj.bias", expect(L, i + 1, (f,), "output bias"))
    return b.out(nid, "TF", "TF")


def time_distributed(b: Builder, L: Layer, ins, **_) -> KT:
    inner = L.cfg.get("layer", {})
    cls = inner.get("class_name")
    conv_fn = CONVERTERS.get(cls)
    if cls not in TD_OK or conv_fn is None:
        raise Unsupported(f"TimeDistributed around {cls} is not supported (around {', '.join(sorted(TD_OK))} it is)")
    if ins[0].rank < 2 or ins[0].keras[0] != "T":
        t = ins[0]
        if t.rank not in (2, 4):
            raise Unsupported("TimeDistributed needs a time axis in front")
    sub = Layer(L.name, cls, inner.get("config", {}), L.weights, td=True)
    return conv_fn(b, sub, ins)


def _c(fn, **kw):
    return lambda b, L, ins: fn(b, L, ins, **kw)


CONVERTERS = {
    "Conv1D": _c(conv, nd=1), "Conv2D": _c(conv, nd=2), "Conv3D": _c(conv, nd=3),
    "Convolution1D": _c(conv, nd=1), "Convolution2D": _c(conv, nd=2), "Convolution3D": _c(conv, nd=3),
    "MaxPooling1D": _c(pool, nd=1, op="Max"), "MaxPooling2D": _c(pool, nd=2, op="Max"),
    "AveragePooling1D": _c(pool, nd=1, op="Avg"), "AveragePooling2D": _c(pool, nd=2, op="Avg"),
    "MaxPool1D": _c(pool, nd=1, op="Max"), "MaxPool2D": _c(pool, nd=2, op="Max"),
    "AvgPool1D": _c(pool, nd=1, op="Avg"), "AvgPool2D": _c(pool, nd=2, op="Avg"),
    "GlobalAveragePooling1D": _c(global_avg, nd=1), "GlobalAveragePooling2D": _c(global_avg, nd=2),
    "GlobalAvgPool1D": _c(global_avg, nd=1), "GlobalAvgPool2D": _c(global_avg, nd=2),
    "BatchNormalization": batch_norm, "LayerNormalization": layer_norm,
    "Dropout": dropout, "SpatialDropout1D": dropout, "SpatialDropout2D": dropout, "SpatialDropout3D": dropout,
    "Activation": activation_layer, "ReLU": relu_layer, "LeakyReLU": leaky_relu_layer, "ELU": elu_layer,
    "Softmax": softmax_layer,
    "Flatten": flatten, "Reshape": reshape, "Permute": permute,
    "Dense": dense, "Embedding": embedding,
    "LSTM": _c(recurrent, kind="LSTM"), "GRU": _c(recurrent, kind="GRU"), "SimpleRNN": _c(recurrent, kind="SimpleRNN"),
    "Bidirectional": bidirectional,
    "ConvLSTM2D": conv_lstm, "TimeDistributed": time_distributed,
    "Concatenate": concatenate, "Add": _c(elementwise, op="Add"), "Multiply": _c(elementwise, op="Multiply"),
    "MultiHeadAttention": multi_head_attention,
}
#: Layers that may stand inside TimeDistributed (the studio applies them per step).
TD_OK = {"Conv2D", "Convolution2D", "MaxPooling2D", "AveragePooling2D", "MaxPool2D", "AvgPool2D",
         "GlobalAveragePooling2D", "GlobalAvgPool2D", "Flatten", "Dense", "Dropout", "Activation", "ReLU",
         "BatchNormalization"}

#: What each unsupported kind of layer should become, in the user's words.
HINTS = {
    "Lambda": "a Lambda layer holds Python code, which the import never runs; rebuild what it does with blocks",
    "GlobalMaxPooling1D": "the studio has no global max pooling; use GlobalAvgPool or MaxPool with the full size",
    "GlobalMaxPooling2D": "the studio has no global max pooling; use GlobalAvgPool or MaxPool with the full size",
}
