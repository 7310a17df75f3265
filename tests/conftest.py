"""Test setup: Qt renders offscreen; torch uses few threads (CI machines have 2 cores); the train panel's child-process
answers (device list, built-in datasets) are computed once per session."""

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


# ---- the train panel's child processes, once per session ------------------------------------------------------
# Every window that shows the training dock lists the devices in a child ``python -c`` (it imports torch) and builds
# its built-in dataset in another (digits imports scikit-learn): ~6 s of process start-up per window, for answers
# that never change within a session (the same machine; built-in datasets are deterministic in (name, seed)).
# The first request for each answer in a session still goes through the real child process; later ones get a fresh
# copy of that answer (unpickled anew each time, as the real path does). Files the user opens (paths) and failures
# are never cached, and tests that exercise the child processes themselves ask for ``real_children``. Benchmarks and
# the X11 tests always run the real path.
_CHILD_ANSWERS: dict = {}


@pytest.fixture
def real_children():
    """Opt out of the session cache of the train panel's child-process answers (this test spawns them itself)."""


@pytest.fixture(autouse=True)
def _train_panel_children_once_per_session(request):
    import sys
    from pathlib import Path

    if ("PySide6" not in sys.modules or "real_children" in request.fixturenames
            or {"benchmarks", "x11"} & set(Path(str(request.node.path)).parts)):
        yield
        return
    import pickle

    from hybrid_studio.train.datasets import list_datasets
    from hybrid_studio.ui.train import dataset as dataset_module, panel as panel_module

    builtins = {info.name for info in list_datasets()}
    real_devices, real_load = panel_module.list_devices_out_of_process, dataset_module._load

    def devices(*args, **kwargs):
        if "devices" not in _CHILD_ANSWERS:
            _CHILD_ANSWERS["devices"] = real_devices(*args, **kwargs)
        return list(_CHILD_ANSWERS["devices"])

    def load(name, seed, shape_hint=None):
        if name not in builtins or shape_hint is not None:
            return real_load(name, seed, shape_hint)
        key = ("dataset", name, seed)
        if key not in _CHILD_ANSWERS:
            _CHILD_ANSWERS[key] = pickle.dumps(real_load(name, seed, shape_hint))
        return pickle.loads(_CHILD_ANSWERS[key])

    mp = pytest.MonkeyPatch()
    mp.setattr(panel_module, "list_devices_out_of_process", devices)
    mp.setattr(dataset_module, "_load", load)
    try:
        yield
    finally:
        mp.undo()
