"""ONNX import: the studio's own exports come back as the same blocks and weights (every template), and models
exported from hand-written PyTorch modules give onnxruntime's outputs (within 1e-4)."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
import torch
import torch.nn as nn
from interop_helpers import studio_model

from hybrid_studio.blocks import CATALOG
from hybrid_studio.compile import compile_graph
from hybrid_studio.interop import ImportFailure, import_model
from hybrid_studio.project import load_project, templates_dir

TEMPLATES = sorted(p.name.split(".")[0] for p in templates_dir().glob("*.hsproj.json"))


def _ort(path, feeds):
    import onnxruntime as ort
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def _compare(result, path, xs):
    model = studio_model(result)
    names = [i.name for i in onnx.load(str(path)).graph.input
             if i.name not in {t.name for t in onnx.load(str(path)).graph.initializer}]
    expected = _ort(path, dict(zip(names, xs)))
    with torch.no_grad():
        got = model(*[torch.from_numpy(x) for x in xs])
    got = got if isinstance(got, tuple) else (got,)
    for e, g in zip(expected, got):
        assert tuple(g.shape) == e.shape
        np.testing.assert_allclose(g.numpy(), e, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(e).max())))


def _round_trip(name, tmp_path, graph=None, perturb=False):
    from hybrid_studio.compile.onnx_export import export_onnx

    graph = graph or load_project(templates_dir() / f"{name}.hsproj.json")
    torch.manual_seed(0)
    model = compile_graph(graph).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so that a swapped mean/variance shows
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
        for p in model.parameters() if perturb else ():  # no zero biases (equal constants the exporter merges)
            p.add_(torch.rand_like(p) - 0.5)
    path = tmp_path / f"{name}.onnx"
    export_onnx(graph, path, model=model)
    result = import_model(path)
    assert not result.unsupported, result.report_text()
    got, want = result.graph.nodes, graph.nodes
    # the same blocks with the same params (inputs may come in another order in the file; the task is not in ONNX)
    def same(v):  # [2, 2] and 2 mean the same kernel
        return v[0] if isinstance(v, list) and v and all(x == v[0] for x in v) else v

    def key(n):
        return n.type, {k: same(v) for k, v in n.params.items() if k != "task"}
    assert sorted(map(repr, map(key, got))) == sorted(map(repr, map(key, want)))
    # the Outputs' tasks come back from the file's metadata (ONNX alone cannot tell logits from a regression)
    def tasks(g):
        return {n.id: CATALOG.get("Output").resolve(n.params)[0]["task"] for n in g.nodes if n.type == "Output"}
    assert tasks(result.graph) == tasks(graph)
    # the same weights, under the ids of the modules they belong to
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    assert set(result.weights) == set(state)
    for k, v in state.items():
        np.testing.assert_array_equal(result.weights[k], v, err_msg=k)
    rng = np.random.default_rng(0)
    xs = []
    for nid in [n.id for n in graph.nodes if n.type == "Input"]:
        shape = [s if s is not None else 10 for s in graph.node(nid).params["shape"]]
        xs.append(rng.standard_normal([2, *shape]).astype("float32"))
    order = [n.id for n in result.graph.nodes if n.type == "Input"]
    xs = [xs[[n.id for n in graph.nodes if n.type == "Input"].index(i)] for i in order]
    _compare(result, path, xs)


def test_round_trip_of_the_seed_template(tmp_path):
    _round_trip("seed-cnn-lstm", tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", [t for t in TEMPLATES if t != "seed-cnn-lstm"])
def test_round_trip_of_every_template(name, tmp_path):
    _round_trip(name, tmp_path)


class Hybrid(nn.Module):
    """Conv + BatchNorm + ReLU, columns as a sequence, a bidirectional GRU whose two final states are joined."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.pool = nn.MaxPool2d(2)
        self.gru = nn.GRU(8, 5, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(10, 3)

    def forward(self, x):
        y = self.pool(torch.relu(self.bn(self.conv(x))))          # N, 4, 2, 6
        y = y.permute(0, 3, 1, 2).flatten(2)                       # N, W=6, C*H=8
        out, h = self.gru(y)
        return torch.softmax(self.fc(torch.cat((h[-2], h[-1]), 1)), 1)


class Signals(nn.Module):
    """1-D convolution and pooling over a signal, an LSTM over the pooled steps, residual Add and Mul, Concat."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(3, 6, 3)
        self.pool = nn.AvgPool1d(2)
        self.lstm = nn.LSTM(6, 6, batch_first=True)
        self.fc = nn.Linear(12, 2)

    def forward(self, x):
        y = torch.tanh(self.pool(self.conv(x))).transpose(1, 2)    # N, T, 6
        out, _ = self.lstm(y)
        z = out + y
        z = torch.cat((z * y, out), 2)
        return self.fc(z)


def _export(module, example, path, names):
    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, example, str(path), dynamo=False, input_names=names,
                          dynamic_axes={n: {0: "batch"} for n in names})


@pytest.mark.parametrize("module, shape", [(Hybrid, (2, 4, 12)), (Signals, (3, 16))])
def test_hand_written_modules_match_onnxruntime(module, shape, tmp_path):
    torch.manual_seed(1)
    m = module()
    with torch.no_grad():
        for p in m.parameters():
            p.uniform_(-0.5, 0.5)
    x = torch.randn(2, *shape)
    _export(m, (x,), tmp_path / "m.onnx", ["x"])
    result = import_model(tmp_path / "m.onnx")
    assert not result.unsupported, result.report_text()
    _compare(result, tmp_path / "m.onnx", [np.random.default_rng(2).standard_normal((3, *shape)).astype("float32")])
    types = [n.type for n in result.graph.nodes]
    (out,) = result.graph.nodes_of_type("Output")
    if module is Hybrid:
        assert "ToSequence" in types and types.count("GRU") == 1
        gru = result.graph.nodes_of_type("GRU")[0]
        assert gru.params == {"hidden_size": 5, "bidirectional": True}
        assert out.params["task"] == "classification"  # a feature vector out of a Softmax
    else:
        assert out.params["task"] == "regression"


def test_unknown_op_becomes_a_placeholder_and_the_rest_imports(tmp_path):
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(4, 4), nn.Linear(4, 2)

        def forward(self, x):
            return self.fc2(torch.sin(self.fc1(x)))

    _export(Odd(), (torch.randn(2, 4),), tmp_path / "odd.onnx", ["x"])
    result = import_model(tmp_path / "odd.onnx")
    (bad,) = result.unsupported
    assert bad.op == "Sin" and "odd.onnx" in bad.reason and "not supported" in bad.reason
    assert [n.type for n in result.graph.nodes] == ["Input", "Linear", "Placeholder", "Linear", "Output"]
    assert {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"} <= set(result.weights)


def test_unresolved_dynamic_shape_and_corrupt_files(tmp_path):
    from onnx import TensorProto, helper

    # a Reshape whose target is computed from a second input: nothing tells its size
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 6])
    s = helper.make_tensor_value_info("s", TensorProto.INT64, [3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    g = helper.make_graph([helper.make_node("Reshape", ["x", "s"], ["y"], name="dyn")], "g", [x, s], [y])
    onnx.save(helper.make_model(g), tmp_path / "dyn.onnx")
    with pytest.raises(ImportFailure, match="dyn.onnx"):
        import_model(tmp_path / "dyn.onnx")  # the integer input is not token ids of a known length
    g = helper.make_graph([helper.make_node("Reshape", ["x", "shape"], ["y"], name="dyn")], "g", [x], [y],
                          initializer=[helper.make_tensor("shape", TensorProto.INT64, [3], [-1, -1, 2])])
    onnx.save(helper.make_model(g), tmp_path / "dyn2.onnx")
    result = import_model(tmp_path / "dyn2.onnx")
    (bad,) = result.unsupported
    assert "dyn" in bad.reason and "dyn2.onnx" in bad.reason and "dynamic" in bad.reason
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x07garbage" * 10)
    with pytest.raises(ImportFailure, match="junk.onnx"):
        import_model(tmp_path / "junk.onnx")


class Recurrents(nn.Module):
    """Plain RNNs (tanh bidirectional, then relu) exported as ONNX RNN ops."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(4, 3, batch_first=True, bidirectional=True)
        self.relu_rnn = nn.RNN(6, 5, batch_first=True, nonlinearity="relu")
        self.fc = nn.Linear(5, 2)

    def forward(self, x):
        y, _ = self.rnn(x)
        _, h = self.relu_rnn(y)
        return self.fc(h[-1])


def test_onnx_rnn_op_becomes_rnn_blocks(tmp_path):
    torch.manual_seed(3)
    m = Recurrents()
    _export(m, (torch.randn(2, 7, 4),), tmp_path / "rnn.onnx", ["x"])
    assert {n.op_type for n in onnx.load(str(tmp_path / "rnn.onnx")).graph.node} >= {"RNN"}
    result = import_model(tmp_path / "rnn.onnx")
    assert not result.unsupported, result.report_text()
    rnns = result.graph.nodes_of_type("RNN")
    assert [r.params for r in rnns] == [{"hidden_size": 3, "bidirectional": True, "return_sequences": True},
                                        {"hidden_size": 5, "nonlinearity": "relu"}]
    _compare(result, tmp_path / "rnn.onnx", [np.random.default_rng(4).standard_normal((3, 7, 4)).astype("float32")])


def _onnx_gru(tmp_path, direction, rng):
    """A hand-written ONNX GRU with linear_before_reset=0 (its default) and both biases non-zero."""
    from onnx import TensorProto, helper, numpy_helper

    dirs, h, f = (2 if direction == "bidirectional" else 1), 4, 3
    W = rng.standard_normal((dirs, 3 * h, f)).astype("float32")
    R = rng.standard_normal((dirs, 3 * h, h)).astype("float32") * 0.5
    B = rng.standard_normal((dirs, 6 * h)).astype("float32")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 6, f])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 6, dirs * h])
    nodes = [helper.make_node("Transpose", ["x"], ["x_tnf"], perm=[1, 0, 2], name="time_first"),
             helper.make_node("GRU", ["x_tnf", "W", "R", "B"], ["y_tdnh"], hidden_size=h, direction=direction,
                              name="gru"),
             # every step, batch first, the directions side by side: (T, D, N, H) -> (N, T, D * H)
             helper.make_node("Transpose", ["y_tdnh"], ["y_ntdh"], perm=[2, 0, 1, 3], name="batch_first"),
             helper.make_node("Reshape", ["y_ntdh", "shape"], ["y"], name="join")]
    inits = [numpy_helper.from_array(v, n) for v, n in ((W, "W"), (R, "R"), (B, "B"))]
    inits.append(numpy_helper.from_array(np.array([0, 0, -1], np.int64), "shape"))
    g = helper.make_graph(nodes, "g", [x], [y], initializer=inits)
    path = tmp_path / f"gru_{direction}.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


