"""Convolutions. Conv2d on images (C, H, W); Conv1d on signals (C, L) and, over time, on sequences (T, F).
Both apply per time step when a T axis stands in front of the image or signal axes."""

from __future__ import annotations

from hybrid_studio.graph.diagnostics import FixSpec
from hybrid_studio.graph.tensor import AXIS_NAMES, TensorSpec

from .base import (ACTIVATION_CHOICES, PER_STEP, Block, ModuleSpec, StepMap, activation_line, arrived, as_arg, pair,
                   per_step, register, window_steps)
from .params import Param


def conv_size(size, k, s, p, d):
    """PyTorch's output size; None stays None."""
    if size is None:
        return None
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def spatial_out(axes_sizes, ks, ss, ps, ds, what, same_ok: bool):
    """Output sizes per spatial axis, failing with the axis and sizes when one would be <= 0.

    ``axes_sizes``: (axis letter, input size) pairs; ``what``: the kernel's name in the message ("kernel",
    "pooling kernel"); ``same_ok``: whether padding "same" may be offered as a fix (a convolution with stride 1).
    """
    out = []
    for (ax, size), k, s, p, d in zip(axes_sizes, ks, ss, ps, ds):
        n = conv_size(size, k, s, p, d)
        if n is not None and n <= 0:
            fixes = []
            if same_ok:
                fixes.append(FixSpec.set_param("padding", "same"))
            fixes.append(FixSpec.remove())
            Block.fail(f"the output {AXIS_NAMES[ax]} ({ax}) would be {n}: {ax}={size} is too small for the {what} "
                       f"{k}, stride {s}, padding {p}" + (f", dilation {d}" if d != 1 else ""), *fixes,
                       code="too-small")
        out.append(n)
    return out


def padding_amounts(padding, nd):
    """Padding per spatial axis for an int, [h, w] or "valid" (never called for "same", which keeps the size)."""
    if padding == "valid":
        return [0] * nd
    return list(pair(padding)) if nd == 2 else [padding]


def as_list(v, nd):
    return list(pair(v)) if nd == 2 else [v]


class ConvBase(Block):
    category = "Convolution"
    id_prefix = "conv"
    nd = 2
    params = (
        Param("out_channels", "int", 32, "Number of output channels (filters).", min=1),
        Param("kernel_size", "int_or_pair", 3, "Kernel size.", min=1, pair=True),
        Param("stride", "int_or_pair", 1, "Stride.", min=1, pair=True),
        Param("padding", "padding", 0, 'Zero padding on each side, or "same" (keeps the size; stride 1) / "valid".',
              min=0, pair=True),
        Param("dilation", "int_or_pair", 1, "Spacing between kernel elements.", min=1, pair=True),
        Param("bias", "bool", True, "Learn an additive bias."),
        Param("activation", "choice", None, "Activation applied after the convolution.", choices=ACTIVATION_CHOICES),
    )

    def _ks(self, p):
        nd = self.nd
        return as_list(p["kernel_size"], nd), as_list(p["stride"], nd), as_list(p["dilation"], nd)

    def summary(self, p):
        ks = as_list(p["kernel_size"], self.nd)
        s = f"{p['out_channels']} @ {'x'.join(map(str, ks))}"
        if p["stride"] not in (1, [1, 1]):
            s += f" /{'x'.join(map(str, as_list(p['stride'], self.nd)))}"
        if p["padding"] not in (0, [0, 0]):
            s += f" pad {p['padding'] if isinstance(p['padding'], str) else 'x'.join(map(str, as_list(p['padding'], self.nd)))}"
        if p["activation"]:
            s += f", {p['activation']}"
        return s

    def module(self, p, ins, out):
        spec = ins[0]
        c_in = spec.size("F") if self._over_time(spec) else spec.size("C")
        kw = {"kernel_size": as_arg(p["kernel_size"])}
        # PyTorch's defaults are left out so the exported code reads like hand-written code.
        if p["stride"] not in (1, [1, 1]):
            kw["stride"] = as_arg(p["stride"])
        if p["padding"] not in (0, [0, 0]):
            kw["padding"] = as_arg(p["padding"])
        if p["dilation"] not in (1, [1, 1]):
            kw["dilation"] = as_arg(p["dilation"])
        if not p["bias"]:
            kw["bias"] = False
        return ModuleSpec(f"Conv{self.nd}d", (c_in, p["out_channels"]), kw)

    def _over_time(self, spec):
        return False

    def count(self, p, ins, out):
        spec = ins[0]
        c_in = spec.size("F") if self._over_time(spec) else spec.size("C")
        ks, _, _ = self._ks(p)
        kprod = 1
        for k in ks:
            kprod *= k
        params = p["out_channels"] * c_in * kprod + (p["out_channels"] if p["bias"] else 0)
        positions = out.numel()
        macs = None if positions is None else positions * c_in * kprod
        return params, macs

    def _need_channels(self, spec, axis: str):
        """The weights are sized by the input's channels: refuse an unknown count."""
        if spec.size(axis) is None:
            self.fail(f"{self.type_name} sizes its weights by the input's {'channels C' if axis == 'C' else 'features F'}, "
                      f"but {axis} is unknown in {spec.describe_axes()}; give the Input a fixed {axis}",
                      code="unknown-size")

    def _check_padding(self, p):
        if p["padding"] == "same" and any(s != 1 for s in as_list(p["stride"], self.nd)):
            self.fail('padding "same" needs stride 1', FixSpec.set_param("stride", 1),
                      FixSpec.set_param("padding", 0), code="same-stride")

    def _out_sizes(self, p, axes_sizes):
        """Output sizes of the convolved axes ((axis, size) pairs); "same" keeps them (PyTorch pads unevenly
        where it must, so any input size works)."""
        if p["padding"] == "same":
            return [size for _, size in axes_sizes]
        ks, ss, ds = self._ks(p)
        return spatial_out(axes_sizes, ks, ss, padding_amounts(p["padding"], self.nd), ds, "kernel",
                           same_ok=all(s == 1 for s in ss))


