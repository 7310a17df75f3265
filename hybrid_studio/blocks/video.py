"""Blocks for video (N, T, C, H, W) that mix time and space in one operation: Conv3d (a convolution over time,
height and width together) and ConvLSTM2d (a recurrence whose gates are convolutions, Shi et al. 2015, so the
hidden state keeps its image shape). The per-frame blocks (Conv2d, pools, ...) apply frame by frame instead."""

from __future__ import annotations

from hybrid_studio.graph.diagnostics import FixSpec
from hybrid_studio.graph.tensor import TensorSpec

from .base import ACTIVATION_CHOICES, Block, ModuleSpec, activation_line, arrived, as_arg, pair, register
from .conv import spatial_out
from .params import Param


def triple(v):
    """An int or [t, h, w] as a (t, h, w) tuple."""
    return (v, v, v) if isinstance(v, int) else tuple(v)


def _prod(xs):
    n = 1
    for x in xs:
        n *= x
    return n


def _video_fixes(spec: TensorSpec, port: str = "in") -> list:
    """Fixes that turn what arrived into a video: an image becomes a clip of one frame."""
    if spec.axes == "CHW" and None not in spec.shape:
        return [FixSpec.insert_before(port, "Reshape", {"shape": [1, *spec.shape], "axes": "TCHW"})]
    f = spec.size("F") if spec.axes == "TF" else None
    side = int(round(f ** 0.5)) if f else 0
    if f and side * side == f:  # a sequence of square-numbered feature vectors reads as one-channel frames
        return [FixSpec.insert_before(port, "Reshape", {"shape": [-1, 1, side, side], "axes": "TCHW"})]
    return []


def _need_video(block: Block, spec: TensorSpec, what: str, extra_fixes=()):
    """Fail unless ``spec`` is a video (T, C, H, W) with a known channel count."""
    if spec.axes != "TCHW":
        hint = ""
        fixes = list(_video_fixes(spec))
        if spec.axes == "CHW":
            hint = ("; an image has no time axis T: stack frames into a video Input (T, C, H, W), or treat this "
                    "image as a clip of one frame")
            fixes = list(extra_fixes) + fixes  # the block's own fix (which fits the clip) first
        elif spec.axes in ("TF", "TCL"):
            hint = "; each time step must be an image (C, H, W): Reshape the steps into images first"
        block.fail(f"{block.type_name} {what} video (N, T, C, H, W) but received {arrived(spec)}{hint}", *fixes,
                   code="video-input")
    if spec.size("C") is None:
        block.fail(f"{block.type_name} sizes its weights by the input's channels C, but C is unknown in "
                   f"{spec.describe_axes()}; give the Input a fixed C", code="unknown-size")


# ---- Conv3d ----------------------------------------------------------------------------------------------------------

