"""Pooling. MaxPool2d/AvgPool2d on images (C, H, W); MaxPool1d/AvgPool1d on signals (C, L) and, over time, on
sequences (T, F); GlobalAvgPool averages every spatial position (or every time step of a sequence) away.
The spatial pools apply per time step when a T axis stands in front of the image or signal axes."""

from __future__ import annotations

from hybrid_studio.graph.diagnostics import FixSpec
from hybrid_studio.graph.tensor import TensorSpec

from .base import PER_STEP, Block, ModuleSpec, arrived, as_arg, per_step, register, window_steps
from .conv import as_list, spatial_out
from .params import Param


def _dims(v, nd) -> str:
    return "x".join(map(str, as_list(v, nd)))


class PoolBase(Block):
    """Shared params, checks, code and counting of MaxPool1d/2d and AvgPool1d/2d."""

    category = "Pooling"
    id_prefix = "pool"
    nd = 2
    op = "Max"
    params = (
        Param("kernel_size", "int_or_pair", 2, "Size of the pooling window; an int or [h, w].", min=1, pair=True),
        Param("stride", "int_or_pair", None, "Step between windows; an int or [h, w]. Empty: the kernel size "
              "(windows do not overlap).", min=1, pair=True, nullable=True),
        Param("padding", "int_or_pair", 0, "Implicit padding on each side (at most half the kernel); an int or "
              "[h, w].", min=0, pair=True),
    )

    # ---- helpers -------------------------------------------------------------------------------------------------
    def _geometry(self, p):
        """(kernel, stride, padding) as lists of one entry per pooled axis."""
        nd = self.nd
        ks = as_list(p["kernel_size"], nd)
        ss = ks if p["stride"] is None else as_list(p["stride"], nd)
        ps = as_list(p["padding"], nd)
        return ks, ss, ps

    def _check_padding(self, p, ks, ps):
        # PyTorch refuses padding above half the window (a window could then see only padding).
        if any(pd > k // 2 for k, pd in zip(ks, ps)):
            fixed = [min(pd, k // 2) for k, pd in zip(ks, ps)]
            value = fixed[0] if self.nd == 1 or fixed[0] == fixed[1] else fixed
            self.fail(f"padding {_dims(p['padding'], self.nd)} is more than half the kernel "
                      f"{_dims(p['kernel_size'], self.nd)}: a window could cover padding only",
                      FixSpec.set_param("padding", value), code="pool-padding")

    def _pooled(self, p, axes_sizes):
        ks, ss, ps = self._geometry(p)
        self._check_padding(p, ks, ps)
        return spatial_out(axes_sizes, ks, ss, ps, [1] * self.nd, "pooling kernel", same_ok=False)

    # ---- counting and code ---------------------------------------------------------------------------------------
    def count(self, p, ins, out):
        kprod = 1
        for k in as_list(p["kernel_size"], self.nd):
            kprod *= k
        n = out.numel()
        # one compare / add per window element
        return 0, None if n is None else n * kprod

    def module(self, p, ins, out):
        kw = {}
        if p["stride"] is not None:
            kw["stride"] = as_arg(p["stride"])
        if p["padding"] not in (0, [0, 0]):
            kw["padding"] = as_arg(p["padding"])
        return ModuleSpec(f"{self.op}Pool{self.nd}d", (as_arg(p["kernel_size"]),), kw)

    def summary(self, p):
        s = _dims(p["kernel_size"], self.nd)
        if p["stride"] is not None and as_list(p["stride"], self.nd) != as_list(p["kernel_size"], self.nd):
            s += f" /{_dims(p['stride'], self.nd)}"
        if p["padding"] not in (0, [0, 0]):
            s += f" pad {_dims(p['padding'], self.nd)}"
        return s


class Pool2dBase(PoolBase):
    nd = 2

    def infer(self, p, ins):
        spec = ins[0]
        if spec.axes not in ("CHW", "TCHW"):
            # a vector reshaped to a 1-pixel-wide image could not be pooled 2-D anyway: offer only removal
            fixes = [FixSpec.remove()] if spec.axes == "F" else []
            hint = ""
            if spec.axes in ("TF", "CL", "TCL"):
                hint = f"; use {self.op}Pool1d for signals and sequences"
            elif spec.axes == "F":
                hint = "; a feature vector has no height or width to pool"
            self.fail(f"{self.type_name} expects images (N, C, H, W) or video (N, T, C, H, W) but received "
                      f"{arrived(spec)}{hint}", *fixes, code="pool-input")
        h, w = self._pooled(p, [("H", spec.size("H")), ("W", spec.size("W"))])
        return spec.replace(shape=spec.shape[:-2] + (h, w))

    def forward(self, p, ins, out, m, xs, y):
        return per_step(xs[0], ins[0], 3, y, lambda x: f"{m}({x})")

    def steps(self, p, ins, out):
        return PER_STEP  # on video: every frame alone


class Pool1dBase(PoolBase):
    nd = 1
    params = tuple(Param(pr.name, pr.kind, pr.default, pr.help.replace("; an int or [h, w]", ""), min=pr.min,
                         nullable=pr.nullable) for pr in PoolBase.params)

    def infer(self, p, ins):
        spec = ins[0]
        if spec.axes == "TF":
            (t,) = self._pooled(p, [("T", spec.size("T"))])
            return spec.replace(shape=(t, spec.size("F")))
        if spec.axes in ("CL", "TCL"):
            (n,) = self._pooled(p, [("L", spec.size("L"))])
            return spec.replace(shape=spec.shape[:-1] + (n,))
        fixes = []
        if spec.axes == "F" and spec.size("F"):
            fixes.append(FixSpec.insert_before("in", "Reshape", {"shape": [1, spec.size("F")], "axes": "CL"}))
        hint = f"; use {self.op}Pool2d for images" if "H" in spec.axes else ""
        self.fail(f"{self.type_name} expects signals (N, C, L) or sequences (N, T, F) but received {arrived(spec)}"
                  f"{hint}", *fixes, code="pool-input")

    def steps(self, p, ins, out):
        if ins[0].axes != "TF":
            return PER_STEP
        (k,), (s,), (pd,) = self._geometry(p)
        if pd and self.op == "Max":
            # a sample alone is padded with -inf, in a batch its steps past the length hold zeros
            self.fail(f"{self.type_name} with padding {pd} over a variable-length time axis would take the maximum "
                      f"over the batch's zero padding where the sample alone has none: use padding 0",
                      FixSpec.set_param("padding", 0), code="lengths")
        return window_steps(k, s, pd)

    def forward(self, p, ins, out, m, xs, y):
        spec = ins[0]
        if spec.axes == "TF":
            # pool over time with the features as channels
            return [f"{y} = {m}({xs[0]}.transpose(1, 2)).transpose(1, 2)"]
        return per_step(xs[0], spec, 2, y, lambda x: f"{m}({x})")


@register
class MaxPool2d(Pool2dBase):
    type_name = "MaxPool2d"
    op = "Max"
    help = ("Max pooling over images (N, C, H, W) -> (N, C, H', W'), channels kept. With a time axis in front, "
            "(N, T, C, H, W), it pools every frame.")


@register
class AvgPool2d(Pool2dBase):
    type_name = "AvgPool2d"
    op = "Avg"
    help = ("Average pooling over images (N, C, H, W) -> (N, C, H', W'), channels kept. With a time axis in front, "
            "(N, T, C, H, W), it pools every frame.")


@register
class MaxPool1d(Pool1dBase):
    type_name = "MaxPool1d"
    op = "Max"
    help = ("Max pooling over signals (N, C, L) -> (N, C, L'), channels kept. On a sequence (N, T, F) it pools over "
            "time -> (N, T', F). With a time axis in front of a signal, (N, T, C, L), it pools every step.")


@register
class AvgPool1d(Pool1dBase):
    type_name = "AvgPool1d"
    op = "Avg"
    help = ("Average pooling over signals (N, C, L) -> (N, C, L'), channels kept. On a sequence (N, T, F) it pools "
            "over time -> (N, T', F). With a time axis in front of a signal, (N, T, C, L), it pools every step.")


@register
class GlobalAvgPool(Block):
    type_name = "GlobalAvgPool"
    category = "Pooling"
    id_prefix = "gap"
    help = ("Averages away the spatial axes: images (N, C, H, W) and signals (N, C, L) become feature vectors "
            "(N, F=C); a sequence (N, T, F) is averaged over time -> (N, F). With a time axis in front of images or "
            "signals, (N, T, C, H, W), it pools every step -> (N, T, F=C).")

    #: input axes -> (output axes, per-sample axes averaged, given as torch dims)
    _RULES = {"CHW": ("F", (2, 3)), "CL": ("F", (2,)), "TF": ("F", (1,)),
              "TCHW": ("TF", (3, 4)), "TCL": ("TF", (3,))}

    def infer(self, p, ins):
        spec = ins[0]
        rule = self._RULES.get(spec.axes)
        if rule is None:
            fixes = [FixSpec.remove()] if spec.axes == "F" else []
            hint = ": it is already a feature vector" if spec.axes == "F" else ""
            self.fail(f"GlobalAvgPool expects images (N, C, H, W), signals (N, C, L), sequences (N, T, F) or a "
                      f"time axis in front of images or signals, but received {arrived(spec)}{hint}",
                      *fixes, code="pool-input")
        axes = rule[0]
        if spec.axes == "TF":
            return TensorSpec("F", (spec.size("F"),), spec.dtype)
        keep = (spec.size("C"),) if axes == "F" else (spec.size("T"), spec.size("C"))
        return TensorSpec(axes, keep, spec.dtype)

    def count(self, p, ins, out):
        n = ins[0].numel()
        return 0, n  # one add per input element; None when a size is unknown

    def forward(self, p, ins, out, m, xs, y):
        dims = self._RULES[ins[0].axes][1]
        dim = str(dims[0]) if len(dims) == 1 else f"({', '.join(map(str, dims))})"
        return [f"{y} = {xs[0]}.mean(dim={dim})"]

    def steps(self, p, ins, out):
        return PER_STEP  # per frame of a video; over a variable-length T, the mean of each sample's own steps

    def forward_steps(self, p, ins, out, m, xs, y, lengths):
        if ins[0].axes != "TF":
            return self.forward(p, ins, out, m, xs, y)
        # the steps past each sample's length are zeroed, and the sum divided by the sample's own length
        return [f"{y} = hs_mask({xs[0]}, {lengths}).sum(1) / {lengths}[:, None].to({xs[0]}.dtype)"]

    def summary(self, p):
        return "global mean"  # over the spatial axes or time, by the input; never blank on the canvas


__all__ = ["AvgPool1d", "AvgPool2d", "GlobalAvgPool", "MaxPool1d", "MaxPool2d"]
