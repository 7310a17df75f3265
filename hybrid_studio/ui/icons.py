"""Icons from the SVGs in ``resources/icons``: one per block category, a fallback block icon, severity marks.

Qt's SVG icon engine draws them at whatever size and pixel ratio a widget asks for, so they stay crisp on high-DPI
screens. Icons are cached: palettes and problem lists ask for the same few.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon, QPixmap

import hybrid_studio

ICON_DIR: Path = hybrid_studio.RESOURCES / "icons"
_ICON_DIR_STR = str(ICON_DIR)

#: Category colours shared by the icons and the template previews (the SVGs use the same values).
CATEGORY_COLORS = {
    "Inputs": "#2e7d32", "Convolution": "#1565c0", "Pooling": "#00838f", "Recurrent": "#6a1b9a",
    "Fusion": "#ef6c00", "Shape": "#6d4c41", "Normalisation & regularisation": "#546e7a", "Dense": "#c62828",
    "Outputs": "#ad1457",
}
DEFAULT_COLOR = "#78909c"


def category_slug(category: str) -> str:
    """``Normalisation & regularisation`` -> ``normalisation-regularisation`` (the SVG file stem)."""
    return re.sub(r"[^a-z0-9]+", "-", category.lower()).strip("-")


def category_color(category: str | None) -> str:
    """The colour (``#rrggbb``) of a block category; grey for unknown ones."""
    return CATEGORY_COLORS.get(category or "", DEFAULT_COLOR)


@lru_cache(maxsize=None)
def _icon_files() -> frozenset:
    """The file names in ICON_DIR, listed once (a stat per icon was a few ms of start-up on a busy disk)."""
    try:
        return frozenset(os.listdir(ICON_DIR))
    except OSError:
        return frozenset()


def _exists(path: Path) -> bool:
    return path.name in _icon_files() if path.parent == ICON_DIR else path.is_file()


def svg_icon(path: Path) -> QIcon:
    """A QIcon for an SVG file; an empty icon if the file is missing.

    Qt's SVG icon engine renders it when painted, at exactly the size and device pixel ratio asked for, so icons
    stay crisp on high-DPI screens and cost nothing before the first paint.
    """
    path = Path(path)
    return QIcon(str(path)) if _exists(path) else QIcon()


def _own_icon(file_name: str) -> QIcon | None:
    """The icon of ``file_name`` in ICON_DIR, or None when there is no such file. By name, not through pathlib:
    the palette and the toolbar ask for ~20 icons before the first paint, and building and comparing Path objects
    for them cost ~1-2 ms of start-up."""
    if file_name in _icon_files():
        return QIcon(os.path.join(_ICON_DIR_STR, file_name))
    return None


@lru_cache(maxsize=None)
def named_icon(name: str) -> QIcon:
    """An icon by file stem in resources/icons (``error``, ``warning``, ``info``, ``ok``, ``app``, ``block``)."""
    icon = _own_icon(f"{name}.svg")
    return QIcon() if icon is None else icon


@lru_cache(maxsize=None)
def category_icon(category: str) -> QIcon:
    """The icon of a palette category; the generic block icon for a category without its own SVG."""
    icon = _own_icon(f"category-{category_slug(category)}.svg")
    return named_icon("block") if icon is None else icon


@lru_cache(maxsize=None)
def block_icon(type_name: str) -> QIcon:
    """The icon of a block type: its own SVG (``resources/icons/<type>.svg``) if there is one, else its category's.

    Unknown types get the generic block icon.
    """
    own = _own_icon(f"{type_name.lower()}.svg")
    if own is not None:
        return own
    from hybrid_studio.blocks import CATALOG
    if type_name in CATALOG:
        return category_icon(CATALOG.get(type_name).category)
    return named_icon("block")


def severity_icon(severity: str) -> QIcon:
    """The mark shown next to a diagnostic: ``error``, ``warning`` (anything else: ``info``)."""
    return named_icon(severity if severity in ("error", "warning") else "info")


def icon_pixmap(icon: QIcon, size: int, ratio: float = 1.0) -> QPixmap:
    """A pixmap of ``icon`` at ``size`` logical pixels for a screen with device pixel ratio ``ratio``."""
    return icon.pixmap(QSize(size, size), ratio)
