"""Regenerate docs/screenshot-profile.png: ``python docs/screenshot_profile.py`` (offscreen; about half a minute).

The CRNN template profiled on the CPU at batch 8, the Profile panel sorted by time and the time overlay on the
canvas; ``conv6`` is selected, and the inspector shows its measured cost.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HYBRID_STUDIO_DATA_DIR", tempfile.mkdtemp(prefix="hs-shots-"))

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from hybrid_studio import RESOURCES  # noqa: E402
from hybrid_studio.ui.app import _application, build_window  # noqa: E402

DOCS = Path(__file__).resolve().parent


def pump(seconds=0.3):
    end = time.time() + seconds
    while time.time() < end:
        QApplication.processEvents()
        time.sleep(0.01)


def main():
    from hybrid_studio.profile.engine import profile_graph

    window = build_window(RESOURCES / "templates" / "crnn.hsproj.json")
    window.resize(1600, 1000)
    window.show()
    pump()
    window.profile_action.trigger()
    view = window.profile_view
    report = profile_graph(window.document.graph, "cpu", 8)
    view.set_report(report)
    window.scene.select_ids(["conv6"])
    view.batch.setValue(8)
    pump()
    window.resizeDocks([view.dock], [400], Qt.Orientation.Vertical)
    pump()
    window.view.fit()
    pump()
    window.grab().save(str(DOCS / "screenshot-profile.png"))
    window.document.mark_saved()
    window.close()


if __name__ == "__main__":
    app = _application(sys.argv[:1])
    main()
