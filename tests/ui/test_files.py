"""File actions on a stub main window: save/open, recent files, unsaved-changes prompt, drops, autosave recovery,
templates. Dialogs are replaced through FileActions' small ``_ask_*`` methods."""

import json
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QMainWindow

from hybrid_studio.graph import AddNode, Node, SetParams
from hybrid_studio.project import list_templates, load_project, save_project
from hybrid_studio.ui import files as files_mod
from hybrid_studio.ui.document import Document
from hybrid_studio.ui.files import FileActions
from hybrid_studio.ui.templates_dialog import TemplateGallery, render_preview


# the real dialog methods, before the autouse fixture replaces them
REAL = {name: getattr(FileActions, name) for name in ("_ask_unsaved", "_ask_restore", "_ask_open_path",
                                                      "_ask_save_path", "_ask_overwrite", "_choose_template",
                                                      "_show_error")}


class StubWindow(QMainWindow):
    """What FileActions needs of the main window."""

    def __init__(self):
        super().__init__()
        self.document = Document()
        self.file_menu = self.menuBar().addMenu("&File")
        self.files = None

    def set_document(self, doc):
        self.document = doc

    def closeEvent(self, event):
        if self.files.maybe_save():
            event.accept()
        else:
            event.ignore()


@pytest.fixture(autouse=True)
def no_modal_dialogs(monkeypatch):
    """A real dialog would block the test run: by default, answers that change nothing (tests override them)."""
    monkeypatch.setattr(FileActions, "_ask_unsaved", lambda self, name: "discard")
    monkeypatch.setattr(FileActions, "_ask_restore", lambda self, info: False)
    monkeypatch.setattr(FileActions, "_ask_open_path", lambda self: None)
    monkeypatch.setattr(FileActions, "_ask_save_path", lambda self, suggested: None)
    monkeypatch.setattr(FileActions, "_ask_overwrite", lambda self, path: False)
    monkeypatch.setattr(FileActions, "_choose_template", lambda self: None)

    def error(self, title, text):
        raise AssertionError(f"unexpected error box: {title}: {text}")
    monkeypatch.setattr(FileActions, "_show_error", error)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    d = tmp_path / "data"
    monkeypatch.setenv("HYBRID_STUDIO_DATA_DIR", str(d))
    return d


@pytest.fixture
def win(qtbot, data_dir):
    w = StubWindow()
    qtbot.addWidget(w)
    w.files = FileActions(w)
    w.show()
    return w


def add_input(doc, nid="image"):
    doc.push(AddNode(Node(nid, "Input", {"shape": [3, 32, 32], "axes": "CHW"})))


def test_save_as_then_open_round_trip(win, tmp_path, monkeypatch):
    fa = win.files
    add_input(win.document)
    assert win.isWindowModified()
    target = tmp_path / "model"
    monkeypatch.setattr(fa, "_ask_save_path", lambda suggested: str(target))
    win.files.save_action.trigger()  # no path yet: Save asks where (Save As)
    saved = tmp_path / "model.hsproj.json"
    assert saved.is_file()
    assert not win.document.modified and not win.isWindowModified()
    assert "model.hsproj.json" in win.windowTitle()
    assert [n.id for n in load_project(saved).nodes] == ["image"]

    fa.new_action.trigger()
    assert len(win.document.graph) == 0
    monkeypatch.setattr(fa, "_ask_open_path", lambda: str(saved))
    fa.open_action.trigger()
    assert win.document.path == saved.resolve()
    assert win.document.graph.node("image").params == {"shape": [3, 32, 32], "axes": "CHW"}
    assert fa.recent_files()[0] == str(saved.resolve())
    # a second save writes in place without asking
    monkeypatch.setattr(fa, "_ask_save_path", lambda s: pytest.fail("should not ask"))
    win.document.push(SetParams("image", {"shape": [1, 8, 8]}))
    assert fa.save()
    assert load_project(saved).node("image").params["shape"] == [1, 8, 8]


def test_ctrl_s_shortcut_saves(qtbot, win, tmp_path, monkeypatch):
    path = tmp_path / "k.hsproj.json"
    save_project(win.document.graph, path)
    assert win.files.open_path(path)
    add_input(win.document)
    win.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win, timeout=2000)
    qtbot.keyClick(win, Qt.Key_S, Qt.ControlModifier)
    assert not win.document.modified
    assert [n.id for n in load_project(path).nodes] == ["image"]


