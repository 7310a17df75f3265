"""Issue 13 point 7: the canvas stays readable at "fit" zoom (level of detail), wire labels are not cut off by
blocks, parameter / MAC counts fit their block, and normalisation blocks say something instead of "-"."""

from __future__ import annotations

from PySide6.QtGui import QFontMetricsF

from hybrid_studio.project import load_template
from hybrid_studio.ui import theme
from hybrid_studio.ui.canvas.node_item import LOD_SIMPLE, NODE_W, NodeItem

from canvas_helpers import open_window


def _repaint(qtbot, w):
    for n in w.view.scene().nodes.values():
        n.simple_face = None
        n.update()
    w.view.viewport().repaint()
    qtbot.wait(20)


def test_zoomed_out_crnn_template_draws_the_simple_face(qtbot):
    w = open_window(qtbot, load_template("crnn"))
    scene = w.view.scene()
    w.view.zoom_by(0.45 / w.view.zoom)   # zoomed out below the detail threshold (a big graph at "fit")
    assert w.view.zoom < LOD_SIMPLE
    _repaint(qtbot, w)
    shown = [n for n in scene.nodes.values() if n.simple_face is not None]
    assert shown, "no block was painted at fit zoom"
    assert all(n.simple_face for n in shown)
    # the id is drawn large: at this zoom it is at least as tall on screen as the detailed 9.5 pt title at 100 %
    for n in shown:
        assert n.simple_font_size() * w.view.zoom >= 9.5 * 0.5
    # back at 100 % the detailed face returns
    w.view.zoom_by(1.0 / w.view.zoom)
    w.view.centerOn(next(iter(scene.nodes.values())).sceneBoundingRect().center())
    _repaint(qtbot, w)
    shown = [n for n in scene.nodes.values() if n.simple_face is not None]
    assert shown and not any(n.simple_face for n in shown)


def test_batchnorm_and_layernorm_summaries_are_not_blank(qtbot):
    from hybrid_studio.blocks import new_graph
    from hybrid_studio.graph import AddNode, Node
    g = new_graph("norms")
    AddNode(Node("bn", "BatchNorm", {}, (0.0, 0.0))).apply(g)
    AddNode(Node("ln", "LayerNorm", {}, (300.0, 0.0))).apply(g)
    w = open_window(qtbot, g)
    nodes = w.view.scene().nodes
    assert "momentum 0.1" in nodes["bn"].summary
    assert "eps" in nodes["ln"].summary
    assert nodes["bn"].summary not in ("", "—", "-")


def test_count_text_fits_its_block_on_every_template_block(qtbot):
    w = open_window(qtbot, load_template("crnn"))
    fm = QFontMetricsF(theme.current().font(8))
    width = NODE_W - 2 * 10 - 8   # the narrowest body: no port names on either side
    checked = 0
    for n in w.view.scene().nodes.values():
        text = n.count_text_fitting(fm, width)
        assert fm.horizontalAdvance(text) <= width, (n.node_id, text)
        if getattr(n, "macs", None):
            assert "…" not in text, (n.node_id, text)   # the numbers themselves survive
            checked += 1
    assert checked, "no block with MACs on the template"
    # a big count that used to be cut off keeps both numbers
    item = next(iter(w.view.scene().nodes.values()))
    item.params, item.macs = 123_456_789, 987_654_321
    if item.outputs:
        text = item.count_text_fitting(fm, 120)
        assert "123 M" in text and "988 M" in text and fm.horizontalAdvance(text) <= 120


def test_wire_labels_are_drawn_above_blocks(qtbot):
    w = open_window(qtbot, load_template("crnn"))
    scene = w.view.scene()
    edge = next(iter(scene.edges.values()))
    node = next(iter(scene.nodes.values()))
    assert isinstance(node, NodeItem)
    assert edge.label.zValue() > node.zValue()