@register
class Conv3d(Block):
    type_name = "Conv3d"
    category = "Convolution"
    id_prefix = "conv3d"
    help = ("3-D convolution over time and space together: video (N, T, C, H, W) -> (N, T', C', H', W'). Each "
            "output frame sees kernel_size[0] neighbouring input frames. Sizes follow PyTorch's formula; padding "
            "\"same\" keeps T, H and W (stride 1). Parameters: kt*kh*kw*C*C' (+ C' bias).")
    params = (
        Param("out_channels", "int", 32, "Number of output channels (filters).", min=1),
        Param("kernel_size", "int_or_pair", 3, "Kernel size; an int or [t, h, w].", min=1, pair=True, entries=3),
        Param("stride", "int_or_pair", 1, "Stride; an int or [t, h, w].", min=1, pair=True, entries=3),
        Param("padding", "padding", 0, 'Zero padding on each side, an int or [t, h, w], or "same" (keeps the sizes; '
              'stride 1) / "valid".', min=0, pair=True, entries=3),
        Param("dilation", "int_or_pair", 1, "Spacing between kernel elements; an int or [t, h, w].", min=1,
              pair=True, entries=3),
        Param("bias", "bool", True, "Learn an additive bias."),
        Param("activation", "choice", None, "Activation applied after the convolution.", choices=ACTIVATION_CHOICES),
    )

    onnx = "a standard ONNX Conv over (N, C, T, H, W) between two Transposes; T may be variable."

    def infer(self, p, ins):
        spec = ins[0]
        if p["padding"] == "same" and triple(p["stride"]) != (1, 1, 1):
            self.fail('padding "same" needs stride 1', FixSpec.set_param("stride", 1),
                      FixSpec.set_param("padding", 0), code="same-stride")
        kt, kh, kw = triple(p["kernel_size"])
        # an image: a clip of one frame, convolved by a kernel one frame deep
        one_frame = FixSpec.both(*_video_fixes(spec), FixSpec.set_param("kernel_size", [1, kh, kw])) \
            if _video_fixes(spec) and kt != 1 else None
        _need_video(self, spec, "convolves", [one_frame] if one_frame else [])
        t, c, h, w = spec.shape
        if p["padding"] == "same":
            return spec.replace(shape=(t, p["out_channels"], h, w))
        pads = (0, 0, 0) if p["padding"] == "valid" else triple(p["padding"])
        sizes = spatial_out([("T", t), ("H", h), ("W", w)], triple(p["kernel_size"]), triple(p["stride"]), pads,
                            triple(p["dilation"]), "kernel", same_ok=triple(p["stride"]) == (1, 1, 1))
        return spec.replace(shape=(sizes[0], p["out_channels"], sizes[1], sizes[2]))

    def count(self, p, ins, out):
        c_in = ins[0].size("C")
        kprod = _prod(triple(p["kernel_size"]))
        params = p["out_channels"] * c_in * kprod + (p["out_channels"] if p["bias"] else 0)
        n = out.numel()
        return params, None if n is None else n * c_in * kprod

    def module(self, p, ins, out):
        kw = {"kernel_size": as_arg(p["kernel_size"])}
        for name, default in (("stride", 1), ("padding", 0), ("dilation", 1)):
            if p[name] not in (default, [default] * 3):
                kw[name] = as_arg(p[name])
        if not p["bias"]:
            kw["bias"] = False
        return ModuleSpec("Conv3d", (ins[0].size("C"), p["out_channels"]), kw)

    def forward(self, p, ins, out, m, xs, y):
        # PyTorch's Conv3d reads (N, C, D, H, W): time goes behind the channels and back
        lines = [f"{y} = {m}({xs[0]}.transpose(1, 2)).transpose(1, 2)"]
        if p["activation"]:
            lines.append(f"{y} = {activation_line(p['activation'], y, out)}")
        return lines

    def summary(self, p):
        s = f"{p['out_channels']} @ {'x'.join(map(str, triple(p['kernel_size'])))}"
        if p["stride"] not in (1, [1, 1, 1]):
            s += f" /{'x'.join(map(str, triple(p['stride'])))}"
        if p["padding"] not in (0, [0, 0, 0]):
            s += f" pad {p['padding'] if isinstance(p['padding'], str) else 'x'.join(map(str, triple(p['padding'])))}"
        if p["activation"]:
            s += f", {p['activation']}"
        return s


# ---- ConvLSTM2d ------------------------------------------------------------------------------------------------------

#: The module ConvLSTM2d compiles to. It is written into the generated source (and so into the exported model.py),
#: which therefore needs nothing but torch. The compiler traces it as one step (its loop runs over the input's T).
CONVLSTM_SOURCE = '''
class ConvLSTM2d(nn.Module):
    """Convolutional LSTM over video (N, T, C, H, W) (Shi et al. 2015; Keras's ConvLSTM2D).

    One convolution over [input frame, hidden state] gives the four gates i, f, g, o, so the weights are
    ``conv.weight`` (4 * hidden, C + hidden, kh, kw) and ``conv.bias``. The input's part of that convolution runs on
    every frame at once before the loop; the hidden state's part, always padded "same", runs once per step.
    """

    def __init__(self, in_channels, hidden_channels, kernel_size=3, padding="same", return_sequences=True,
                 bias=True):
        super().__init__()
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.padding = padding
        self.return_sequences = return_sequences
        self.conv = nn.Conv2d(in_channels + hidden_channels, 4 * hidden_channels, kernel_size, padding="same",
                              bias=bias)

    def forward(self, x):
        n, steps = x.shape[0], x.shape[1]
        w_x = self.conv.weight[:, :self.in_channels]
        w_h = self.conv.weight[:, self.in_channels:]
        gates_x = F.conv2d(x.flatten(0, 1), w_x, self.conv.bias, padding=self.padding)
        gates_x = gates_x.unflatten(0, (n, steps))
        h = gates_x.new_zeros(n, self.hidden_channels, gates_x.shape[3], gates_x.shape[4])
        c = h
        outputs = []
        for t in range(steps):
            gates = gates_x[:, t] + F.conv2d(h, w_h, padding="same")
            i, f, g, o = gates.chunk(4, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            if self.return_sequences:
                outputs.append(h)
        return torch.stack(outputs, 1) if self.return_sequences else h
'''


