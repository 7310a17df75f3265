"""The block palette: categories in order, search, tooltips, drag payload, double-click to add."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from hybrid_studio.blocks import CATALOG, CATEGORIES
from hybrid_studio.ui.canvas import BLOCK_MIME
from hybrid_studio.ui.palette import Palette

from canvas_helpers import open_window, small_graph


def test_categories_in_order_with_every_block(qtbot):
    p = Palette()
    qtbot.addWidget(p)
    tops = [p.tree.topLevelItem(i).text(0) for i in range(p.tree.topLevelItemCount())]
    shown = [c for c in CATEGORIES if CATALOG.by_category().get(c)]
    assert tops == shown
    assert set(p.items) == set(CATALOG.types())
    for name, item in p.items.items():
        assert CATALOG.get(name).help.split()[0] in item.toolTip(0)
        assert not item.icon(0).isNull()


def test_search_box_filters_entries(qtbot):
    p = Palette()
    qtbot.addWidget(p)
    p.show()
    QTest.keyClicks(p.search, "lstm")
    assert p.visible_types() == ["LSTM", "ConvLSTM2d"]  # every type whose name contains the text
    p.search.clear()
    QTest.keyClicks(p.search, "pool")
    visible = p.visible_types()
    assert "MaxPool2d" in visible and "GlobalAvgPool" in visible and "Linear" not in visible
    p.search.clear()
    assert set(p.visible_types()) == set(CATALOG.types())


def test_drag_payload_names_the_block(qtbot):
    p = Palette()
    qtbot.addWidget(p)
    mime = p.tree.mimeData([p.items["Conv2d"]])
    assert bytes(mime.data(BLOCK_MIME)).decode() == "Conv2d"
    assert BLOCK_MIME in p.tree.mimeTypes()
    # a category header carries nothing
    assert p.tree.mimeData([p.tree.topLevelItem(0)]) is None


def test_double_click_adds_near_the_view_centre_in_free_space(qtbot):
    w = open_window(qtbot, small_graph())
    tree = w.palette.tree
    item = w.palette.items["Dropout"]
    tree.scrollToItem(item)
    rect = tree.visualItemRect(item)
    # a real double-click: press/release, then the second press that Qt reports as a double-click
    QTest.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())
    QTest.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())
    added = w.document.graph.nodes_of_type("Dropout")
    assert len(added) == 1
    # the centre is on conv1: the new block goes to the nearest free space instead, on screen
    rect = w.scene.nodes[added[0].id].sceneBoundingRect()
    assert not any(rect.intersects(w.scene.nodes[n].sceneBoundingRect()) for n in ("image", "conv1", "out"))
    assert w.view.visible_scene_rect().contains(rect)
    centre = w.view.mapToScene(w.view.viewport().rect().center())
    assert abs(rect.center().x() - centre.x()) < 300 and abs(rect.center().y() - centre.y()) < 300


def test_enter_on_an_entry_adds_it(qtbot):
    w = open_window(qtbot, small_graph())
    tree = w.palette.tree
    tree.setCurrentItem(w.palette.items["Flatten"])
    tree.setFocus()
    QTest.keyClick(tree, Qt.Key.Key_Return)
    assert len(w.document.graph.nodes_of_type("Flatten")) == 1


def contrast(a, b) -> float:
    """The WCAG contrast ratio of two QColors."""
    def luminance(c):
        lin = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in (c.redF(), c.greenF(), c.blueF())]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_category_headers_stay_readable_on_a_dark_palette(qtbot):
    from PySide6.QtGui import QColor, QPalette
    from PySide6.QtWidgets import QApplication
    from hybrid_studio.ui import theme
    app = QApplication.instance()
    old = app.palette()
    dark = QPalette(old)
    for role, colour in ((QPalette.ColorRole.Window, "#202020"), (QPalette.ColorRole.Base, "#1b1b1b"),
                         (QPalette.ColorRole.WindowText, "#e6e6e6"), (QPalette.ColorRole.Text, "#e6e6e6")):
        dark.setColor(role, QColor(colour))
    try:
        app.setPalette(dark)
        theme.refresh()
        p = Palette()
        qtbot.addWidget(p)
        for i in range(p.tree.topLevelItemCount()):
            colour = p.tree.topLevelItem(i).foreground(0).color()
            ratio = contrast(colour, dark.color(QPalette.ColorRole.Base))
            assert ratio >= 4.5, (p.tree.topLevelItem(i).text(0), ratio)   # WCAG AA for text
    finally:
        app.setPalette(old)
        theme.refresh()
    p2 = Palette()
    qtbot.addWidget(p2)
    assert p2.tree.topLevelItem(0).foreground(0).color() == theme.category_colour(p2.tree.topLevelItem(0).text(0))
