"""Shared by the import tests: skip until a block exists, randomise Keras weights, compare with ``predict``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hybrid_studio.blocks import CATALOG
from hybrid_studio.compile import compile_graph
from hybrid_studio.interop import import_model


def needs(*types):
    """Skip the test until the blocks it converts to are in the catalog (another branch adds them)."""
    missing = [t for t in types if t not in CATALOG]
    if missing:
        pytest.skip(f"block {', '.join(missing)} not in catalog yet")


def randomize(model, rng):
    """Non-trivial weights everywhere (BatchNorm variances positive), so that a wrong mapping shows."""
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        if "normalization" in layer.name:
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in ws])
        else:
            layer.set_weights([(rng.standard_normal(w.shape) * 0.5).astype("float32") for w in ws])


def channels_first(x):
    """Keras channels-last images/video -> the studio's channels-first order."""
    x = np.asarray(x)
    if x.ndim == 4:
        return x.transpose(0, 3, 1, 2)
    if x.ndim == 5:
        return x.transpose(0, 1, 4, 2, 3)
    return x


def studio_model(result):
    model = compile_graph(result.graph)
    model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in result.weights.items()}, strict=True)
    return model.eval()


def assert_matches_keras(kmodel, inputs, path, fmt=".keras"):
    """Save ``kmodel`` as ``fmt``, import it, and compare outputs on ``inputs`` within 1e-4 (relative)."""
    path = str(path) + fmt
    kmodel.save(path)
    result = import_model(path)
    assert not result.unsupported, result.report_text()
    model = studio_model(result)
    inputs = inputs if isinstance(inputs, list) else [inputs]
    expected = kmodel.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
    expected = expected if isinstance(expected, list) else [expected]
    with torch.no_grad():
        got = model(*[torch.from_numpy(channels_first(x)) for x in inputs])
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(expected)
    for e, g in zip(expected, got):
        e = channels_first(e)
        assert tuple(g.shape) == e.shape
        scale = max(1.0, float(np.abs(e).max()))
        np.testing.assert_allclose(g.numpy(), e, rtol=1e-4, atol=1e-4 * scale)
    return result
