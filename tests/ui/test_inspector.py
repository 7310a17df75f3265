"""Inspector: the generated form edits the model through undoable, merged steps and follows the model back."""

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from hybrid_studio.graph import AddNode, Batch, Connect, Edge, Node
from hybrid_studio.ui.document import Document
from hybrid_studio.ui.inspector import Inspector
from hybrid_studio.ui.param_editors import parse_sizes


def retype(qtbot, field, text):
    """Click into ``field``, select what it shows and type ``text`` over it, as a user would."""
    field.setFocus()
    field.selectAll()
    qtbot.keyClicks(field, text)


def make_doc():
    doc = Document()
    doc.push(Batch([
        AddNode(Node("image", "Input", {"shape": [1, 28, 28], "axes": "CHW"})),
        AddNode(Node("conv1", "Conv2d", {"out_channels": 32, "kernel_size": 3, "activation": "relu"})),
        AddNode(Node("conv2", "Conv2d", {"out_channels": 8})),
        Connect(Edge("image", "conv1")),
        Connect(Edge("conv1", "conv2")),
    ], "build"))
    doc.undo_stack.clear()
    return doc


@pytest.fixture
def inspector(qtbot):
    doc = make_doc()
    w = Inspector(doc)
    qtbot.addWidget(w)
    w.resize(360, 700)
    w.show()
    return w


def test_typing_out_channels_changes_downstream_shape_in_one_undo_step(qtbot, inspector):
    doc = inspector.document
    inspector.show_node("conv1")
    assert doc.checker.result("conv2").inputs["in"].shape == (32, 26, 26)
    spin = inspector.editor("out_channels").spin
    spin.selectAll()
    qtbot.keyClicks(spin, "64")
    assert doc.graph.node("conv1").params["out_channels"] == 64
    assert doc.checker.result("conv2").inputs["in"].shape == (64, 26, 26)
    assert doc.undo_stack.count() == 1  # "6" then "64": one merged step
    qtbot.waitUntil(lambda: not doc.settling)  # the panels refresh once the event-loop turn ends
    assert inspector.findChild(type(inspector.help), "output_shape").text() == "N x 64 x 26 x 26"

    doc.undo_stack.undo()
    assert doc.graph.node("conv1").params["out_channels"] == 32
    assert spin.value() == 32  # the form follows undo
    assert doc.checker.result("conv2").inputs["in"].shape == (32, 26, 26)
    qtbot.waitUntil(lambda: not doc.settling)  # the panels refresh once the event-loop turn ends
    assert inspector.findChild(type(inspector.help), "output_shape").text() == "N x 32 x 26 x 26"


def test_typing_in_two_fields_gives_two_undo_steps(qtbot, inspector):
    doc = inspector.document
    inspector.show_node("conv2")
    out = inspector.editor("out_channels").spin
    qtbot.keyClick(out, Qt.Key_End)
    qtbot.keyClicks(out, "6")  # appends: 8 -> 86
    spin = inspector.editor("kernel_size").h
    spin.selectAll()
    qtbot.keyClicks(spin, "5")
    assert doc.graph.node("conv2").params == {"out_channels": 86, "kernel_size": 5}
    assert doc.undo_stack.count() == 2
    doc.undo_stack.undo()
    assert doc.graph.node("conv2").params == {"out_channels": 86}
    assert inspector.editor("kernel_size").h.value() == 3


def test_default_values_are_dropped_and_choices_push_immediately(qtbot, inspector):
    doc = inspector.document
    inspector.show_node("conv1")
    ed = inspector.editor("kernel_size")
    ed.h.selectAll()
    qtbot.keyClicks(ed.h, "5")
    ed.h.selectAll()
    qtbot.keyClicks(ed.h, "3")  # back to the default: left out of the file
    assert "kernel_size" not in doc.graph.node("conv1").params
    combo = inspector.editor("activation").combo
    qtbot.keyClicks(combo, "ta")
    assert doc.graph.node("conv1").params["activation"] == "tanh"
    bias = inspector.editor("bias").check
    qtbot.mouseClick(bias, Qt.LeftButton)
    assert doc.graph.node("conv1").params["bias"] is False


