"""The canvas view: zoom (wheel, shortcuts, fit), pan (middle-drag, Space+drag), drops from the palette, the
quick-add box (Tab, context menu) and the Edit-menu commands on the selection (delete, copy, paste, ...)."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QCursor, QGuiApplication, QPainter
from PySide6.QtWidgets import QGraphicsView, QMenu

from hybrid_studio.graph.layout import auto_layout_edit
from hybrid_studio.graph import RenameNode

from . import edit_ops, placement
from .edge_item import EdgeItem, LabelLayer
from .node_item import HEADER_H, LOD_SIMPLE, NODE_W, NodeItem
from .scene import BUILD_MARGIN

MIN_SCALE, MAX_SCALE = 0.1, 3.0
#: zoomed out over a large graph with more blocks than this having items, they go back to the outline
UNBUILD_ABOVE = 100


class GraphView(QGraphicsView):
    """Shows a GraphScene; every change it makes goes through ``scene.document.push``."""

    message = Signal(str)

    def __init__(self, scene=None, parent=None):
        super().__init__(parent)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing
                            | QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setRubberBandSelectionMode(Qt.ItemSelectionMode.IntersectsItemShape)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        # the grid is drawn once into a viewport-sized pixmap and blitted (Qt redraws it on zoom, resize and
        # scroll); ``reset_background`` drops it when the theme changes
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheBackground)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._pan_from: QPoint | None = None
        self._space = False
        self._clipboard_fallback = ""
        self._quick_add = None  # built on first use (Tab or the context menu), not before the first paint
        self._quick_add_at = QPointF()
        self._quick_add_edge = None  # the wire a block chosen in the quick-add box goes onto (wire context menu)
        self.context_menu: QMenu | None = None  # the context menu being shown (tests pick its actions)
        if scene is not None:
            self.setScene(scene)
        # a rubber band over a large graph's outline selects blocks that had no item: they get theirs first
        self.rubberBandChanged.connect(self._rubber_band_moved)

    def _rubber_band_moved(self, view_rect, from_scene, to_scene):
        scene = self.scene()
        if scene is not None and getattr(scene, "outline_blocks", None) and not view_rect.isNull():
            scene.build_region(QRectF(from_scene, to_scene).normalized())

    @property
    def document(self):
        return self.scene().document

    def reset_background(self):
        """Redraw the cached grid (the theme changed)."""
        self.resetCachedContent()
        self.viewport().update()

    @property
    def graph(self):
        return self.scene().graph

    # ---- zoom and pan ------------------------------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def zoom_by(self, factor: float):
        new = max(MIN_SCALE, min(MAX_SCALE, self.zoom * factor))
        f = new / self.zoom
        self.scale(f, f)

    def zoom_in(self):
        anchor = self.transformationAnchor()
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.zoom_by(1.25)
        self.setTransformationAnchor(anchor)

    def zoom_out(self):
        anchor = self.transformationAnchor()
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.zoom_by(0.8)
        self.setTransformationAnchor(anchor)

    def fit(self):
        """Show every block (never magnified beyond 100 %)."""
        if not len(self.scene().nodes):
            self.resetTransform()
            self.centerOn(0, 0)
            return
        rect = self.scene().content_rect()
        rect.adjust(-60, -60, 60, 60)
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        if self.zoom > 1.0:
            self.zoom_by(1.0 / self.zoom)
            self.centerOn(rect.center())

    def paintEvent(self, event):
        scene = self.scene()
        if scene is not None and hasattr(scene, "set_face_cache"):
            reading = self.transform().m11() >= LOD_SIMPLE
            scene.set_face_cache(reading)
            if reading and scene.outline_blocks:
                # a large graph's blocks shown at reading zoom (and a margin around them) get their items, which
                # draw their detailed faces; zoomed out, the outline draws the rest
                m = BUILD_MARGIN
                scene.build_region(self.visible_scene_rect().adjusted(-m, -m, m, m))
            elif not reading and scene.outline is not None and len(scene.nodes.built()) > UNBUILD_ABOVE:
                # zoomed out after exploring: the outline draws them again, cheaper than their items
                scene.unbuild([item.node_id for item in scene.nodes.built()])
        super().paintEvent(event)

    def wheelEvent(self, event):
        delta = event.angleDelta().y()
        if delta:
            self.zoom_by(1.0015 ** delta)
        event.accept()

    def _panning(self, event) -> bool:
        return event.buttons() & Qt.MouseButton.MiddleButton or (
            self._space and event.buttons() & Qt.MouseButton.LeftButton)

    def mousePressEvent(self, event):
        if event.button() == Qt.MouseButton.MiddleButton or (
                self._space and event.button() == Qt.MouseButton.LeftButton):
            self._pan_from = event.position().toPoint()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event):
        if self._pan_from is not None:
            here = event.position().toPoint()
            d = here - self._pan_from
            self._pan_from = here
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - d.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - d.y())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event):
        if self._pan_from is not None:
            self._pan_from = None
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor if self._space else Qt.CursorShape.ArrowCursor)
            event.accept()
            return
        super().mouseReleaseEvent(event)

    # ---- keys --------------------------------------------------------------------------------------------------
    def focusNextPrevChild(self, next_):
        return False  # Tab opens the quick-add box instead of moving the focus

    def keyPressEvent(self, event):
        key = event.key()
        if key == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            return
        if key == Qt.Key.Key_Tab:
            self.open_quick_add_at_cursor()
            return
        if key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.delete_selection()
            return
        if key == Qt.Key.Key_Escape:
            # cancel a wire being dragged, else clear the selection
            if self.scene().wiring:
                self.scene().cancel_wire()
            else:
                self.scene().clearSelection()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event):
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self.viewport().setCursor(Qt.CursorShape.ArrowCursor)
            return
        super().keyReleaseEvent(event)

    # ---- adding blocks -----------------------------------------------------------------------------------------
    def visible_scene_rect(self) -> QRectF:
        """The part of the scene on screen."""
        return self.mapToScene(self.viewport().rect()).boundingRect()

    def place_new_blocks(self, edit, default_point=None):
        """Put the blocks ``edit`` adds in free space near where it meant them, on screen (before it is pushed: the
        placement is part of its undo step). Returns ``edit``."""
        placement.place_new_blocks(edit, self.scene(), self.visible_scene_rect(), default_point)
        return edit

    def push_placed(self, edit, margin: float = placement.MARGIN) -> bool:
        """Push ``edit`` with its new blocks placed (``place_new_blocks``) and scrolled into view."""
        added = placement.place_new_blocks(edit, self.scene(), self.visible_scene_rect(), margin=margin)
        if not self.document.push(edit):
            return False
        for nid in added:
            item = self.scene().nodes.get(nid)
            if item is not None:
                self.ensureVisible(item.sceneBoundingRect(), 20, 20)
        return True

    def add_block(self, type_name: str, scene_point: QPointF | None = None, on_edge=None,
                  exact: bool = False) -> str | None:
        """Add a block centred on ``scene_point`` (default: the view's centre), moved to the nearest free space so
        it covers no other block (``exact``, a drop: moved only if it would overlap one); returns its id."""
        if scene_point is None:
            scene_point = self.mapToScene(self.viewport().rect().center())
        pos = (round(scene_point.x() - NODE_W / 2, 1), round(scene_point.y() - HEADER_H, 1))
        edit, new_id = edit_ops.drop_edit(self.graph, type_name, pos, on_edge)
        if self.push_placed(edit, 0.0 if exact else placement.MARGIN):
            self.scene().select_ids([new_id])
            return new_id
        return None

    @property
    def quick_add(self):
        """The quick-add search box (a ``QuickAdd``, built on first use)."""
        if self._quick_add is None:
            from .quick_add import QuickAdd
            self._quick_add = QuickAdd(self)
            self._quick_add.chosen.connect(self._quick_add_chosen)
        return self._quick_add

    def open_quick_add(self, view_point: QPoint, on_edge=None):
        """Open the quick-add box at ``view_point`` (viewport coordinates); the chosen block goes there (onto
        ``on_edge`` when given)."""
        if not self.viewport().rect().contains(view_point):
            view_point = self.viewport().rect().center()
        self._quick_add_at = self.mapToScene(view_point)
        self._quick_add_edge = on_edge
        self.quick_add.popup_at(self.viewport().mapToGlobal(view_point))

    def open_quick_add_at_cursor(self):
        """Tab: the quick-add box opens where the mouse is (the view's centre when the mouse is elsewhere)."""
        self.open_quick_add(self.viewport().mapFromGlobal(QCursor.pos()))

    def _quick_add_chosen(self, type_name: str):
        edge, self._quick_add_edge = self._quick_add_edge, None
        if edge is not None and not edit_ops.insertable(type_name):
            edge = None
        self.add_block(type_name, self._quick_add_at, edge)

    def dragEnterEvent(self, event):
        if event.mimeData().hasFormat(edit_ops.BLOCK_MIME):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event):
        data = event.mimeData()
        if data.hasFormat(edit_ops.BLOCK_MIME):
            event.acceptProposedAction()
            # show, before the drop, which wire the block would be inserted into
            self.scene().set_drop_target(self._wire_under(data, event.position().toPoint()))
        else:
            super().dragMoveEvent(event)

    def dragLeaveEvent(self, event):
        self.scene().set_drop_target(None)
        super().dragLeaveEvent(event)

    def _wire_under(self, data, view_point: QPoint):
        """The wire under ``view_point`` that the dragged block can be inserted into, or None."""
        type_name = bytes(data.data(edit_ops.BLOCK_MIME)).decode("utf-8")
        if not edit_ops.insertable(type_name):
            return None
        return self.scene().edge_at(self.mapToScene(view_point))

    def dropEvent(self, event):
        data = event.mimeData()
        if not data.hasFormat(edit_ops.BLOCK_MIME):
            super().dropEvent(event)
            return
        self.scene().set_drop_target(None)
        type_name = bytes(data.data(edit_ops.BLOCK_MIME)).decode("utf-8")
        point = self.mapToScene(event.position().toPoint())
        on_edge = self._wire_under(data, event.position().toPoint())
        self.add_block(type_name, point, on_edge, exact=True)
        event.acceptProposedAction()
        self.setFocus()

    def item_at_view(self, view_point: QPoint):
        """The block (NodeItem) or wire (EdgeItem) under ``view_point``; None on empty canvas."""
        self.scene().build_near(self.mapToScene(view_point))
        for it in self.items(view_point):
            if isinstance(it, NodeItem):
                return it
            if isinstance(it, LabelLayer):
                label = it.label_at(self.mapToScene(view_point))
                if label is not None:
                    return label.edge_item
            if isinstance(it, EdgeItem):
                return it
        return None

    def build_context_menu(self, view_point: QPoint) -> QMenu:
        """The right-click menu for what is under ``view_point``: a block (rename, duplicate, copy, delete), a wire
        (insert a block, delete) or empty canvas (add a block here, paste, layout). Blocks have no "disabled" state
        in a project, so there is no Disable entry."""
        menu = QMenu(self)
        scene = self.scene()
        target = self.item_at_view(view_point)
        if isinstance(target, NodeItem):
            if not target.isSelected():
                scene.select_ids([target.node_id])
            ids = scene.selected_node_ids()
            if len(ids) == 1:
                menu.addAction("Rename…", self.rename_selected).setShortcut("F2")
            menu.addAction("Duplicate", self.duplicate).setShortcut("Ctrl+D")
            menu.addAction("Copy", self.copy).setShortcut("Ctrl+C")
            menu.addSeparator()
            what = f"Delete {ids[0]}" if len(ids) == 1 else f"Delete {len(ids)} blocks"
            menu.addAction(what, self.delete_selection).setShortcut("Delete")
        elif isinstance(target, EdgeItem):
            scene.clearSelection()
            target.setSelected(True)
            edge = target.edge
            menu.addAction("Insert block here…", lambda: self.open_quick_add(view_point, on_edge=edge))
            menu.addAction("Delete wire", self.delete_selection).setShortcut("Delete")
        else:
            menu.addAction("Add block here…", lambda: self.open_quick_add(view_point)).setShortcut("Tab")
            paste = menu.addAction("Paste here", lambda: self.paste(anchor_view_point=view_point))
            paste.setEnabled(bool(edit_ops.loads_payload(self._clipboard_text())))
            menu.addSeparator()
            menu.addAction("Select all", self.select_all)
            menu.addAction("Auto-layout", self.auto_layout)
            menu.addAction("Fit to window", self.fit)
        return menu

    def contextMenuEvent(self, event):
        menu = self.context_menu = self.build_context_menu(event.pos())
        try:
            menu.exec(event.globalPos())
        finally:
            self.context_menu = None
            menu.deleteLater()

    # ---- Edit-menu commands --------------------------------------------------------------------------------------
    def delete_selection(self):
        """Delete the selection (one undo step); a single block that sat on a wire leaves its neighbours joined
        when their shapes allow it."""
        s = self.scene()
        edit = edit_ops.delete_edit(self.graph, s.selected_node_ids(), s.selected_edges(), self.document.checker)
        if edit is not None and self.document.push(edit) and "(reconnect" in edit.text:
            self.message.emit(edit.text.replace("(reconnect", "and reconnected").rstrip(")") + " (Ctrl+Z undoes both)")

    def rename_selected(self) -> bool:
        """F2 / context menu: give the selected block another id (one undo step)."""
        ids = self.scene().selected_node_ids()
        if len(ids) != 1:
            return False
        old = ids[0]
        new = self._ask_text("Rename block", f"New name for {old}:", old)
        if not new or new.strip() == old:
            return False
        return self.document.push(RenameNode(old, new.strip()))

    def _ask_text(self, title: str, label: str, text: str) -> str | None:
        """Ask for one line of text (tests replace this)."""
        from PySide6.QtWidgets import QInputDialog
        value, ok = QInputDialog.getText(self, title, label, text=text)
        return value if ok else None

    def copy(self) -> bool:
        ids = self.scene().selected_node_ids()
        if not ids:
            return False
        text = edit_ops.dumps_payload(edit_ops.copy_payload(self.graph, ids))
        self._clipboard_fallback = text
        # plain text only: a QMimeData handed to the clipboard is freed twice at exit by PySide6 (a crash), and
        # JSON text also pastes into another window or a text editor
        QGuiApplication.clipboard().setText(text)
        return True

    def cut(self):
        if self.copy():
            self.delete_selection()

    def _clipboard_text(self) -> str:
        text = QGuiApplication.clipboard().text()
        if text and edit_ops.loads_payload(text) is not None:
            return text
        return self._clipboard_fallback

    def paste(self, payload: dict | None = None, anchor_view_point: QPoint | None = None):
        payload = payload or edit_ops.loads_payload(self._clipboard_text())
        if not payload:
            return []
        anchor = None
        if anchor_view_point is not None:
            p = self.mapToScene(anchor_view_point)
            anchor = (round(p.x(), 1), round(p.y(), 1))
        edit, ids = edit_ops.paste_edit(self.graph, payload, anchor=anchor)
        if edit is not None and self.document.push(edit):
            self.scene().select_ids(ids)
            return ids
        return []

    def duplicate(self):
        ids = self.scene().selected_node_ids()
        if ids:
            return self.paste(edit_ops.copy_payload(self.graph, ids))
        return []

    def select_all(self):
        for item in self.scene().nodes.values():
            item.setSelected(True)

    def auto_layout(self):
        """Lay the graph out in rows that fit this view (one undo step), then fit it."""
        scene = self.scene()
        vp = self.viewport()

        def size_of(nid):
            return (NODE_W, scene.block_height(nid) or HEADER_H + 48)
        edit = auto_layout_edit(self.graph, view=(vp.width(), vp.height()), size_of=size_of)
        if edit is not None:
            self.document.push(edit)
        self.fit()

    def center_on_node(self, node_id: str):
        item = self.scene().nodes.get(node_id)
        if item is not None:
            self.scene().select_ids([node_id])
            self.centerOn(item.sceneBoundingRect().center())
