"""Sanity checks with known answers (they guard against attributions that look plausible and mean nothing)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("captum")


def test_two_inputs_label_from_one_gives_it_the_share(two_input_run):
    from hybrid_studio.explain.engine import explain

    for method in ("integrated-gradients", "saliency"):
        r = explain(two_input_run, samples=32, method=method)
        shares = {k: v["share"] for k, v in r["inputs"].items()}
        assert set(shares) == {"a", "b"}
        assert sum(shares.values()) == pytest.approx(1.0)
        assert shares["a"] >= 0.8, (method, shares)
        assert r["inputs"]["a"]["axes"] == "F" and len(r["inputs"]["a"]["profile"]["F"]) == 8


def test_time_window_carries_the_time_profile(window_run):
    from hybrid_studio.explain.engine import explain

    r = explain(window_run, samples=32)
    prof = np.asarray(r["inputs"]["series"]["profile"]["T"])
    assert len(prof) == 100 and prof.sum() == pytest.approx(1.0)
    assert prof[40:60].sum() >= 0.6, prof[40:60].sum()
    assert r["inputs"]["series"]["share"] == pytest.approx(1.0)


def test_randomised_model_attributions_differ(window_run):
    """Adebayo et al. 2018: re-initialising the weights must change the explanation."""
    import torch
    from hybrid_studio.compile import compile_graph
    from hybrid_studio.explain.engine import attribute, load_run

    run = load_run(window_run)
    trained = attribute(run, 32)[0]
    torch.manual_seed(123)
    random_model = compile_graph(run.graph).eval()
    randomised = attribute(run, 32, model=random_model)[0]
    # per-sample rank correlation of the signed attributions (the paper's measure), averaged over the samples
    def spearmanr(a, b):
        ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
        return (np.corrcoef(ra, rb)[0, 1],)

    rho = np.mean([spearmanr(t.ravel(), r.ravel())[0] for t, r in zip(trained, randomised)])
    print("rank correlation trained vs randomised:", rho)
    assert rho < 0.5
    # the same model gives the same explanation (so the check can tell equal from different)
    again = attribute(run, 32)[0]
    assert np.mean([spearmanr(t.ravel(), r.ravel())[0] for t, r in zip(trained, again)]) > 0.99


def test_grad_cam_finds_the_bright_corner(image_run):
    from hybrid_studio.explain.engine import explain

    r = explain(image_run, samples=32, method="grad-cam")
    assert r["block"] == "conv1" and r["cam"]["axes"] == "HW"
    h = np.asarray(r["cam"]["profile"]["H"])
    w = np.asarray(r["cam"]["profile"]["W"])
    assert len(h) == 8 and h.sum() == pytest.approx(1.0)
    assert h[:4].sum() > 0.5 and w[:4].sum() > 0.5, (h, w)


def test_activations_per_block(image_run):
    from hybrid_studio.explain.engine import activations, load_run

    acts = activations(load_run(image_run), sample=1)
    assert acts["conv1"].shape == (4, 8, 8) and acts["fc"].shape == (2,)


def test_fusion_branch_contributions(two_input_run):
    """Replacing the informative branch by its mean costs accuracy; replacing the noise branch does not."""
    from hybrid_studio.explain.engine import branch_contributions, explain, load_run

    drops = branch_contributions(load_run(two_input_run), samples=80)["cat"]
    assert set(drops) == {"a", "b"}
    assert drops["a"] > 0.25 and abs(drops["b"]) < 0.1, drops
    assert explain(two_input_run, samples=8)["branches"]["cat"] == pytest.approx(
        branch_contributions(load_run(two_input_run), samples=256)["cat"])


def test_branch_features_replaced_by_their_mean(branch_run):
    from hybrid_studio.explain.engine import branch_contributions, explain, load_run

    drops = branch_contributions(load_run(branch_run), samples=80)["cat"]
    assert set(drops) == {"la", "lb"}
    assert drops["la"] > 0.25 and abs(drops["lb"]) < 0.1, drops
    assert explain(branch_run, samples=16)["inputs"]["a"]["share"] >= 0.8


def test_grad_cam_per_frame_for_video(video_run):
    """A convolution applied to every frame gets one map per frame; the informative frame and corner stand out."""
    from hybrid_studio.explain.engine import explain

    r = explain(video_run, samples=32, method="grad-cam")
    assert r["block"] == "conv1" and r["cam"]["axes"] == "THW" and r["_cam"].shape == (32, 4, 8, 8)
    t = np.asarray(r["cam"]["profile"]["T"])
    h = np.asarray(r["cam"]["profile"]["H"])
    # frame 2 outweighs the earlier, uninformative frames (the GRU's last frame always weighs: its state is read)
    assert len(t) == 4 and t[2] > 1.5 * max(t[0], t[1]), t
    assert h[:4].sum() > 0.5, h


def test_grad_cam_per_time_step_for_convlstm(convlstm_run):
    """ConvLSTM2d's state is a map per step: one Grad-CAM map per time step. Steps before the informative frame 2
    cannot carry the label (the state only flows forward), so they get little of the profile."""
    from hybrid_studio.explain.engine import explain

    r = explain(convlstm_run, samples=32, method="grad-cam", block="convlstm")
    assert r["block"] == "convlstm" and r["cam"]["axes"] == "THW" and r["_cam"].shape == (32, 4, 8, 8)
    t = np.asarray(r["cam"]["profile"]["T"])
    assert t.sum() == pytest.approx(1.0) and (r["_cam"] >= 0).all()
    assert t[2] + t[3] > 0.7 and t[0] + t[1] < 0.25, t


def test_activations_of_every_kind_of_block(convlstm_run):
    """Per-frame conv maps come back per frame (not the first folded frame), after the block's inline ReLU;
    recurrent blocks give their state at every step; each block gets the view the app draws."""
    from hybrid_studio.explain.engine import activation_views, activations, load_run

    run = load_run(convlstm_run)
    acts = activations(run, sample=3)
    assert acts["video"].shape == (4, 1, 8, 8)
    np.testing.assert_array_equal(acts["video"], run.validation_inputs(4)[0][3])
    assert acts["conv1"].shape == (4, 4, 8, 8) and acts["conv1"].min() >= 0  # ReLU'd, all four frames
    assert not np.allclose(acts["conv1"][0], acts["conv1"][2])  # frame 2 differs (its bright corner)
    assert acts["convlstm"].shape == (4, 3, 8, 8)
    assert acts["rnn"].shape == (4, 6)  # return_sequences is off, yet the state of every step comes back
    assert acts["fc"].shape == (2,)
    views = activation_views(run, sample=3)
    assert views["conv1"]["kind"] == "maps" and views["conv1"]["data"].shape == (4 * 9 - 1, 4 * 9 - 1)
    # the tile of frame 2, channel 1 is that frame's map
    np.testing.assert_array_equal(views["conv1"]["data"][18:26, 9:17], acts["conv1"][2, 1])
    assert views["convlstm"]["kind"] == "state" and views["convlstm"]["data"].shape == (3, 4)
    np.testing.assert_allclose(views["convlstm"]["data"][:, 1], acts["convlstm"][1].mean((1, 2)), rtol=1e-5)
    assert views["rnn"]["kind"] == "state" and views["rnn"]["data"].shape == (6, 4)
    np.testing.assert_array_equal(views["rnn"]["data"], acts["rnn"].T)
    assert views["fc"]["kind"] == "vector" and views["fc"]["data"].shape == (2,)
    assert views["flat"]["kind"] == "heatmap" and views["flat"]["data"].shape == (192, 4)


def test_convlstm_state_over_time_without_return_sequences(convlstm_run):
    """A ConvLSTM2d that hands on its last state only still shows its state at every step (run again keeping
    them), the last of which is what it handed on; the module is left as it was."""
    import torch
    from hybrid_studio.compile import compile_graph
    from hybrid_studio.explain.engine import activations, load_run

    # this folder's conftest.build (a plain ``from conftest import`` finds whichever conftest loaded first)
    build = _conftest_build()

    run = load_run(convlstm_run)
    # the same data through a ConvLSTM2d that returns its last state only (weights as initialised: shapes matter)
    run.graph = build([("video", "Input", {"shape": [4, 1, 8, 8], "axes": "TCHW"}),
                       ("convlstm", "ConvLSTM2d", {"hidden_channels": 3, "return_sequences": False}),
                       ("flat", "Flatten", {}), ("fc", "Linear", {"out_features": 2}), ("out", "Output", {})],
                      [("video", "convlstm"), ("convlstm", "flat"), ("flat", "fc"), ("fc", "out")], "last")
    torch.manual_seed(0)
    run.model = compile_graph(run.graph).eval()
    acts = activations(run, 2)
    assert acts["convlstm"].shape == (4, 3, 8, 8)
    np.testing.assert_allclose(acts["convlstm"][-1].ravel(), acts["flat"], rtol=1e-5, atol=1e-6)
    assert run.model.convlstm.return_sequences is False


def test_sample_outcomes_name_right_and_wrong(convlstm_run):
    from hybrid_studio.explain.engine import explain

    r = explain(convlstm_run, samples=24, method="saliency")
    o = r["_outcomes"]
    assert len(o["targets"]) == len(o["predictions"]) == len(o["correct"]) == 24
    assert o["correct"] == [bool(p == t) for p, t in zip(o["predictions"], o["targets"])]
    wrong = o["correct"].count(False)
    assert 0 < wrong < 12, o["correct"]  # one label in five is flipped: some, not most, are wrong
    assert r["_run_dir"] == str(convlstm_run) and r["_block_types"]["convlstm"] == "ConvLSTM2d"


def _conftest_build():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("explain_conftest", Path(__file__).with_name("conftest.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build
