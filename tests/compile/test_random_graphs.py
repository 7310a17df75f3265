"""Random valid graphs: what the shape checker accepts, the compiler turns into equivalent, runnable models.

A hypothesis strategy grows a graph the way a user would: a few Inputs (image, video, signal, sequence, vector,
tokens; a sequence length sometimes unknown), then blocks drawn from the catalog with drawn params, each appended
to a random existing block (fusion blocks join two or three branches), keeping an addition only when the checker
accepts it; finally one or more Outputs. A twin graph in which every unknown size is made concrete grows with the
same edits and must accept them too, so the run-time sizes (and the shape of every block's result) are known.

For every such graph:
(a) the plain generated Model, the fx GraphModule and the exported file's Model have the same state_dict keys;
(b) the module holds exactly ``checker.total_params()`` parameters, and every block's count matches the numel of
    the parameters under its ``<id>.`` prefix;
(c) with the same weights, in eval mode, all three give the same outputs (1e-5), of the checker's Output shapes,
    and every block's intermediate result has the shape the checker inferred for it;
(d) the exported source imports only torch, and ``Model()`` takes no arguments.
"""

from __future__ import annotations

import ast
import collections
import importlib.util
import inspect
import itertools
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.fx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hybrid_studio.blocks import CATALOG, checker_for, new_graph
from hybrid_studio.compile import compile_graph, generate
from hybrid_studio.graph import AddNode, Batch, Connect, Edge, Node, ShapeError

BATCH = 2
#: The run-time size of a sequence length the checker sees as unknown.
CONCRETE_T = 10
#: Token ids are drawn below this; every Embedding has at least this many rows.
VOCAB = 5
ATOL = 1e-5

FUSION = [t for t in CATALOG.types() if CATALOG.get(t).category == "Fusion"]
UNARY = [t for t in CATALOG.types() if t not in ("Input", "Output") and t not in FUSION]
KINDS = ("image", "video", "signal", "sequence", "vector", "tokens")
FLOAT_KINDS = tuple(k for k in KINDS if k != "tokens")