def test_pair_editor_unlinks_and_padding_same(qtbot, inspector):
    doc = inspector.document
    inspector.show_node("conv1")
    ed = inspector.editor("kernel_size")
    qtbot.mouseClick(ed.link, Qt.LeftButton)  # unlink height and width
    ed.w.selectAll()
    qtbot.keyClicks(ed.w, "5")
    assert doc.graph.node("conv1").params["kernel_size"] == [3, 5]
    assert doc.checker.result("conv1").output.shape == (32, 26, 24)
    pad = inspector.editor("padding")
    qtbot.keyClick(pad.mode, "s")  # keyboard search in the closed combo box picks "same"
    assert doc.graph.node("conv1").params["padding"] == "same"
    assert not pad.h.isEnabled()
    assert doc.checker.result("conv1").output.shape == (32, 28, 28)


def test_invalid_axes_letter_is_flagged_in_place(qtbot, inspector):
    doc = inspector.document
    inspector.show_node("image")
    line = inspector.editor("axes").line
    retype(qtbot, line, "chx")
    ed = inspector.editor("axes")
    assert line.text() == "CHX"
    assert ed.error_text and "unknown axis letters" in ed.error_text
    assert line.property("invalid") is True
    assert not doc.checker.valid
    assert any(d.node == "image" for d in doc.checker.diagnostics())
    # fixing the letter clears the flag
    qtbot.keyClick(line, Qt.Key_Backspace)
    qtbot.keyClicks(line, "W")
    assert ed.error_text is None
    assert doc.graph.node("image").params["axes"] == "CHW"


def test_shape_editor_parses_unknown_sizes_and_flags_garbage(qtbot, inspector):
    doc = inspector.document
    inspector.show_node("image")
    line = inspector.editor("shape").line
    retype(qtbot, line, "1, ?, 28")
    assert doc.graph.node("image").params["shape"] == [1, None, 28]
    assert doc.checker.result("image").output.describe() == "N x 1 x H x 28"
    before = doc.graph.node("image").params["shape"]
    qtbot.keyClicks(line, ", abc")
    assert "not a size" in inspector.editor("shape").error_text
    assert doc.graph.node("image").params["shape"] == before  # unparseable text is not sent
    assert parse_sizes("[3x32x32]") == [3, 32, 32]
    with pytest.raises(ValueError):
        parse_sizes("1, two")


def test_shows_help_shapes_counts_and_diagnostic_fixes(qtbot, inspector):
    doc = inspector.document
    inspector.show_node("conv1")
    assert "Conv" in inspector.type_label.text()
    labels = {lab.objectName(): lab.text() for lab in inspector.findChildren(type(inspector.help)) if lab.objectName()}
    assert labels["input_in"] == "N x 1 x 28 x 28"
    assert labels["param_count"].startswith("320")
    assert labels["mac_count"].startswith("194,688")
    # a kernel too big: the diagnostic shows with its fix button, which works
    ed = inspector.editor("kernel_size").h
    ed.selectAll()
    qtbot.keyClicks(ed, "40")
    qtbot.waitUntil(lambda: not doc.settling)  # the panels refresh once the event-loop turn ends
    assert inspector.problems_box.isVisibleTo(inspector)
    fix = [b for b in inspector.problems_box.findChildren(QPushButton) if "same" in b.text()][0]
    qtbot.mouseClick(fix, Qt.LeftButton)
    assert doc.graph.node("conv1").params["padding"] == "same"
    assert doc.checker.result("conv1").diagnostics == []


def test_rename_keeps_wires_and_undo_restores(qtbot, inspector):
    doc = inspector.document
    inspector.show_node("conv1")
    edges_before = [str(e) for e in doc.graph.edges]
    retype(qtbot, inspector.id_edit, "features")
    qtbot.keyClick(inspector.id_edit, Qt.Key_Return)
    assert doc.undo_stack.undoText() == "Rename conv1 to features"
    assert "features" in doc.graph and "conv1" not in doc.graph
    assert [n.id for n in doc.graph.nodes] == ["image", "features", "conv2"]
    assert inspector.node_id == "features"
    doc.undo_stack.undo()
    assert [str(e) for e in doc.graph.edges] == edges_before
    assert inspector.node_id == "conv1"  # followed the block back
    # an invalid id is flagged, nothing changes
    inspector.id_edit.setText("2bad")
    inspector.id_edit.editingFinished.emit()
    assert inspector.id_error.isVisibleTo(inspector)
    assert "2bad" not in doc.graph
    from hybrid_studio.graph import GraphError, RenameNode
    with pytest.raises(GraphError, match="no block"):
        doc.graph.rename_node("nope", "x")
    assert not doc.push(RenameNode("nope", "x"))  # refused, said through Document.refused


