"""Start-up on a shared machine (run with ``pytest -m benchmark -s tests/benchmarks/test_startup_bench.py``).

``test_ui_bench.py`` times start-up on the wall clock, which on a loaded machine mostly measures the other jobs. Here
each fresh process reports the CPU time it spent (``time.process_time()``: interpreter start, imports, building
and painting the window) at its first paint, and what was loaded by then; the app and a bare QMainWindow program
run interleaved, medians printed with their ratio. Issue 15's target is <= 1.3x, issue 13's < 1.5x (until usable).

Two more baselines are printed beside the ratios: the bare window using Qt's namespace (``BARE_QT``), and the floor
(``FLOOR``): the app's window built from the same Qt widgets in plain PySide6, with none of the app's code. The floor
is what any PySide6 program with this window pays; the app's own cost is its ratio to the floor.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.benchmark

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PROGRAM = """
import os, sys, time, json
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
t_app = time.process_time()
{build}
class FirstPaint(QObject):
    def eventFilter(self, obj, ev):
        if ev.type() == QEvent.Type.Paint:
            obj.removeEventFilter(self)
            paint, wall_paint = time.process_time(), time.time()
            def usable():
                print(json.dumps({{"paint": paint, "usable": time.process_time(), "qapp": t_app,
                                  "wall_paint": wall_paint, "wall_usable": time.time(),
                                  "torch": "torch" in sys.modules, "ok": check(),
                                  "heavy": sorted(m for m in ("numpy", "networkx", "pyqtgraph", "torch")
                                                  if m in sys.modules)}}), flush=True)
                os._exit(0)
            QTimer.singleShot(0, usable)
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
def check():
    return True
"""

#: The same bare window, centring its label with a ``Qt`` flag as nearly every Qt program does: its first use of
#: PySide's ``Qt`` namespace builds that namespace's 93 Python enums (~1,200 members; ~19% more instructions than
#: ``BARE`` to its first paint), a cost the app cannot avoid (the canvas paints with Qt's pens, brushes and flags) and
#: the bare program above never pays. Printed beside the issues' ratios, which stay measured against ``BARE``.
BARE_QT = """
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMainWindow, QLabel
w = QMainWindow(); w.resize(1440, 900); w.setCentralWidget(QLabel("hello"))
w.centralWidget().setAlignment(Qt.AlignmentFlag.AlignCenter)
target = w.centralWidget()
def check():
    return True
"""

#: The floor: the app's window made of the same Qt widgets with none of the app's code (no graph, no checker, no
#: custom painting): six menus of 42 actions with shortcuts (the app has 39), a toolbar of 19 entries with the app's
#: SVG icons, the palette's search box and tree of 9 categories and 29 blocks with icons and tooltips, inspector /
#: history / problems docks, five status-bar labels, the settings read, and a scene of 9 blocks (a box and three texts
#: each) and 8 labelled cubic wires. What any PySide6 program with this window pays; the app's own cost is what it
#: adds on top.
FLOOR = """
import os
from PySide6.QtCore import QPointF, QRectF, QSettings, QSize, Qt
from PySide6.QtGui import QAction, QIcon, QKeySequence, QPainter, QPainterPath, QUndoGroup, QUndoStack
from PySide6.QtWidgets import (QDockWidget, QGraphicsScene, QGraphicsView, QHeaderView, QLabel, QLineEdit,
                               QMainWindow, QStatusBar, QToolBar, QTreeWidget, QTreeWidgetItem, QUndoView, QVBoxLayout,
                               QWidget)