def test_open_errors_are_shown_and_nothing_changes(win, tmp_path, monkeypatch):
    bad = tmp_path / "bad.hsproj.json"
    bad.write_text('{"format": "something-else", "version": 1}')
    shown = []
    monkeypatch.setattr(win.files, "_show_error", lambda title, text: shown.append(text))
    before = win.document
    assert not win.files.open_path(bad)
    assert shown and "bad.hsproj.json" in shown[0]
    assert win.document is before
    assert not win.files.open_path(tmp_path / "missing.json")
    assert "no such file" in shown[-1]


def test_unsaved_changes_prompt(win, tmp_path, monkeypatch):
    fa = win.files
    add_input(win.document)
    answers = []

    def ask(answer):
        def _ask(name):
            answers.append(name)
            return answer
        return _ask

    monkeypatch.setattr(fa, "_ask_unsaved", ask("cancel"))
    assert fa.maybe_save() is False
    assert not win.close()  # the close is refused
    assert fa.new() is False and len(win.document.graph) == 1
    monkeypatch.setattr(fa, "_ask_unsaved", ask("save"))
    monkeypatch.setattr(fa, "_ask_save_path", lambda s: None)  # ... then cancels the file dialog
    assert fa.maybe_save() is False
    monkeypatch.setattr(fa, "_ask_save_path", lambda s: str(tmp_path / "kept.hsproj.json"))
    assert fa.maybe_save() is True
    assert (tmp_path / "kept.hsproj.json").is_file()
    win.document.push(SetParams("image", {"dtype": "float32"}))
    monkeypatch.setattr(fa, "_ask_unsaved", ask("discard"))
    assert fa.new() is True and len(win.document.graph) == 0
    assert answers and all(a for a in answers)
    assert fa.maybe_save() is True  # unmodified: no question
    n = len(answers)
    assert win.close() and len(answers) == n


