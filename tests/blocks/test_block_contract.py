"""The shared block contract, for every registered block type.

Hypothesis draws params from each block's own Param specs (small ranges) and inputs of the canonical kinds (image,
video, signal, sequence, vector, tokens; T sometimes unknown). Whatever the shape checker accepts must compile,
run, give the inferred shape, and hold exactly the counted number of parameters. A new block type is covered as
soon as it is registered.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from hybrid_studio.blocks import CATALOG, checker_for, new_graph
from hybrid_studio.compile import compile_graph
from hybrid_studio.graph import AddNode, Connect, Edge, Node, TensorSpec

TYPES = CATALOG.types()
KINDS = ("image", "video", "signal", "sequence", "vector", "tokens")
BATCH = 2
#: The run-time size of an axis the checker saw as unknown.
CONCRETE = 8

SETTINGS = settings(max_examples=25, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@dataclass
class Sample:
    type_name: str
    params: dict
    specs: list

    def __repr__(self):
        ins = ", ".join(f"{s.axes}{list(s.shape)}{'/int64' if s.dtype == 'int64' else ''}" for s in self.specs)
        return f"Sample({self.type_name}, {self.params}, [{ins}])"


# ---- strategies ----------------------------------------------------------------------------------------------------

def param_values(param):
    """Values of the param's own type and range, kept small so that models stay tiny."""
    k = param.kind
    if k == "int":
        lo = int(param.min) if param.min is not None else 0
        hi = lo + 4 if param.max is None else min(int(param.max), lo + 4)
        s = st.integers(lo, hi)
    elif k == "float":
        lo = float(param.min) if param.min is not None else 0.0
        hi = float(param.max) if param.max is not None else lo + 1.0
        s = st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    elif k == "bool":
        s = st.booleans()
    elif k == "choice":
        s = st.sampled_from(param.choices)
    elif k in ("int_or_pair", "padding"):
        lo = int(param.min) if param.min is not None else 0
        one = st.integers(lo, lo + 2)
        s = st.one_of(one, st.lists(one, min_size=param.entries, max_size=param.entries)) if param.pair else one
        if k == "padding":
            s = st.one_of(s, st.sampled_from(["same", "valid"]))
    elif k == "shape":
        s = st.sampled_from([[-1], [-1, 1], [1, -1], [2, -1], [-1, 2], [1, -1, 1]])
    elif k == "axes":
        s = st.sampled_from(["F", "TF", "CL", "CHW", "TCHW"])
    else:  # a kind this test does not know yet: the default is always allowed
        s = st.nothing()
    if param.nullable:
        s = st.one_of(st.none(), s)
    return st.one_of(st.just(param.default), s)


@st.composite
def input_specs(draw, kind):
    small = st.integers(1, 4)
    side = st.integers(1, 9)
    time = st.one_of(st.none(), st.integers(1, 6))
    if kind == "image":
        return TensorSpec("CHW", (draw(small), draw(side), draw(side)))
    if kind == "video":
        return TensorSpec("TCHW", (draw(st.one_of(st.none(), st.integers(1, 3))), draw(small), draw(side), draw(side)))
    if kind == "signal":
        return TensorSpec("CL", (draw(small), draw(st.integers(1, 16))))
    if kind == "sequence":
        return TensorSpec("TF", (draw(time), draw(st.integers(1, 8))))
    if kind == "vector":
        return TensorSpec("F", (draw(st.integers(1, 8)),))
    return TensorSpec("T", (draw(time),), "int64")


@st.composite
def variant(draw, base: TensorSpec):
    """Another input next to ``base``: the same, or with one axis resized (fusion needs both cases)."""
    if draw(st.booleans()):
        return base
    i = draw(st.integers(0, base.rank - 1))
    shape = list(base.shape)
    shape[i] = draw(st.integers(1, 6))
    return base.replace(shape=shape)


PROBES = {"image": TensorSpec("CHW", (3, 8, 8)), "video": TensorSpec("TCHW", (2, 3, 8, 8)),
          "signal": TensorSpec("CL", (3, 16)), "sequence": TensorSpec("TF", (5, 4)), "vector": TensorSpec("F", (6,)),
          "tokens": TensorSpec("T", (5,), "int64")}
_preferred: dict = {}


def preferred_kinds(type_name) -> list:
    """The kinds a block accepts with its default params (so that draws are not mostly refused)."""
    if type_name not in _preferred:
        block = CATALOG.get(type_name)
        n = len(block.inputs(block.resolve({})[0]))
        _preferred[type_name] = [k for k, spec in PROBES.items()
                                 if type_name == "Input" or accepted(Sample(type_name, {}, [spec] * n))] or list(KINDS)
    return _preferred[type_name]


@st.composite
def samples(draw, type_name):
    block = CATALOG.get(type_name)
    # half the draws from the kinds the block takes, half from all (refusals are checked too)
    kind = draw(st.one_of(st.sampled_from(preferred_kinds(type_name)), st.sampled_from(KINDS)))
    base = draw(input_specs(kind))
    if type_name == "Input":  # the input itself is the block under test
        return Sample(type_name, {"shape": list(base.shape), "axes": base.axes, "dtype": base.dtype}, [])
    raw = {p.name: draw(param_values(p)) for p in block.params}
    ports = block.inputs(block.resolve(raw)[0])
    specs = [base] + [draw(variant(base)) for _ in ports[1:]]
    return Sample(type_name, raw, specs)