@pytest.mark.parametrize("direction", ["forward", "bidirectional"])
def test_onnx_gru_with_linear_before_reset_0_imports_as_reset_after_false(direction, tmp_path):
    rng = np.random.default_rng(5)
    path = _onnx_gru(tmp_path, direction, rng)
    result = import_model(path)
    assert not result.unsupported, result.report_text()
    (gru,) = result.graph.nodes_of_type("GRU")
    assert gru.params.get("reset_after") is False
    x = rng.standard_normal((2, 6, 3)).astype("float32")
    model = studio_model(result)
    (want,) = _ort(path, {"x": x})
    with torch.no_grad():
        got = model(torch.from_numpy(x))
    assert gru.params.get("return_sequences") is True and tuple(got.shape) == want.shape == (2, 6, len(want[0, 0]))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-4)


def test_outputs_are_classification_after_softmax_and_as_the_studio_exported_them(tmp_path):
    class Soft(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            return torch.softmax(self.fc(x), 1), self.fc(x) * 2

    _export(Soft(), (torch.randn(2, 4),), tmp_path / "soft.onnx", ["x"])
    result = import_model(tmp_path / "soft.onnx")
    assert [n.params["task"] for n in result.graph.nodes_of_type("Output")] == ["classification", "regression"]
    # the studio's own classification (logits, no softmax) and CTC outputs come back as they were exported
    from hybrid_studio.compile.onnx_export import OUTPUT_TASKS_KEY, export_onnx
    from hybrid_studio.project import loads_project

    nodes = [{"id": "x", "type": "Input", "params": {"shape": [5, 4], "axes": "TF"}},
             {"id": "gru", "type": "GRU", "params": {"hidden_size": 3, "return_sequences": True}},
             {"id": "fc", "type": "Linear", "params": {"out_features": 3}},
             {"id": "per_step", "type": "Output", "params": {"task": "ctc"}},
             {"id": "last", "type": "GRU", "params": {"hidden_size": 2}},
             {"id": "label", "type": "Output", "params": {"task": "classification"}}]
    edges = [("x", "gru"), ("gru", "fc"), ("fc", "per_step"), ("gru", "last"), ("last", "label")]
    import json
    graph = loads_project(json.dumps({"format": "hybrid-studio", "version": 1, "name": "tasks", "nodes": nodes,
                                      "edges": [{"source": a, "target": b} for a, b in edges]}))
    export_onnx(graph, tmp_path / "tasks.onnx")
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "tasks.onnx")).metadata_props}
    assert json.loads(meta[OUTPUT_TASKS_KEY]) == {"per_step": "ctc", "label": "classification"}
    result = import_model(tmp_path / "tasks.onnx")
    assert {n.id: n.params["task"] for n in result.graph.nodes_of_type("Output")} == \
        {"per_step": "ctc", "label": "classification"}


