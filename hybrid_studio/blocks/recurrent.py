"""Recurrent layers: LSTM, GRU and a plain RNN over sequences (N, T, F), batch first.

``return_sequences=false`` returns the final hidden state ``h_n`` of the last layer (both directions for a
bidirectional layer), not ``out[:, -1]``: for the backward direction the last output step has seen one element only.
The forward code indexes the module's result (``self.lstm(x)[1][0]``) rather than unpacking it, so torch.fx can
trace it.

A GRU with ``reset_after=false`` (Keras's ``reset_after=False``, ONNX's ``linear_before_reset=0``) applies the reset
gate before the recurrent matrix; PyTorch's nn.GRU applies it after, so that form is a small helper module
(``GRUResetBefore``, below) that the generated model.py defines: a readable loop over time over one cell.
"""

from __future__ import annotations

from hybrid_studio.graph.diagnostics import FixSpec
from hybrid_studio.graph.tensor import TensorSpec

from .base import PER_STEP, Block, ModuleSpec, register
from .params import Param


#: A recurrent layer over a padded batch with per-sample lengths: PyTorch's packed sequences read each sample up to
#: its own length (the backward direction starts at its real end, h_n is the state at its last real step), and the
#: steps past it come back as zeros.
_PACKED = '''
class {cls}(nn.{base}):
    """nn.{base} that reads each sample of a padded batch only up to its length (packed sequences)."""

    def forward(self, x, lengths):
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, state = super().forward(packed)
        out = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0]
        return out, state
'''


