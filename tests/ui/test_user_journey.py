"""A new user's first session, end to end through the real MainWindow with real mouse and keyboard events:

File > New, blocks dropped from the palette, the Input's shape typed into the inspector, wires drawn port to port
(the ToSequence forgotten), the LSTM's problem fixed with one click in the problems panel, undo / redo by keyboard,
Save As, ``hybrid-studio check`` on the saved file, one epoch on ``digits`` from the Training dock, then
``hybrid-studio export`` and the run's best checkpoint loaded into the exported model.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QTabBar

from hybrid_studio.graph import Edge
from hybrid_studio.project import load_project, load_template

from canvas_helpers import click_node, drag, open_window, vp

CTRL, SHIFT = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier
LEFT = Qt.MouseButton.LeftButton

# where each block is dropped (its centre, in scene coordinates): two rows that fit the view at 70 %
LAYOUT = {"Input": (0, 0), "Conv2d": (260, 0), "MaxPool2d": (520, 0), "ToSequence": (780, 0),
          "LSTM": (0, 240), "Linear": (260, 240), "Output": (520, 240)}


def drop_from_palette(w, type_name: str, scene_centre) -> str:
    """Drag ``type_name`` from the palette onto the canvas at ``scene_centre``: the palette's own drag payload,
    delivered as drag enter / move / drop events (QDrag cannot run offscreen). Returns the new block's id."""
    view = w.view
    mime = w.palette.tree.mimeData([w.palette.items[type_name]])
    point = vp(view, QPointF(*scene_centre))
    assert view.viewport().rect().contains(point), (type_name, point)
    before = {n.id for n in w.document.graph.nodes}
    acts, mods = Qt.DropAction.CopyAction, Qt.KeyboardModifier.NoModifier
    for ev in (QDragEnterEvent(point, acts, mime, LEFT, mods), QDragMoveEvent(point, acts, mime, LEFT, mods),
               QDropEvent(QPointF(point), acts, mime, LEFT, mods)):
        QApplication.sendEvent(view.viewport(), ev)
    added = [n.id for n in w.document.graph.nodes if n.id not in before]
    assert len(added) == 1, (type_name, added)
    assert w.document.graph.node(added[0]).type == type_name
    return added[0]


def wire(w, source: str, target: str):
    """Drag a wire with the mouse from ``source``'s output port to ``target``'s input port."""
    view, scene = w.view, w.scene
    a = vp(view, scene.nodes[source].outputs["out"].scenePos())
    b = vp(view, scene.nodes[target].inputs["in"].scenePos())
    rect = view.viewport().rect()
    assert rect.contains(a) and rect.contains(b), (source, target, a, b)
    drag(view, a, b)
    assert Edge(source, target) in w.document.graph.edges, (source, target)


def type_into(widget, text: str):
    """Click into a field, select what is there with Ctrl+A and type ``text`` over it."""
    QTest.mouseClick(widget, LEFT, Qt.KeyboardModifier.NoModifier, widget.rect().center())
    QTest.keyClick(widget, Qt.Key.Key_A, CTRL)
    QTest.keyClicks(widget, text)


def click_empty_canvas(w):
    """Click the canvas where there is no block (focuses it, so the window's shortcuts act on the graph)."""
    view = w.view
    p = vp(view, QPointF(780, 240))
    assert not any(it.sceneBoundingRect().contains(view.mapToScene(p)) for it in w.scene.nodes.values())
    QTest.mouseClick(view.viewport(), LEFT, Qt.KeyboardModifier.NoModifier, p)


def dock_tab(w, text: str):
    """The visible tab bar holding the dock tab titled ``text``, and its index (None when not shown)."""
    for bar in w.findChildren(QTabBar):
        for i in range(bar.count()):
            if bar.tabText(i) == text and bar.isVisible():
                return bar, i
    return None


def click_tab(qtbot, w, text: str):
    """Click the dock tab titled ``text`` (the bottom docks are tabbed; the tab bar appears once laid out)."""
    qtbot.waitUntil(lambda: dock_tab(w, text) is not None, timeout=5_000)
    bar, i = dock_tab(w, text)
    QTest.mouseClick(bar, LEFT, Qt.KeyboardModifier.NoModifier, bar.tabRect(i).center())


def cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "hybrid_studio", *map(str, args)], check=False, capture_output=True,
                          text=True, timeout=timeout)


