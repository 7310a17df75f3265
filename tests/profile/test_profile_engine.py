"""The profile engine: per-block pieces that recompute the model, the contract's report, bad input."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from hybrid_studio.blocks import checker_for  # noqa: E402
from hybrid_studio.compile import compile_graph  # noqa: E402
from hybrid_studio.profile.engine import (ProfileError, block_pieces, check_device,  # noqa: E402
                                          example_inputs, profile_graph)
from hybrid_studio.project import load_template  # noqa: E402


def test_block_pieces_run_in_order_give_the_models_output():
    """Each block cut out of the fx graph, fed what the blocks before it produced, recomputes the whole model."""
    graph = load_template("parallel-cnn-lstm")
    gm = compile_graph(graph).eval()
    checker = checker_for(graph)
    xs = example_inputs(graph, gm.hs_generated, checker, 3, torch.device("cpu"))
    pieces = block_pieces(gm)
    assert set(pieces) == {n.id for n in graph.nodes if n.type not in ("Input", "Output")}
    env = {n.name: x for n, x in zip([n for n in gm.graph.nodes if n.op == "placeholder"], xs)}
    with torch.no_grad():
        for bid, (piece, reads, outs) in pieces.items():
            results = piece(*[env[r] for r in reads])
            env.update(zip(outs, results))
        want = gm(*xs)
    last = pieces["fc"][2][-1]
    torch.testing.assert_close(env[last], want)


def test_profile_report_follows_the_contract():
    graph = load_template("seed-cnn-lstm")
    seen = []
    report = profile_graph(graph, "cpu", 4, onnx=False, budget_s=0.05, progress=lambda f, m: seen.append(f))
    assert report["device"] == "cpu" and report["batch_size"] == 4
    total = report["total"]
    assert set(total) == {"forward_ms", "train_step_ms", "param_bytes", "peak_bytes"}
    assert total["forward_ms"] > 0 and total["train_step_ms"] > 0
    assert total["param_bytes"] == 4 * checker_for(graph).total_params()
    # weights, gradients and Adam's two moments, plus at least the activations autograd keeps
    assert total["peak_bytes"] > 4 * total["param_bytes"]
    assert list(report["blocks"]) == [n.id for n in graph.nodes]
    conv1 = report["blocks"]["conv1"]
    assert conv1["output_bytes"] == 4 * 32 * 26 * 26 * 4  # batch 4, float32 (N, 32, 26, 26)
    assert conv1["params"] == 320 and conv1["macs"] == 194688
    assert report["blocks"]["image"]["forward_ms"] == 0
    assert all(report["blocks"][b]["forward_ms"] > 0 for b in ("conv1", "conv2", "lstm", "fc"))
    assert sum(b["share"] for b in report["blocks"].values()) == pytest.approx(1.0, abs=1e-3)
    assert seen[-1] == 1.0 and seen == sorted(seen)


def test_peak_memory_grows_with_the_batch():
    graph = load_template("seed-cnn-lstm")
    small = profile_graph(graph, "cpu", 2, onnx=False, budget_s=0.02)
    large = profile_graph(graph, "cpu", 16, onnx=False, budget_s=0.02)
    activations = [r["total"]["peak_bytes"] - 4 * r["total"]["param_bytes"] for r in (small, large)]
    assert activations[1] == pytest.approx(8 * activations[0], rel=0.1)
    assert large["blocks"]["conv1"]["output_bytes"] == 8 * small["blocks"]["conv1"]["output_bytes"]


def test_onnxruntime_latency_sits_beside_torchs():
    pytest.importorskip("onnxruntime")
    report = profile_graph(load_template("rnn-cnn"), "cpu", 2, train_step=False, budget_s=0.02)
    ort = report["onnxruntime"]
    assert ort["forward_ms"] > 0 and ort["torch_cpu_forward_ms"] > 0
    assert ort["exporter"] in ("torchscript", "dynamo") and ort["max_abs_diff"] < 1e-4


@pytest.mark.skipif(torch.cuda.device_count() > 7, reason="this machine has a cuda:7")
def test_missing_device_is_named():
    with pytest.raises(ProfileError, match="cuda:7"):
        check_device("cuda:7")
    with pytest.raises(ProfileError, match="tpu"):
        check_device("tpu")


def test_invalid_graph_is_refused_with_the_block_named():
    graph = load_template("seed-cnn-lstm")
    graph.node("fc").params["out_features"] = 0
    with pytest.raises(ProfileError, match="fc") as info:
        profile_graph(graph, "cpu", 2, onnx=False)
    assert info.value.kind == "graph"


def test_batch_that_does_not_fit_suggests_a_smaller_one():
    # 10^9 images of 28x28 need ~3 TB: the allocation fails at once, and the message says what to do
    with pytest.raises(ProfileError, match=r"does not fit.*--batch-size 250000000") as info:
        profile_graph(load_template("seed-cnn-lstm"), "cpu", 10**9, onnx=False)
    assert info.value.kind == "memory"


@pytest.mark.cuda
def test_profile_runs_on_the_gpu():
    graph = load_template("crnn")
    report = profile_graph(graph, "cuda", 8, onnx=False, budget_s=0.1)
    assert report["device"].startswith("cuda")
    assert report["total"]["peak_bytes"] > 4 * report["total"]["param_bytes"]
    assert report["blocks"]["conv1"]["forward_ms"] > 0
    ratio = report["block_sum_ms"] / report["total"]["forward_ms"]
    print(f"cuda crnn: forward {report['total']['forward_ms']:.3f} ms, blocks sum {report['block_sum_ms']:.3f} ms, "
          f"ratio {ratio:.2f}, train step {report['total']['train_step_ms']:.3f} ms")
    assert 0.5 < ratio < 2.0


@pytest.mark.cuda
def test_batch_too_large_for_the_gpu_suggests_a_smaller_one():
    with pytest.raises(ProfileError, match="does not fit") as info:
        profile_graph(load_template("crnn"), "cuda", 10**6, onnx=False, train_step=False)
    assert info.value.kind == "memory"