def test_a_transpose_that_does_not_fit_its_input_becomes_a_placeholder(tmp_path):
    """A rank the importer had to guess (after a placeholder) must not fail the whole file."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 6])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [helper.make_node("Sin", ["x"], ["s"], name="odd"),
             helper.make_node("Transpose", ["s"], ["y"], perm=[0, 2, 1], name="swap")]
    onnx.save(helper.make_model(helper.make_graph(nodes, "g", [x], [y])), tmp_path / "t.onnx")
    result = import_model(tmp_path / "t.onnx")
    assert [e.op for e in result.unsupported] == ["Sin", "Transpose"]
    assert "perm [0, 2, 1]" in result.unsupported[1].reason and "t.onnx" in result.unsupported[1].reason


def test_round_trip_of_gru_reset_after_false_and_rnn(tmp_path):
    """The studio's GRU with reset_after=false exports as ONNX's GRU op and comes back as the same block."""
    import json

    from hybrid_studio.project import loads_project
    nodes = [{"id": "series", "type": "Input", "params": {"shape": [None, 4], "axes": "TF"}},
             {"id": "bi", "type": "GRU", "params": {"hidden_size": 3, "bidirectional": True, "merge_mode": "sum",
                                                    "return_sequences": True, "reset_after": False}},
             {"id": "plain", "type": "RNN", "params": {"hidden_size": 4, "return_sequences": True,
                                                        "nonlinearity": "relu"}},
             {"id": "last", "type": "GRU", "params": {"hidden_size": 2, "bias": False, "reset_after": False}},
             {"id": "out", "type": "Output", "params": {"task": "regression"}}]
    ids = [n["id"] for n in nodes]
    graph = loads_project(json.dumps({"format": "hybrid-studio", "version": 1, "name": "rt", "nodes": nodes,
                                      "edges": [{"source": a, "target": b} for a, b in zip(ids, ids[1:])]}))
    _round_trip("gru-reset-before", tmp_path, graph)


def _studio_graph(nodes, edges):
    import json

    from hybrid_studio.project import loads_project
    return loads_project(json.dumps({"format": "hybrid-studio", "version": 1, "name": "rt", "nodes": nodes,
                                     "edges": [{"source": a, "target": b, **({"target_port": p} if p else {})}
                                               for a, b, p in edges]}))


def _attention_graph():
    """Cross-attention whose keys have another width (q/k/v_proj_weight, not in_proj_weight), then AttentionPool."""
    nodes = [{"id": "query", "type": "Input", "params": {"shape": [5, 8], "axes": "TF"}},
             {"id": "keys", "type": "Input", "params": {"shape": [7, 6], "axes": "TF"}},
             {"id": "att", "type": "MultiheadAttention", "params": {"num_heads": 2}},
             {"id": "pool", "type": "AttentionPool", "params": {"attention_size": 4}},
             {"id": "out", "type": "Output", "params": {"task": "regression"}}]
    return _studio_graph(nodes, [("query", "att", "in0"), ("keys", "att", "in1"), ("att", "pool", None),
                                 ("pool", "out", None)])


def test_round_trip_of_attention_blocks(tmp_path):
    """MultiheadAttention and AttentionPool, many ops in ONNX, come back as the blocks with their exact weights."""
    _round_trip("tiny-attention", tmp_path, _attention_graph(), perturb=True)


def test_round_trip_of_convlstm2d(tmp_path):
    """ConvLSTM2d, unrolled by the exporter with its weight split in two convolutions, comes back whole."""
    nodes = [{"id": "video", "type": "Input", "params": {"shape": [3, 1, 6, 6], "axes": "TCHW"}},
             {"id": "cell", "type": "ConvLSTM2d", "params": {"hidden_channels": 2, "kernel_size": 3}},
             {"id": "last", "type": "ConvLSTM2d", "params": {"hidden_channels": 3, "kernel_size": 1,
                                                              "return_sequences": False}},
             {"id": "out", "type": "Output", "params": {"task": "regression"}}]
    _round_trip("tiny-convlstm", tmp_path, _studio_graph(nodes, [("video", "cell", None), ("cell", "last", None),
                                                                 ("last", "out", None)]), perturb=True)


@pytest.mark.parametrize("tamper, says", [
    (lambda v: v[:-3], "not valid JSON"),
    (lambda v: v.replace('"/att/"', '"/nowhere/"'), "no node of the file is in scope '/nowhere/'"),
    (lambda v: v.replace('"in_proj_weight"', '"in_proj_weight_x"').replace('"q_proj_weight": [8, 8]',
                                                                         '"q_proj_weight": [8, 9]'),
     "weight q_proj_weight (8, 9) is not among the constants"),
])
def test_tampered_block_metadata_falls_back_to_placeholders(tamper, says, tmp_path):
    """Metadata that does not fit the file gives a message in the report and placeholders, never a traceback."""
    from hybrid_studio.compile.onnx_export import RECORDED_BLOCKS_KEY, export_onnx

    graph = _attention_graph()
    path = tmp_path / "att.onnx"
    export_onnx(graph, path, model=compile_graph(graph).eval())
    proto = onnx.load(str(path))
    prop = next(p for p in proto.metadata_props if p.key == RECORDED_BLOCKS_KEY)
    assert '"/att/"' in prop.value and '"q_proj_weight": [8, 8]' in prop.value
    prop.value = tamper(prop.value)
    onnx.save(proto, str(path))
    result = import_model(path)
    assert says in result.report_text()
    assert "MultiheadAttention" not in [n.type for n in result.graph.nodes]
    assert [n for n in result.graph.nodes if n.type == "Placeholder"]