# ---- building and running ------------------------------------------------------------------------------------------

def build(sample: Sample):
    """Input(s) -> block -> Output, and its checker (flushed)."""
    g = new_graph()
    ck = checker_for(g)
    block = CATALOG.get(sample.type_name)
    if sample.type_name == "Input":
        AddNode(Node("blk", "Input", dict(sample.params))).apply(g)
    else:
        ports = block.inputs(block.resolve(sample.params)[0])
        for i, (port, spec) in enumerate(zip(ports, sample.specs)):
            AddNode(Node(f"src{i}", "Input", {"shape": list(spec.shape), "axes": spec.axes,
                                              "dtype": spec.dtype})).apply(g)
        AddNode(Node("blk", sample.type_name, dict(sample.params))).apply(g)
        for i, port in enumerate(ports):
            Connect(Edge(f"src{i}", "blk", target_port=port)).apply(g)
    if sample.type_name != "Output":
        AddNode(Node("out", "Output", {})).apply(g)
        Connect(Edge("blk", "out")).apply(g)
    ck.flush()
    return g, ck


def accepted(sample: Sample) -> bool:
    return build(sample)[1].valid


def concrete_shapes(specs: list) -> list:
    """Run-time shapes: an unknown size takes the size another input has on that axis (an unknown size matches
    any size, so the checker may rely on it), else CONCRETE."""
    out = []
    for spec in specs:
        shape = []
        for i, size in enumerate(spec.shape):
            if size is None:
                known = [o.shape[i] for o in specs if o.axes == spec.axes and o.shape[i] is not None]
                size = known[0] if known else CONCRETE
            shape.append(size)
        out.append((BATCH, *shape))
    return out


def make_input(spec: TensorSpec, shape: tuple, upper: int) -> torch.Tensor:
    if spec.dtype == "int64":
        return torch.randint(0, upper, shape)
    return torch.randn(shape)


def check(sample: Sample) -> bool:
    """False when the checker refuses the sample; otherwise compile, run and compare. Fails on any mismatch."""
    g, ck = build(sample)
    if not ck.valid:
        return False
    res = ck.result("blk")
    assert isinstance(res.params, int) and res.params >= 0, res
    assert res.macs is None or (isinstance(res.macs, int) and res.macs >= 0), res
    gm = compile_graph(g, ck)
    gm.eval()
    block = CATALOG.get(sample.type_name)
    upper = block.resolve(sample.params)[0].get("num_embeddings", 1)
    in_specs = [ck.result(n.id).output for n in g.nodes if n.type == "Input"]
    xs = [make_input(s, shape, upper) for s, shape in zip(in_specs, concrete_shapes(in_specs))]
    unknown = any(None in s.shape for s in in_specs)
    try:
        with torch.no_grad():
            y = gm(*xs)
    except RuntimeError:
        if unknown:
            return False  # a size the checker could not know did not fit; that is the run time's to report
        raise
    out = ck.result("out" if sample.type_name != "Output" else "blk").output
    assert y.shape[0] == BATCH
    assert y.dim() == out.rank + 1, f"ran to {tuple(y.shape)}, inferred {out.describe()}"
    for real, inferred in zip(y.shape[1:], out.shape):
        assert inferred is None or real == inferred, f"ran to {tuple(y.shape)}, inferred {out.describe()}"
    assert y.dtype == (torch.int64 if out.dtype == "int64" else torch.float32)
    real_params = sum(p.numel() for p in gm.parameters())
    assert real_params == ck.total_params() == res.params, (real_params, res.params)
    return True


# ---- tests ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("type_name", TYPES)
def test_block_runs_as_inferred(type_name):
    """Every accepted random sample compiles, runs to the inferred shape and has the counted parameters."""

    @SETTINGS
    @given(st.data())
    def run(data):
        check(data.draw(samples(type_name), label="sample"))

    run()


@pytest.mark.parametrize("type_name", TYPES)
def test_block_has_a_valid_sample(type_name):
    """A block that the checker never accepts (or that never runs) would make the test above vacuous."""
    sample = find(samples(type_name), accepted,
                  settings=settings(max_examples=1000, deadline=None, database=None, derandomize=True,
                                    suppress_health_check=list(HealthCheck)))
    assert check(sample), sample


def test_catalog_has_the_contract_blocks():
    contract = {"Input", "Output", "Conv1d", "Conv2d", "Linear", "LSTM", "GRU", "Embedding", "Concat", "Add",
                "Multiply"}
    assert contract <= set(TYPES)


def test_the_harness_catches_a_wrong_count(monkeypatch):
    """The check must fail when a block's counted parameters differ from the real module's."""
    block = CATALOG.get("Linear")
    original = type(block).count
    monkeypatch.setattr(type(block), "count", lambda self, p, ins, out: (original(self, p, ins, out)[0] + 1, 0))
    with pytest.raises(AssertionError):
        check(Sample("Linear", {"out_features": 3}, [TensorSpec("F", (4,))]))


def test_the_harness_catches_a_wrong_shape(monkeypatch):
    block = CATALOG.get("Linear")
    original = type(block).infer
    monkeypatch.setattr(type(block), "infer",
                        lambda self, p, ins: original(self, p, ins).replace(shape=(p["out_features"] + 1,)))
    with pytest.raises(AssertionError):
        check(Sample("Linear", {"out_features": 3}, [TensorSpec("F", (4,))]))
