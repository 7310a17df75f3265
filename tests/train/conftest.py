"""Fixtures for the training tests."""

from __future__ import annotations

import numpy as np
import pytest
from train_helpers import seq_data


@pytest.fixture
def seq_npz(tmp_path):
    x, y = seq_data()
    path = tmp_path / "ramps.npz"
    np.savez(path, x=x, y=y)
    return path


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
