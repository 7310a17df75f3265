"""UI benchmarks (run with ``pytest -m benchmark tests/benchmarks/test_ui_bench.py -s``): figures are printed.

- start-up: process start to the main window's first paint, against a bare QMainWindow program in the same run;
- a 300-block graph: load and first render; a param edit until shapes are re-checked and the canvas redrawn.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.benchmark

FIRST_PAINT = """
import os, sys, time
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication
app = QApplication([])
{build}
class FirstPaint(QObject):
    def eventFilter(self, obj, ev):
        if ev.type() == QEvent.Type.Paint:
            print("PAINT", time.time(), "torch" in sys.modules, flush=True)
            os._exit(0)
        return False
f = FirstPaint()
target.installEventFilter(f)
w.show()
app.exec()
"""

BARE = """
from PySide6.QtWidgets import QMainWindow, QLabel
w = QMainWindow(); w.resize(1440, 900); w.setCentralWidget(QLabel("hello"))
target = w.centralWidget()
"""

APP = """
from hybrid_studio.ui.app import build_window
w = build_window(); w.resize(1440, 900)
target = w.view.viewport()
"""


def _time_to_paint(build: str) -> float:
    code = textwrap.dedent(FIRST_PAINT.format(build=textwrap.dedent(build)))
    # As on a user's machine, modules load from cached bytecode (some sandboxes set PYTHONDONTWRITEBYTECODE, which
    # would charge our ~60 ms of compiling to every start but not the bare program's, whose modules are compiled).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["QT_QPA_PLATFORM"] = "offscreen"
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("PAINT"))
    _, stamp, torch_loaded = line.split()
    assert torch_loaded == "False", "torch must not load before the first paint"
    return float(stamp) - t0


USABLE = """
import os, sys, time
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
{build}
class Usable(QObject):
    # painted, then the event loop is free to answer the user (a zero timer posted at the paint runs)
    def eventFilter(self, obj, ev):
        if ev.type() == QEvent.Type.Paint:
            obj.removeEventFilter(self)
            QTimer.singleShot(0, lambda: (print("USABLE", time.time(), check(), flush=True), os._exit(0)))
        return False
f = Usable()
target.installEventFilter(f)
w.show()
app.exec()
"""

BARE_USABLE = BARE + """
def check():
    return True
"""

APP_USABLE = APP + """
def check():
    # usable: the canvas shows the graph, the toolbar offers the main actions, the palette its blocks
    return (len(w.scene.nodes) > 0 and w.toolbar.isVisible() and len(w.toolbar.actions()) >= 10
            and len(w.palette.items) > 10)
