"""The desktop app. The only package that imports PySide6 and pyqtgraph; nothing imports it."""