ICONS = os.path.join(os.environ["HS_REPO"], "resources", "icons")
w = QMainWindow(); w.resize(1440, 900); w.setDockNestingEnabled(True)
QSettings("Hybrid Studio floor", "floor").value("window/workspace", "design")
scene = QGraphicsScene(); view = QGraphicsView(scene); view.setRenderHint(QPainter.RenderHint.Antialiasing)
view.setDragMode(QGraphicsView.DragMode.RubberBandDrag); w.setCentralWidget(view)
prev = None
for i in range(9):
    x, y = (i % 5) * 240.0, (i // 5) * 140.0
    scene.addRect(QRectF(x, y, 184, 74))
    for j, text in enumerate((f"block{i}", "Conv2d", "16 ch, 3x3, 448 params")):
        t = scene.addSimpleText(text); t.setPos(x + 8, y + 6 + 20 * j)
    if prev is not None:
        a, b = QPointF(prev[0] + 184, prev[1] + 37), QPointF(x, y + 37)
        path = QPainterPath(a); path.cubicTo(QPointF(a.x() + 50, a.y()), QPointF(b.x() - 50, b.y()), b)
        scene.addPath(path); scene.addSimpleText("N x 16 x 28 x 28").setPos((a.x() + b.x()) / 2, (a.y() + b.y()) / 2)
    prev = (x, y)
palette = QWidget(); lay = QVBoxLayout(palette); search = QLineEdit(); search.setPlaceholderText("Search blocks")
search.setClearButtonEnabled(True); tree = QTreeWidget(); tree.setHeaderHidden(True); tree.setIconSize(QSize(20, 20))
lay.addWidget(search); lay.addWidget(tree)
cats = sorted(f for f in os.listdir(ICONS) if f.startswith("category-"))
tops = []
for c in cats:
    top = QTreeWidgetItem([c[9:-4]])
    for k in range(29 // len(cats) + 1):
        item = QTreeWidgetItem(top, [f"{c[9:13]}{k}"]); item.setIcon(0, QIcon(os.path.join(ICONS, c)))
        item.setToolTip(0, "<b>Block</b> help"); item.setData(0, Qt.ItemDataRole.UserRole, k)
    tops.append(top)
tree.addTopLevelItems(tops); tree.expandAll()
group = QUndoGroup(w); stack = QUndoStack(group); group.setActiveStack(stack)
history = QUndoView(group); history.setEmptyLabel("<opened>")
problems = QTreeWidget(); problems.setHeaderLabels(["", "Block", "Problem", "Fix"])
problems.header().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
hint = QLabel("Select a block to see its settings.")
for title, widget, area in (("Blocks", palette, Qt.DockWidgetArea.LeftDockWidgetArea),
                            ("Inspector", hint, Qt.DockWidgetArea.RightDockWidgetArea),
                            ("History", history, Qt.DockWidgetArea.RightDockWidgetArea),
                            ("Problems", problems, Qt.DockWidgetArea.BottomDockWidgetArea)):
    d = QDockWidget(title, w); d.setWidget(widget); w.addDockWidget(area, d)
sb = QStatusBar(); w.setStatusBar(sb)
for k in range(5):
    sb.addPermanentWidget(QLabel(f"label {k}"))
icons = sorted(f for f in os.listdir(ICONS) if f.startswith("action-"))
tb = QToolBar("Main toolbar"); tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
w.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)
n = 0
for m in ("&File", "&Edit", "&View", "&Train", "&Analyze", "&Help"):
    menu = w.menuBar().addMenu(m)
    for k in range(7):
        a = QAction(f"Action {n}", w); a.setShortcut(QKeySequence(f"Ctrl+Shift+F{k + 1}"))
        a.triggered.connect(lambda *_: None); menu.addAction(a)
        if n < 19:
            a.setIcon(QIcon(os.path.join(ICONS, icons[n % len(icons)]))); tb.addAction(a)
        n += 1
target = view.viewport()
def check():
    return True
"""

APP = """
from hybrid_studio.ui.app import build_window
w = build_window(); w.resize(1440, 900)
target = w.view.viewport()
def check():
    return (len(w.scene.nodes) > 0 and w.toolbar.isVisible() and len(w.toolbar.actions()) >= 10
            and len(w.palette.items) > 10)
"""


def _run(build: str) -> dict:
    """Run ``build`` (BARE or APP) in a fresh process to its first paint and one event-loop turn later; returns its
    CPU times (``paint``, ``usable``, ``qapp``), wall-clock stamps (``wall_paint``, ``wall_usable``, and ``t0``, taken
    here before the start) and what was loaded. Modules load from cached bytecode, as on a user's machine (some
    sandboxes set PYTHONDONTWRITEBYTECODE, which would charge our compiling to every start but not the bare
    program's)."""
    code = textwrap.dedent(PROGRAM.format(build=textwrap.dedent(build)))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(QT_QPA_PLATFORM="offscreen", HS_REPO=REPO)
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    assert line, out.stderr[-2000:]
    return {**json.loads(line[-1]), "t0": t0}


def test_startup_cpu_time_to_first_paint_vs_bare_qmainwindow():
    import compileall

    import hybrid_studio
    compileall.compile_dir(os.path.dirname(hybrid_studio.__file__), quiet=1)
    bare, bare_qt, floor, ours = [], [], [], []
    for _ in range(11):  # interleaved
        bare.append(_run(BARE))
        bare_qt.append(_run(BARE_QT))
        floor.append(_run(FLOOR))
        ours.append(_run(APP))
    assert all(not r["torch"] for r in ours), "torch must not load before the first paint"
    assert all(r["ok"] for r in ours), "the window was not usable at its first paint"

    def med(rows, key, since=None):
        return statistics.median(r[key] - (r[since] if since else 0) for r in rows) * 1000
    bp, op = med(bare, "paint"), med(ours, "paint")
    bu, ou = med(bare, "usable"), med(ours, "usable")
    bq, oq = med(bare, "paint", "qapp"), med(ours, "paint", "qapp")
    print(f"\nstart-up CPU time (median of 11, fresh processes): to first paint bare {bp:.0f} ms, Hybrid Studio "
          f"{op:.0f} ms, ratio {op / bp:.2f} (issue 15 target <= 1.3); until usable bare {bu:.0f} ms, ours "
          f"{ou:.0f} ms, ratio {ou / bu:.2f} (issue 13 target < 1.5); after QApplication: bare {bq:.0f} ms, "
          f"ours {oq:.0f} ms; loaded by the first paint: {ours[-1]['heavy'] or 'none of numpy/networkx/pyqtgraph/torch'}")
    qp, qu = med(bare_qt, "paint"), med(bare_qt, "usable")
    print(f"against a bare QMainWindow that also uses Qt's namespace (its enums built, as in any real Qt program): "
          f"to first paint {qp:.0f} ms, ratio {op / qp:.2f}; until usable {qu:.0f} ms, ratio {ou / qu:.2f}; "
          f"after QApplication {med(bare_qt, 'paint', 'qapp'):.0f} ms")
    fp, fu = med(floor, "paint"), med(floor, "usable")
    print(f"the floor (the same widgets in plain PySide6, none of the app's code): to first paint {fp:.0f} ms "
          f"({fp / bp:.2f}x bare; ours {op / fp:.2f}x the floor); until usable {fu:.0f} ms ({fu / bu:.2f}x bare; ours "
          f"{ou / fu:.2f}x the floor); after QApplication {med(floor, 'paint', 'qapp'):.0f} ms")
    assert op / bp <= 3.0   # a regression guard; the printed ratio is the figure


def _instructions(build: str, until_paint: bool) -> float:
    """Millions of instructions a fresh process of ``build`` executes until its first paint (or until usable), counted
    by valgrind's callgrind: the same count whatever else the machine runs, unlike any timing on a shared machine."""
    code = textwrap.dedent(PROGRAM.format(build=textwrap.dedent(build)))
    if until_paint:
        stamp = "paint, wall_paint = time.process_time(), time.time()\n"
        assert stamp in code
        code = code.replace(stamp, stamp + " " * 12 + "os._exit(0)\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(QT_QPA_PLATFORM="offscreen", PYTHONHASHSEED="0", HS_REPO=REPO)
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-c", code],
                         capture_output=True, text=True, timeout=900, env=env)
    found = re.search(r"Collected : (\d+)", out.stderr)
    assert out.returncode == 0 and found, out.stderr[-2000:]
    return int(found.group(1)) / 1e6


@pytest.mark.timeout(1500)
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="counting instructions needs valgrind")
def test_startup_instructions_to_first_paint_vs_bare_qmainwindow():
    """The same start-up figures as instructions executed (one run each under callgrind, 4-7 min in all here): on a
    shared machine the CPU-time medians above swing by 10-20% with its load, these counts by well under 1%, so this
    is the figure to compare two versions of the app by. They track the CPU time closely (the kernel's share,
    page faults and file reads, is not counted)."""
    import compileall

    import hybrid_studio
    compileall.compile_dir(os.path.dirname(hybrid_studio.__file__), quiet=1)
    bare, bare_qt = _instructions(BARE, True), _instructions(BARE_QT, True)
    floor, floor_usable = _instructions(FLOOR, True), _instructions(FLOOR, False)
    bare_usable = bare   # one event-loop turn after its first paint the bare program has done nothing more (+0.01%)
    paint, usable = _instructions(APP, True), _instructions(APP, False)
    print(f"\nstart-up instructions (callgrind, fresh processes): to first paint bare {bare:.0f} M, Hybrid Studio "
          f"{paint:.0f} M, ratio {paint / bare:.2f} (issue 15 target <= 1.3); until usable bare {bare_usable:.0f} M, "
          f"ours {usable:.0f} M, ratio {usable / bare_usable:.2f} (issue 13 target < 1.5); a bare window that also "
          f"uses Qt's namespace: {bare_qt:.0f} M to first paint, ours {paint / bare_qt:.2f}x that")
    print(f"the floor (the same widgets in plain PySide6, none of the app's code): {floor:.0f} M to first paint "
          f"({floor / bare:.2f}x bare; ours {paint / floor:.2f}x the floor), {floor_usable:.0f} M until usable "
          f"({floor_usable / bare_usable:.2f}x bare; ours {usable / floor_usable:.2f}x the floor)")
    assert paint / bare <= 3.0   # a regression guard; the printed ratios are the figures
