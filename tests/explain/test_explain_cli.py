"""``hybrid-studio explain``: the contract's JSON, the PNG report and the bad-input messages (exit codes 0/1/2)."""

from __future__ import annotations

import json
import shutil

import pytest
from hybrid_studio.cli import main

pytest.importorskip("captum")


def test_json_matches_the_contract(two_input_run, capsys):
    assert main(["explain", two_input_run, "--samples", "16", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["method"] == "integrated-gradients" and r["samples"] == 16
    assert set(r["inputs"]) == {"a", "b"}
    assert sum(v["share"] for v in r["inputs"].values()) == pytest.approx(1.0)
    for v in r["inputs"].values():
        assert v["axes"] == "F" and sum(v["profile"]["F"]) == pytest.approx(1.0)


def test_png_report_and_text(image_run, tmp_path, capsys):
    out = tmp_path / "report.png"
    assert main(["explain", image_run, "--samples", "8", "--method", "saliency", "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
    assert "image (CHW): share 100.0%" in capsys.readouterr().out
    cam = tmp_path / "cam.png"
    assert main(["explain", image_run, "--samples", "4", "--method", "grad-cam", "--block", "conv1", "-o", str(cam),
                 "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["block"] == "conv1" and cam.stat().st_size > 5000


def test_grad_cam_on_a_non_conv_block_names_the_conv_blocks(image_run, capsys):
    assert main(["explain", image_run, "--method", "grad-cam", "--block", "fc"]) == 2
    err = capsys.readouterr().err
    assert "'fc' is a Linear block" in err and "conv1" in err


def test_grad_cam_without_conv_blocks(two_input_run, capsys):
    assert main(["explain", two_input_run, "--method", "grad-cam"]) == 2
    assert "the model has none; use --method integrated-gradients" in capsys.readouterr().err


def test_run_without_checkpoints(two_input_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(two_input_run, run)
    shutil.rmtree(run / "checkpoints")
    assert main(["explain", str(run)]) == 2
    assert "no checkpoint best.pt" in capsys.readouterr().err
    assert main(["explain", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_dataset_that_no_longer_matches(two_input_run, tmp_path, capsys):
    import numpy as np
    run = tmp_path / "run"
    shutil.copytree(two_input_run, run)
    cfg = json.loads((run / "config.json").read_text())
    data = np.load(cfg["dataset"])
    # the file now has 5 features per input instead of 8
    np.savez(tmp_path / "changed.npz", x0=data["x0"][:, :5], x1=data["x1"][:, :5], y=data["y"])
    cfg["dataset"] = str(tmp_path / "changed.npz")
    (run / "config.json").write_text(json.dumps(cfg))
    assert main(["explain", str(run)]) == 2
    err = capsys.readouterr().err
    assert "no longer matches" in err and "a expects F 8" in err