class RecurrentBase(Block):
    """Shared by LSTM, GRU and RNN; subclasses set ``gates`` and how to pick ``h_n`` from the module's result."""

    category = "Recurrent"
    gates = 4
    #: Source suffix that selects h_n (num_layers * directions, N, H) from the module's return value.
    h_n_index = "[1][0]"
    params = (
        Param("hidden_size", "int", 128, "Size of the hidden state of each direction.", min=1),
        Param("num_layers", "int", 1, "Number of stacked recurrent layers.", min=1, max=1000),
        Param("bidirectional", "bool", False, "Also read the sequence backwards (doubles the features with concat)."),
        Param("merge_mode", "choice", "concat", "How the two directions of a bidirectional layer are combined: "
              "concat (2 x hidden_size features) or sum (hidden_size).", choices=("concat", "sum")),
        Param("return_sequences", "bool", False, "Return every time step (N, T, F') instead of the final hidden "
              "state (N, F')."),
        Param("dropout", "float", 0.0, "Dropout between stacked layers (needs num_layers > 1).", min=0.0, max=1.0),
        Param("bias", "bool", True, "Learn bias vectors (PyTorch keeps two per gate set)."),
    )

    # ---- shape ---------------------------------------------------------------------------------------------------
    def _features(self, p) -> int:
        h = p["hidden_size"]
        return 2 * h if p["bidirectional"] and p["merge_mode"] == "concat" else h

    def infer(self, p, ins):
        spec = ins[0]
        if spec.axes != "TF":
            self._wrong_input(spec)
        if spec.size("F") is None:
            self.fail(f"{self.type_name} needs a known feature size F, but received {spec.describe_axes()}; give "
                      f"the Input a fixed F", code="unknown-size")
        f_out = self._features(p)
        if p["return_sequences"]:
            return TensorSpec("TF", (spec.size("T"), f_out))
        return TensorSpec("F", (f_out,))

    def _wrong_input(self, spec: TensorSpec):
        name = self.type_name
        expects = f"{name} reads sequences (N, T, F): time steps T, each a vector of F features"
        axes = spec.axes
        if axes == "CHW":
            self.fail(f"{expects}, but received an image {spec.describe_axes()} with channels C, height H and width "
                      f"W; turn it into a sequence first, e.g. each image column as a time step (T=W, F=C*H)",
                      FixSpec.insert_before("in", "ToSequence", {"axis": "width"}), code="rnn-input")
        if axes in ("TCHW", "TCL", "TLF"):
            what = {"TCHW": "a video", "TCL": "a sequence of signals", "TLF": "a sequence of per-frame sequences"}[axes]
            rest = {"TCHW": "C, H, W", "TCL": "C, L", "TLF": "L, F"}[axes]
            self.fail(f"{expects}, but received {what} {spec.describe_axes()}: each time step is {rest}, not a "
                      f"feature vector; flatten every step into F first", FixSpec.insert_before("in", "Flatten"),
                      code="rnn-input")
        if axes == "CL":
            # ToSequence reads a signal (C, L) as L steps of C features, keeping the time order
            self.fail(f"{expects}, but received a 1-D signal {spec.describe_axes()} with channels C and length L; "
                      f"read it as a sequence first (length L as time, channels C as features)",
                      FixSpec.insert_before("in", "ToSequence"), code="rnn-input")
        if axes == "F":
            self.fail(f"{expects}, but received a feature vector {spec.describe_axes()}: a recurrent layer needs a "
                      f"time axis T. If the block before is recurrent, let it return sequences; otherwise reshape "
                      f"the vector into a sequence", FixSpec.set_upstream_param("in", "return_sequences", True),
                      *([FixSpec.insert_before("in", "Reshape", {"shape": [1, spec.size("F")], "axes": "TF"})]
                        if spec.size("F") else []), code="rnn-input")
        self.fail(f"{expects}, but received {spec.describe_axes()}", code="rnn-input")

    # ---- counting ------------------------------------------------------------------------------------------------
    def count(self, p, ins, out):
        f_in, t = ins[0].size("F"), ins[0].size("T")
        h, g = p["hidden_size"], self.gates
        dirs = 2 if p["bidirectional"] else 1
        bias = self.biases(p) * g * h if p["bias"] else 0
        later = p["num_layers"] - 1  # layers after the first read the previous layer's (directions x H) features
        # closed form, not a loop over layers: a count is O(1) whatever num_layers says
        macs = dirs * g * h * (f_in + h) + later * dirs * g * h * (h * dirs + h)
        params = macs + (1 + later) * dirs * bias
        return params, None if t is None else t * macs

    def biases(self, p) -> int:
        """Bias vectors per gate (PyTorch keeps two: one for the input, one for the recurrent part)."""
        return 2

    # ---- code ----------------------------------------------------------------------------------------------------
    def module(self, p, ins, out):
        kw = {}
        if p["num_layers"] != 1:
            kw["num_layers"] = p["num_layers"]
        if not p["bias"]:
            kw["bias"] = False
        kw["batch_first"] = True
        # PyTorch applies dropout between layers only, and warns when it is set on a single layer; leave it out then
        if p["dropout"] and p["num_layers"] > 1:
            kw["dropout"] = float(p["dropout"])
        if p["bidirectional"]:
            kw["bidirectional"] = True
        if ins[0].lengths:
            # the same weights (same state_dict keys) in a subclass that packs the padded batch
            cls = f"Packed{self.type_name}"
            return ModuleSpec(cls, (ins[0].size("F"), p["hidden_size"]), kw,
                              helper=_PACKED.format(cls=cls, base=self.type_name))
        return ModuleSpec(self.type_name, (ins[0].size("F"), p["hidden_size"]), kw)

    def steps(self, p, ins, out):
        return PER_STEP  # packed: each sample is read up to its own length only

    def onnx_problem(self, p, ins):
        if ins[0].lengths:
            return (f"{self.type_name} over a variable-length input packs its sequences, which ONNX export does not "
                    f"take: export with variable_length off on the Input (the weights are the same)")
        return None

    def forward_steps(self, p, ins, out, m, xs, y, lengths):
        return self.forward(p, ins, out, m, xs, y, call=f"{m}({xs[0]}, {lengths})")

    def forward(self, p, ins, out, m, xs, y, call=None):
        bi, summed = p["bidirectional"], p["merge_mode"] == "sum"
        call = call or f"{m}({xs[0]})"
        if p["return_sequences"]:
            lines = [f"{y} = {call}[0]"]
            if bi and summed:
                # slices, not unflatten(2, (2, H)).sum(2): the TorchScript ONNX exporter bakes the example's batch
                # size into that reshape, and a recurrent block after it then fails at any other batch size
                h = p["hidden_size"]
                lines.append(f"{y} = {y}[..., :{h}] + {y}[..., {h}:]")
            return lines
        lines = [f"{y} = {call}{self.h_n_index}"]  # h_n: (num_layers * directions, N, H)
        if not bi:
            lines.append(f"{y} = {y}[-1]")
        elif summed:
            lines.append(f"{y} = {y}[-2] + {y}[-1]")
        else:
            lines.append(f"{y} = torch.cat(({y}[-2], {y}[-1]), 1)")
        return lines

    def summary(self, p):
        s = str(p["hidden_size"])
        if p["num_layers"] != 1:
            s += f" x{p['num_layers']}"
        if p["bidirectional"]:
            s += ", bi" + (" sum" if p["merge_mode"] == "sum" else "")
        if p["return_sequences"]:
            s += ", seq"
        return s


