"""Test setup: Qt renders offscreen; torch uses few threads (CI machines have 2 cores)."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
# Keep the app's data folder (recent files, autosaves, unsaved runs) out of the user's home during tests.
os.environ.setdefault("HYBRID_STUDIO_DATA_DIR", os.path.join(os.environ.get("TMPDIR", "/tmp"), "hybrid-studio-tests"))

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# Property tests: CI runs the same examples every time (derandomize), so a submission's result does not depend
# on the draw; a local run explores new examples each time and remembers failures in .hypothesis/.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default"))


def pytest_collection_modifyitems(config, items):
    try:
        import torch
        has_cuda = torch.cuda.is_available()
    except Exception:  # noqa: BLE001
        has_cuda = False
    if not has_cuda:
        skip = pytest.mark.skip(reason="needs a CUDA device")
        for item in items:
            if "cuda" in item.keywords:
                item.add_marker(skip)
