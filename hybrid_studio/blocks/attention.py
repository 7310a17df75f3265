"""Attention: AttentionPool (a learnt weighted mean over time) and MultiheadAttention (every query step looks at
every key step of another sequence, or of its own: self-attention). Both read sequences (N, T, F)."""

from __future__ import annotations

from hybrid_studio.graph.diagnostics import FixSpec
from hybrid_studio.graph.tensor import TensorSpec

from .base import Block, ModuleSpec, arrived, register
from .params import Param


def sequence_fixes(spec: TensorSpec, port: str) -> list:
    """Fixes that turn what arrived on ``port`` into a sequence (N, T, F), best first."""
    if spec.axes == "CHW":  # every image position a step: what attention over an image means
        return [FixSpec.insert_before(port, "ToSequence", {"axis": "spatial"})]
    if spec.axes in ("TCHW", "TCL", "TLF"):
        return [FixSpec.insert_before(port, "Flatten")]
    if spec.axes == "CL":
        return [FixSpec.insert_before(port, "ToSequence")]
    if spec.axes == "F":
        fixes = [FixSpec.set_upstream_param(port, "return_sequences", True)]
        if spec.size("F"):
            fixes.append(FixSpec.insert_before(port, "Reshape", {"shape": [1, spec.size("F")], "axes": "TF"}))
        return fixes
    return []


def need_sequence(block: Block, spec: TensorSpec, port: str, role: str = ""):
    """Fail unless ``spec`` is a sequence (N, T, F) with a known F."""
    where = f" on '{port}'" + (f" ({role})" if role else "") if port != "in" else ""
    if spec.axes != "TF":
        hint = ""
        if spec.axes == "F":
            hint = ": a vector has no time axis T to attend over; let the recurrent block before return sequences"
        elif spec.axes == "CHW":
            hint = "; read the image as a sequence of positions first"
        block.fail(f"{block.type_name} reads sequences (N, T, F) but received {arrived(spec)}{where}{hint}",
                   *sequence_fixes(spec, port), code="attention-input")
    if spec.size("F") is None:
        block.fail(f"{block.type_name} sizes its weights by the features F, but F is unknown in "
                   f"{spec.describe_axes()}{where}; give the Input a fixed F", code="unknown-size")


# ---- AttentionPool ---------------------------------------------------------------------------------------------------

#: The module AttentionPool compiles to, written into the generated source (and the exported model.py).
ATTENTION_POOL_SOURCE = '''
class AttentionPool(nn.Module):
    """Additive attention pooling over time: (N, T, F) -> (N, F).

    score_t = v . tanh(W h_t + b); the weights are the softmax of the scores over T; the result is the weighted sum
    of the steps. ``proj`` holds W and b, ``score`` holds v.
    """

    def __init__(self, features, attention_size=64):
        super().__init__()
        self.proj = nn.Linear(features, attention_size)
        self.score = nn.Linear(attention_size, 1, bias=False)

    def weights(self, x):
        """The attention weights over time, (N, T), each row summing to 1."""
        return torch.softmax(self.score(torch.tanh(self.proj(x))).squeeze(-1), dim=1)

    def forward(self, x):
        return (self.weights(x).unsqueeze(-1) * x).sum(1)
'''


@register
class AttentionPool(Block):
    type_name = "AttentionPool"
    category = "Pooling"
    id_prefix = "attpool"
    help = ("Additive attention over time: (N, T, F) -> (N, F). Each step gets a score v . tanh(W h_t + b); the "
            "softmax of the scores over T weights the mean of the steps, so the model learns which steps matter "
            "(the weights are the module's weights(x)). Parameters a*F + a + a (W, b, v), a = attention_size.")
    onnx = "MatMul, Tanh and Softmax nodes over T; T may be variable."
    params = (
        Param("attention_size", "int", 64, "Size a of the hidden layer that scores each time step.", min=1),
    )

    def infer(self, p, ins):
        spec = ins[0]
        need_sequence(self, spec, "in")
        return TensorSpec("F", (spec.size("F"),))

    def count(self, p, ins, out):
        f, t, a = ins[0].size("F"), ins[0].size("T"), p["attention_size"]
        params = a * f + a + a
        # W h_t and v . tanh(...) per step, then the weighted sum
        return params, None if t is None else t * (a * f + a + f)

    def module(self, p, ins, out):
        kw = {} if p["attention_size"] == 64 else {"attention_size": p["attention_size"]}
        return ModuleSpec("AttentionPool", (ins[0].size("F"),), kw, helper=ATTENTION_POOL_SOURCE)

    def forward(self, p, ins, out, m, xs, y):
        return [f"{y} = {m}({xs[0]})"]

    def summary(self, p):
        return f"a={p['attention_size']}"