@register
class LSTM(RecurrentBase):
    type_name = "LSTM"
    id_prefix = "lstm"
    gates = 4
    h_n_index = "[1][0]"  # LSTM returns (out, (h_n, c_n))
    help = ("Long short-term memory over a sequence (N, T, F). Returns the final hidden state (N, F'), or every "
            "step (N, T, F') with return_sequences. F' = hidden_size, doubled for bidirectional concat.")


#: The GRU with the reset gate before the recurrent matrix, written into the generated model.py when a GRU block
#: has reset_after=false. Same arguments (batch first), parameter names and gate order (r, z, n) as nn.GRU, except
#: one bias per gate (``bias_l0``: nn.GRU's two would simply add up here); returns (output, h_n) as nn.GRU does.
#: Exported to ONNX it is ONNX's own GRU op (its linear_before_reset=0 is this form), so the length stays free.
GRU_RESET_BEFORE_SOURCE = '''
class GRUResetBefore(nn.Module):
    """GRU applying the reset gate before the recurrent matrix (Keras reset_after=False, ONNX linear_before_reset=0).

    r = sigmoid(W_ir x + U_hr h + b_r), z = sigmoid(W_iz x + U_hz h + b_z), n = tanh(W_in x + U_hn (r * h) + b_n),
    h' = (1 - z) * n + z * h. Batch first; returns (output, h_n) like nn.GRU.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, dropout=0.0, bidirectional=False):
        super().__init__()
        self.hidden_size, self.num_layers, self.bias, self.dropout = hidden_size, num_layers, bias, dropout
        self.suffixes = ("", "_reverse") if bidirectional else ("",)
        k = hidden_size ** -0.5  # nn.GRU's initialisation: uniform(-k, k)
        for layer in range(num_layers):
            f = input_size if layer == 0 else hidden_size * len(self.suffixes)
            for sfx in self.suffixes:
                shapes = {"weight_ih": (3 * hidden_size, f), "weight_hh": (3 * hidden_size, hidden_size)}
                if bias:
                    shapes["bias"] = (3 * hidden_size,)
                for name, shape in shapes.items():
                    self.register_parameter(f"{name}_l{layer}{sfx}", nn.Parameter(torch.empty(shape).uniform_(-k, k)))

    @staticmethod
    def steps(x, w_ih, w_hh, bias, reverse):
        """One direction over x (N, T, F), gates in the order r, z, n: every step (N, T, H) and the last state."""
        hs = w_hh.shape[1]
        gates_x = F.linear(x, w_ih, bias)  # the input's part of every gate, for all steps at once
        h = x.new_zeros(x.shape[0], hs)
        order = list(range(x.shape[1]))
        outputs = [h] * len(order)
        for t in (order[::-1] if reverse else order):  # the reverse direction reads the sequence backwards
            r, z = torch.sigmoid(gates_x[:, t, :2 * hs] + h @ w_hh[:2 * hs].t()).chunk(2, 1)
            n = torch.tanh(gates_x[:, t, 2 * hs:] + (r * h) @ w_hh[2 * hs:].t())
            h = (1 - z) * n + z * h
            outputs[t] = h
        return torch.stack(outputs, 1), h

    def onnx_weights(self, name, layer):
        """A weight of every direction of a layer in ONNX's gate order z, r, h (the bias: ONNX's [input, recurrent])."""
        if name == "bias" and not self.bias:
            return None
        hs = self.hidden_size
        ws = [getattr(self, f"{name}_l{layer}{sfx}") for sfx in self.suffixes]
        w = torch.stack([torch.cat([w[hs:2 * hs], w[:hs], w[2 * hs:]]) for w in ws])
        return torch.cat([w, torch.zeros_like(w)], 1) if name == "bias" else w

    def forward(self, x):
        last = []
        for layer in range(self.num_layers):
            if layer and self.dropout:
                x = F.dropout(x, self.dropout, self.training)
            if torch.onnx.is_in_onnx_export():  # ONNX has this GRU as an op: export it as one, for any length
                w, r, b = (self.onnx_weights(name, layer) for name in ("weight_ih", "weight_hh", "bias"))
                x, h = OnnxGRUResetBefore.apply(x, w, r, b, self.hidden_size)
            else:
                runs = [self.steps(x, getattr(self, f"weight_ih_l{layer}{sfx}"), getattr(self, f"weight_hh_l{layer}{sfx}"),
                                   getattr(self, f"bias_l{layer}{sfx}") if self.bias else None, sfx == "_reverse")
                        for sfx in self.suffixes]
                x, h = torch.cat([out for out, _ in runs], 2), torch.stack([h for _, h in runs])
            last.append(h)
        return x, last[0] if len(last) == 1 else torch.cat(last, 0)  # one layer: ONNX's own state, no Concat


class OnnxGRUResetBefore(torch.autograd.Function):
    """One layer of GRUResetBefore written as ONNX's GRU op, weights in its gate order z, r, h; export only."""

    @staticmethod
    def forward(ctx, x, w, r, b, hidden_size):
        hs = hidden_size
        swap = lambda m: torch.cat([m[hs:2 * hs], m[:hs], m[2 * hs:]])  # z, r, h <-> r, z, n
        runs = [GRUResetBefore.steps(x, swap(w[d]), swap(r[d]), None if b is None else swap(b[d][:3 * hs]), d == 1)
                for d in range(w.shape[0])]
        return torch.cat([out for out, _ in runs], 2), torch.stack([h for _, h in runs])

    @staticmethod
    def symbolic(g, x, w, r, b, hidden_size):
        direction = "bidirectional" if w.type().sizes()[0] == 2 else "forward"
        ins = [g.op("Transpose", x, perm_i=[1, 0, 2]), w, r] + ([b] if b is not None else [])  # ONNX reads (T, N, F)
        y, y_h = g.op("GRU", *ins, hidden_size_i=hidden_size, direction_s=direction, linear_before_reset_i=0,
                      outputs=2)
        y = g.op("Transpose", y, perm_i=[2, 0, 1, 3])  # (T, D, N, H) -> (N, T, D, H) -> (N, T, D * H)
        return g.op("Reshape", y, g.op("Constant", value_t=torch.tensor([0, 0, -1]))), y_h
'''


