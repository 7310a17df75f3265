"""Guards against a Qt binding that corrupts reference counts (PySide6 6.12.0 on Python < 3.12 does)."""

import sys

from PySide6.QtGui import QFont, QPen


def test_wrapped_calls_keep_none_and_bools_alive(qapp):
    pen, font = QPen(), QFont()
    before = (sys.getrefcount(None), sys.getrefcount(True))
    for _ in range(500):
        pen.setWidth(2)
        font.setBold(True)
    assert (sys.getrefcount(None), sys.getrefcount(True)) == before