def test_removed_node_clears_and_unknown_type_does_not_crash(qtbot, inspector):
    doc = inspector.document
    inspector.show_node("conv2")
    from hybrid_studio.graph import RemoveNode
    doc.push(RemoveNode("conv2"))
    assert inspector.node_id is None and inspector.placeholder.isVisibleTo(inspector)
    doc.push(AddNode(Node("mystery", "NoSuchBlock", {"x": 1})))
    inspector.show_node("mystery")
    assert "Unknown block type" in inspector.help.text()
    assert inspector.editors == {}


def test_every_block_type_gets_a_form(qtbot, inspector):
    from hybrid_studio.blocks import CATALOG
    doc = inspector.document
    for i, block in enumerate(CATALOG):
        nid = f"b{i}"
        doc.push(AddNode(Node(nid, block.type_name, {})))
        inspector.show_node(nid)
        assert set(inspector.editors) == {p.name for p in block.params}, block.type_name
        for p in block.params:  # the form shows the defaults, unflagged
            assert inspector.editor(p.name).error_text is None, (block.type_name, p.name)


def test_float_param_typing(qtbot, inspector):
    doc = inspector.document
    doc.push(AddNode(Node("drop", "Dropout", {})))
    inspector.show_node("drop")
    spin = inspector.editor("p").spin
    spin.selectAll()
    qtbot.keyClicks(spin, "0.25")
    assert doc.graph.node("drop").params["p"] == 0.25
    assert spin.text() == "0.25"
    n = doc.undo_stack.count()
    doc.undo_stack.undo()
    assert "p" not in doc.graph.node("drop").params and spin.value() == 0.5 and n == 2


def test_a_typo_in_the_shape_puts_back_the_value_from_before_when_the_field_is_left(qtbot, inspector):
    doc = inspector.document
    inspector.show_node("image")
    notices = []
    doc.notice.connect(notices.append)
    steps = doc.undo_stack.count()
    ed = inspector.editor("shape")
    ed.line.setFocus()
    ed.line.selectAll()
    qtbot.keyClicks(ed.line, "3, 3o, 32")  # "3, 3" parses on the way and is applied; "3o" is a typo
    assert doc.graph.node("image").params["shape"] == [3, 3]
    assert "'3o' is not a size" in ed.error_text
    ed.line.editingFinished.emit()  # the user leaves the field
    assert doc.graph.node("image").params["shape"] == [1, 28, 28]
    assert ed.line.text() == "1, 28, 28" and ed.error_text is None
    assert doc.undo_stack.count() == steps  # typing that ended where it began leaves no undo step
    assert notices == ["shape: '3, 3o, 32' is not a list of sizes; kept 1, 28, 28"]


def test_a_flag_about_typed_text_goes_when_undo_changes_the_value(qtbot, inspector):
    doc = inspector.document
    inspector.show_node("image")
    ed = inspector.editor("shape")
    retype(qtbot, ed.line, "1, 28, 32")
    qtbot.keyClicks(ed.line, "q")
    assert ed.error_text
    ed.line.clearFocus()
    doc.undo_stack.undo()
    assert ed.line.text() == "1, 28, 28" and ed.error_text is None


def test_a_number_out_of_range_says_so_and_then_what_was_kept(qtbot, inspector):
    doc = inspector.document
    doc.push(AddNode(Node("drop", "Dropout", {})))
    inspector.show_node("drop")
    notices = []
    doc.notice.connect(notices.append)
    spin = inspector.editor("p").spin
    retype(qtbot, spin, "2")
    assert inspector.editor("p").error_text == "p must be at most 1.0"
    spin.clearFocus()  # the spin box puts its value back
    assert inspector.editor("p").error_text is None and spin.text() == "0.5"
    assert notices == ["p must be at most 1.0; kept 0.5"]
    assert "p" not in doc.graph.node("drop").params


