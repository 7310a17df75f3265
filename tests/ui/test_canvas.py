"""The canvas through real mouse and keyboard events: dropping, wiring, moving, deleting, undo/redo, clipboard."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDragMoveEvent, QDropEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from hybrid_studio.graph import Connect, Edge, Node
from hybrid_studio.project import dumps_project
from hybrid_studio.ui import theme
from hybrid_studio.ui.canvas import BLOCK_MIME, EdgeItem
from hybrid_studio.ui.canvas.node_item import NODE_W

from canvas_helpers import click_node, drag, open_window, small_graph, vp


def drop(view, mime: QMimeData, point: QPoint):
    """Deliver a drag enter / move / drop at ``point`` on the viewport (QDrag cannot run offscreen)."""
    target = view.viewport()
    pos = QPointF(point)
    actions = Qt.DropAction.CopyAction
    for ev in (QDragEnterEvent(point, actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier),
               QDragMoveEvent(point, actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier),
               QDropEvent(pos, actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)):
        QApplication.sendEvent(target, ev)


def test_palette_drop_creates_block_where_dropped(qtbot):
    w = open_window(qtbot, small_graph())
    tree = w.palette.tree
    mime = tree.mimeData([w.palette.items["LSTM"]])   # what the palette's drag carries
    assert bytes(mime.data(BLOCK_MIME)).decode() == "LSTM"
    point = QPoint(300, 420)
    drop(w.view, mime, point)
    new = [n for n in w.document.graph.nodes if n.type == "LSTM"]
    assert len(new) == 1
    item = w.scene.nodes[new[0].id]
    assert item.sceneBoundingRect().contains(w.view.mapToScene(point))
    assert w.scene.selected_node_ids() == [new[0].id]
    w.document.undo_stack.undo()
    assert not w.document.graph.nodes_of_type("LSTM") and new[0].id not in w.scene.nodes


def test_drop_on_wire_inserts_between(qtbot):
    w = open_window(qtbot, small_graph())
    edge_item = w.scene.edges[Edge("image", "conv1")]
    point = vp(w.view, edge_item.label.scenePos())
    drop(w.view, w.palette.tree.mimeData([w.palette.items["BatchNorm"]]), point)
    g = w.document.graph
    bn = g.nodes_of_type("BatchNorm")[0].id
    assert Edge("image", bn) in g.edges and Edge(bn, "conv1") in g.edges and Edge("image", "conv1") not in g.edges
    assert w.document.undo_stack.count() == 1
    assert w.scene.drop_target is None


def test_dragging_a_block_over_a_wire_highlights_it_before_the_drop(qtbot):
    w = open_window(qtbot, small_graph())
    target = w.view.viewport()
    edge = Edge("image", "conv1")
    on_wire = vp(w.view, w.scene.edges[edge].label.scenePos())
    off_wire = on_wire + QPoint(0, 200)
    acts, btn, mods = Qt.DropAction.CopyAction, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    mime = w.palette.tree.mimeData([w.palette.items["Dropout"]])
    QApplication.sendEvent(target, QDragEnterEvent(off_wire, acts, mime, btn, mods))
    QApplication.sendEvent(target, QDragMoveEvent(off_wire, acts, mime, btn, mods))
    assert w.scene.drop_target is None
    QApplication.sendEvent(target, QDragMoveEvent(on_wire, acts, mime, btn, mods))
    assert w.scene.drop_target == edge and w.scene.edges[edge].drop_target
    QApplication.sendEvent(target, QDragMoveEvent(off_wire, acts, mime, btn, mods))
    assert w.scene.drop_target is None and not w.scene.edges[edge].drop_target
    QApplication.sendEvent(target, QDragMoveEvent(on_wire, acts, mime, btn, mods))
    QApplication.sendEvent(target, QDragLeaveEvent())
    assert w.scene.drop_target is None and not w.scene.edges[edge].drop_target
    # a block without an input (Input) cannot go between: no hint, and dropping it there only adds it
    mime = w.palette.tree.mimeData([w.palette.items["Input"]])
    QApplication.sendEvent(target, QDragEnterEvent(on_wire, acts, mime, btn, mods))
    QApplication.sendEvent(target, QDragMoveEvent(on_wire, acts, mime, btn, mods))
    assert w.scene.drop_target is None
    QApplication.sendEvent(target, QDropEvent(QPointF(on_wire), acts, mime, btn, mods))
    assert edge in w.document.graph.edges and len(w.document.graph.nodes_of_type("Input")) == 2


def test_wiring_ports_by_mouse_creates_edge_and_label(qtbot):
    w = open_window(qtbot, small_graph(connected=False))
    scene, view = w.scene, w.view
    src = scene.nodes["image"].outputs["out"]
    dst = scene.nodes["conv1"].inputs["in"]
    assert not dst.highlight
    a, b = vp(view, src.scenePos()), vp(view, dst.scenePos())
    QTest.mousePress(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    QTest.mouseMove(view.viewport(), (a + b) / 2)
    assert dst.highlight, "a compatible input highlights while dragging"
    assert not scene.nodes["image"].outputs["out"].highlight
    QTest.mouseMove(view.viewport(), b)
    QTest.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)
    assert Edge("image", "conv1") in w.document.graph.edges
    item = scene.edges[Edge("image", "conv1")]
    assert isinstance(item, EdgeItem)
    assert item.label.text == "N x 1 x 28 x 28"
    assert not dst.highlight
    # the conv now knows its shape: the wire it feeds is labelled once connected
    drag(view, vp(view, scene.nodes["conv1"].outputs["out"].scenePos()),
         vp(view, scene.nodes["out"].inputs["in"].scenePos()))
    assert scene.edges[Edge("conv1", "out")].label.text == "N x 32 x 26 x 26"


def test_refused_connection_reports_reason(qtbot):
    from hybrid_studio.graph import AddNode
    w = open_window(qtbot, small_graph())
    w.document.push(AddNode(Node("act", "Activation", {}, (320.0, 200.0))))
    w.document.push(Connect(Edge("conv1", "act")))
    view = w.view
    before = dumps_project(w.document.graph)
    # act lies downstream of conv1: feeding conv1 from act would make a cycle (conv1.in is not highlighted)
    a = vp(view, w.scene.nodes["act"].outputs["out"].scenePos())
    b = vp(view, w.scene.nodes["conv1"].inputs["in"].scenePos())
    QTest.mousePress(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    QTest.mouseMove(view.viewport(), b)
    assert not w.scene.nodes["conv1"].inputs["in"].highlight
    QTest.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)
    assert dumps_project(w.document.graph) == before
    assert "cycle" in w.status_bar.currentMessage()
    # two outputs cannot be wired together
    drag(view, a, vp(view, w.scene.nodes["image"].outputs["out"].scenePos()))
    assert dumps_project(w.document.graph) == before
    assert "output" in w.status_bar.currentMessage()


def test_wire_into_a_fed_input_replaces_the_old_one_in_one_step(qtbot):
    w = open_window(qtbot, small_graph())
    g, view = w.document.graph, w.view
    before = dumps_project(g)
    a = vp(view, w.scene.nodes["image"].outputs["out"].scenePos())
    b = vp(view, w.scene.nodes["out"].inputs["in"].scenePos())
    QTest.mousePress(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    QTest.mouseMove(view.viewport(), (a + b) / 2)
    assert w.scene.nodes["out"].inputs["in"].highlight, "a fed input can be re-fed: it highlights"
    QTest.mouseMove(view.viewport(), b)
    QTest.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)
    assert set(g.edges) == {Edge("image", "conv1"), Edge("image", "out")}
    assert w.scene.edges[Edge("image", "out")].label.text == "N x 1 x 28 x 28"
    assert w.document.undo_stack.count() == 1
    w.document.undo_stack.undo()
    assert dumps_project(g) == before


def test_dragging_a_wire_off_its_input_reroutes_or_removes_it(qtbot):
    from hybrid_studio.graph import AddNode
    w = open_window(qtbot, small_graph())
    g, view, scene = w.document.graph, w.view, w.scene
    w.document.push(AddNode(Node("out2", "Output", {}, (640.0, 200.0))))
    before = dumps_project(g)
    # pick conv1 -> out up at out's input and drop it on out2's input: the wire now feeds out2
    item = scene.edges[Edge("conv1", "out")]
    a = vp(view, scene.nodes["out"].inputs["in"].scenePos())
    b = vp(view, scene.nodes["out2"].inputs["in"].scenePos())
    QTest.mousePress(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    QTest.mouseMove(view.viewport(), (a + b) / 2)
    assert not item.isVisible(), "the picked-up wire leaves its input while it is dragged"
    assert scene.nodes["out2"].inputs["in"].highlight
    QTest.mouseMove(view.viewport(), b)
    QTest.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)
    assert Edge("conv1", "out2") in g.edges and Edge("conv1", "out") not in g.edges
    assert scene.edges[Edge("conv1", "out2")].label.text == "N x 32 x 26 x 26"
    assert w.document.undo_stack.count() == 2
    w.document.undo_stack.undo()
    assert dumps_project(g) == before and scene.edges[Edge("conv1", "out")].isVisible()
    # picked up and dropped back on its own input or its block: nothing changes
    drag(view, a, a + QPoint(40, 0))
    drag(view, a, a)
    assert dumps_project(g) == before and w.document.undo_stack.index() == 1
    # dropped on another block's body: it goes to that block's free input
    drag(view, a, vp(view, scene.nodes["out2"].sceneBoundingRect().center()))
    assert Edge("conv1", "out2") in g.edges and Edge("conv1", "out") not in g.edges
    w.document.undo_stack.undo()
    # picked up and dropped on empty canvas: the wire is removed, one undoable step
    drag(view, a, a + QPoint(60, 160))
    assert Edge("conv1", "out") not in g.edges and Edge("conv1", "out") not in scene.edges
    w.document.undo_stack.undo()
    assert dumps_project(g) == before


def test_escape_cancels_a_wire_being_dragged(qtbot):
    w = open_window(qtbot, small_graph())
    g, view, scene = w.document.graph, w.view, w.scene
    before = dumps_project(g)
    a = vp(view, scene.nodes["out"].inputs["in"].scenePos())
    QTest.mousePress(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    QTest.mouseMove(view.viewport(), a + QPoint(80, 120))
    assert scene.wiring and not scene.edges[Edge("conv1", "out")].isVisible()
    QTest.keyClick(view.viewport(), Qt.Key.Key_Escape)
    assert not scene.wiring and scene.edges[Edge("conv1", "out")].isVisible()
    assert not any(p.highlight for n in scene.nodes.values() for p in n.inputs.values())
    QTest.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       a + QPoint(80, 120))
    assert dumps_project(g) == before and w.document.undo_stack.count() == 0


def test_block_in_error_has_red_outline_and_badge(qtbot):
    w = open_window(qtbot, small_graph(connected=False))
    item = w.scene.nodes["conv1"]
    assert item.has_error and item.badge == "error"
    assert "not connected" in item.toolTip()

    def badge_pixel():
        # the badge is painted by the block over its top-right corner: read the drawn colour there
        w.view.viewport().repaint()
        # left of the white "!" in the middle, inside the 8-unit disc (the view is at 100 %)
        spot = vp(w.view, item.scenePos() + QPointF(NODE_W - 2 - 5, 2))
        return w.view.viewport().grab().toImage().pixelColor(spot)

    assert badge_pixel() == theme.current().error
    w.document.push(Connect(Edge("image", "conv1")))
    assert not item.has_error and item.badge is None and "not connected" not in item.toolTip()
    assert badge_pixel() != theme.current().error


def test_move_by_mouse_is_one_undoable_step(qtbot):
    w = open_window(qtbot, small_graph())
    view, item = w.view, w.scene.nodes["conv1"]
    start = item.pos()
    a = vp(view, item.sceneBoundingRect().center() + QPointF(0, -12))
    drag(view, a, a + QPoint(60, 90))
    g = w.document.graph
    assert g.node("conv1").position != (320.0, 0.0)
    assert item.pos() == QPointF(*g.node("conv1").position)
    assert w.document.undo_stack.count() == 1
    # the wires followed the block
    assert w.scene.edges[Edge("image", "conv1")].path().pointAtPercent(1.0) == item.inputs["in"].scenePos()
    w.document.undo_stack.undo()
    assert g.node("conv1").position == (320.0, 0.0) and item.pos() == start


def test_delete_undo_redo_restore_file_exactly(qtbot):
    w = open_window(qtbot, small_graph())
    g, view = w.document.graph, w.view
    original = dumps_project(g)
    click_node(view, "conv1")
    assert w.scene.selected_node_ids() == ["conv1"]
    QTest.keyClick(view.viewport(), Qt.Key.Key_Delete)
    assert "conv1" not in g and "conv1" not in w.scene.nodes
    # it sat on a wire: its neighbours are joined in the same undo step
    assert g.edges == [Edge("image", "out")] and list(w.scene.edges) == [Edge("image", "out")]
    deleted = dumps_project(g)
    QTest.keyClick(view.viewport(), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert dumps_project(g) == original
    assert set(w.scene.nodes) == {"image", "conv1", "out"} and len(w.scene.edges) == 2
    QTest.keyClick(view.viewport(), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.ShiftModifier)
    assert dumps_project(g) == deleted
    w.document.undo_stack.undo()
    assert dumps_project(g) == original


def test_backspace_deletes_a_selected_wire(qtbot):
    w = open_window(qtbot, small_graph())
    edge = Edge("image", "conv1")
    QTest.mouseClick(w.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     vp(w.view, w.scene.edges[edge].label.scenePos()))
    assert w.scene.selected_edges() == [edge]
    QTest.keyClick(w.view.viewport(), Qt.Key.Key_Backspace)
    assert edge not in w.document.graph.edges and {"image", "conv1"} <= set(w.document.graph.nodes and
                                                                          [n.id for n in w.document.graph.nodes])


def test_rubber_band_copy_paste_gives_fresh_ids(qtbot):
    w = open_window(qtbot, small_graph())
    view, g = w.view, w.document.graph
    r = w.scene.nodes["image"].sceneBoundingRect().united(w.scene.nodes["conv1"].sceneBoundingRect())
    drag(view, vp(view, r.topLeft() + QPointF(-20, -20)), vp(view, r.bottomRight() + QPointF(10, 10)))
    assert w.scene.selected_node_ids() == ["image", "conv1"]
    QTest.keyClick(view.viewport(), Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(view.viewport(), Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    new = [n.id for n in g.nodes][3:]
    assert len(new) == 2 and not set(new) & {"image", "conv1", "out"}
    types = {g.node(n).type for n in new}
    assert types == {"Input", "Conv2d"}
    assert Edge(new[0], new[1]) in g.edges          # the internal wire came along, the one to `out` did not
    assert len(g.edges) == 3
    assert g.node(new[1]).params == g.node("conv1").params
    assert w.scene.selected_node_ids() == new
    # duplicate (Ctrl+D) of the pasted pair gives yet other ids; one undo removes it
    QTest.keyClick(view.viewport(), Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    assert len(g) == 7
    w.document.undo_stack.undo()
    assert len(g) == 5


def test_cut_removes_and_paste_restores(qtbot):
    w = open_window(qtbot, small_graph())
    click_node(w.view, "out")
    QTest.keyClick(w.view.viewport(), Qt.Key.Key_X, Qt.KeyboardModifier.ControlModifier)
    assert "out" not in w.document.graph
    QTest.keyClick(w.view.viewport(), Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert len(w.document.graph.nodes_of_type("Output")) == 1


def test_auto_layout_is_undoable(qtbot):
    g = small_graph()
    for nid, pos in (("image", (500.0, 300.0)), ("conv1", (-200.0, 40.0)), ("out", (0.0, 0.0))):
        g.node(nid).position = pos
    w = open_window(qtbot, g)
    original = dumps_project(g)
    QTest.keyClick(w.view.viewport(), Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    xs = [g.node(n).position[0] for n in ("image", "conv1", "out")]
    assert xs == sorted(xs) and len(set(xs)) == 3      # left to right in data-flow order
    assert w.scene.nodes["conv1"].pos().x() == g.node("conv1").position[0]
    assert w.document.undo_stack.undoText() == "Auto-layout"
    w.document.undo_stack.undo()
    assert dumps_project(g) == original


def test_zoom_keys_wheel_and_fit(qtbot):
    w = open_window(qtbot, small_graph())
    view = w.view
    z = view.zoom
    QTest.keyClick(view.viewport(), Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    assert view.zoom > z
    QTest.keyClick(view.viewport(), Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(view.viewport(), Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    assert view.zoom < z
    # the mouse wheel: a real wheel event, one notch up then two down, zooms around the cursor
    from PySide6.QtGui import QWheelEvent

    def wheel(notches):
        at = QPointF(view.viewport().rect().center())
        event = QWheelEvent(at, QPointF(view.viewport().mapToGlobal(at.toPoint())), QPoint(0, 0),
                            QPoint(0, 120 * notches), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                            Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(view.viewport(), event)

    before = view.zoom
    wheel(1)
    assert view.zoom > before
    wheel(-2)
    assert view.zoom < before
    view.zoom_by(4.0)
    QTest.keyClick(view.viewport(), Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    visible = view.mapToScene(view.viewport().rect()).boundingRect()
    for item in w.scene.nodes.values():
        assert visible.contains(item.sceneBoundingRect())


def test_middle_drag_and_space_drag_pan(qtbot):
    w = open_window(qtbot, small_graph())
    view = w.view
    before = view.mapToScene(view.viewport().rect().center())
    drag(view, QPoint(400, 400), QPoint(300, 350), button=Qt.MouseButton.MiddleButton)
    after = view.mapToScene(view.viewport().rect().center())
    assert after.x() > before.x() + 50 and after.y() > before.y() + 25
    QTest.keyPress(view.viewport(), Qt.Key.Key_Space)
    drag(view, QPoint(300, 300), QPoint(400, 300))
    QTest.keyRelease(view.viewport(), Qt.Key.Key_Space)
    assert view.mapToScene(view.viewport().rect().center()).x() < after.x() - 50
    assert w.document.undo_stack.count() == 0     # panning is not an edit


def test_tab_quick_add_adds_block_at_cursor(qtbot):
    w = open_window(qtbot, small_graph())
    view = w.view
    QTest.mouseMove(view.viewport(), QPoint(500, 450))
    QTest.keyClick(view.viewport(), Qt.Key.Key_Tab)
    popup = view.quick_add
    assert popup.isVisible()
    QTest.keyClicks(popup.search, "gru")
    assert popup.list.currentItem().data(Qt.ItemDataRole.UserRole) == "GRU"
    QTest.keyClick(popup.search, Qt.Key.Key_Return)
    grus = w.document.graph.nodes_of_type("GRU")
    assert len(grus) == 1 and not popup.isVisible()


def test_items_follow_graph_edits_and_checks(qtbot):
    from hybrid_studio.graph import SetParams
    w = open_window(qtbot, small_graph())
    label = w.scene.edges[Edge("conv1", "out")].label
    assert label.text == "N x 32 x 26 x 26"
    w.document.push(SetParams("conv1", {"out_channels": 8, "kernel_size": 5}))
    assert label.text == "N x 8 x 24 x 24"
    assert w.scene.nodes["conv1"].summary.startswith("8 @ 5x5")
    w.document.undo_stack.undo()
    assert label.text == "N x 32 x 26 x 26"
    from hybrid_studio.graph import AddNode
    w.document.push(AddNode(Node("cat", "Concat", {"inputs": 3})))
    assert list(w.scene.nodes["cat"].inputs) == ["in0", "in1", "in2"]


def test_pasting_twice_steps_further_instead_of_stacking(qtbot):
    w = open_window(qtbot, small_graph())
    g = w.document.graph
    click_node(w.view, "conv1")
    for key in (Qt.Key.Key_C, Qt.Key.Key_V, Qt.Key.Key_V):
        QTest.keyClick(w.view.viewport(), key, Qt.KeyboardModifier.ControlModifier)
    positions = [g.node(n.id).position for n in g.nodes if n.type == "Conv2d"]
    assert positions == [(320.0, 0.0), (360.0, 40.0), (400.0, 80.0)]


def test_renaming_an_input_keeps_its_shape_on_the_canvas(qtbot):
    from hybrid_studio.graph import RenameNode
    w = open_window(qtbot, small_graph())
    click_node(w.view, "image")
    w.document.push(RenameNode("image", "x"))
    assert w.scene.selected_node_ids() == ["x"]
    assert w.scene.nodes["x"].output.describe() == "N x 1 x 28 x 28"
    w.document.undo_stack.undo()
    assert w.scene.nodes["image"].output.describe() == "N x 1 x 28 x 28"


def test_undo_and_redo_of_a_rename_keep_the_block_selected(qtbot):
    from hybrid_studio.graph import RenameNode
    w = open_window(qtbot, small_graph())
    click_node(w.view, "conv1")
    w.document.push(RenameNode("conv1", "features"))
    assert w.scene.selected_node_ids() == ["features"] and w.inspector.node_id == "features"
    # the block's item shows its shape under the new id (selecting mid-edit once left it without a result)
    assert w.scene.nodes["features"].output == w.document.checker.result("features").output is not None
    QTest.keyClick(w.view.viewport(), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert w.scene.selected_node_ids() == ["conv1"] and w.inspector.node_id == "conv1"
    assert w.scene.nodes["conv1"].output is not None
    QTest.keyClick(w.view.viewport(), Qt.Key.Key_Z,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert w.scene.selected_node_ids() == ["features"] and w.inspector.node_id == "features"


def test_an_output_feeding_two_wires_stays_drawn_connected_until_the_last_goes(qtbot):
    from hybrid_studio.graph import AddNode, Disconnect
    w = open_window(qtbot, small_graph())
    doc = w.document
    doc.push(AddNode(Node("side", "Conv2d", {}, (320.0, 200.0))))
    doc.push(Connect(Edge("image", "side")))
    image_out = w.scene.nodes["image"].outputs["out"]
    assert w.scene.port_connected(image_out)
    doc.push(Disconnect(Edge("image", "side")))
    assert w.scene.port_connected(image_out)  # image still feeds conv1
    assert not w.scene.port_connected(w.scene.nodes["side"].inputs["in"])
    doc.push(Disconnect(Edge("image", "conv1")))
    assert not w.scene.port_connected(image_out)
