"""The Block base class and the catalog (registry) of block types.

A block type is ONE class that owns everything about it: params, ports, the shape rule (``infer``), parameter and
MAC counting (``count``), and the code it compiles to: ``module`` (the nn.Module it holds, as a ``ModuleSpec``)
and ``forward`` (the lines of Python that run it). The compiler and the standalone exporter both use that one
description, so a compiled model and its exported file have the same ``state_dict`` keys and the same numbers.
Nothing here imports torch at module level.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

from hybrid_studio.graph.diagnostics import FixSpec, ShapeError
from hybrid_studio.graph.model import Node
from hybrid_studio.graph.tensor import TensorSpec

from .params import Param

CATEGORIES = ("Inputs", "Convolution", "Pooling", "Recurrent", "Fusion", "Shape",
              "Normalisation & regularisation", "Dense", "Outputs")

#: Activation name -> source template over ``{x}`` (``{dim}`` for softmax).
ACTIVATIONS = {
    "relu": "F.relu({x})", "leaky_relu": "F.leaky_relu({x})", "elu": "F.elu({x})", "gelu": "F.gelu({x})",
    "silu": "F.silu({x})", "tanh": "torch.tanh({x})", "sigmoid": "torch.sigmoid({x})",
    "hardtanh": "F.hardtanh({x})", "softmax": "F.softmax({x}, dim={dim})",
}
#: The ``activation`` param of Conv and Linear: none, or one of ACTIVATIONS.
ACTIVATION_CHOICES = (None, *ACTIVATIONS)

#: Axes -> what a tensor of that form is, in the user's words (for diagnostics).
_WHAT = {"F": "a feature vector", "TF": "a sequence", "CL": "a 1-D signal", "TCL": "a sequence of 1-D signals",
         "CHW": "an image", "TCHW": "a video", "TLF": "a sequence of per-frame sequences"}


def arrived(spec: TensorSpec) -> str:
    """What a block received, in the user's words and axis terms: ``a feature vector (N, F=64)``."""
    what = "token ids" if spec.dtype == "int64" else _WHAT.get(spec.axes, "a tensor")
    return f"{what} {spec.describe_axes()}"