def test_new_user_builds_fixes_saves_trains_and_exports_a_cnn_lstm(qtbot, tmp_path, monkeypatch):
    import torch
    from hybrid_studio.ui.train import panel as panel_module
    from hybrid_studio.ui.train.background import pending

    monkeypatch.setenv("HYBRID_STUDIO_DATA_DIR", str(tmp_path / "data"))
    errors = []  # error boxes the training panel would show
    monkeypatch.setattr(panel_module, "show_error",
                        lambda parent, title, text, details="": errors.append((title, text, details)))
    # the app opens on its seed template, as it does for a new user
    w = open_window(qtbot, load_template("seed-cnn-lstm"))
    files = w.file_actions
    asked = []
    monkeypatch.setattr(files, "_ask_unsaved", lambda name: asked.append(name) or "discard")

    # ---- 1. File > New, blocks from the palette, the Input's shape typed in the inspector ----------------------
    QTest.keyClick(w.view.viewport(), Qt.Key.Key_N, CTRL)
    g = w.document.graph
    assert len(g) == 0 and not w.scene.nodes and w.document.path is None
    assert not asked  # the template was unmodified: nothing to save
    assert w.valid_label.text() == "Empty graph"
    view = w.view
    view.resetTransform()
    view.scale(0.7, 0.7)
    view.centerOn(QPointF(400, 120))

    ids = {}
    ids["Input"] = image = drop_from_palette(w, "Input", LAYOUT["Input"])
    assert w.scene.selected_node_ids() == [image] and w.inspector.node_id == image  # the dropped block is selected
    type_into(w.inspector.editor("shape").line, "1x28x28")
    type_into(w.inspector.editor("axes").line, "chw")
    assert w.inspector.editor("axes").line.text() == "CHW"  # typed letters are upper-cased
    assert g.node(image).params["shape"] == [1, 28, 28] and g.node(image).params["axes"] == "CHW"
    assert w.inspector.editor("shape").error_text is None
    assert w.inspector.findChild(type(w.valid_label), "output_shape").text() == "N x 1 x 28 x 28"
    for type_name in ("Conv2d", "MaxPool2d", "ToSequence", "LSTM", "Linear", "Output"):
        ids[type_name] = drop_from_palette(w, type_name, LAYOUT[type_name])
    conv, pool, seq, lstm, linear, out = (ids[t] for t in ("Conv2d", "MaxPool2d", "ToSequence", "LSTM", "Linear",
                                                           "Output"))
    # a smaller LSTM (typed in the inspector) keeps the training below short
    click_node(view, lstm)
    assert w.inspector.node_id == lstm
    type_into(w.inspector.editor("hidden_size").spin, "32")
    assert g.node(lstm).params["hidden_size"] == 32
    assert g.node(linear).params.get("out_features", 10) == 10

    # wired by mouse, the ToSequence forgotten: MaxPool2d goes straight into the LSTM
    for a, b in ((image, conv), (conv, pool), (pool, lstm), (lstm, linear), (linear, out)):
        wire(w, a, b)
    qtbot.waitUntil(lambda: not w.document.settling)  # the status bar and the problems panel refresh at the end of the event-loop turn
    assert w.count_label.text() == "7 blocks, 5 wires"
    ck = w.document.checker
    assert not ck.valid and "problem" in w.valid_label.text()
    lstm_item = w.scene.nodes[lstm]
    assert lstm_item.has_error and lstm_item.badge == "error"
    problems = w.problems
    row = problems.row_of(lstm, "rnn-input")
    assert row >= 0 and "image" in problems.tree.topLevelItem(row).text(2)
    # the stray ToSequence is flagged too (its input is not connected)
    assert problems.row_of(seq, "unconnected") >= 0
    # the LSTM's fix wires that unwired ToSequence in rather than adding a second one
    fix = problems.fix_button(problems.row_of(lstm, "rnn-input"), 0)
    assert fix.text().startswith(f"Wire {seq} in before {lstm}")
    qtbot.mouseClick(fix, LEFT)
    qtbot.waitUntil(lambda: not w.document.settling)
    assert ck.valid and not ck.diagnostics()
    assert [n.id for n in g.nodes_of_type("ToSequence")] == [seq]
    assert Edge(pool, seq) in g.edges and Edge(seq, lstm) in g.edges and Edge(pool, lstm) not in g.edges
    assert not w.scene.nodes[lstm].has_error
    assert "Valid" in w.valid_label.text()
    total = ck.total_params()
    assert total > 0 and w.params_label.text() == f"Params: {total:,}"
    assert ck.result(out).output.describe() == "N x 10"

    # ---- 2. undo and redo the fix by keyboard -----------------------------------------------------------------
    click_empty_canvas(w)
    QTest.keyClick(view.viewport(), Qt.Key.Key_Z, CTRL)
    qtbot.waitUntil(lambda: not w.document.settling)
    assert not ck.valid and "problem" in w.valid_label.text() and Edge(pool, lstm) in g.edges
    assert not g.in_edges(seq) and problems.row_of(lstm, "rnn-input") >= 0 and w.scene.nodes[lstm].has_error
    QTest.keyClick(view.viewport(), Qt.Key.Key_Z, CTRL | SHIFT)
    qtbot.waitUntil(lambda: not w.document.settling)
    assert ck.valid and "Valid" in w.valid_label.text() and Edge(seq, lstm) in g.edges
    assert ck.total_params() == total and w.params_label.text() == f"Params: {total:,}"

    # ---- 3. Save As, then the saved file on its own: load_project and `hybrid-studio check` -------------------
    path = tmp_path / "first-model.hsproj.json"
    monkeypatch.setattr(files, "_ask_save_path", lambda suggested: str(path))
    QTest.keyClick(view.viewport(), Qt.Key.Key_S, CTRL | SHIFT)
    assert path.is_file() and w.document.path == path.resolve() and not w.document.modified
    assert w.windowTitle().startswith("first-model")
    loaded = load_project(path)
    assert [n.id for n in loaded.nodes] == [n.id for n in g.nodes] and set(loaded.edges) == set(g.edges)
    checked = cli("check", path, "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    assert report["valid"] is True and report["total_params"] == total
    assert report["outputs"] == {out: [None, 10]}

    # ---- 4. one epoch on digits from the Training dock --------------------------------------------------------
    p = w.ensure_train_panel()
    click_tab(qtbot, w, "Training")
    assert p.isVisible()
    qtbot.waitUntil(lambda: p.ready and p.picker.dataset is not None, timeout=60_000)
    assert p.picker.name == "digits"  # the first built-in dataset is preselected
    qtbot.waitUntil(lambda: p.picker.diagnostics == [] and not p.picker.problem.isVisibleTo(p), timeout=5_000)
    type_into(p.settings.widgets["epochs"], "1")
    type_into(p.settings.widgets["batch_size"], "256")
    assert p.settings.values()["epochs"] == 1 and p.settings.values()["batch_size"] == 256
    qtbot.mouseClick(p.train_button, LEFT)
    assert p.controller.state == "running", p.status.text()
    qtbot.waitUntil(lambda: p.controller.state == "idle", timeout=120_000)
    assert not errors, errors
    assert p.progress.format() == "Finished", p.status.text()
    assert w.document.graph.training["epochs"] == 1 and w.document.graph.training["dataset"] == "digits"
    runs = p.runs.runs
    assert len(runs) == 1 and runs[0].status == "finished"
    assert p.runs.table.item(0, 1).text() == "finished"
    run_dirs = [d for d in (tmp_path / "runs").iterdir() if d.is_dir()]
    assert [d.name for d in run_dirs] == [runs[0].run_id]
    best = run_dirs[0] / "checkpoints" / "best.pt"
    assert best.is_file()
    # the results view reads best.pt in the background once the run ends: let it finish before the window closes
    qtbot.waitUntil(lambda: pending() == 0, timeout=60_000)

    # ---- 5. export to Python; the run's weights load into the exported model -----------------------------------
    model_py = tmp_path / "model.py"
    exported = cli("export", path, "--format", "python", "-o", model_py)
    assert exported.returncode == 0, exported.stdout + exported.stderr
    spec = importlib.util.spec_from_file_location("journey_model", model_py)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.Model()
    ckpt = torch.load(best, weights_only=True)
    model.load_state_dict(ckpt["model"], strict=True)
    model.eval()
    with torch.no_grad():
        y = model(torch.randn(2, 1, 28, 28))
    assert tuple(y.shape) == (2, 10) and torch.isfinite(y).all()