def test_lowering_a_fusion_blocks_inputs_removes_the_orphaned_wire_undoably(qtbot):
    from PySide6.QtWidgets import QApplication
    from hybrid_studio.project import dumps_project, load_template, loads_project
    from canvas_helpers import open_window
    w = open_window(qtbot, load_template("parallel-cnn-lstm"))
    doc, g = w.document, w.document.graph
    cat = next(n.id for n in g.nodes if n.type == "Concat")
    w.scene.select_ids([cat])
    QApplication.processEvents()
    notices = []
    doc.notice.connect(notices.append)
    spin = w.inspector.editor("inputs").spin
    retype(qtbot, spin, "3")
    doc.seal_merging()
    source = next(n.id for n in g.nodes if n.type == "Input")
    assert doc.push(Connect(Edge(source, cat, target_port="in2")))
    before = dumps_project(g)
    retype(qtbot, spin, "2")
    assert [e.target_port for e in g.in_edges(cat)] == ["in0", "in1"]
    assert Edge(source, cat, target_port="in2") not in w.scene.edges
    assert notices == [f"Removed the wire {source} \u2192 {cat}: '{cat}' has no port 'in2' now"]
    loads_project(dumps_project(g), "saved.hsproj.json")  # what Ctrl+S writes opens again
    doc.undo_stack.undo()
    assert dumps_project(g) == before
    assert Edge(source, cat, target_port="in2") in w.scene.edges


def test_a_port_that_goes_and_comes_back_in_one_typing_round_keeps_its_wire():
    """inputs 3 -> 2 -> 3 (a wheel notch down and up) is one undo step that changes nothing: the wire stays, and
    undo / redo agree with what the user saw."""
    from hybrid_studio.project import dumps_project
    from hybrid_studio.graph import SetParams
    doc = Document()
    for nid in ("a", "b", "c"):
        doc.push(AddNode(Node(nid, "Input", {"shape": [8], "axes": "F"})))
    doc.push(AddNode(Node("cat", "Concat", {"inputs": 3})))
    for nid, port in (("a", "in0"), ("b", "in1"), ("c", "in2")):
        doc.push(Connect(Edge(nid, "cat", target_port=port)))
    before, steps = dumps_project(doc.graph), doc.undo_stack.count()
    doc.push(SetParams("cat", {"inputs": 2}), merge=True)
    assert len(doc.graph.in_edges("cat")) == 2
    doc.push(SetParams("cat", {"inputs": 3}), merge=True)
    assert dumps_project(doc.graph) == before and doc.undo_stack.count() == steps  # nothing happened
    # a round that ends with fewer ports: one step, undone and redone the same way
    doc.push(SetParams("cat", {"inputs": 2}), merge=True)
    doc.push(SetParams("cat", {"inputs": 3}), merge=True)
    doc.push(SetParams("cat", {"inputs": 2}), merge=True)
    after = dumps_project(doc.graph)
    assert doc.undo_stack.count() == steps + 1 and len(doc.graph.in_edges("cat")) == 2
    doc.undo_stack.undo()
    assert dumps_project(doc.graph) == before
    doc.undo_stack.redo()
    assert dumps_project(doc.graph) == after


def test_conv3d_kernel_editor_takes_time_height_and_width(qtbot):
    """Conv3d's pair params have three entries, [t, h, w]: linked they stay one int, unlinked each is its own."""
    doc = Document()
    doc.push(Batch([AddNode(Node("video", "Input", {"shape": [5, 1, 12, 12], "axes": "TCHW"})),
                    AddNode(Node("c3", "Conv3d", {"kernel_size": [1, 3, 3]})),
                    Connect(Edge("video", "c3"))], "build"))
    w = Inspector(doc)
    qtbot.addWidget(w)
    w.show()
    w.show_node("c3")
    ed = w.editor("kernel_size")
    assert [ed.t.value(), ed.h.value(), ed.w.value()] == [1, 3, 3] and not ed.link.isChecked()
    retype(qtbot, ed.t, "2")
    assert doc.graph.node("c3").params["kernel_size"] == [2, 3, 3]
    assert doc.checker.result("c3").output.shape == (4, 32, 10, 10)
    qtbot.mouseClick(ed.link, Qt.LeftButton)  # link: the height's size for all three (3, the default: left out)
    assert "kernel_size" not in doc.graph.node("c3").params and ed.t.value() == 3
    retype(qtbot, ed.w, "5")
    assert doc.graph.node("c3").params["kernel_size"] == 5 and ed.t.value() == ed.h.value() == 5
    doc.undo_stack.undo()
    assert "kernel_size" not in doc.graph.node("c3").params and ed.t.value() == ed.w.value() == 3
