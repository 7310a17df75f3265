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
