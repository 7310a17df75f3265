"""Problems panel: lists every diagnostic; a fix button repairs the graph (undoably); a row click names its block."""

import pytest
from PySide6.QtCore import Qt

from hybrid_studio.blocks import CATALOG
from hybrid_studio.graph import AddNode, Batch, Connect, Edge, Node, RemoveNode
from hybrid_studio.ui.document import Document
from hybrid_studio.ui.problems import ProblemsPanel


def doc_with(*nodes, edges=()):
    doc = Document()
    doc.push(Batch([AddNode(n) for n in nodes] + [Connect(Edge(a, b)) for a, b in edges], "build"))
    doc.undo_stack.clear()
    return doc


def panel_for(qtbot, doc):
    panel = ProblemsPanel(doc)
    qtbot.addWidget(panel)
    panel.resize(900, 300)
    panel.show()
    return panel


@pytest.mark.skipif("LSTM" not in CATALOG or "ToSequence" not in CATALOG, reason="recurrent blocks not registered")
def test_image_into_lstm_fix_inserts_to_sequence(qtbot):
    doc = doc_with(Node("image", "Input", {"shape": [1, 28, 28], "axes": "CHW"}),
                   Node("lstm", "LSTM", {"hidden_size": 16}), Node("out", "Output"),
                   edges=[("image", "lstm"), ("lstm", "out")])
    panel = panel_for(qtbot, doc)
    row = panel.row_of("lstm")
    assert row >= 0
    item = panel.tree.topLevelItem(row)
    assert item.text(1) == "lstm" and "sequence" in item.text(2)
    button = panel.fix_button(row, 0)
    assert "ToSequence" in button.text()
    qtbot.mouseClick(button, Qt.LeftButton)
    assert doc.checker.valid
    types = [n.type for n in doc.graph.nodes]
    assert "ToSequence" in types
    qtbot.waitUntil(lambda: not doc.settling)  # the panel refreshes once the event-loop turn ends
    assert panel.tree.topLevelItemCount() == 0
    assert "No problems" in panel.summary.text()
    doc.undo_stack.undo()  # the fix is one undo step
    assert "ToSequence" not in [n.type for n in doc.graph.nodes]
    qtbot.waitUntil(lambda: not doc.settling)  # the panel refreshes once the event-loop turn ends
    assert panel.row_of("lstm") >= 0


def test_kernel_too_big_fix_sets_padding_same(qtbot):
    doc = doc_with(Node("image", "Input", {"shape": [1, 3, 3], "axes": "CHW"}),
                   Node("conv1", "Conv2d", {"out_channels": 4, "kernel_size": 5}), Node("out", "Output"),
                   edges=[("image", "conv1"), ("conv1", "out")])
    panel = panel_for(qtbot, doc)
    row = panel.row_of("conv1", "too-small")
    assert row >= 0 and "1 error" in panel.summary.text()
    labels = [panel.fix_button(row, i).text() for i in range(len(panel.diagnostics[row].fixes))]
    index = next(i for i, t in enumerate(labels) if "padding" in t and "same" in t)
    qtbot.mouseClick(panel.fix_button(row, index), Qt.LeftButton)
    assert doc.graph.node("conv1").params["padding"] == "same"
    qtbot.waitUntil(lambda: not doc.settling)  # the panel refreshes once the event-loop turn ends
    assert doc.checker.valid and panel.tree.topLevelItemCount() == 0


def test_lists_graph_level_and_block_diagnostics_and_activates_rows(qtbot):
    doc = doc_with(Node("image", "Input", {"shape": [1, 28, 28], "axes": "CHW"}),
                   Node("conv1", "Conv2d", {}), edges=[])
    panel = panel_for(qtbot, doc)
    nodes = [panel.tree.topLevelItem(i).text(1) for i in range(panel.tree.topLevelItemCount())]
    assert nodes[0] == "(graph)"  # no Output block
    assert "conv1" in nodes       # its input is not connected
    got = []
    panel.node_activated.connect(got.append)
    item = panel.tree.topLevelItem(nodes.index("conv1"))
    rect = panel.tree.visualItemRect(item)
    qtbot.mouseClick(panel.tree.viewport(), Qt.LeftButton, pos=rect.center())
    assert got and got[-1] == "conv1"
    got.clear()
    rect = panel.tree.visualItemRect(panel.tree.topLevelItem(0))
    qtbot.mouseClick(panel.tree.viewport(), Qt.LeftButton, pos=rect.center())
    assert got == []  # the graph-level row names no block
    # the "connect image to conv1" fix wires it up
    row = panel.row_of("conv1", "unconnected")
    k = next(i for i, f in enumerate(panel.diagnostics[row].fixes) if f.label.startswith("connect image"))
    assert panel.apply_fix(row, k)
    assert [str(e) for e in doc.graph.edges] == ["image.out -> conv1.in"]
    qtbot.waitUntil(lambda: not doc.settling)  # the panel refreshes once the event-loop turn ends
    assert panel.row_of("conv1") == -1


def test_updates_after_edits_and_switching_documents(qtbot):
    doc = doc_with(Node("image", "Input", {"shape": [1, 28, 28], "axes": "CHW"}), Node("out", "Output"),
                   edges=[("image", "out")])
    panel = panel_for(qtbot, doc)
    assert panel.tree.topLevelItemCount() == 0
    doc.push(RemoveNode("out"))
    qtbot.waitUntil(lambda: not doc.settling)  # the panel refreshes once the event-loop turn ends
    assert panel.row_of(None, "no-output") == 0
    other = doc_with(Node("x", "NoSuchType"))
    panel.set_document(other)
    assert panel.row_of("x", "unknown-type") >= 0
    doc.undo_stack.undo()  # the old document no longer drives the panel
    qtbot.waitUntil(lambda: not doc.settling)
    assert panel.row_of("x", "unknown-type") >= 0
    assert panel.apply_fix(99) is False


def test_icons_exist_for_every_category_and_block(qtbot):
    from hybrid_studio.blocks import CATEGORIES
    from hybrid_studio.ui.icons import ICON_DIR, block_icon, category_icon, category_slug, severity_icon
    for c in CATEGORIES:
        assert (ICON_DIR / f"category-{category_slug(c)}.svg").is_file(), c
        icon = category_icon(c)
        assert not icon.isNull()
        big = icon.pixmap(32, 32).toImage()
        assert big.pixelColor(16, 2).alpha() > 0  # drawn, not blank
    for b in CATALOG:
        assert not block_icon(b.type_name).isNull()
    assert not block_icon("NoSuchType").isNull()
    from PySide6.QtCore import QSize
    pm = severity_icon("error").pixmap(QSize(24, 24), 2.0)
    assert pm.width() == 48 and pm.devicePixelRatio() == 2.0  # a real 2x rendering for high-DPI screens