# ---- MultiheadAttention ----------------------------------------------------------------------------------------------

def divisors(n: int) -> list:
    return [d for d in range(1, n + 1) if n % d == 0]


@register
class MultiheadAttention(Block):
    type_name = "MultiheadAttention"
    category = "Fusion"
    id_prefix = "mha"
    help = ("Multi-head attention (torch.nn.MultiheadAttention, batch first): every step of the query in0 (N, T, F) "
            "takes a weighted mix of the values at the steps of in1 (N, S, F2) that match it best, giving (N, T, F). "
            "With inputs=1 it is self-attention: one port `in`, the sequence attends to itself. F must divide by "
            "num_heads. Parameters as torch.nn.MultiheadAttention(F, num_heads, bias=bias, kdim=F2, vdim=F2).")
    onnx = ("decomposed by PyTorch's exporter into MatMul, Softmax and Reshape nodes (no fused Attention "
            "operator); T and S may be variable.")
    params = (
        Param("num_heads", "int", 1, "Number of attention heads; each looks at F / num_heads of the features.",
              min=1, max=64),
        Param("dropout", "float", 0.0, "Dropout on the attention weights while training.", min=0.0, max=1.0),
        Param("bias", "bool", True, "Learn biases in the input and output projections."),
        Param("inputs", "int", 2, "2: query in0 attends to keys/values in1 (cross-attention, e.g. fusion of two "
              "branches); 1: self-attention over one input.", min=1, max=2),
    )

    def inputs(self, p):
        return ["in"] if p["inputs"] == 1 else ["in0", "in1"]

    def infer(self, p, ins):
        ports = self.inputs(p)
        need_sequence(self, ins[0], ports[0], "" if len(ports) == 1 else "the query")
        if len(ports) == 2:
            need_sequence(self, ins[1], ports[1], "the keys and values")
        f, heads = ins[0].size("F"), p["num_heads"]
        if f % heads:
            fits = [d for d in divisors(f) if d <= heads]
            fixes = [FixSpec.set_param("num_heads", fits[-1])]
            if fits[-1] != 1:
                fixes.append(FixSpec.set_param("num_heads", 1))
            bigger = [d for d in divisors(f) if d > heads][:1]
            fixes += [FixSpec.set_param("num_heads", d) for d in bigger]
            self.fail(f"num_heads {heads} does not divide the query's features F={f}: each head takes F / "
                      f"num_heads features (divisors of {f}: {', '.join(map(str, divisors(f)))})", *fixes,
                      code="heads")
        return TensorSpec("TF", (ins[0].size("T"), f))

    def _kv(self, ins):
        return ins[-1]

    def count(self, p, ins, out):
        f, t = ins[0].size("F"), ins[0].size("T")
        f2, s = self._kv(ins).size("F"), self._kv(ins).size("T")
        params = f * (f + 2 * f2) + f * f + (4 * f if p["bias"] else 0)
        if t is None or s is None:
            return params, None
        # projections of queries, keys, values and the output; scores and the weighted sum of values
        return params, t * f * f + 2 * s * f2 * f + 2 * t * s * f + t * f * f

    def module(self, p, ins, out):
        f, f2 = ins[0].size("F"), self._kv(ins).size("F")
        kw = {}
        if p["dropout"]:
            kw["dropout"] = float(p["dropout"])
        if not p["bias"]:
            kw["bias"] = False
        if f2 != f:
            kw["kdim"] = f2
            kw["vdim"] = f2
        kw["batch_first"] = True
        return ModuleSpec("MultiheadAttention", (f, p["num_heads"]), kw)

    def forward(self, p, ins, out, m, xs, y):
        q, kv = xs[0], xs[-1]
        # [0]: the attended values; the averaged weights (need_weights) are not computed
        return [f"{y} = {m}({q}, {kv}, {kv}, need_weights=False)[0]"]

    def summary(self, p):
        s = f"{p['num_heads']} head{'s' if p['num_heads'] != 1 else ''}"
        return s + (", self" if p["inputs"] == 1 else "")
