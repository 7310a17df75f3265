"""The Profile panel and the cost overlay on the canvas (issue 11).

``install(window)`` adds an "&Analyze" menu with "Profile" (shows the dock), "Quantize run..." and the overlay
choice; nothing heavy is built until the panel is first shown. Profiling and quantisation run in a worker process
(``hybrid_studio.profile.worker``), so torch never loads in the UI process for them; a QTimer drains its messages.

The overlay is one ``CostOverlay`` item per block, a child of the block's canvas item (so it moves with it and
``node_item.py`` needs no change): a tint in the colour of the block's share of time, memory or parameters and a
badge with the percentage; its tooltip holds the block's numbers, and a "Measured cost" box added under the
inspector's sections shows them for the selected block. Results are marked stale when the graph's
structure or params change after the profile (positions do not count).

The widgets (loaded on first use, so that the window opens faster): ``profile_view`` holds only ``install``.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QRectF, Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QFont, QLinearGradient, QPainter, QPen
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDockWidget, QGraphicsItem, QHBoxLayout, QHeaderView,
                               QLabel, QProgressBar, QPushButton, QSpinBox, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

OVERLAYS = ("off", "time", "memory", "parameters")
COLUMNS = ("block", "type", "forward ms", "share %", "output KiB", "params", "MACs")
POLL_MS = 100


def graph_signature(graph) -> str:
    """What a profile depends on: blocks, their params and the wires (not positions or names of files)."""
    nodes = [(n.id, n.type, json.dumps(n.params, sort_keys=True, default=str)) for n in graph.nodes]
    edges = [(e.source, e.target, e.source_port, e.target_port) for e in graph.edges]
    return json.dumps([nodes, edges])


def share_colour(share: float, alpha: int = 150) -> QColor:
    """Pale yellow (cheap) to deep red (the most expensive block)."""
    s = max(0.0, min(1.0, share))
    return QColor(255, int(235 - 200 * s), int(120 - 110 * s), alpha)


class CostOverlay(QGraphicsItem):
    """A tint and a badge over one block on the canvas (a child of its NodeItem)."""

    def __init__(self, parent_item):
        super().__init__(parent_item)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)  # clicks go to the block
        self.setZValue(5)
        self.share = 0.0  # of the chosen measure, 0..1
        self.scale = 1.0  # the largest share, so the most expensive block is the darkest
        self.text = ""
        self.stale = False

    def boundingRect(self) -> QRectF:
        r = self.parentItem().boundingRect()
        return QRectF(r.x(), r.y() - 18, r.width(), r.height() + 18)

    def paint(self, painter: QPainter, option, widget=None):
        body = self.parentItem().boundingRect().adjusted(2, 2, -2, -2)
        level = self.share / self.scale if self.scale > 0 else 0.0
        colour = share_colour(level, 70 if not self.stale else 30)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(body, colour)
        badge = QRectF(body.right() - 58, body.top() - 16, 58, 15)
        painter.setBrush(share_colour(level, 235 if not self.stale else 90))
        painter.setPen(QPen(QColor(90, 40, 20), 0.8, Qt.PenStyle.DashLine if self.stale else Qt.PenStyle.SolidLine))
        painter.drawRoundedRect(badge, 4, 4)
        font = QFont(painter.font())
        font.setPointSizeF(7.5)
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(QColor(40, 20, 10))
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, self.text)


class Legend(QWidget):
    """The overlay's colour scale: 0 to the largest share."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumHeight(22)
        self.setMaximumWidth(560)
        self.maximum = 0.0
        self.measure = "time"

    def paintEvent(self, event):
        p = QPainter(self)
        r = QRectF(4, 4, max(10, self.width() - 140), 14)
        grad = QLinearGradient(r.topLeft(), r.topRight())
        grad.setColorAt(0, share_colour(0, 255))
        grad.setColorAt(1, share_colour(1, 255))
        p.fillRect(r, QBrush(grad))
        p.setPen(self.palette().text().color())
        p.drawText(QRectF(r.right() + 6, 2, 130, 18), Qt.AlignmentFlag.AlignVCenter,
                   f"0 - {100 * self.maximum:.1f}% of {self.measure}")


class _Num(QTableWidgetItem):
    """A table cell that sorts by its number."""

    def __init__(self, value: float, text: str):
        super().__init__(text)
        self.value = value
        self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other):
        return self.value < getattr(other, "value", 0)