@register
class Conv2d(ConvBase):
    type_name = "Conv2d"
    nd = 2
    help = ("2-D convolution over images (N, C, H, W) -> (N, C', H', W'). With a time axis in front, (N, T, C, H, W), "
            "it applies to every frame.")

    def infer(self, p, ins):
        spec = ins[0]
        self._check_padding(p)
        if spec.axes not in ("CHW", "TCHW"):
            fixes = []
            f = spec.size("F") if spec.axes == "F" else None
            side = int(round(f ** 0.5)) if f else 0
            if f and side * side == f:  # a square number of features reads as a one-channel image
                fixes.append(FixSpec.insert_before("in", "Reshape", {"shape": [1, side, side], "axes": "CHW"}))
            elif f:  # otherwise a one-pixel-wide image, convolved down its height only
                kh = pair(p["kernel_size"])[0]
                fixes.append(FixSpec.both(
                    FixSpec.insert_before("in", "Reshape", {"shape": [1, f, 1], "axes": "CHW"}),
                    FixSpec.set_param("kernel_size", [kh, 1])))
            self.fail(f"Conv2d expects images (N, C, H, W) or video (N, T, C, H, W) but received {arrived(spec)}"
                      + ("; use Conv1d for signals and sequences" if spec.axes in ("TF", "CL", "TCL") else ""),
                      *fixes, code="conv-input")
        self._need_channels(spec, "C")
        h, w = self._out_sizes(p, [("H", spec.size("H")), ("W", spec.size("W"))])
        return spec.replace(shape=spec.shape[:-3] + (p["out_channels"], h, w))

    def steps(self, p, ins, out):
        return PER_STEP  # on video (N, T, C, H, W): every frame alone

    def forward(self, p, ins, out, m, xs, y):
        lines = per_step(xs[0], ins[0], 3, y, lambda x: f"{m}({x})")
        if p["activation"]:
            lines.append(f"{y} = {activation_line(p['activation'], y, out)}")
        return lines


@register
class Conv1d(ConvBase):
    type_name = "Conv1d"
    nd = 1
    params = tuple(
        pr if pr.kind not in ("int_or_pair", "padding") else Param(pr.name, pr.kind, pr.default, pr.help, min=pr.min)
        for pr in ConvBase.params)
    help = ("1-D convolution over signals (N, C, L) -> (N, C', L'). On a sequence (N, T, F) it convolves over time "
            "with F as channels -> (N, T', F'). With a time axis in front of a signal, (N, T, C, L), it applies per step.")

    def _over_time(self, spec):
        return spec.axes == "TF"

    def infer(self, p, ins):
        spec = ins[0]
        self._check_padding(p)
        if spec.axes == "TF":
            self._need_channels(spec, "F")
            (t,) = self._out_sizes(p, [("T", spec.size("T"))])
            return TensorSpec("TF", (t, p["out_channels"]), spec.dtype)
        if spec.axes in ("CL", "TCL"):
            self._need_channels(spec, "C")
            (n,) = self._out_sizes(p, [("L", spec.size("L"))])
            return spec.replace(shape=spec.shape[:-2] + (p["out_channels"], n))
        fixes = []
        if spec.axes == "F" and spec.size("F"):
            fixes.append(FixSpec.insert_before("in", "Reshape", {"shape": [1, spec.size("F")], "axes": "CL"}))
        self.fail(f"Conv1d expects signals (N, C, L) or sequences (N, T, F) but received {arrived(spec)}"
                  + ("; use Conv2d for images" if "H" in spec.axes else ""), *fixes, code="conv-input")

    def steps(self, p, ins, out):
        if ins[0].axes != "TF":
            return PER_STEP  # signals (N, T, C, L): every step alone
        if p["padding"] == "same":  # stride 1: the length is kept, the padding PyTorch adds reads zeros
            return StepMap(mask=True)
        (k,), (s,), (d,) = self._ks(p)
        return window_steps(k, s, padding_amounts(p["padding"], 1)[0], d)

    def forward(self, p, ins, out, m, xs, y):
        spec = ins[0]
        if spec.axes == "TF":
            lines = [f"{y} = {m}({xs[0]}.transpose(1, 2)).transpose(1, 2)"]
        else:
            lines = per_step(xs[0], spec, 2, y, lambda x: f"{m}({x})")
        if p["activation"]:
            lines.append(f"{y} = {activation_line(p['activation'], y, out)}")
        return lines
