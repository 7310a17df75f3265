"""Issue 15: an edit redraws what it changed, and the side panels refresh once per event-loop turn.

Behaviour, not timings (the figures are in tests/benchmarks/test_ui_bench.py): which canvas regions an edit
repaints, how many times the panels refresh after several edits in one turn, and that they end up showing the
final state.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QPointF
from PySide6.QtWidgets import QApplication

from hybrid_studio.blocks import new_graph
from hybrid_studio.graph import AddNode, Connect, Edge, Node, SetParams

from canvas_helpers import PaintRecorder, click_node, open_window

STEP = 260.0


def row_chain(n_units: int = 4):
    """x (Input 16 channels) then [Conv1d, BatchNorm, Activation] x n_units, in one row STEP apart."""
    g = new_graph("row")
    AddNode(Node("x", "Input", {"shape": [16, 64], "axes": "CL"}, (0.0, 0.0))).apply(g)
    prev, col = "x", 1
    for u in range(n_units):
        for nid, type_name, params in ((f"conv{u}", "Conv1d", {"out_channels": 16, "kernel_size": 3}),
                                       (f"bn{u}", "BatchNorm", {}), (f"act{u}", "Activation", {})):
            AddNode(Node(nid, type_name, params, (col * STEP, 0.0))).apply(g)
            Connect(Edge(prev, nid)).apply(g)
            prev, col = nid, col + 1
    return g


def open_quiet(qtbot, graph):
    """The window, once the panels built after the first paint (inspector, training dock) are in place: building
    them resizes the canvas, which repaints all of it."""
    w = open_window(qtbot, graph)
    qtbot.waitUntil(lambda: w._train_panel is not None)
    qtbot.wait(200)
    return w


def warm_up(qtbot, w, recorder):
    """One edit, undone, painted: the first item update after the view moved repaints every block on screen once
    (Qt re-validates the cached faces after a transform change); the regions measured are the next edits'."""
    w.document.push(SetParams("x", {"shape": [16, 32]}))
    w.document.undo_stack.undo()
    qtbot.waitUntil(lambda: not w.document.settling)
    qtbot.wait(30)
    recorder.reset()


def view_rect(w, node_id):
    return w.view.mapFromScene(w.scene.nodes[node_id].sceneBoundingRect()).boundingRect()


def settle_and_paint(qtbot, w, recorder):
    qtbot.waitUntil(lambda: not w.document.settling and recorder.paints > 0)
    QApplication.processEvents()


def test_a_param_edit_repaints_the_blocks_it_changed_not_the_whole_canvas(qtbot):
    w = open_quiet(qtbot, row_chain())
    # 100 %, centred on conv1: act0 (upstream, unchanged by an edit of conv1) is on screen beside it
    w.view.centerOn(QPointF(4 * STEP + 92, 37))
    qtbot.wait(50)
    recorder = PaintRecorder(w.view.viewport())
    untouched, touched = view_rect(w, "act0"), view_rect(w, "conv1")
    viewport = w.view.viewport().rect()
    assert viewport.contains(untouched.center()) and viewport.contains(touched.center())
    warm_up(qtbot, w, recorder)

    w.document.push(SetParams("conv1", {"out_channels": 24}))  # conv1's weights, bn1's and its wire's shape change
    settle_and_paint(qtbot, w, recorder)

    assert recorder.region.contains(touched.center()), "the edited block was redrawn"
    assert not recorder.region.contains(untouched.center()), "a block the edit did not change was repainted"
    painted = sum(r.width() * r.height() for r in recorder.region)
    assert painted < 0.5 * viewport.width() * viewport.height()
    # and what was redrawn shows the edit: the wire out of conv1 carries 24 channels
    assert w.scene.edges[Edge("conv1", "bn1")].label.text.startswith("N x 24")


def test_relabelled_wires_far_apart_repaint_their_labels_not_the_area_between(qtbot):
    # all wire labels are drawn by one layer item; Qt unites an item's partial updates into one rectangle, so an
    # edit that relabelled a wire at the top left and one at the bottom right repainted everything between them
    g = row_chain(3)
    spots = {"conv1": (0, 0), "bn1": (260, 0), "act1": (600, 400), "conv2": (860, 400), "act0": (600, 100)}
    for nid, pos in spots.items():
        g.node(nid).position = pos
    for nid in ("x", "conv0", "bn0", "bn2", "act2"):
        g.node(nid).position = (1400, 1200)  # out of sight
    g.node("x").position = (1400, 1000)
    w = open_quiet(qtbot, g)
    w.view.resetTransform()
    w.view.centerOn(QPointF(520, 240))
    qtbot.wait(50)
    recorder = PaintRecorder(w.view.viewport())
    between = view_rect(w, "act0")
    assert w.view.viewport().rect().contains(between.center())
    warm_up(qtbot, w, recorder)

    w.document.push(SetParams("conv1", {"out_channels": 24}))  # relabels conv1->bn1, bn1->act1, act1->conv2
    settle_and_paint(qtbot, w, recorder)

    first = w.view.mapFromScene(w.scene.edges[Edge("conv1", "bn1")].label.rect()).boundingRect()
    last = w.view.mapFromScene(w.scene.edges[Edge("act1", "conv2")].label.rect()).boundingRect()
    assert recorder.region.contains(first.center()) and recorder.region.contains(last.center())
    assert recorder.region.boundingRect().contains(between.center())   # act0 lies between the two labels
    assert not recorder.region.contains(between.center()), "the area between the relabelled wires was repainted"