SETTINGS = settings(max_examples=100, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


# ---- strategies ----------------------------------------------------------------------------------------------------

def input_params(draw, kind: str) -> tuple[dict, dict]:
    """(params of an Input of this kind, the same with every unknown size made concrete)."""
    small = st.integers(1, 3)
    side = st.integers(4, 9)
    time = st.one_of(st.none(), st.integers(3, 8))
    if kind == "image":
        shape, axes = [draw(small), draw(side), draw(side)], "CHW"
    elif kind == "video":
        shape, axes = [draw(st.integers(2, 3)), draw(st.integers(1, 2)), draw(st.integers(4, 7)),
                       draw(st.integers(4, 7))], "TCHW"
    elif kind == "signal":
        shape, axes = [draw(small), draw(st.integers(4, 12))], "CL"
    elif kind == "sequence":
        shape, axes = [draw(time), draw(st.integers(1, 5))], "TF"
    elif kind == "vector":
        shape, axes = [draw(st.integers(1, 8))], "F"
    else:
        shape, axes = [draw(time)], "T"
    params = {"shape": shape, "axes": axes}
    if kind == "tokens":
        params["dtype"] = "int64"
    concrete = dict(params, shape=[CONCRETE_T if s is None else s for s in shape])
    return params, concrete


def param_strategy(param):
    """Values for one param, small enough to keep the models tiny."""
    n, k = param.name, param.kind
    if k == "choice":  # before the names: ConvLSTM2d's padding is a choice of "same" / "valid"
        return st.sampled_from(param.choices)
    if n in ("out_channels", "out_features", "hidden_size", "hidden_channels", "embedding_dim"):
        return st.integers(1, 6)
    if n == "num_embeddings":
        return st.integers(VOCAB, VOCAB + 10)
    if n == "num_layers":
        return st.integers(1, 2)
    if n == "kernel_size":
        one = st.integers(1, 3)
    elif n == "stride":
        one = st.integers(1, 2)
    elif n == "dilation":
        one = st.integers(1, 2)
    elif n == "padding":
        one = st.integers(0, 1)
    elif n in ("eps",):
        return st.sampled_from([1e-5, 1e-3])
    elif n == "momentum":
        return st.sampled_from([0.1, 0.5])
    elif n in ("p", "dropout"):
        return st.sampled_from([0.0, 0.25])
    elif k == "int":
        lo = int(param.min) if param.min is not None else 0
        return st.integers(lo, lo + 3)
    elif k == "float":
        lo = float(param.min) if param.min is not None else 0.0
        return st.floats(lo, lo + 1.0 if param.max is None else float(param.max), allow_nan=False)
    elif k == "bool":
        return st.booleans()
    elif k == "choice":
        return st.sampled_from(param.choices)
    elif k == "shape":
        return st.nothing()  # Reshape's shape and axes are drawn together (reshape_params)
    elif k == "axes":
        return st.nothing()
    else:  # a kind this test does not know: keep the default
        return st.just(param.default)
    s = st.one_of(one, st.lists(one, min_size=param.entries, max_size=param.entries)) if param.pair else one
    if k == "padding":
        s = st.one_of(s, st.sampled_from(["same", "valid"]))
    if param.nullable:
        s = st.one_of(st.none(), s)
    return s


def reshape_params(draw, numel) -> dict:
    """A Reshape target: usually one that fits ``numel`` elements (when known), sometimes one that does not."""
    options = [([-1], "F"), ([-1, 1], "TF"), ([1, -1], "CL"), ([-1, 2], "TF"), ([1, -1, 1], "CHW")]
    if numel:
        divisors = [d for d in range(1, numel + 1) if numel % d == 0]
        a = draw(st.sampled_from(divisors))
        options += [([a, numel // a], "TF"), ([a, numel // a], "CL"), ([a, -1], "TF"), ([1, a, numel // a], "CHW")]
    shape, axes = draw(st.sampled_from(options))
    return {"shape": shape, "axes": axes}


def block_params(draw, type_name: str, spec, concrete_spec) -> dict:
    block = CATALOG.get(type_name)
    if type_name == "Reshape":
        return reshape_params(draw, concrete_spec.numel())
    params = {}
    for p in block.params:
        if p.name == "inputs":
            continue
        # omitted params take their defaults, which must work as well as written ones
        if p.name in ("out_channels", "out_features", "hidden_size", "hidden_channels", "embedding_dim",
                      "num_embeddings") \
                or draw(st.booleans()):
            params[p.name] = draw(param_strategy(p))
    return params


@dataclass
class Drawn:
    """A valid graph, its twin with concrete sizes, and their checkers."""

    graph: object
    checker: object
    concrete: object
    concrete_checker: object
    log: list

    def __repr__(self):
        return "Drawn(\n  " + "\n  ".join(self.log) + "\n)"


class Grower:
    """Applies the same edits to the graph and its concrete twin, keeping them only when both checkers accept."""

    def __init__(self):
        self.g, self.gc = new_graph("random"), new_graph("random")
        self.ck, self.ckc = checker_for(self.g), checker_for(self.gc)
        self.log: list[str] = []

    def add(self, node: Node, concrete_node: Node, edges: list[Edge]) -> bool:
        applied = []
        for graph, n in ((self.g, node), (self.gc, concrete_node)):
            batch = Batch([AddNode(n)] + [Connect(e) for e in edges])
            batch.apply(graph)
            applied.append((graph, batch))
        self.ck.flush()
        self.ckc.flush()
        ok = not self._errors(self.ck, node.id) and not self._errors(self.ckc, node.id)
        if not ok:
            for graph, batch in applied:
                batch.revert(graph)
            self.ck.flush()
            self.ckc.flush()
            assert node.id not in self.g and node.id not in self.ck.results
        else:
            srcs = ", ".join(f"{e.source}->{e.target_port}" for e in edges)
            self.log.append(f"{node.id} = {node.type}({node.params}) <- [{srcs}]")
        return ok

    @staticmethod
    def _errors(ck, nid):
        res = ck.result(nid)
        return [d for d in res.diagnostics if d.severity == "error"] or (res.output is None and ck.graph.node(nid)
                                                                          .type != "Output")

    def sources(self) -> list[str]:
        """Ids whose result can feed another block."""
        return [n.id for n in self.g.nodes if n.type != "Output" and self.ck.result(n.id).output is not None]

    def spec(self, nid):
        return self.ck.result(nid).output

    def cspec(self, nid):
        return self.ckc.result(nid).output


def takes(spec) -> list[str]:
    """The one-input block types that accept ``spec`` with their default params."""
    out = []
    for t in UNARY:
        try:
            CATALOG.evaluate(Node("probe", t, {}), [spec])
        except ShapeError:
            continue
        out.append(t)
    return out


def fusable(type_name: str, params: dict, a, b) -> bool:
    """Whether two branches can be joined so that the run-time sizes surely match (an unknown size matches any size
    in the checker, so only the join axis of a Concat may be unknown)."""
    if a.dtype != "float32" or b.dtype != "float32" or a.axes != b.axes or a.rank == 0:
        return False
    if type_name == "MultiheadAttention":  # query and keys may differ in length (T, S) and features (F, F2)
        return a.axes == "TF" and None not in (a.shape[1], b.shape[1])
    if type_name == "Concat":
        if params.get("axis") == "time":
            if "T" not in a.axes:
                return False
            cat = "T"
        else:
            cat = next((ax for ax in ("C", "F") if ax in a.axes), None)
            if cat is None:
                return False
        return all(x == y and x is not None for ax, x, y in zip(a.axes, a.shape, b.shape) if ax != cat)
    return a.shape == b.shape and None not in a.shape


@st.composite
def graphs(draw) -> Drawn:
    gr = Grower()
    kinds = [draw(st.sampled_from(FLOAT_KINDS))] + draw(st.lists(st.sampled_from(KINDS), max_size=2))
    for kind in kinds:
        params, concrete = input_params(draw, kind)
        nid = gr.g.new_id("Input")
        assert gr.add(Node(nid, "Input", params), Node(nid, "Input", concrete), []), (nid, params)

    for _ in range(draw(st.integers(1, 8))):
        sources = gr.sources()
        if draw(st.integers(0, 4)) == 0:  # a fusion: join two or three compatible branches
            type_name = draw(st.sampled_from(FUSION))
            params = {p.name: draw(param_strategy(p)) for p in CATALOG.get(type_name).params
                      if p.name != "inputs" and draw(st.booleans())}
            if type_name == "MultiheadAttention":  # it attends over sequences: start from one when there is one
                sources = [s for s in sources if gr.spec(s).axes == "TF"] or sources
            first = draw(st.sampled_from(sources))
            partners = [s for s in sources if fusable(type_name, params, gr.spec(first), gr.spec(s))]
            if not partners:
                continue
            most = CATALOG.get(type_name).param("inputs").max  # MultiheadAttention takes at most 2
            n_in = draw(st.sampled_from([n for n in (2, 2, 3) if most is None or n <= most]))
            if n_in != 2:
                params["inputs"] = n_in
            srcs = [first] + [draw(st.sampled_from(partners)) for _ in range(n_in - 1)]
            srcs = draw(st.permutations(srcs))
            nid = gr.g.new_id(type_name)
            edges = [Edge(s, nid, target_port=f"in{i}") for i, s in enumerate(srcs)]
            gr.add(Node(nid, type_name, params), Node(nid, type_name, params), edges)
            continue
        # half the time extend a branch's end (deeper chains reach more kinds of tensor), else branch off anywhere
        ends = [s for s in sources if not gr.g.out_edges(s)]
        parent = draw(st.sampled_from(ends if ends and draw(st.booleans()) else sources))
        spec = gr.spec(parent)
        if spec.dtype == "int64":
            type_name = "Embedding"
        else:
            # mostly blocks that take this kind of tensor (with their defaults), sometimes any block, which the
            # checker then usually refuses
            fitting = takes(gr.cspec(parent))
            # recurrent blocks take only sequences, which are rarer than the rest: weight them up
            fitting += [t for t in fitting if CATALOG.get(t).category == "Recurrent"] * 2
            type_name = draw(st.sampled_from(fitting if fitting and draw(st.integers(0, 4)) else UNARY))
        params = block_params(draw, type_name, spec, gr.cspec(parent))
        nid = gr.g.new_id(type_name)
        gr.add(Node(nid, type_name, params), Node(nid, type_name, params), [Edge(parent, nid)])

    # Outputs: on the last float sink always, on the other sinks sometimes (several Outputs)
    sinks = [s for s in gr.sources() if not gr.g.out_edges(s) and gr.spec(s).dtype == "float32"]
    if not sinks:
        sinks = [s for s in gr.sources() if gr.spec(s).dtype == "float32"][-1:]
    chosen = [sinks[-1]] + [s for s in sinks[:-1] if draw(st.booleans())]
    for s in chosen:
        nid = gr.g.new_id("Output")
        params = {"task": draw(st.sampled_from(["classification", "regression"]))}
        assert gr.add(Node(nid, "Output", params), Node(nid, "Output", params), [Edge(s, nid)]), (s, gr.spec(s))
    return Drawn(gr.g, gr.ck, gr.gc, gr.ckc, gr.log)


# ---- helpers -------------------------------------------------------------------------------------------------------

_serial = itertools.count()


def import_source(source: str, folder: Path):
    """Write ``source`` to a file and import it as a fresh module (not kept in sys.modules)."""
    name = f"hs_random_export_{next(_serial)}"
    path = folder / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert name not in sys.modules
    return module


def imported_roots(source: str) -> set[str]:
    """The top-level package of every import statement in ``source`` (relative imports show as '.')."""
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add("." if node.level else node.module.split(".")[0])
    return roots


def make_inputs(drawn: Drawn) -> list:
    torch.manual_seed(0)
    xs = []
    for n in drawn.concrete.nodes:
        if n.type != "Input":
            continue
        spec = drawn.concrete_checker.result(n.id).output
        shape = (BATCH, *spec.shape)
        xs.append(torch.randint(0, VOCAB, shape) if spec.dtype == "int64" else torch.randn(shape))
    return xs


def as_tuple(y):
    return y if isinstance(y, tuple) else (y,)


def block_results(gm, xs) -> dict:
    """The value of the last fx node of every block, i.e. the block's result, from one run of ``gm``."""
    seen: dict = {}

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n):
            value = super().run_node(n)
            if n.meta.get("block_id"):
                seen[n.meta["block_id"]] = value
            return value

    Recorder(gm).run(*xs)
    return seen


def shape_matches(spec, actual: tuple) -> bool:
    """``actual`` (with the batch) fits the checker's spec, an unknown size matching any size."""
    expected = (None, *spec.shape)
    return len(actual) == len(expected) and all(e is None or e == a for e, a in zip(expected, actual))


# ---- the properties ------------------------------------------------------------------------------------------------

def check_graph(drawn: Drawn, folder: Path):
    g, ck, ckc = drawn.graph, drawn.checker, drawn.concrete_checker
    assert ck.valid, [str(d) for d in ck.errors()]
    assert ckc.valid, [str(d) for d in ckc.errors()]
    # the twin knows every size; where the graph knows one too, they agree
    for n in g.nodes:
        spec, cspec = ck.result(n.id).output, ckc.result(n.id).output
        if n.type != "Output":
            assert spec.axes == cspec.axes and shape_matches(spec, (None, *cspec.shape)), (n.id, spec, cspec)

    gen = generate(g)
    plain = compile_graph(g, trace=False).eval()
    gm = compile_graph(g).eval()
    # the generated source is deterministic: the compiled modules and the export come from one text
    assert plain.hs_generated.source == gen.source == gm.hs_generated.source

    # (d) the exported file imports only torch and Model() takes no arguments
    assert imported_roots(gen.source) == {"torch"}, imported_roots(gen.source)
    exported_module = import_source(gen.source, folder)
    params_of_init = list(inspect.signature(exported_module.Model.__init__).parameters)
    assert params_of_init == ["self"], params_of_init
    exported = exported_module.Model().eval()

    # (a) the same state_dict keys everywhere
    keys = list(plain.state_dict())
    assert sorted(gm.state_dict()) == sorted(keys)
    assert sorted(exported.state_dict()) == sorted(keys)

    # (b) parameter counts: total and per block
    named = dict(plain.named_parameters())
    assert sum(p.numel() for p in named.values()) == ck.total_params()
    for n in g.nodes:
        counted = ck.result(n.id).params or 0
        held = sum(p.numel() for k, p in named.items() if k.startswith(n.id + "."))
        assert held == counted, (n.id, n.type, held, counted)
    # every parameter belongs to a block
    assert all(k.split(".")[0] in g for k in named), list(named)

    # (c) same weights, same outputs, of the checker's shapes
    gm.load_state_dict(plain.state_dict())
    exported.load_state_dict(plain.state_dict())
    xs = make_inputs(drawn)
    with torch.no_grad():
        ys = as_tuple(plain(*xs))
        ys_fx = as_tuple(gm(*xs))
        ys_file = as_tuple(exported(*xs))
        results = block_results(gm, xs)
    assert len(ys) == len(ys_fx) == len(ys_file) == len(gen.output_ids)
    for oid, y, y_fx, y_file in zip(gen.output_ids, ys, ys_fx, ys_file):
        spec, cspec = ck.result(oid).output, ckc.result(oid).output
        assert shape_matches(spec, tuple(y.shape)), (oid, spec, tuple(y.shape))
        assert tuple(y.shape) == (BATCH, *cspec.shape), (oid, cspec, tuple(y.shape))
        assert y.dtype == torch.float32
        torch.testing.assert_close(y_fx, y, atol=ATOL, rtol=0)
        torch.testing.assert_close(y_file, y, atol=ATOL, rtol=0)
        assert torch.isfinite(y).all(), oid
    # every block's own result has the shape the checker inferred for it
    for bid, value in results.items():
        cspec = ckc.result(bid).output
        assert isinstance(value, torch.Tensor), (bid, type(value))
        assert tuple(value.shape) == (BATCH, *cspec.shape), (bid, g.node(bid).type, cspec, tuple(value.shape))

    # one comment line per block, with the checker's shapes
    lines = [ln.strip() for ln in gen.source.splitlines()]
    for n in g.nodes:
        if n.type == "Input":
            continue
        res = ck.result(n.id)
        block = CATALOG.get(n.type)
        ports = block.inputs(block.resolve(n.params)[0])
        arrow = " + ".join(res.inputs[p].describe() for p in ports)
        expected = f"# {n.id} ({n.type}): {arrow} -> {res.output.describe()}"
        assert lines.count(expected) == 1, expected
        assert sum(ln.startswith(f"# {n.id} (") for ln in lines) == 1, n.id


@SETTINGS
@given(graphs())
def test_random_valid_graphs_compile_to_equivalent_models(drawn):
    with tempfile.TemporaryDirectory() as folder:
        check_graph(drawn, Path(folder))


# ---- hand-built graphs: every input kind at once, and several outputs -----------------------------------------------

def _build(nodes, edges) -> Drawn:
    gr = Grower()
    for nid, type_name, params in nodes:
        concrete = params
        if type_name == "Input":
            concrete = dict(params, shape=[CONCRETE_T if s is None else s for s in params["shape"]])
        ins = [Edge(src, nid, target_port=port) for src, dst, port in edges if dst == nid]
        assert gr.add(Node(nid, type_name, params), Node(nid, type_name, concrete), ins), \
            (nid, [str(d) for d in gr.ck.result(nid).diagnostics])
    return Drawn(gr.g, gr.ck, gr.gc, gr.ckc, gr.log)


def all_kinds_graph() -> Drawn:
    """Six inputs of every kind, each reduced to a vector, joined, with three Outputs."""
    nodes = [
        ("image", "Input", {"shape": [3, 8, 8], "axes": "CHW"}),
        ("seq", "Input", {"shape": [None, 4], "axes": "TF"}),
        ("video", "Input", {"shape": [3, 1, 6, 6], "axes": "TCHW"}),
        ("sig", "Input", {"shape": [2, 12], "axes": "CL"}),
        ("vec", "Input", {"shape": [5], "axes": "F"}),
        ("tokens", "Input", {"shape": [None], "axes": "T", "dtype": "int64"}),
        ("conv1", "Conv2d", {"out_channels": 4, "kernel_size": 3, "padding": "same", "activation": "relu"}),
        ("gap1", "GlobalAvgPool", {}),
        ("gru", "GRU", {"hidden_size": 4, "bidirectional": True, "merge_mode": "sum"}),
        ("vconv", "Conv2d", {"out_channels": 2, "kernel_size": 3, "stride": 2}),
        ("vflat", "Flatten", {}),
        ("vlstm", "LSTM", {"hidden_size": 4, "num_layers": 2, "dropout": 0.2}),
        ("sconv", "Conv1d", {"out_channels": 4, "kernel_size": 3, "dilation": 2}),
        ("spool", "MaxPool1d", {"kernel_size": 2}),
        ("sgap", "GlobalAvgPool", {}),
        ("fc_vec", "Linear", {"out_features": 4, "activation": "tanh"}),
        ("embed", "Embedding", {"num_embeddings": VOCAB, "embedding_dim": 3}),
        ("elstm", "LSTM", {"hidden_size": 2, "bidirectional": True}),
        ("add", "Add", {"inputs": 3}),
        ("mul", "Multiply", {}),
        ("cat", "Concat", {}),
        ("bn", "BatchNorm", {}),
        ("fc", "Linear", {"out_features": 3}),
        ("out_cls", "Output", {}),
        ("out_reg", "Output", {"task": "regression"}),
        ("out_seq", "Output", {"task": "regression"}),
    ]
    edges = [("image", "conv1", "in"), ("conv1", "gap1", "in"), ("seq", "gru", "in"), ("video", "vconv", "in"),
             ("vconv", "vflat", "in"), ("vflat", "vlstm", "in"), ("sig", "sconv", "in"), ("sconv", "spool", "in"),
             ("spool", "sgap", "in"), ("vec", "fc_vec", "in"), ("tokens", "embed", "in"), ("embed", "elstm", "in"),
             ("gap1", "add", "in0"), ("gru", "add", "in1"), ("vlstm", "add", "in2"), ("sgap", "mul", "in0"),
             ("fc_vec", "mul", "in1"), ("add", "cat", "in0"), ("mul", "cat", "in1"), ("cat", "bn", "in"),
             ("bn", "fc", "in"), ("fc", "out_cls", "in"), ("elstm", "out_reg", "in"), ("gru", "out_seq", "in")]
    return _build(nodes, edges)


def time_concat_graph() -> Drawn:
    """Two sequences of unknown length joined along time, a residual Add, and per-step outputs."""
    nodes = [
        ("a", "Input", {"shape": [None, 3], "axes": "TF"}),
        ("b", "Input", {"shape": [6, 3], "axes": "TF"}),
        ("cat", "Concat", {"axis": "time"}),
        ("lstm", "LSTM", {"hidden_size": 3, "return_sequences": True}),
        ("res", "Add", {}),
        ("ln", "LayerNorm", {}),
        ("pool", "AvgPool1d", {"kernel_size": 2}),
        ("fc", "Linear", {"out_features": 2}),
        ("out", "Output", {}),
        ("out_raw", "Output", {"task": "regression"}),
    ]
    edges = [("a", "cat", "in0"), ("b", "cat", "in1"), ("cat", "lstm", "in"), ("lstm", "res", "in0"),
             ("cat", "res", "in1"), ("res", "ln", "in"), ("ln", "pool", "in"), ("pool", "fc", "in"),
             ("fc", "out", "in"), ("cat", "out_raw", "in")]
    return _build(nodes, edges)


@pytest.mark.parametrize("make", [all_kinds_graph, time_concat_graph], ids=["all-kinds", "time-concat"])
def test_hand_built_multi_input_graphs(make, tmp_path):
    drawn = make()
    outputs = [n.id for n in drawn.graph.nodes if n.type == "Output"]
    assert len(outputs) >= 2
    check_graph(drawn, tmp_path)


def test_the_strategy_reaches_fusion_inputs_and_outputs_of_every_kind():
    """Guards the strategy itself: it must not degenerate into single chains with one Input and one Output."""
    seen: collections.Counter = collections.Counter()

    @settings(max_examples=100, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(graphs())
    def collect(d: Drawn):
        nodes = d.graph.nodes
        seen.update(n.type for n in nodes)
        seen.update("kind:" + d.checker.result(n.id).output.kind for n in nodes if n.type == "Input")
        seen["several inputs"] += sum(n.type == "Input" for n in nodes) >= 2
        seen["several outputs"] += sum(n.type == "Output" for n in nodes) >= 2
        seen["unknown size"] += any(None in d.checker.result(n.id).output.shape for n in nodes if n.type == "Input")

    collect()
    for what in FUSION + ["several inputs", "several outputs", "unknown size"]:
        assert seen[what] >= 3, (what, seen)
    for kind in ("image", "video", "signal", "sequence", "vector", "tokens"):
        assert seen["kind:" + kind] >= 3, (kind, seen)
    # most of the catalog shows up inside graphs, not only the blocks that take anything
    assert sum(seen[t] > 0 for t in UNARY) >= 0.75 * len(UNARY), seen