class ProfileView(QWidget):
    """The Profile panel: device and batch pickers, a sortable table, the overlay choice and the legend."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.report: dict | None = None
        self.quantize_report: dict | None = None
        self.signature = None
        self.stale = False
        self.overlays: dict = {}
        self._job = None  # (kind, process, queue)
        self._document = None
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)

        self.device = QComboBox()
        self.device.setEditable(True)
        self.device.addItems(["cpu", "cuda"])
        self.device.setToolTip("cpu, cuda or cuda:I")
        self.batch = QSpinBox()
        self.batch.setRange(1, 1_000_000)
        self.batch.setValue(8)
        self.run_button = QPushButton("Profile")
        self.run_button.clicked.connect(self.start_profile)
        self.quantize_button = QPushButton("Quantize run...")
        self.quantize_button.clicked.connect(self.choose_run_to_quantize)
        self.overlay = QComboBox()
        self.overlay.addItems(OVERLAYS)
        self.overlay.setCurrentText("time")
        self.overlay.currentTextChanged.connect(lambda _: self.update_overlay())
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setVisible(False)
        self.status = QLabel("Profile the model to see where its time and memory go.")
        self.status.setWordWrap(True)
        self.totals = QLabel("")
        self.totals.setWordWrap(True)
        self.legend = Legend()
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSortingEnabled(True)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._row_selected)

        top = QHBoxLayout()
        for w in (QLabel("Device"), self.device, QLabel("Batch"), self.batch, self.run_button, QLabel("Overlay"),
                  self.overlay, self.quantize_button):
            top.addWidget(w)
        top.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.totals)
        layout.addWidget(self.legend)
        layout.addWidget(self.table, 1)

        self.dock = QDockWidget("Profile", window)
        self.dock.setObjectName("profile_dock")
        self.dock.setWidget(self)
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.dock)
        beside = getattr(window, "problems_dock", None)
        if beside is not None:  # a tab beside Problems and Training: the table gets the window's width
            window.tabifyDockWidget(beside, self.dock)
        window.view_menu.addAction(self.dock.toggleViewAction())
        self._follow_document()
        # the window swaps documents (and scenes) with set_document; follow it without editing the window
        original = window.set_document

        def set_document(document, _original=original):
            _original(document)
            self._follow_document()

        window.set_document = set_document

    # ---- panel ---------------------------------------------------------------------------------------------------
    def show_panel(self):
        """Show and raise the dock."""
        self.dock.show()
        self.dock.raise_()

    def _follow_document(self):
        doc = self.window.document
        if doc is self._document:
            return
        if self._document is not None:
            try:
                self._document.settled.disconnect(self._graph_changed)
            except (RuntimeError, TypeError):
                pass
        self._document = doc
        doc.settled.connect(self._graph_changed)
        self.window.scene.selectionChanged.connect(self.update_inspector)
        self.report = None
        self.overlays = {}
        self._fill()

    def _graph_changed(self, *_):
        if self.report is None:
            return
        stale = graph_signature(self.window.document.graph) != self.signature
        if stale != self.stale:
            self.stale = stale
            self._show_status()
            self.update_inspector()
        self.update_overlay()  # blocks added since get no overlay; removed ones drop theirs with their item

    # ---- jobs ----------------------------------------------------------------------------------------------------
    def busy(self) -> bool:
        return self._job is not None

    def start_profile(self):
        """Profile the current graph in a worker process at the chosen device and batch size."""
        if self.busy():
            return
        from hybrid_studio.profile.worker import start_job
        from hybrid_studio.project.writer import dumps_project

        graph = self.window.document.graph
        self._pending_signature = graph_signature(graph)
        proc, queue = start_job("profile", dumps_project(graph), self.device.currentText().strip(),
                                self.batch.value())
        self._begin("profile", proc, queue, "Starting the profiler...")

    def choose_run_to_quantize(self):
        """Ask for a run folder, then quantise it."""
        from PySide6.QtWidgets import QFileDialog

        from hybrid_studio.train.runs import default_runs_dir

        self.show_panel()
        path = QFileDialog.getExistingDirectory(self, "Quantize which run?", str(default_runs_dir()))
        if path:
            self.quantize(path)

    def quantize(self, run_dir, output=None, fmt: str = "torchscript"):
        """Quantise ``run_dir``'s best checkpoint in a worker process; the report shows in the panel."""
        if self.busy():
            return
        from hybrid_studio.profile.worker import start_job

        self.show_panel()
        proc, queue = start_job("quantize", str(run_dir), output, fmt)
        self._begin("quantize", proc, queue, f"Quantising {Path(run_dir).name}...")

    def _begin(self, kind, proc, queue, message):
        self._job = (kind, proc, queue)
        self.run_button.setEnabled(False)
        self.quantize_button.setEnabled(False)
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.status.setText(message)
        self._timer.start()

    def _poll(self):
        if self._job is None:
            return
        kind, proc, queue = self._job
        import queue as queue_mod

        while True:
            try:
                msg = queue.get_nowait()
            except queue_mod.Empty:
                break
            except (EOFError, OSError):
                msg = ("error", "the worker process went away")
            if msg[0] == "progress":
                self.progress.setValue(int(100 * msg[1]))
                self.status.setText(f"{kind}: {msg[2]}...")
                continue
            self._finish(kind, msg)
            return
        if not proc.is_alive() and queue.empty():
            self._finish(kind, ("error", f"the {kind} worker stopped (exit code {proc.exitcode})"))

    def _finish(self, kind, msg):
        _, proc, _ = self._job
        self._job = None
        self._timer.stop()
        proc.join(timeout=5)
        self.run_button.setEnabled(True)
        self.quantize_button.setEnabled(True)
        self.progress.setVisible(False)
        if msg[0] == "error":
            self.status.setText(f"<span style='color:#c0392b'>{msg[1]}</span>")
            self.window.show_message(msg[1])
            return
        if kind == "profile":
            self.set_report(msg[1], self._pending_signature)
        else:
            self.quantize_report = msg[1]
            self.status.setText(quantize_summary(msg[1]))

    # ---- results -------------------------------------------------------------------------------------------------
    def set_report(self, report: dict, signature=None):
        """Show ``report`` (the contract's profile object) for the graph with ``signature``."""
        self.report = report
        self.signature = signature if signature is not None else graph_signature(self.window.document.graph)
        self.stale = graph_signature(self.window.document.graph) != self.signature
        self._fill()
        self._show_status()
        self.update_overlay()
        self.update_inspector()

    # ---- the inspector's "Measured cost" box ---------------------------------------------------------------------
    def inspector_box(self):
        """The "Measured cost" group added under the inspector's sections (None until the inspector exists)."""
        inspector = getattr(self.window, "_inspector", None)
        if inspector is None or not hasattr(inspector, "scroll"):
            return None
        box = getattr(inspector, "profile_box", None)
        if box is None:
            from PySide6.QtWidgets import QGroupBox

            box = QGroupBox("Measured cost")
            box.setObjectName("profile_box")
            box.label = QLabel()
            box.label.setWordWrap(True)
            QVBoxLayout(box).addWidget(box.label)
            layout = inspector.scroll.widget().layout()
            layout.insertWidget(max(0, layout.count() - 1), box)  # above the closing stretch
            inspector.profile_box = box
        return box

    def update_inspector(self):
        """Show the selected block's profiled numbers in the inspector (hidden without a profile)."""
        import shiboken6

        scene = self.window.scene
        if scene is None or not shiboken6.isValid(scene) or not shiboken6.isValid(self):
            return  # the window is closing (Qt emits selectionChanged while it deletes the scene)
        box = self.inspector_box()
        if box is None or not shiboken6.isValid(box):
            return
        ids = scene.selected_node_ids()
        b = self.report["blocks"].get(ids[0]) if self.report is not None and len(ids) == 1 else None
        box.setVisible(b is not None)
        if b is None:
            return
        r = self.report
        box.label.setText(
            f"{b['forward_ms']:.3f} ms forward ({100 * b['share']:.1f}% of the blocks' time)<br>"
            f"output {b['output_bytes'] / 1024:,.1f} KiB<br>"
            f"on {r['device']}, batch {r['batch_size']}" + (" <b>(stale)</b>" if self.stale else ""))

    def _show_status(self):
        if self.report is None:
            return
        r = self.report
        where = f"{r['device']}, batch {r['batch_size']}"
        if self.stale:
            self.status.setText(f"<b style='color:#c0392b'>Stale:</b> the graph changed after this profile "
                                f"({where}); profile again.")
        else:
            self.status.setText(f"Profiled on {where}.")
        t = r["total"]
        parts = [f"forward {t['forward_ms']:.2f} ms (blocks sum {r.get('block_sum_ms', 0):.2f})"]
        if t.get("train_step_ms") is not None:
            parts.append(f"train step {t['train_step_ms']:.2f} ms")
        parts.append(f"weights {t['param_bytes'] / 2**20:.2f} MiB")
        if t.get("peak_bytes") is not None:
            parts.append(f"peak {t['peak_bytes'] / 2**20:.1f} MiB")
        ort = r.get("onnxruntime")
        if ort:
            parts.append(f"onnxruntime {ort['forward_ms']:.2f} ms vs torch {ort['torch_cpu_forward_ms']:.2f} ms (cpu)")
        self.totals.setText("; ".join(parts))
        font = self.table.font()
        font.setItalic(self.stale)
        self.table.setFont(font)

    def _fill(self):
        self.table.setSortingEnabled(False)
        self.table.setRowCount(0)
        if self.report is None:
            self.totals.setText("")
            self.table.setSortingEnabled(True)
            return
        graph = self.window.document.graph
        for bid, b in self.report["blocks"].items():
            row = self.table.rowCount()
            self.table.insertRow(row)
            type_name = graph.node(bid).type if bid in graph else "(removed)"
            cells = [QTableWidgetItem(bid), QTableWidgetItem(type_name),
                     _Num(b["forward_ms"], f"{b['forward_ms']:.3f}"),
                     _Num(b["share"], f"{100 * b['share']:.1f}"),
                     _Num(b["output_bytes"], f"{b['output_bytes'] / 1024:,.1f}"),
                     _Num(b["params"] or 0, f"{b['params'] or 0:,}"),
                     _Num(b["macs"] or 0, f"{b['macs'] or 0:,}")]
            for col, item in enumerate(cells):
                self.table.setItem(row, col, item)
        self.table.setSortingEnabled(True)
        self.table.sortItems(COLUMNS.index("forward ms"), Qt.SortOrder.DescendingOrder)

    def shares(self, measure: str) -> dict:
        """``{block id: share}`` of the chosen measure (time, memory or parameters) over the profiled blocks."""
        if self.report is None:
            return {}
        key = {"time": "forward_ms", "memory": "output_bytes", "parameters": "params"}[measure]
        values = {bid: float(b.get(key) or 0) for bid, b in self.report["blocks"].items()}
        total = sum(values.values())
        return {bid: (v / total if total > 0 else 0.0) for bid, v in values.items()}

    def update_overlay(self):
        """Tint each block by its share of the chosen measure (or remove the tints when the overlay is off)."""
        scene = self.window.scene
        measure = self.overlay.currentText()
        for bid, item in list(self.overlays.items()):
            if item.scene() is not scene or measure == "off" or self.report is None:
                if item.scene() is not None:
                    item.scene().removeItem(item)
                del self.overlays[bid]
        self.legend.setVisible(measure != "off" and self.report is not None)
        if measure == "off" or self.report is None or scene is None:
            return
        shares = self.shares(measure)
        top = max(shares.values(), default=0.0)
        self.legend.maximum, self.legend.measure = top, measure
        self.legend.update()
        for bid, node_item in scene.nodes.items():
            if bid not in shares:
                continue
            item = self.overlays.get(bid)
            if item is None or item.parentItem() is not node_item:
                item = CostOverlay(node_item)
                self.overlays[bid] = item
            b = self.report["blocks"][bid]
            item.share, item.scale, item.stale = shares[bid], top, self.stale
            item.text = f"{100 * shares[bid]:.1f}%"
            item.setToolTip(f"<b>{bid}</b>: {b['forward_ms']:.3f} ms ({100 * b['share']:.1f}% of time), output "
                            f"{b['output_bytes'] / 1024:,.1f} KiB, {b['params'] or 0:,} params, "
                            f"{b['macs'] or 0:,} MACs" + (" <i>(stale)</i>" if self.stale else ""))
            item.update()

    def _row_selected(self):
        rows = {i.row() for i in self.table.selectedItems()}
        if len(rows) == 1 and self.window.scene is not None:
            bid = self.table.item(rows.pop(), 0).text()
            if bid in self.window.scene.nodes:
                self.window.scene.select_ids([bid])


def quantize_summary(report: dict) -> str:
    """One paragraph for the panel: size, latency and metric before -> after."""
    b, a = report["before"], report["after"]
    m = b["metric"]["name"]
    return (f"Quantised to <b>{report['output']}</b>: size {b['size_bytes'] / 1024:,.0f} -> "
            f"{a['size_bytes'] / 1024:,.0f} KiB ({report['size_ratio']:.2f}x); latency {b['latency_ms']:.2f} -> "
            f"{a['latency_ms']:.2f} ms (cpu, batch {report['latency_batch']}); {m} {b['metric']['value']:.4f} -> "
            f"{a['metric']['value']:.4f}.")
