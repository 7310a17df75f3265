"""What keeps the window's start-up light (issues 13 and 15; the timing itself is tests/benchmarks/test_startup_bench.py).

The window is built in a fresh interpreter, because this test process has long since imported everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

ROOT = Path(__file__).resolve().parents[2]
WIDGETS = ("hybrid_studio.ui.explain_widgets", "hybrid_studio.ui.profile_widgets", "hybrid_studio.ui.sweep_widgets")

PROBE = f"""
import json, sys
from PySide6.QtWidgets import QApplication
app = QApplication([])
from hybrid_studio.ui.app import build_window
w = build_window()
loaded = [m for m in {WIDGETS!r} if m in sys.modules]
actions = [bool(getattr(w, a, None)) for a in ("explain_action", "profile_action", "quantize_action", "sweep_action")]
w.profile_action.trigger()   # first use builds the panel
print(json.dumps({{"loaded": loaded, "actions": actions, "after_use": "hybrid_studio.ui.profile_widgets" in sys.modules,
                  "panel": type(w.profile_view).__name__, "torch": "torch" in sys.modules}}))
"""


def test_feature_widgets_load_on_first_use_not_with_the_window():
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["loaded"] == [], "the window imported feature widgets before they were used"
    assert out["actions"] == [True, True, True, True]
    assert out["after_use"] and out["panel"] == "ProfileView" and not out["torch"]


def test_widget_names_stay_reachable_from_the_feature_modules():
    from hybrid_studio.ui import explain_view, explain_widgets, profile_view, profile_widgets, sweep_view, sweep_widgets
    assert explain_view.ExplainView is explain_widgets.ExplainView
    assert explain_view.open_explain_view is explain_widgets.open_explain_view
    assert profile_view.ProfileView is profile_widgets.ProfileView and profile_view.OVERLAYS == profile_widgets.OVERLAYS
    assert sweep_view.SweepProcess is sweep_widgets.SweepProcess
    assert sweep_view.best_trial_edit is sweep_widgets.best_trial_edit
    with pytest.raises(AttributeError):
        sweep_view.no_such_name  # noqa: B018


def test_pysides_import_check_gives_the_same_answers_faster():
    import hybrid_studio.ui  # noqa: F401 - installs the lighter check
    feature = sys.modules.get("shibokensupport.feature")
    check = getattr(feature, "_mod_uses_pyside", None)
    if check is None or not getattr(check, "_hybrid_studio", False):
        pytest.skip("this PySide has no per-import __feature__ check")
    import inspect

    import hybrid_studio.graph.model as pure
    import hybrid_studio.ui.palette as qt_module
    for module in (pure, qt_module, json, inspect):
        assert check(module) == ("PySide6" in inspect.getsource(module)), module.__name__
    assert check(sys) is False   # no source file: PySide's own check answers


GC_PROBE = """
import gc, json
from PySide6.QtWidgets import QApplication
app = QApplication([])
from hybrid_studio.ui.app import build_window
seen = []
gc.callbacks.append(lambda phase, info: phase == "start" and seen.append(info["generation"]))
{before}
w = build_window()
built = {{"collections": len(seen), "enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}}
app.processEvents()
print(json.dumps({{**built, "frozen_after_a_turn": gc.get_freeze_count(), "enabled_after": gc.isenabled(),
                  "blocks": len(w.document.graph)}}))
"""


def _gc_probe(before: str = "") -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", GC_PROBE.format(before=before)], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_window_is_built_without_cyclic_collections():
    out = _gc_probe()
    assert out["blocks"] > 3
    # building imports the app and makes ~10^5 objects: without the pause the collector runs dozens of times
    assert out["collections"] == 0
    assert out["enabled"] and out["enabled_after"]   # and the collector is back on once the window is built
    # (freezing the survivors is main's, after the first paint: heap.settle, tested in test_canvas_outline)


def test_a_caller_that_turned_the_collector_off_keeps_it_off():
    out = _gc_probe("gc.disable()")
    assert out["collections"] == 0 and not out["enabled"] and not out["enabled_after"]
    assert out["frozen"] == 0
