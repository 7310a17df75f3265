"""Recurrent layers: LSTM and GRU over sequences (N, T, F), batch first.

``return_sequences=false`` returns the final hidden state ``h_n`` of the last layer (both directions for a
bidirectional layer), not ``out[:, -1]``: for the backward direction the last output step has seen one element only.
The forward code indexes the module's result (``self.lstm(x)[1][0]``) rather than unpacking it, so torch.fx can
trace it.
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
    """Shared by LSTM and GRU; subclasses set ``gates`` and how to pick ``h_n`` from the module's result."""

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
        bias = 2 * g * h if p["bias"] else 0
        later = p["num_layers"] - 1  # layers after the first read the previous layer's (directions x H) features
        # closed form, not a loop over layers: a count is O(1) whatever num_layers says
        macs = dirs * g * h * (f_in + h) + later * dirs * g * h * (h * dirs + h)
        params = macs + (1 + later) * dirs * bias
        return params, None if t is None else t * macs

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
                lines.append(f"{y} = {y}.unflatten(2, (2, {p['hidden_size']})).sum(2)")
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


@register
class GRU(RecurrentBase):
    type_name = "GRU"
    id_prefix = "gru"
    gates = 3
    h_n_index = "[1]"  # GRU returns (out, h_n)
    help = ("Gated recurrent unit over a sequence (N, T, F). Returns the final hidden state (N, F'), or every step "
            "(N, T, F') with return_sequences. F' = hidden_size, doubled for bidirectional concat.")