@register
class GRU(RecurrentBase):
    type_name = "GRU"
    id_prefix = "gru"
    gates = 3
    h_n_index = "[1]"  # GRU returns (out, h_n)
    help = ("Gated recurrent unit over a sequence (N, T, F). Returns the final hidden state (N, F'), or every step "
            "(N, T, F') with return_sequences. F' = hidden_size, doubled for bidirectional concat. reset_after=false "
            "is Keras's reset_after=False form (one bias per gate), written as a loop over time in the exported "
            "model.py.")
    params = RecurrentBase.params + (
        Param("reset_after", "bool", True, "Apply the reset gate after the recurrent matrix, as PyTorch's GRU and "
              "Keras's default do; false: before it (Keras reset_after=False, ONNX linear_before_reset=0), with one "
              "bias per gate."),
    )
    onnx = ("reset_after=false exports as ONNX's GRU op with linear_before_reset=0 (the same equations), one op per "
            "layer: the batch and the length stay dynamic.")

    def biases(self, p) -> int:
        return 2 if p["reset_after"] else 1

    def module(self, p, ins, out):
        spec = super().module(p, ins, out)
        if p["reset_after"]:
            return spec
        kw = {k: v for k, v in spec.kwargs.items() if k != "batch_first"}  # the helper is always batch first
        return ModuleSpec("GRUResetBefore", spec.args, kw, helper=GRU_RESET_BEFORE_SOURCE)

    def summary(self, p):
        return super().summary(p) + ("" if p["reset_after"] else ", reset before")


@register
class RNN(RecurrentBase):
    type_name = "RNN"
    id_prefix = "rnn"
    gates = 1
    h_n_index = "[1]"  # RNN returns (out, h_n)
    help = ("Plain (Elman) recurrent layer over a sequence (N, T, F): h' = tanh(W x + U h + b), or relu; Keras's "
            "SimpleRNN. Returns the final hidden state (N, F'), or every step (N, T, F') with return_sequences. "
            "F' = hidden_size, doubled for bidirectional concat.")
    params = RecurrentBase.params + (
        Param("nonlinearity", "choice", "tanh", "The activation of the hidden state.", choices=("tanh", "relu")),
    )

    def module(self, p, ins, out):
        spec = super().module(p, ins, out)
        if p["nonlinearity"] != "tanh":
            spec.kwargs["nonlinearity"] = p["nonlinearity"]
        return spec

    def summary(self, p):
        return super().summary(p) + ("" if p["nonlinearity"] == "tanh" else ", relu")