def lit(v) -> str:
    """Python source for a literal param value. Only plain data is allowed, so generated code cannot carry code."""
    if v is None or isinstance(v, bool):
        return repr(v)
    if isinstance(v, int):
        return repr(int(v))
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            raise ValueError(f"not a finite number: {v}")
        return repr(float(v))
    if isinstance(v, str):
        if not all(c.isalnum() or c in "_-. " for c in v):
            raise ValueError(f"unexpected characters in {v!r}")
        return repr(v)
    if isinstance(v, (list, tuple)):
        inner = ", ".join(lit(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    raise ValueError(f"cannot write {type(v).__name__} as a literal")


@dataclass
class ModuleSpec:
    """An ``nn.<cls>(*args, **kwargs)`` call, as data: built by the compiler, written out by the exporter.

    ``helper``: for a block whose module PyTorch does not have (ConvLSTM2d, AttentionPool), the source of the
    ``class <cls>(nn.Module)`` it needs. The generated file then defines that class once, above ``Model``, and calls
    ``<cls>(...)`` instead of ``nn.<cls>(...)``: the exported model.py stays standalone (it imports only torch).
    """

    cls: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    helper: str = ""

    def source(self) -> str:
        parts = [lit(a) for a in self.args] + [f"{k}={lit(v)}" for k, v in self.kwargs.items()]
        return f"{'' if self.helper else 'nn.'}{self.cls}({', '.join(parts)})"

    def build(self):
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        if self.helper:
            namespace = {"torch": torch, "nn": nn, "F": F, "__name__": "hybrid_studio_generated"}
            exec(self.helper, namespace)  # noqa: S102 - a block's own class source, no project data in it
            return namespace[self.cls](*self.args, **self.kwargs)
        return getattr(nn, self.cls)(*self.args, **self.kwargs)


@dataclass(frozen=True)
class StepMap:
    """How a block maps the per-sample lengths of a variable-length time axis T (see ``Block.steps``).

    The output length is ``(L + offset) // stride + 1``: a convolution's or pooling's size rule over T
    (``offset`` = 2 * padding - dilation * (kernel - 1) - 1); the default keeps L (a per-step block). ``mask``: the
    block mixes neighbouring steps, so the steps past each sample's length are set to zero in its input first (it then
    reads zeros there, the zero padding it would see for the sample alone). The same rule
    runs in the generated model (on tensors) and in plain Python (``hybrid_studio.compile.lengths``).
    """

    offset: int = -1
    stride: int = 1
    mask: bool = False

    @property
    def keeps(self) -> bool:
        return self.offset == -1 and self.stride == 1

    def apply(self, n):
        """The output length(s) for input length(s) ``n``: an int, a numpy array or a tensor alike."""
        return n if self.keeps else (n + self.offset) // self.stride + 1

    def source(self, n: str) -> str:
        if self.keeps:
            return n
        shift = f" + {self.offset}" if self.offset > 0 else f" - {-self.offset}" if self.offset < 0 else ""
        return f"({n}{shift}) // {self.stride} + 1"


#: A block that works on each time step alone keeps the lengths as they are.
PER_STEP = StepMap()


def window_steps(kernel: int, stride: int, padding: int, dilation: int = 1) -> StepMap:
    """The StepMap of a convolution or pooling over T (PyTorch's size rule), with masking after it."""
    return StepMap(2 * padding - dilation * (kernel - 1) - 1, stride, True)


def pair(v):
    """An int or [h, w] as a (h, w) tuple."""
    return (v, v) if isinstance(v, int) else tuple(v)


def as_arg(v):
    """A param value as a module argument: ``[h, w]`` lists become tuples, as PyTorch writes them."""
    return tuple(v) if isinstance(v, list) else v


def activation_line(name, x: str, spec: TensorSpec) -> str:
    """Source applying activation ``name`` to expression ``x`` (softmax over the feature axis)."""
    dim = spec.dim("C") if "C" in spec.axes else spec.rank
    return ACTIVATIONS[name].format(x=x, dim=dim)


def _fresh(v):
    """A copy of a param value that the caller may change: lists (of lists) are copied, scalars shared."""
    return copy.deepcopy(v) if isinstance(v, (list, dict)) else v


class Block:
    """Base class of every block type. Subclasses set the class attributes and override what differs."""

    type_name: ClassVar[str] = ""
    category: ClassVar[str] = ""
    id_prefix: ClassVar[str] = "block"
    help: ClassVar[str] = ""
    params: ClassVar[tuple] = ()
    #: True only for blocks that take int64 tokens (Embedding).
    accepts_int: ClassVar[bool] = False
    #: How the block exports to ONNX, for the block reference (docs/blocks.md); empty when nothing needs saying.
    onnx: ClassVar[str] = ""

    # ---- params ------------------------------------------------------------------------------------------------
    @classmethod
    def param(cls, name: str) -> Param:
        return cls._param_index()[name]  # KeyError for a name the block does not have

    @classmethod
    def _param_index(cls) -> dict:
        """name -> Param, built once per class (the checker asks several times per block and edit)."""
        index = cls.__dict__.get("_params_by_name")
        if index is None or len(index) != len(cls.params):
            index = {p.name: p for p in cls.params}
            cls._params_by_name = index
        return index

    @classmethod
    def _default_parts(cls) -> tuple[dict, tuple]:
        """(defaults of immutable values, names whose default is a list), built once per class: defaults() is
        asked for every block on every check, and testing each value's type each time was a fifth of the check."""
        parts = cls.__dict__.get("_defaults_parts")
        if parts is None or parts[2] is not cls.params:
            scalars = {p.name: p.default for p in cls.params}
            mutable = tuple(p.name for p in cls.params if isinstance(p.default, (list, dict)))
            parts = (scalars, mutable, cls.params)
            cls._defaults_parts = parts
        return parts[0], parts[1]

    @classmethod
    def defaults(cls) -> dict:
        # only lists (shapes, [h, w]) are mutable among param values: copy those, share the rest
        scalars, mutable = cls._default_parts()
        out = dict(scalars)
        for name in mutable:
            out[name] = copy.deepcopy(out[name])
        return out

    @classmethod
    def resolve(cls, raw: dict) -> tuple[dict, list]:
        """Params with defaults filled in, and a list of (name, problem) for values that are not allowed."""
        p = cls.defaults()
        problems = []
        for name, v in (raw or {}).items():
            try:
                spec = cls.param(name)
            except KeyError:
                problems.append((name, f"{cls.type_name} has no parameter '{name}'"))
                continue
            err = spec.problem(v)
            if err:
                problems.append((name, f"{name} {err}"))
            else:
                p[name] = _fresh(v)
        return p, problems

    @classmethod
    def safe_params(cls, raw: dict) -> dict:
        """Resolved params, falling back to defaults for values that are not allowed (for ports and summaries)."""
        return cls.resolve(raw)[0]

    # ---- ports -------------------------------------------------------------------------------------------------
    def inputs(self, p: dict) -> list[str]:
        return ["in"]

    def outputs(self, p: dict) -> list[str]:
        return ["out"]

    # ---- shape and counting --------------------------------------------------------------------------------------
    def infer(self, p: dict, ins: list[TensorSpec]) -> TensorSpec:
        """The output spec, or ShapeError saying what was expected and what arrived."""
        return ins[0]

    def count(self, p: dict, ins: list[TensorSpec], out: TensorSpec) -> tuple[int, int]:
        """(parameter count, multiply-accumulates per sample; 0 when a size is unknown)."""
        return 0, 0

    # ---- code --------------------------------------------------------------------------------------------------
    def module(self, p: dict, ins: list[TensorSpec], out: TensorSpec) -> ModuleSpec | None:
        """The module held as ``self.<id>``; None for blocks without weights."""
        return None

    def forward(self, p: dict, ins: list[TensorSpec], out: TensorSpec, m: str, xs: list[str], y: str) -> list[str]:
        """Lines of Python computing ``y`` from the input variables ``xs``; ``m`` is ``self.<id>``."""
        return [f"{y} = {xs[0]}"]

    def steps(self, p: dict, ins: list[TensorSpec], out: TensorSpec) -> StepMap:
        """How this block treats per-sample lengths when an input carries them (``TensorSpec.lengths``: a
        variable-length Input upstream): a StepMap, or ShapeError (``self.fail``) when it cannot honour them, so
        that padding never changes a result. The default refuses; per-step blocks return PER_STEP."""
        self.fail(f"{self.type_name} cannot honour per-sample lengths: it would read the padding of a "
                  f"variable-length input {arrived(ins[0])}. Put it where the time axis is gone (after a recurrent "
                  f"layer's final state), or turn variable_length off on the Input", code="lengths")

    def forward_steps(self, p: dict, ins: list[TensorSpec], out: TensorSpec, m: str, xs: list[str], y: str,
                      lengths: str) -> list[str]:
        """``forward`` for inputs that carry per-sample lengths (the variable ``lengths``); blocks that need them
        (the recurrent ones pack the sequence) override it. The compiler adds the length update and the masking."""
        return self.forward(p, ins, out, m, xs, y)

    def onnx_problem(self, p: dict, ins: list[TensorSpec]) -> str | None:
        """Why this block, with these inputs, cannot be exported to ONNX (the exporter refuses the graph with it);
        None when it can."""
        return None

    # ---- presentation ------------------------------------------------------------------------------------------
    def summary(self, p: dict) -> str:
        """A short line of the key params for the canvas, e.g. ``32 @ 3x3, relu``."""
        return ""

    # ---- helpers for subclasses ----------------------------------------------------------------------------------
    @staticmethod
    def fail(message: str, *fixes: FixSpec, code: str = "shape"):
        raise ShapeError(message, fixes, code)


def per_step(x: str, spec: TensorSpec, core_rank: int, y: str, body) -> list[str]:
    """Lines that run ``body(expr) -> expr`` on ``x``, folding a leading T axis into the batch when there is one.

    ``core_rank`` is the per-sample rank the body expects (3 for C, H, W). Sizes are read from ``x`` at run time,
    so variable-length T keeps working.
    """
    if spec.rank == core_rank:
        return [f"{y} = {body(x)}"]
    return [f"{y} = {body(f'{x}.flatten(0, 1)')}", f"{y} = {y}.unflatten(0, {x}.shape[:2])"]


class Catalog:
    """The registry of block types, and the rules the graph and the shape checker ask for."""

    def __init__(self):
        self._blocks: dict[str, Block] = {}

    def register(self, cls):
        if cls.type_name in self._blocks:
            raise ValueError(f"block type {cls.type_name} registered twice")
        self._blocks[cls.type_name] = cls()
        return cls

    def __contains__(self, type_name) -> bool:
        return type_name in self._blocks

    def __iter__(self):
        return iter(self._blocks.values())

    def types(self) -> list[str]:
        return list(self._blocks)

    def get(self, type_name: str) -> Block:
        return self._blocks[type_name]

    def by_category(self) -> dict[str, list[Block]]:
        out = {c: [] for c in CATEGORIES}
        for b in self._blocks.values():
            out.setdefault(b.category, []).append(b)
        return out

    # ---- PortCatalog -------------------------------------------------------------------------------------------
    def is_known(self, type_name: str) -> bool:
        return type_name in self._blocks

    def is_output(self, type_name: str) -> bool:
        return type_name == "Output"

    def input_ports(self, type_name: str, params: dict) -> list[str] | None:
        b = self._blocks.get(type_name)
        if b is None:
            return None
        # most blocks have the one port whatever their params: resolving them only to ask was half of a full check
        return b.inputs(b.safe_params(params)) if type(b).inputs is not Block.inputs else ["in"]

    def output_ports(self, type_name: str, params: dict) -> list[str] | None:
        b = self._blocks.get(type_name)
        if b is None:
            return None
        return b.outputs(b.safe_params(params)) if type(b).outputs is not Block.outputs else ["out"]

    def has_param(self, type_name: str, name: str) -> bool:
        """Whether blocks of ``type_name`` have a param ``name`` (fix binding asks before offering to set it)."""
        b = self._blocks.get(type_name)
        return b is not None and any(p.name == name for p in b.params)

    def id_prefix(self, type_name: str) -> str:
        b = self._blocks.get(type_name)
        return b.id_prefix if b else (type_name.lower() or "block")

    # ---- ShapeRules --------------------------------------------------------------------------------------------
    def evaluate(self, node: Node, ins: list[TensorSpec]) -> tuple:
        """(output spec, params, macs) for a node whose inputs are known; raises ShapeError."""
        block = self._blocks[node.type]
        p, problems = block.resolve(node.params)
        if problems:
            name, msg = problems[0]
            fixes = []
            try:
                fixes = [FixSpec.set_param(name, block.param(name).default)]
            except KeyError:  # a param this type does not have
                fixes = [FixSpec.drop_param(name)]
            raise ShapeError(msg, fixes, code="param")  # the diagnostic names the block already
        if not block.accepts_int:
            for port, spec in zip(block.inputs(p), ins):
                if spec.dtype == "int64":
                    raise ShapeError(
                        f"{node.type} received int64 tokens {spec.describe_axes()} on '{port}'; only an Embedding "
                        f"takes token ids: put an Embedding first, or make the Input float32",
                        [FixSpec.insert_before(port, "Embedding", {})], code="int-tokens")
        out = block.infer(p, ins)
        carried = any(s.lengths for s in ins)
        if carried:
            block.steps(p, ins, out)  # ShapeError when the block cannot honour per-sample lengths
        if ins and out.lengths != (carried and "T" in out.axes):  # an Input sets its own
            out = dataclasses.replace(out, lengths=carried and "T" in out.axes)
        params, macs = block.count(p, ins, out)
        problem = memory_problem(node.id, params, out)
        if problem:
            raise ShapeError(problem, code="too-large")
        return out, params, macs


#: The most a block's weights may take (float32) and the most one sample's output may take: beyond these no
#: machine trains the model, and torch would fail at Model() or on the first batch instead of the check saying so.
MAX_PARAM_BYTES = 1 << 40      # 1 TiB
MAX_SAMPLE_BYTES = 1 << 36     # 64 GiB per sample


def _bytes(n: int) -> str:
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n} bytes"


def memory_problem(node_id: str, params, out) -> str | None:
    """Why a block cannot fit in any machine's memory (its weights, or one sample's output, as float32), or None."""
    if params and params * 4 > MAX_PARAM_BYTES:
        return (f"{node_id} has {params:.3g} parameters ({_bytes(params * 4)} as float32), more than any machine "
                f"holds ({_bytes(MAX_PARAM_BYTES)}): make it smaller")
    n = out.numel() if out is not None else None
    if n and n * 4 > MAX_SAMPLE_BYTES:
        return (f"{node_id}'s output {out.describe_axes()} takes {_bytes(n * 4)} per sample as float32, more than "
                f"any machine holds for one sample ({_bytes(MAX_SAMPLE_BYTES)}): make it smaller")
    return None



CATALOG = Catalog()
register = CATALOG.register


def fix_output(type_name: str, params: dict, spec: TensorSpec) -> TensorSpec | None:
    """What block ``type_name`` would make of ``spec``; None when it is not registered or refuses it.

    Lets a shape rule offer a fix only when the inserted block really produces what is needed.
    """
    if type_name not in CATALOG:
        return None
    block = CATALOG.get(type_name)
    p, problems = block.resolve(params)
    if problems:
        return None
    try:
        return block.infer(p, [spec])
    except ShapeError:
        return None