@register
class ConvLSTM2d(Block):
    type_name = "ConvLSTM2d"
    category = "Recurrent"
    id_prefix = "convlstm"
    help = ("Convolutional LSTM over video (N, T, C, H, W): an LSTM whose gates are convolutions, so its state is "
            "an image and motion is learnt where it happens. Returns every step (N, T, C', H', W') with "
            "return_sequences, else the last hidden state (N, C', H', W'); C' = hidden_channels. One convolution "
            "over [input, hidden state] gives the 4 gates (i, f, g, o): parameters 4*kh*kw*(C+C')*C' + 4*C', as "
            "Keras ConvLSTM2D counts them.")
    params = (
        Param("hidden_channels", "int", 16, "Channels of the hidden state (C').", min=1),
        Param("kernel_size", "int_or_pair", 3, "Kernel size of the gate convolution; an int or [h, w].", min=1,
              pair=True),
        Param("padding", "choice", "same", 'How the input is padded: "same" keeps H and W; "valid" shrinks them by '
              'the kernel size - 1 (the hidden state is always padded "same").', choices=("same", "valid")),
        Param("return_sequences", "bool", True, "Return every step (N, T, C', H', W') instead of the last hidden "
              "state (N, C', H', W')."),
        Param("bias", "bool", True, "Learn the gates' bias (one vector of 4 x hidden_channels)."),
    )

    onnx = ("the loop over time is unrolled into T steps of ONNX Conv, Sigmoid and Tanh nodes, so the video's T "
            "must be fixed (a variable T is refused with a message); the batch stays dynamic.")

    def onnx_problem(self, p, ins):
        if ins[0].size("T") is None:
            return ("loops over the time steps, which the ONNX export unrolls at one length: give the video Input a "
                    "fixed T (its batch size stays free)")
        return None

    def infer(self, p, ins):
        spec = ins[0]
        _need_video(self, spec, "reads")
        t, _, h, w = spec.shape
        hc = p["hidden_channels"]
        if p["padding"] == "same":
            oh, ow = h, w
        else:
            kh, kw = pair(p["kernel_size"])
            oh, ow = self._valid_sizes(h, w, kh, kw)
        if p["return_sequences"]:
            return TensorSpec("TCHW", (t, hc, oh, ow))
        return TensorSpec("CHW", (hc, oh, ow))

    def _valid_sizes(self, h, w, kh, kw):
        sizes = []
        for ax, n, k in (("H", h, kh), ("W", w, kw)):
            if n is not None and n - k + 1 <= 0:
                self.fail(f"with padding \"valid\" the hidden state's {ax} would be {n - k + 1}: {ax}={n} is "
                          f"smaller than the kernel {k}", FixSpec.set_param("padding", "same"), code="too-small")
            sizes.append(None if n is None else n - k + 1)
        return sizes

    def count(self, p, ins, out):
        c, hc = ins[0].size("C"), p["hidden_channels"]
        kh, kw = pair(p["kernel_size"])
        params = 4 * kh * kw * (c + hc) * hc + (4 * hc if p["bias"] else 0)
        t = ins[0].size("T")
        oh, ow = out.shape[-2:]
        if None in (t, oh, ow):
            return params, None
        return params, t * oh * ow * 4 * hc * kh * kw * (c + hc)

    def module(self, p, ins, out):
        kw = {"kernel_size": as_arg(p["kernel_size"])}
        if p["padding"] != "same":
            kw["padding"] = p["padding"]
        if not p["return_sequences"]:
            kw["return_sequences"] = False
        if not p["bias"]:
            kw["bias"] = False
        return ModuleSpec("ConvLSTM2d", (ins[0].size("C"), p["hidden_channels"]), kw, helper=CONVLSTM_SOURCE)

    def forward(self, p, ins, out, m, xs, y):
        return [f"{y} = {m}({xs[0]})"]

    def summary(self, p):
        s = f"{p['hidden_channels']} @ {'x'.join(map(str, pair(p['kernel_size'])))}"
        if p["padding"] != "same":
            s += f" {p['padding']}"
        return s + (", seq" if p["return_sequences"] else "")