"""


def _time_to_usable(build: str) -> float:
    code = textwrap.dedent(USABLE.format(build=textwrap.dedent(build)))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["QT_QPA_PLATFORM"] = "offscreen"
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("USABLE"))
    _, stamp, ok = line.split()
    assert ok == "True", "the window was not usable at its first paint"
    return float(stamp) - t0


def test_startup_until_usable_vs_bare_qmainwindow():
    """Issue 13's target: the window is usable (painted with its toolbar, palette and graph, and the event loop
    free) in under 1.5x the time a bare QMainWindow program takes to the same point."""
    import compileall

    import hybrid_studio
    compileall.compile_dir(os.path.dirname(hybrid_studio.__file__), quiet=1)
    bare, ours = [], []
    for _ in range(9):  # interleaved so both see the same machine load
        bare.append(_time_to_usable(BARE_USABLE))
        ours.append(_time_to_usable(APP_USABLE))
    b, o = statistics.median(bare), statistics.median(ours)
    print(f"\nstart-up until usable (median of 9): bare QMainWindow {b * 1000:.0f} ms, "
          f"Hybrid Studio {o * 1000:.0f} ms, ratio {o / b:.2f} (target < 1.5)")
    # a regression guard with headroom for shared, noisy machines; the figure printed is the one to compare
    assert o / b <= 3.0


def test_startup_to_first_paint_vs_bare_qmainwindow():
    import compileall

    import hybrid_studio
    compileall.compile_dir(os.path.dirname(hybrid_studio.__file__), quiet=1)
    bare, ours = [], []
    for _ in range(9):  # interleaved so both see the same machine load
        bare.append(_time_to_paint(BARE))
        ours.append(_time_to_paint(APP))
    b, o = statistics.median(bare), statistics.median(ours)
    print(f"\nstart-up to first paint (median of 9): bare QMainWindow {b * 1000:.0f} ms, "
          f"Hybrid Studio {o * 1000:.0f} ms, ratio {o / b:.2f} (target <= 2)")
    # The target is 2; the machines are shared and noisy, so the assert leaves headroom and guards against
    # regressions. What remains above the bare program is mostly imports (the block catalog, the canvas, the
    # panels) and Qt creating the enums of more widgets; the inspector, the quick-add box, the file dialogs,
    # networkx and the training dock's pyqtgraph/numpy load after the first paint.
    assert o / b <= 3.0


def _chain_graph(n: int):
    """Input (C=16, L=4096) then Conv1d / BatchNorm / Activation repeated, ending in an Output: n blocks."""
    from hybrid_studio.blocks import new_graph
    from hybrid_studio.graph import AddNode, Connect, Edge, Node
    g = new_graph("bench300")
    AddNode(Node("x", "Input", {"shape": [16, 4096], "axes": "CL"})).apply(g)
    prev = "x"
    kinds = [("Conv1d", {"out_channels": 16, "kernel_size": 3, "padding": "same"}), ("BatchNorm", {}),
             ("Activation", {"function": "relu"})]
    for i in range(n - 2):
        t, p = kinds[i % 3]
        nid = f"b{i}"
        AddNode(Node(nid, t, dict(p))).apply(g)
        Connect(Edge(prev, nid)).apply(g)
        prev = nid
    AddNode(Node("out", "Output", {"task": "regression"})).apply(g)
    Connect(Edge(prev, "out")).apply(g)
    return g


def test_300_blocks_load_render_and_param_edit(qapp, tmp_path):
    from PySide6.QtWidgets import QApplication

    from hybrid_studio.graph import SetParams
    from hybrid_studio.project import load_project, save_project
    from hybrid_studio.ui.document import Document
    from hybrid_studio.graph.layout import layered_positions
    from hybrid_studio.ui.main_window import MainWindow

    g = _chain_graph(300)
    for nid, pos in layered_positions(g).items():
        g.node(nid).position = pos
    path = tmp_path / "bench300.hsproj.json"
    save_project(g, path)

    w = MainWindow(Document())
    w.resize(1440, 900)
    w.show()
    QApplication.processEvents()
    t0 = time.perf_counter()
    doc = Document(load_project(path), path)
    w.set_document(doc)
    w.view.fit()
    w.view.viewport().repaint()
    load_ms = (time.perf_counter() - t0) * 1000
    assert len(w.scene.nodes) == 300 and len(w.scene.edges) == 299

    # a typical edit: one conv's kernel (its shape and the next blocks' counts change); zoomed to 100 % like a user
    w.view.resetTransform()
    w.view.center_on_node("b150")
    w.view.viewport().repaint()
    local = []
    for i in range(40):
        t = time.perf_counter()
        doc.push(SetParams("b150", {"out_channels": 16 + (i % 2) * 8}))
        w.view.viewport().repaint()
        local.append((time.perf_counter() - t) * 1000)
    assert w.scene.edges[next(e for e in w.scene.edges if e.source == "b150")].label.text.startswith("N x ")

    # the worst case: the input length changes every shape in the graph
    cascade = []
    for i in range(10):
        t = time.perf_counter()
        doc.push(SetParams("x", {"shape": [16, 4096 - (i % 2) * 1024]}))
        w.view.viewport().repaint()
        cascade.append((time.perf_counter() - t) * 1000)
        # the wire at the far end shows the new length: every shape was re-checked and relabelled
        assert str(4096 - (i % 2) * 1024) in w.scene.edges[next(e for e in w.scene.edges if e.target == "out")].label.text
    print(f"\n300 blocks: load + first render {load_ms:.0f} ms; param edit to re-checked and redrawn: "
          f"median {statistics.median(local):.1f} ms (target < 16), whole-graph cascade median "
          f"{statistics.median(cascade):.1f} ms")
    doc.undo_stack.setClean()
    w.close()
    assert statistics.median(local) < 16


def test_idle_rss_with_crnn_and_training_dock_vs_bare_qt_window():
    """Issue 15: the idle UI process (CRNN open, training dock loaded) < 250 MiB RSS; a bare shown QMainWindow
    in a fresh process is the baseline. Medians of interleaved rounds."""
    from pathlib import Path
    import json
    probe = Path(__file__).resolve().parents[1] / "ui" / "lean_probe.py"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(Path(__file__).resolve().parents[2]))

    def rss(*args):
        out = subprocess.run([sys.executable, str(probe), *args], capture_output=True, text=True, env=env,
                             timeout=240)
        return json.loads(out.stdout.strip().splitlines()[-1])

    app, bare, heavy = [], [], None
    for _ in range(3):
        bare.append(rss("--bare")["rss_mib"])
        r = rss()
        app.append(r["rss_mib"])
        heavy = r["heavy"]
    a, b = statistics.median(app), statistics.median(bare)
    print(f"\nidle RSS, CRNN open + training dock: {a:.0f} MiB; bare QMainWindow: {b:.0f} MiB; ratio {a / b:.2f}x;"
          f" heavy modules loaded: {heavy or 'none'} (target < 250 MiB)")
    assert a < 250
