"""Run as a script in a fresh process: open the window on the CRNN template, wait for the training dock to load its
dataset and device lists and its dataset preview, then print JSON: which heavy modules the UI process holds and its
resident memory. ``--bare`` prints the memory of a bare shown QMainWindow instead (the baseline)."""

import json
import sys
import time

HEAVY = ("torch", "sklearn", "scipy", "pandas", "joblib")


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def wait(ms: int) -> None:
    """Process events for ``ms`` milliseconds in a QEventLoop, which releases the GIL while idle. (QTest.qWait holds
    it: the pool thread reading the dataset child's pipe then gets it once per call, which took ~100 s instead of
    ~10 s for the digit-strings arrays.)"""
    from PySide6.QtCore import QEventLoop, QTimer
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def main() -> None:
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QMainWindow
    app = QApplication(sys.argv)  # noqa: F841 - kept alive
    if "--bare" in sys.argv:
        w = QMainWindow()
        w.resize(1400, 900)
        w.show()
        QTest.qWaitForWindowExposed(w)
        wait(300)
        print(json.dumps({"rss_mib": rss_mib()}))
        return
    from hybrid_studio.project import load_template
    from hybrid_studio.ui.document import Document
    from hybrid_studio.ui.main_window import MainWindow
    w = MainWindow(Document(load_template("crnn")))
    w.resize(1400, 900)
    w.show()
    QTest.qWaitForWindowExposed(w)
    panel = w.ensure_train_panel()
    panel.load_choices()
    start = time.monotonic()
    while time.monotonic() - start < 120:
        wait(100)
        if panel.ready and (panel.picker.dataset is not None or panel.picker.error):
            break
    wait(300)
    print(json.dumps({"ready": panel.ready, "dataset": panel.picker.dataset is not None,
                      "devices": panel.settings.device.count() if hasattr(panel.settings, "device") else None,
                      "heavy": [m for m in HEAVY if m in sys.modules], "rss_mib": rss_mib()}))


if __name__ == "__main__":
    main()