def test_dropping_a_project_file_opens_it(qtbot, win, tmp_path):
    g = Document().graph
    g2 = load_project(list_templates()[0].path)
    path = tmp_path / "dropped.hsproj.json"
    save_project(g2, path)
    assert not win.files.handle_drop([str(tmp_path / "notes.txt")])
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    enter = QDragEnterEvent(QPoint(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(win, enter)  # a real drag enters before it drops
    assert enter.isAccepted()
    event = QDropEvent(QPointF(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(win, event)
    assert event.isAccepted()
    qtbot.waitUntil(lambda: win.document.path == path.resolve(), timeout=2000)
    assert [n.id for n in win.document.graph.nodes] == [n.id for n in g2.nodes]
    assert len(g) == 0


def test_recent_menu_lists_and_reopens(win, tmp_path):
    fa = win.files
    paths = []
    for name in ("a", "b"):
        p = tmp_path / f"{name}.hsproj.json"
        save_project(Document().graph, p)
        assert fa.open_path(p)
        paths.append(p)
    fa._fill_recent()
    actions = [a for a in fa.recent_menu.actions() if a.data()]
    assert [a.data() for a in actions] == [str(paths[1].resolve()), str(paths[0].resolve())]
    actions[1].trigger()
    assert win.document.path == paths[0].resolve()
    # persisted in the data folder's settings, not the user's
    assert (files_mod.data_dir() / "settings.ini").is_file()


def test_autosave_writes_recovery_and_next_start_restores(qtbot, win, data_dir, monkeypatch):
    fa = win.files
    assert not fa.autosave_now()  # unmodified: nothing to keep
    add_input(win.document, "frames")
    fa.autosave_timer.setInterval(50)
    qtbot.waitUntil(lambda: fa.recovery_path().is_file(), timeout=3000)
    assert fa.recovery_path().parent == data_dir / "recovery"
    assert [n.id for n in load_project(fa.recovery_path()).nodes] == ["frames"]
    fa.autosave_timer.stop()  # "crash": the window goes away without cleaning up

    nxt = StubWindow()
    qtbot.addWidget(nxt)
    nxt.files = FileActions(nxt)
    asked = []
    monkeypatch.setattr(nxt.files, "_ask_restore", lambda info: asked.append(info) or True)
    assert nxt.files.offer_recovery() is True
    assert asked and asked[0]["session"] == fa.session
    assert [n.id for n in nxt.document.graph.nodes] == ["frames"]
    assert nxt.document.modified and nxt.isWindowModified()
    assert not fa.recovery_path().exists()  # the old session's file is gone ...
    assert nxt.files.recovery_path().is_file()  # ... and the restored work is kept by the new session
    assert nxt.files.offer_recovery() is False  # nothing else left to offer
    # saving removes the recovery file
    monkeypatch.setattr(nxt.files, "_ask_save_path", lambda s: str(data_dir / "saved.hsproj.json"))
    assert nxt.files.save()
    assert not nxt.files.recovery_path().exists()


def test_declined_recovery_is_removed(qtbot, win, monkeypatch):
    add_input(win.document)
    assert win.files.autosave_now()
    meta = json.loads(win.files._meta_path(win.files.recovery_path()).read_text())
    assert meta["session"] == win.files.session and meta["path"] is None
    nxt = StubWindow()
    qtbot.addWidget(nxt)
    nxt.files = FileActions(nxt)
    monkeypatch.setattr(nxt.files, "_ask_restore", lambda info: False)
    assert nxt.files.offer_recovery() is False
    assert len(nxt.document.graph) == 0
    assert not win.files.recovery_path().exists()


def test_restore_then_cancel_keeps_the_recovery_for_next_time(qtbot, win, monkeypatch):
    add_input(win.document)
    assert win.files.autosave_now()
    nxt = StubWindow()
    qtbot.addWidget(nxt)
    nxt.files = FileActions(nxt)
    add_input(nxt.document, "mine")  # the new window has unsaved work of its own ...
    monkeypatch.setattr(nxt.files, "_ask_restore", lambda info: True)
    monkeypatch.setattr(nxt.files, "_ask_unsaved", lambda name: "cancel")  # ... which the user keeps
    assert nxt.files.offer_recovery() is False
    assert [n.id for n in nxt.document.graph.nodes] == ["mine"]
    assert win.files.recovery_path().exists()  # offered again next time


def test_save_as_adding_the_suffix_asks_before_replacing(win, tmp_path, monkeypatch):
    existing = tmp_path / "model.hsproj.json"
    existing.write_text("keep me")
    add_input(win.document)
    monkeypatch.setattr(win.files, "_ask_save_path", lambda s: str(tmp_path / "model"))  # typed without suffix
    asked = []
    monkeypatch.setattr(win.files, "_ask_overwrite", lambda path: asked.append(path) or False)
    assert not win.files.save_as()
    assert asked == [existing] and existing.read_text() == "keep me" and win.document.modified
    monkeypatch.setattr(win.files, "_ask_overwrite", lambda path: True)
    assert win.files.save_as()
    assert load_project(existing).nodes and not win.document.modified


def test_saving_over_a_read_only_file_is_refused_and_named(win, tmp_path, monkeypatch):
    locked = tmp_path / "locked.hsproj.json"
    locked.write_text("keep me")
    locked.chmod(0o444)
    add_input(win.document)
    errors = []
    monkeypatch.setattr(win.files, "_show_error", lambda title, text: errors.append(text))
    monkeypatch.setattr(win.files, "_ask_save_path", lambda s: str(locked))
    assert not win.files.save_as()
    assert errors == [f"{locked}: the file is read-only"]
    assert locked.read_text() == "keep me" and win.document.modified
    # a folder that does not exist: the message names the file asked for, not a temporary file
    errors.clear()
    missing = tmp_path / "nowhere" / "x.hsproj.json"
    monkeypatch.setattr(win.files, "_ask_save_path", lambda s: str(missing))
    assert not win.files.save_as()
    assert errors == [f"{missing}: the folder {missing.parent} does not exist"]


def test_new_from_template_and_gallery(qtbot, win, monkeypatch):
    templates = list_templates()
    assert templates
    monkeypatch.setattr(win.files, "_choose_template", lambda: templates[0].name)
    assert win.files.new_from_template()
    assert len(win.document.graph) > 0 and win.document.path is None and not win.document.modified
    dlg = TemplateGallery()
    qtbot.addWidget(dlg)
    assert dlg.list.count() == len(templates)
    assert dlg.selected_name() == templates[0].name
    assert dlg.title.text() == templates[0].title
    dlg.list.setCurrentRow(1)
    assert dlg.selected_name() == templates[1].name
    img = render_preview(load_project(templates[1].path), 160, 90).toImage()
    colours = {img.pixel(x, y) for x in range(0, 160, 4) for y in range(0, 90, 4)}
    assert len(colours) > 3  # boxes and wires were drawn, not a blank card


def test_without_a_screen_dialogs_answer_without_blocking(win, capsys):
    assert not files_mod.interactive()  # the tests run on the offscreen platform
    fa = win.files
    assert REAL["_ask_unsaved"](fa, "x") == "discard"
    assert REAL["_ask_restore"](fa, {}) is False
    assert REAL["_ask_open_path"](fa) is None
    assert REAL["_ask_save_path"](fa, "x.hsproj.json") is None
    assert REAL["_ask_overwrite"](fa, Path("x.hsproj.json")) is False
    assert REAL["_choose_template"](fa) is None
    REAL["_show_error"](fa, "Oops", "it broke")
    assert "Oops: it broke" in capsys.readouterr().err
