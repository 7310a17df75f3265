"""The app as the real-window test runs it: ``python tests/x11/probe_app.py PROJECT STATE_JSON``.

It starts Hybrid Studio exactly as ``hybrid-studio PROJECT`` does (same window, same start-up) and adds a read-only
probe: every 100 ms it writes what a person would see on screen (where the palette entries, blocks, ports, fix
buttons and toolbar buttons are, in screen pixels; the graph's blocks and wires; the problems; the training state; the
status bar; an open dialog) to STATE_JSON, atomically. The test decides where to click from it and drives the app
only through the X server (xdotool); the probe never changes the app. One exception, for the artefacts: when the
test writes ``STATE_JSON.shot`` holding a PNG path, the probe saves the X screen there (``QScreen.grabWindow(0)``,
the real pixels of the root window).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from PySide6.QtCore import QPointF, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QLineEdit, QMessageBox

from hybrid_studio.ui.app import _application, build_window


def centre(widget, rect=None) -> list[int]:
    """The screen position of the centre of ``rect`` (widget coordinates; default the whole widget)."""
    rect = rect if rect is not None else widget.rect()
    p = widget.mapToGlobal(rect.center())
    return [p.x(), p.y()]


def on_screen(widget) -> bool:
    return widget is not None and widget.isVisible() and not widget.visibleRegion().isEmpty()


def scene_to_screen(view, point) -> list[int]:
    p = view.viewport().mapToGlobal(view.mapFromScene(point))
    return [p.x(), p.y()]


def snapshot(window) -> dict:
    doc, view, scene = window.document, window.view, window.scene
    state = {"pid": os.getpid(), "active": window.isActiveWindow(), "title": window.windowTitle(),
             "window": [window.geometry().x(), window.geometry().y(), window.width(), window.height()],
             "status": window.status_bar.currentMessage(), "valid": doc.checker.valid,
             "modified": doc.modified}
    viewport = view.viewport()
    state["canvas"] = {"centre": centre(viewport), "size": [viewport.width(), viewport.height()]}
    tree = window.palette.tree
    state["palette_search"] = centre(window.palette.search)
    state["palette"] = {}
    for name, item in window.palette.items.items():
        if item.isHidden() or item.parent().isHidden():
            continue
        rect = tree.visualItemRect(item)
        if rect.isValid() and tree.viewport().rect().contains(rect.center()):
            state["palette"][name] = centre(tree.viewport(), rect)
    nodes = {}
    for nid, item in scene.nodes.items():
        body = item.sceneBoundingRect()
        nodes[nid] = {"type": doc.graph.node(nid).type,
                      "centre": scene_to_screen(view, body.center()),
                      "title": scene_to_screen(view, QPointF(body.center().x(), body.top() + 10)),
                      "inputs": {n: scene_to_screen(view, p.scenePos()) for n, p in item.inputs.items()},
                      "outputs": {n: scene_to_screen(view, p.scenePos()) for n, p in item.outputs.items()}}
    state["nodes"] = nodes
    state["edges"] = [[e.source, e.target] for e in doc.graph.edges]
    problems = []
    panel = window.problems
    if panel is not None:
        for row, d in enumerate(panel.diagnostics):
            item = panel.tree.topLevelItem(row)
            box = panel.tree.itemWidget(item, 3) if item is not None else None
            buttons = []
            if box is not None:
                for i in range(box.layout().count()):
                    b = box.layout().itemAt(i).widget()
                    buttons.append({"text": b.text(), "at": centre(b), "shown": on_screen(b)})
            problems.append({"node": d.node, "severity": d.severity, "message": d.message, "fixes": buttons})
        state["problems_shown"] = on_screen(panel)
    state["problems"] = problems
    toolbar = {}
    for a in window.toolbar.actions():
        w = window.toolbar.widgetForAction(a)
        if w is not None and on_screen(w) and a.iconText():
            toolbar[a.iconText().replace("&", "")] = {"at": centre(w), "enabled": a.isEnabled()}
    button = getattr(window, "export_button", None)
    if button is not None and on_screen(button):
        toolbar[button.text().replace("&", "")] = {"at": centre(button), "enabled": button.isEnabled()}
    state["toolbar"] = toolbar
    panel = window._train_panel
    if panel is not None:
        state["train"] = {"state": panel.controller.state, "status": panel.status.text(),
                          "shown": on_screen(panel), "epochs_done": panel.plots.series["val_loss"].n,
                          "steps": panel.plots.point_count(), "progress": panel.progress.format(),
                          "last_error": list(panel.last_error) if panel.last_error else None,
                          "run_dir": str(panel.controller.run_dir or "")}
    state["workspace"] = getattr(window, "workspace", "")
    dialogs = []
    for w in QApplication.topLevelWidgets():
        if w is window or not w.isVisible() or not w.isWindow():
            continue
        entry = {"class": type(w).__name__, "title": w.windowTitle(), "centre": centre(w)}
        if isinstance(w, QFileDialog):
            edit = w.findChild(QLineEdit, "fileNameEdit") or w.findChild(QLineEdit)
            if edit is not None:
                entry["file_name"] = centre(edit)
                entry["file_text"] = edit.text()
        if isinstance(w, QMessageBox):
            entry["text"] = w.text()
        dialogs.append(entry)
    state["dialogs"] = dialogs
    focus = QApplication.focusWidget()
    state["focus"] = type(focus).__name__ if focus is not None else None
    return state


def main(project: str, state_path: str) -> int:
    app = _application([sys.argv[0]])
    window = build_window(project)
    window.show()
    path = Path(state_path)
    shot_request = Path(state_path + ".shot")
    tmp = path.with_suffix(".tmp")

    def tick():
        try:
            data = snapshot(window)
        except RuntimeError:  # the window is being torn down
            return
        if shot_request.exists():
            target = shot_request.read_text().strip()
            screen = window.screen() or QApplication.primaryScreen()
            pixmap = screen.grabWindow(0)
            data["shot"] = target if pixmap.save(target) else ""
            shot_request.unlink()
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(100)
    QTimer.singleShot(0, tick)
    code = app.exec()
    path.with_suffix(".exit").write_text(str(code))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))

