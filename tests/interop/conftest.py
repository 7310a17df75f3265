"""Fixtures for the import tests: Keras (torch backend) imported once per session, and a helper comparing an
imported model with Keras's own ``predict``."""

from __future__ import annotations

import os

import numpy as np
import pytest


@pytest.fixture(scope="session")
def keras():
    """Keras 3 on the torch backend, imported once (it takes seconds). Tests only: the product never imports it."""
    os.environ["KERAS_BACKEND"] = "torch"
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("keras was already imported with another backend")
    return keras


@pytest.fixture
def rng():
    return np.random.default_rng(0)
