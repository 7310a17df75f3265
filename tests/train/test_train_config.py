"""Training settings: round trip through the project's training section, validation, devices."""

from __future__ import annotations

import json
import sys

import pytest

from hybrid_studio.train.config import ConfigError, TrainConfig, list_devices, resolve_device


def test_round_trip_through_json():
    c = TrainConfig(optimizer="sgd", lr=0.05, scheduler="onecycle", epochs=3, early_stopping=2, amp="bf16",
                    compile=True, device="cuda:1", grad_clip=1.0)
    again = TrainConfig.from_dict(json.loads(json.dumps(c.to_dict())))
    assert again == c


def test_from_dict_fills_defaults_ignores_unknown_and_coerces():
    c = TrainConfig.from_dict({"epochs": 5.0, "lr": 1, "future_setting": 3, "grad_clip": None})
    assert c.epochs == 5 and isinstance(c.epochs, int) and c.lr == 1.0 and c.batch_size == TrainConfig().batch_size
    assert TrainConfig.from_dict(None) == TrainConfig()


@pytest.mark.parametrize("data, name", [
    ({"optimizer": "rmsprop"}, "optimizer"), ({"scheduler": "linear"}, "scheduler"), ({"amp": "fp8"}, "amp"),
    ({"device": "tpu"}, "device"), ({"lr": 0}, "lr"), ({"epochs": 0}, "epochs"), ({"val_split": 1.0}, "val_split"),
    ({"epochs": 2.5}, "epochs"), ({"compile": "yes"}, "compile"), ({"batch_size": True}, "batch_size"),
    ({"lr": float("nan")}, "lr"), ({"early_stopping": -1}, "early_stopping"),
])
def test_bad_values_name_the_setting(data, name):
    with pytest.raises(ConfigError, match=name):
        TrainConfig.from_dict(data)


def test_replace_ignores_none():
    c = TrainConfig().replace(epochs=None, lr=0.1)
    assert c.epochs == TrainConfig().epochs and c.lr == 0.1


def test_importing_config_does_not_import_torch():
    import subprocess

    code = ("import sys, hybrid_studio.train, hybrid_studio.train.config, hybrid_studio.train.runner, "
            "hybrid_studio.train.runs, hybrid_studio.train.datasets, hybrid_studio.train.matching, "
            "hybrid_studio.train.events; from hybrid_studio.train import list_datasets, start_run, list_runs; "
            "list_datasets(); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_devices():
    import torch

    devices = list_devices()
    assert devices[0] == ("cpu", "CPU")
    assert len(devices) == 1 + (torch.cuda.device_count() if torch.cuda.is_available() else 0) + \
        (1 if torch.backends.mps.is_available() else 0)
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_missing_cuda_is_a_clear_error():
    with pytest.raises(ConfigError, match="no CUDA GPU.*--device cpu"):
        resolve_device("cuda:0")