def test_an_edit_off_screen_repaints_nothing(qtbot):
    w = open_quiet(qtbot, row_chain())
    w.view.centerOn(QPointF(0, 4000))  # the graph is far above the visible part of the canvas
    qtbot.wait(50)
    recorder = PaintRecorder(w.view.viewport())
    warm_up(qtbot, w, recorder)
    w.document.push(SetParams("conv1", {"out_channels": 24}))
    qtbot.waitUntil(lambda: not w.document.settling)
    for _ in range(3):
        QApplication.processEvents()
    assert recorder.paints == 0, recorder.region.boundingRect()
    assert w.scene.edges[Edge("conv1", "bn1")].label.text.startswith("N x 24")  # the items follow all the same


def test_three_edits_in_one_turn_refresh_the_panels_once(qtbot, monkeypatch):
    w = open_quiet(qtbot, row_chain())
    click_node(w.view, "conv1")
    inspector, problems = w.inspector, w.problems
    assert inspector.node_id == "conv1"
    qtbot.waitUntil(lambda: not w.document.settling)
    shape_label = inspector.findChild(QObject, "output_shape")
    assert "16" in shape_label.text()
    counts = {"settled": 0, "inspector": 0, "problems": 0, "status": 0}
    settled_ids = []
    w.document.settled.connect(lambda ids: (counts.__setitem__("settled", counts["settled"] + 1),
                                            settled_ids.append(set(ids))))

    def counting(name, fn):
        def wrapped(*a, **kw):
            counts[name] += 1
            return fn(*a, **kw)
        return wrapped

    monkeypatch.setattr(inspector, "_refresh_info", counting("inspector", inspector._refresh_info))
    monkeypatch.setattr(problems, "refresh", counting("problems", problems.refresh))
    w.params_label.setText("")
    QApplication.processEvents()

    doc = w.document
    for width in (20, 24, 28):  # one event-loop turn: typing a macro, a fix of several edits, an undo burst
        doc.push(SetParams("conv1", {"out_channels": width}))
    # nothing has refreshed yet: the panels wait for the end of the turn
    assert counts == {"settled": 0, "inspector": 0, "problems": 0, "status": 0}
    assert "16" in shape_label.text() and w.params_label.text() == ""
    # the canvas is up to date at once (its items must match the graph for the next gesture)
    assert w.scene.edges[Edge("conv1", "bn1")].label.text.startswith("N x 28")

    qtbot.waitUntil(lambda: counts["settled"] == 1)
    QApplication.processEvents()
    assert counts["settled"] == 1 and counts["inspector"] == 1 and counts["problems"] == 1
    assert {"conv1", "bn1"} <= settled_ids[0]
    assert "28" in shape_label.text() and inspector.editor("out_channels").value() == 28
    assert w.params_label.text() == f"Params: {doc.checker.total_params():,}"

    # three undos in one turn: one refresh again, back to the first width
    for _ in range(3):
        doc.undo_stack.undo()
    qtbot.waitUntil(lambda: counts["settled"] == 2)
    QApplication.processEvents()
    assert counts["inspector"] == 2 and counts["problems"] == 2
    assert "16" in shape_label.text() and inspector.editor("out_channels").value() == 16


def test_settled_is_the_union_of_a_turn_and_settle_flushes_it(qtbot):
    from hybrid_studio.ui.document import Document

    doc = Document(row_chain(1))
    seen = []
    doc.settled.connect(lambda ids: seen.append(set(ids)))
    doc.settle()
    assert seen == []  # nothing was pending
    doc.push(SetParams("conv0", {"out_channels": 8}))
    doc.push(SetParams("x", {"shape": [16, 32]}))
    assert doc.settling and seen == []
    doc.settle()  # code that needs the panels at once
    assert not doc.settling and len(seen) == 1 and {"conv0", "bn0", "x"} <= seen[0]
    qtbot.wait(20)
    assert len(seen) == 1  # the timer does not emit it a second time
    doc.push(SetParams("conv0", {"out_channels": 12}))
    qtbot.waitUntil(lambda: len(seen) == 2)
    assert "conv0" in seen[1] and "x" not in seen[1]


def test_status_bar_follows_the_last_edit_of_a_turn(qtbot):
    w = open_window(qtbot, row_chain(1))
    doc = w.document
    before, style = w.valid_label.text(), w.valid_label.styleSheet()
    n_before = len(doc.checker.errors())
    doc.push(SetParams("conv0", {"out_channels": 8}))
    doc.push(SetParams("conv0", {"out_channels": 0}))  # invalid: one more problem
    qtbot.waitUntil(lambda: w.valid_label.text() != before)
    assert f"{n_before + 1} problem" in w.valid_label.text() and "color" in w.valid_label.styleSheet()
    doc.push(SetParams("conv0", {"out_channels": 8}))
    qtbot.waitUntil(lambda: w.valid_label.text() == before)
    assert w.valid_label.styleSheet() == style
    assert w.params_label.text() == f"Params: {doc.checker.total_params():,}"


def test_grid_cache_is_redrawn_when_the_theme_changes(qtbot):
    """The canvas caches its grid; a palette change (light/dark) drops that cache so the new colours show."""
    from collections import Counter

    from PySide6.QtGui import QColor

    from hybrid_studio.ui import theme

    w = open_window(qtbot, row_chain(1))
    w.view.centerOn(QPointF(0, 3000))  # empty canvas: only the grid

    def background():
        w.view.viewport().repaint()
        image = w.view.viewport().grab().toImage()
        colours = Counter(image.pixel(x, y) for x in range(0, 60, 3) for y in range(0, 60, 3))
        return QColor(colours.most_common(1)[0][0])  # the canvas colour (grid lines are the few other pixels)

    before = background()
    assert before == theme.current().canvas
    old = theme._current
    try:
        theme._current = theme._dark() if not old.dark else theme._light()
        w.view.reset_background()
        after = background()
        assert after == theme._current.canvas and after != before
    finally:
        theme._current = old
        w.view.reset_background()
