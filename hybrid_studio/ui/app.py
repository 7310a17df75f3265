"""Starting the desktop app: ``main(project=None, screenshot=None)``.

Only Qt, the graph and the blocks load here; torch is imported later, when something needs it (training,
export), so the window appears quickly.
"""

from __future__ import annotations

import sys
from pathlib import Path

DEFAULT_TEMPLATE = "seed-cnn-lstm"


def _headless() -> bool:
    """Whether there is no screen to open a window on (a Linux server or CI job without X11 or Wayland)."""
    import os
    return (sys.platform.startswith("linux") and not os.environ.get("QT_QPA_PLATFORM")
            and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"))


def _application(argv=None, screenshot=False):
    from PySide6.QtWidgets import QApplication
    app = QApplication.instance()
    if app is None:
        if screenshot and _headless():
            # a screenshot needs no screen: render offscreen rather than abort for want of a display
            import os
            os.environ["QT_QPA_PLATFORM"] = "offscreen"
        app = QApplication(list(argv) if argv else sys.argv[:1])
    app.setApplicationName("Hybrid Studio")
    app.setOrganizationName("Hybrid Studio")
    app.setApplicationDisplayName("Hybrid Studio")
    return app


def open_document(project=None):
    """A Document for ``project`` (a path), or for the seed template when there is none."""
    from hybrid_studio.project import load_project, load_template
    from .document import Document
    if project:
        path = Path(project)
        return Document(load_project(path), path)
    return Document(load_template(DEFAULT_TEMPLATE))


def build_window(project=None):
    """The main window showing ``project`` (or the seed template); not shown yet."""
    import gc
    # Importing the app's modules and building the window make tens of thousands of objects that live as long as
    # the window, and the cyclic collector would walk them again and again (26 collections before this pause, ~1% of
    # start-up's instructions). So: no collections while building; ``main`` then collects once and freezes the
    # survivors after the first paint (``heap.settle``), so that later collections never walk them.
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        from .main_window import MainWindow
        window = MainWindow(open_document(project))
    finally:
        if paused:
            gc.enable()
    return window


def _follow_colour_scheme(app, window):
    """Repaint in light or dark when the system switches (Qt >= 6.5)."""
    hints = app.styleHints()
    if hasattr(hints, "colorSchemeChanged"):
        from . import theme

        def changed(*_):
            theme.refresh()
            window.scene.update()
        hints.colorSchemeChanged.connect(changed)


def save_screenshot(window, png) -> None:
    """Render ``window`` once into ``png``."""
    from PySide6.QtWidgets import QApplication
    window.show()
    window.ensure_train_panel()
    QApplication.processEvents()
    window.compact_bottom_docks()
    QApplication.processEvents()
    window.view.fit()
    QApplication.processEvents()
    if not window.grab().save(str(png)):
        raise OSError(f"cannot write {png}")


def main(project=None, screenshot=None, argv=None) -> int:
    """Run the app on ``project`` (a path) or the seed template; with ``screenshot`` save one PNG and exit."""
    app = _application(argv, screenshot=bool(screenshot))
    try:
        window = build_window(project)
    except Exception as e:  # noqa: BLE001 - an unreadable project is reported, not a traceback
        print(f"hybrid-studio: {e}", file=sys.stderr)
        if screenshot:
            return 2
        from .document import Document
        from .main_window import MainWindow
        window = MainWindow(Document())
        window.show_message(f"Could not open {project}: {e}")
    _follow_colour_scheme(app, window)
    if screenshot:
        window.resize(1440, 900)
        try:
            save_screenshot(window, screenshot)
        except OSError as e:
            print(f"hybrid-studio: {e}", file=sys.stderr)
            return 2
        window.close()
        # the training dock loads its lists on a pool thread once shown: let it finish before Python shuts down
        from PySide6.QtCore import QThreadPool
        QThreadPool.globalInstance().waitForDone(30000)
        return 0
    window.show()
    files = window.file_actions
    if files is not None:
        if project and window.document.path:
            files.add_recent(window.document.path)
        # after the first paint: offer to restore what a crashed session autosaved
        from PySide6.QtCore import QTimer
        QTimer.singleShot(0, files.offer_recovery)
    from PySide6.QtCore import QTimer
    from .heap import settle
    QTimer.singleShot(0, settle)   # after the first paint: later collections skip the start-up objects (heap.py)
    return app.exec()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(*(sys.argv[1:2] or [None])))
