"""File > Import Model... and File > Export > PyTorch / ONNX, through the real actions of the main window."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn as nn
from canvas_helpers import open_window, small_graph
from PySide6.QtCore import Qt

from hybrid_studio.ui.interop_actions import InteropActions


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


@pytest.fixture
def onnx_file(tmp_path):
    path = tmp_path / "net.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Net().eval(), (torch.randn(2, 1, 8, 8),), str(path), dynamo=False, input_names=["image"],
                          dynamic_axes={"image": {0: "batch"}})
    return path


@pytest.fixture
def dialogs(monkeypatch):
    """Replace the dialogs; records what would have been shown."""
    shown = {"report": [], "error": [], "save": None, "open": None}
    monkeypatch.setattr(InteropActions, "_ask_import_path", lambda self: shown["open"])
    monkeypatch.setattr(InteropActions, "_ask_save_path", lambda self, title, suggested, filt: shown["save"])
    monkeypatch.setattr(InteropActions, "_show_report", lambda self, t, s, d: shown["report"].append((s, d)))
    monkeypatch.setattr(InteropActions, "_show_error", lambda self, t, text: shown["error"].append(text))
    return shown


def _menu_texts(menu):
    return [a.text() for a in menu.actions()]


def test_file_menu_has_import_and_export(qtbot):
    w = open_window(qtbot, small_graph())
    texts = _menu_texts(w.file_menu)
    assert "&Import Model..." in texts and "&Export" in texts
    assert texts.index("&Import Model...") < texts.index("&Quit")
    export = w.interop.export_menu
    assert _menu_texts(export) == ["&PyTorch (.py)...", "&ONNX (.onnx)..."]
    assert w.import_action is not None and w.export_python_action in export.actions()


def test_import_shows_the_report_and_opens_the_graph_with_its_weights(qtbot, tmp_path, onnx_file, dialogs):
    w = open_window(qtbot, small_graph())
    dialogs["open"] = str(onnx_file)
    dialogs["save"] = str(tmp_path / "net")  # the suffix is added
    w.import_action.trigger()
    assert dialogs["error"] == []
    (summary, details), = dialogs["report"]
    assert "net.onnx" in summary and "converted" in summary and "net.weights.pt" in summary
    assert "/conv/Conv (Conv) -> conv" in details
    doc = w.document
    assert str(doc.path).endswith("net.hsproj.json") and not doc.modified
    assert [n.type for n in doc.graph.nodes] == ["Input", "Conv2d", "Flatten", "Linear", "Output"]
    assert all(n.position is not None for n in doc.graph.nodes)  # auto-laid out
    assert set(w.scene.nodes) == {n.id for n in doc.graph.nodes}  # drawn on the canvas
    assert (tmp_path / "net.weights.pt").is_file()
    assert doc.graph.training["init_weights"] == "net.weights.pt"

    # the training settings offer to start from the imported weights, checked
    from hybrid_studio.ui.train.settings import SettingsForm
    form = SettingsForm()
    qtbot.addWidget(form)
    form.set_values(doc.graph.training)
    box = form.widgets["init_weights"]
    assert box.isEnabled() and box.isChecked()
    form.show()
    qtbot.waitExposed(form)
    from PySide6.QtWidgets import QStyle, QStyleOptionButton
    opt = QStyleOptionButton()
    opt.initFrom(box)
    click = box.style().subElementRect(QStyle.SubElement.SE_CheckBoxIndicator, opt, box).center()
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=click)
    assert form.values()["init_weights"] == "" and form.values()["imported_weights"] == "net.weights.pt"
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=click)
    assert form.values()["init_weights"] == "net.weights.pt"


def test_import_of_a_bad_file_shows_the_error_and_keeps_the_project(qtbot, tmp_path, dialogs):
    w = open_window(qtbot, small_graph())
    bad = tmp_path / "broken.keras"
    bad.write_bytes(b"PK\x03\x04 broken")
    dialogs["open"] = str(bad)
    before = [n.id for n in w.document.graph.nodes]
    w.import_action.trigger()
    (err,) = dialogs["error"]
    assert "broken.keras" in err and "Traceback" not in err
    assert [n.id for n in w.document.graph.nodes] == before and dialogs["report"] == []


def test_export_python_and_onnx_from_the_menu(qtbot, tmp_path, dialogs):
    w = open_window(qtbot, small_graph())
    w.document.undo_stack.setClean()
    dialogs["save"] = str(tmp_path / "model.py")
    w.export_python_action.trigger()
    assert "class Model(nn.Module)" in (tmp_path / "model.py").read_text()

    dialogs["save"] = str(tmp_path / "model.onnx")
    with qtbot.waitSignal(w.interop.export_finished, timeout=180_000) as blocker:
        w.export_onnx_action.trigger()
        assert w.interop.running  # off the UI thread: the window keeps running meanwhile
    assert blocker.args == [True] and dialogs["error"] == []
    import onnx
    assert [i.name for i in onnx.load(str(tmp_path / "model.onnx")).graph.input] == ["image"]

    dialogs["save"] = str(tmp_path / "missing" / "folder" / "model.onnx")
    with qtbot.waitSignal(w.interop.export_finished, timeout=180_000) as blocker:
        w.export_onnx_action.trigger()
    assert blocker.args == [False]
    (err,) = dialogs["error"]
    assert "model.onnx" in err
