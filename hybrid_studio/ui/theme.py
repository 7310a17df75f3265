"""Colours and fonts of the editor: one accent colour per block category, light or dark from the system palette.

Items ask ``current()`` for the theme when they paint, so a palette change (the system switching to dark mode)
only needs ``refresh()`` and a repaint.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication, QPalette
from PySide6.QtWidgets import QLabel

from .icons import CATEGORY_COLORS, DEFAULT_COLOR

#: Accent colour per category: the icons' colours (``icons.CATEGORY_COLORS``, the values in the SVGs), so a block's
#: header matches its palette icon; dark enough for white titles on light and dark canvases.
CATEGORY_COLOURS = CATEGORY_COLORS
UNKNOWN_COLOUR = DEFAULT_COLOR
ERROR_COLOUR = "#ef4444"
WARNING_COLOUR = "#f59e0b"

#: the inspector with no block selected (the main window shows it too, until the inspector is built)
SELECT_BLOCK_HINT = "Select a block to see its settings."


def hint_label(text: str) -> QLabel:
    """A greyed, centred, wrapped hint for an empty panel."""
    label = QLabel(text)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(True)
    label.setEnabled(False)
    return label


def category_colour(category: str | None) -> QColor:
    """The accent colour of a block category (grey for unknown block types)."""
    return QColor(CATEGORY_COLOURS.get(category or "", UNKNOWN_COLOUR))


def category_text_colour(category: str | None) -> QColor:
    """The category colour for text on the window background: lightened on a dark background, where the accent
    colours (chosen to carry white titles) are too dark to read."""
    c = category_colour(category)
    if not current().dark:
        return c
    h, s, lightness, a = c.getHslF()
    return QColor.fromHslF(h, s, max(lightness, 0.68), a)   # same hue, light enough for >= 4.5:1 contrast


def type_colour(type_name: str) -> QColor:
    """The accent colour of a block type, through its category."""
    from hybrid_studio.blocks import CATALOG
    return category_colour(CATALOG.get(type_name).category if type_name in CATALOG else None)


@dataclass
class Theme:
    dark: bool
    canvas: QColor
    grid_minor: QColor
    grid_major: QColor
    node_body: QColor
    node_border: QColor
    node_selected: QColor
    text: QColor
    text_dim: QColor
    wire: QColor
    wire_selected: QColor
    label_bg: QColor
    label_text: QColor
    port: QColor
    port_ok: QColor
    error: QColor = field(default_factory=lambda: QColor(ERROR_COLOUR))
    warning: QColor = field(default_factory=lambda: QColor(WARNING_COLOUR))

    def font(self, point_size: float = 9.0, bold: bool = False) -> QFont:
        """The application font at ``point_size`` (cached: items ask for it on every paint)."""
        key = (point_size, bold)
        f = _FONTS.get(key)
        if f is None:
            f = QFont(QGuiApplication.font()) if QGuiApplication.instance() else QFont()
            f.setPointSizeF(point_size)
            f.setBold(bold)
            _FONTS[key] = f
        return f


_FONTS: dict = {}


def _light() -> Theme:
    return Theme(False, QColor("#f4f5f7"), QColor("#e6e8ec"), QColor("#d7dae0"), QColor("#ffffff"),
                 QColor("#c9ced6"), QColor("#2563eb"), QColor("#1f2430"), QColor("#5f6672"), QColor("#8a93a3"),
                 QColor("#2563eb"), QColor("#ffffff"), QColor("#374151"), QColor("#6b7280"), QColor("#16a34a"))


def _dark() -> Theme:
    return Theme(True, QColor("#1b1d22"), QColor("#23262c"), QColor("#2c3038"), QColor("#2b2f37"),
                 QColor("#3d434e"), QColor("#60a5fa"), QColor("#e8eaee"), QColor("#a2a9b5"), QColor("#7b8494"),
                 QColor("#60a5fa"), QColor("#363b45"), QColor("#d7dbe2"), QColor("#8b93a1"), QColor("#4ade80"))


_current: Theme | None = None


def system_is_dark() -> bool:
    """Whether the application's palette is dark (window colour darker than mid grey)."""
    app = QGuiApplication.instance()
    if app is None:
        return False
    return QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128


def refresh() -> Theme:
    """Re-read the system palette."""
    global _current
    _FONTS.clear()
    _current = _dark() if system_is_dark() else _light()
    return _current


def current() -> Theme:
    """The theme in use (read from the system palette on first use)."""
    return _current or refresh()
