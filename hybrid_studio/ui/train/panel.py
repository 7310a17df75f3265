"""The train panel (a dock's widget): dataset, settings, Train / Pause / Resume / Stop, progress, live curves,
runs and results. ``TrainPanel(window)`` needs ``window.document`` (the open Document) and, for "Restore this
architecture", ``window.set_document(document)``.

Nothing here imports ``hybrid_studio.train`` (and so torch) at import time: the dataset and device lists load on a
pool thread after the panel is first shown, and the engine is imported when Train is pressed.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QApplication, QGroupBox, QHBoxLayout, QLabel, QMessageBox, QPlainTextEdit,
                               QPushButton, QScrollArea, QSplitter, QTabWidget, QVBoxLayout, QWidget)

from .background import run_in_background, settle_heap
from .controller import RunController, kind, runs_dir_for
from .dataset import DatasetPicker
from .plots import TrainPlots, rows_to_events
from .progress import RunProgressBar, epoch_line
from .results import ResultsView
from .runs import RunsView
from .settings import SettingsForm


def show_error(parent, title: str, text: str, details: str = ""):
    """Tell the user something went wrong, the traceback in the details box. Non-blocking (tests monkeypatch it)."""
    box = QMessageBox(QMessageBox.Icon.Critical, title, text, QMessageBox.StandardButton.Ok, parent)
    if details:
        box.setDetailedText(details)
    box.open()
    return box


_DEVICES_SCRIPT = ("import json; from hybrid_studio.train.config import list_devices; "
                   "print(json.dumps(list_devices()))")


def list_devices_out_of_process(timeout: float = 60.0) -> list[tuple[str, str]]:
    """``train.config.list_devices()`` run in a child ``python -c`` that prints JSON.

    Listing CUDA devices imports torch (~300 MiB resident, for good); training runs in a worker process, so the UI
    process never needs torch for itself. Falls back to CPU only if the child fails."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path
    root = str(Path(__file__).resolve().parents[3])  # the directory holding hybrid_studio/
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    try:
        done = subprocess.run([sys.executable, "-c", _DEVICES_SCRIPT], capture_output=True, text=True,
                              timeout=timeout, env=env, check=True)
        devices = [(str(a), str(b)) for a, b in json.loads(done.stdout.strip().splitlines()[-1])]
        return devices or [("cpu", "CPU")]
    except (OSError, subprocess.SubprocessError, ValueError, IndexError, TypeError):
        return [("cpu", "CPU")]


def _load_choices():
    """Dataset and device lists (imports the engine's light modules; the devices are listed in a child process so
    that torch stays out of the UI process)."""
    from hybrid_studio.train.config import TrainConfig
    from hybrid_studio.train.datasets import list_datasets
    return list(list_datasets()), list_devices_out_of_process(), TrainConfig().to_dict()


class TrainPanel(QWidget):
    """Click-to-train for the open document."""

    def __init__(self, window, starter=None):
        super().__init__(window)
        self.window_ = window
        self.controller = RunController(self, starter=starter)
        self.picker = DatasetPicker()
        self.settings = SettingsForm()
        self.plots = TrainPlots()
        self.runs = RunsView()
        self.results = ResultsView()
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(500)
        self._build()

        self.ready = False  # dataset and device lists loaded
        self._loading = False
        self._syncing = False  # applying the document's settings to the form: no edits pushed meanwhile
        self._doc = None
        self._defaults: dict = {}  # TrainConfig's defaults, once the engine is loaded
        self.last_error: tuple | None = None  # (title, text, details) of the last error shown
        self.run_dataset = ""
        self._showing_run: dict | None = None  # a resumed run's own settings, shown in the form while it runs
        #: the document's training section as the form last showed it: a check that leaves it as it is (any design
        #: edit) does not set the ~25 fields again (1-2 ms of every param edit)
        self._applied_training: dict | None = None
        self._store_timer = QTimer(self, singleShot=True, interval=300, timeout=self._store_settings)
        self._match_timer = QTimer(self, singleShot=True, interval=150, timeout=self._match)
        self._runs_timer = QTimer(self, singleShot=True, interval=2000, timeout=self._refresh_running_row)
        self._doc_watch = QTimer(self, interval=500, timeout=self._check_document)
        self._doc_watch.start()

        self.controller.drained.connect(self._on_events)
        self.controller.state_changed.connect(self._on_state)
        self.controller.ended.connect(self._on_ended)
        self.settings.changed.connect(self._store_timer.start)
        self.settings.hint.connect(self.status.setText)
        self.picker.dataset_changed.connect(lambda _name: None if self._syncing else self._store_timer.start())
        self.picker.loaded.connect(self._on_dataset_loaded)
        self.picker.adapt_requested.connect(self.adapt_graph)
        from hybrid_studio.train.matching import input_shape_hints  # (standard library and numpy only, no torch)
        self.picker.shape_hint = lambda: input_shape_hints(self.document.graph)
        self.runs.overlay_requested.connect(self.plots.set_overlays)
        self.runs.restore_requested.connect(self.restore_run)
        self.runs.resume_requested.connect(self.resume_run)
        self.runs.results_requested.connect(self.show_results)
        self.runs.compare_requested.connect(lambda: self.tabs.setCurrentWidget(self.plots))
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self._on_state("idle")
        self.document_changed()

    # ---- layout ----------------------------------------------------------------------------------------------
    def _build(self):
        self.train_button = QPushButton("Train")
        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.stop_button = QPushButton("Stop")
        for b, name, key in ((self.train_button, "train", "F5"), (self.pause_button, "pause", "F6"),
                             (self.resume_button, "resume", "F5"), (self.stop_button, "stop", "Shift+F5")):
            b.setObjectName(f"{name}Button")
            b.setToolTip(f"{b.text()} ({key})")
        self.train_button.clicked.connect(self.train)
        self.pause_button.clicked.connect(self.controller.pause)
        self.resume_button.clicked.connect(self.controller.resume)
        self.stop_button.clicked.connect(self.controller.stop)
        # window-wide shortcuts: they work wherever the focus is (canvas, inspector...). The main window has Train /
        # Pause / Stop actions with these keys (its toolbar and Train menu): a second binding would make them
        # ambiguous, so then the panel binds none.
        self.shortcuts = {}
        own_keys = () if getattr(self.window_, "train_action", None) is not None else (
            ("F5", self.train_or_resume), ("F6", self.controller.pause), ("Shift+F5", self.controller.stop))
        for key, slot in own_keys:
            sc = QShortcut(QKeySequence(key), self.window_ if isinstance(self.window_, QWidget) else self)
            sc.activated.connect(slot)
            self.shortcuts[key] = sc
        self.progress = RunProgressBar()
        self.status = QLabel("")
        self.status.setWordWrap(True)

        data_box = QGroupBox("Dataset")
        QVBoxLayout(data_box).addWidget(self.picker)
        settings_box = QGroupBox("Settings")
        QVBoxLayout(settings_box).addWidget(self.settings)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(data_box)
        left_layout.addWidget(settings_box)
        left_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(left)

        buttons = QHBoxLayout()
        for b in (self.train_button, self.pause_button, self.resume_button, self.stop_button):
            buttons.addWidget(b)
        buttons.addWidget(self.progress, 1)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.plots, "Curves")
        self.tabs.addTab(self.runs, "Runs")
        self.tabs.addTab(self.results, "Results")
        self.tabs.addTab(self.log, "Log")
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.addLayout(buttons)
        right_layout.addWidget(self.status)
        right_layout.addWidget(self.tabs, 1)
        split = QSplitter()
        split.addWidget(scroll)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(split)

    # ---- document --------------------------------------------------------------------------------------------
    @property
    def document(self):
        return self.window_.document

    def _check_document(self):
        if self.document is not self._doc:
            self.document_changed()

    def document_changed(self) -> None:
        """Follow the window's (new) document: its settings, its runs folder. MainWindow may call this directly."""
        old, new = self._doc, self.document
        if old is not None and old is not new:
            for signal, slot in ((old.settled, self._on_checked), (old.state_changed, self._on_doc_state)):
                try:
                    signal.disconnect(slot)
                except (RuntimeError, TypeError):
                    pass
        self._doc = new
        if new is None:
            return
        new.settled.connect(self._on_checked)  # once per event-loop turn, however many edits it saw
        new.state_changed.connect(self._on_doc_state)
        if old is not None and old is not new and not self.running:
            self.clear_messages()  # what was said about the previous project (its blocks, its run) is not about this one
        self._apply_document_settings()
        if self.ready:
            self.runs.refresh(runs_dir_for(new))
            self._match()

    def clear_messages(self) -> None:
        """Forget the previous project's status line, log, curves and results (another project was opened)."""
        self.status.setText("")
        self.log.clear()
        self._reported = None
        self.plots.reset()
        self.plots.set_overlays({})
        if hasattr(self.results, "clear"):
            self.results.clear()
        self.progress.end("Idle")

    def _on_checked(self, _ids):
        self._apply_document_settings(unless_shown=True)
        self._match_timer.start()

    def _on_doc_state(self):
        if self.ready:
            new_dir = runs_dir_for(self.document)
            if new_dir != self.runs.runs_dir:
                self.runs.refresh(new_dir)

    def _apply_document_settings(self, unless_shown: bool = False):
        """Show the document's ``training`` section (after load, undo or redo) without pushing anything; with
        ``unless_shown``, only if it differs from what the form last showed of it."""
        if not self._defaults or self._store_timer.isActive() or self._showing_run is not None:
            return  # not loaded yet, or the user's own edit is about to be stored
        training = {**self._defaults, **dict(getattr(self.document.graph, "training", None) or {})}
        if unless_shown and training == self._applied_training:
            return
        self._syncing = True
        try:
            self._report_settings(self.settings.set_values(training))
            if training.get("dataset") and training["dataset"] != self.picker.name:
                self.picker.select(training["dataset"])
        finally:
            self._syncing = False
        self._applied_training = copy.deepcopy(training)

    def _settings_dict(self) -> dict:
        values = self.settings.values()
        values["dataset"] = self.picker.name or values.get("dataset", "")
        return values

    def _store_settings(self):
        """Keep the settings in the project's ``training`` section. Not an undo step: Ctrl+Z undoes the design, not
        the epochs typed a minute ago; the project is marked modified and saves them all the same."""
        if self._syncing or self.document is None or self._showing_run is not None:
            return
        values = self._settings_dict()
        if values != (self.document.graph.training or {}):
            if hasattr(self.document, "set_meta"):
                self.document.set_meta("training", values)
            else:  # pragma: no cover - a document without set_meta
                from hybrid_studio.graph import SetMeta
                self.document.push(SetMeta("training", values))
        self.picker.set_seed(int(values.get("seed", 0)))

    # ---- choices (lazy) --------------------------------------------------------------------------------------
    def showEvent(self, event):
        super().showEvent(event)
        if not self.ready and not self._loading:
            QTimer.singleShot(0, self.load_choices)  # after the window has appeared

    def load_choices(self, sync: bool = False) -> None:
        """Load the dataset and device lists (on a pool thread unless ``sync``)."""
        if self.ready or (self._loading and not sync):
            return
        self._loading = True
        if sync:
            self._choices_loaded(_load_choices())
        else:
            run_in_background(_load_choices, self._choices_loaded,
                              lambda msg, tb: self._error("Training is not available", msg, tb), owner=self)

    def _choices_loaded(self, result):
        if self.ready:
            return
        datasets, devices, defaults = result
        self._defaults = dict(defaults, dataset="")
        self._syncing = True
        try:
            self.settings.set_values(defaults)
            self.settings.set_devices(devices)
            self._report_settings(self.settings.set_values(dict(self.document.graph.training or {})))
            stored = (self.document.graph.training or {}).get("dataset") or ""
            self.picker.populate(datasets, stored)
        finally:
            self._syncing = False
        self.ready = True
        settle_heap()  # the dataset list's imports leave freed arenas behind
        self.runs.refresh(runs_dir_for(self.document))

    def _on_dataset_loaded(self):
        self._match()

    def _match(self):
        if self.ready and self.picker.dataset is not None and self.document is not None:
            try:
                self.picker.match(self.document.graph)
            except Exception as e:  # noqa: BLE001 - a matching bug must not break the panel
                self.picker.problem.setText(f"Could not check the dataset against the graph: {e}")

    def adapt_graph(self) -> bool:
        """Push the edit that makes the graph fit the dataset (one undo step)."""
        from hybrid_studio.train.matching import adapt_graph_edit
        if self.picker.dataset is None:
            return False
        edit = adapt_graph_edit(self.document.graph, self.picker.dataset)
        ok = edit is not None and self.document.push(edit)
        self._match()
        if ok:
            # adapting changes the Inputs and Outputs; the blocks behind them may now need fixes of their own
            errors = [d for d in self.document.checker.diagnostics() if getattr(d, "severity", "") == "error"]
            if errors:
                first = f"{errors[0].node}: {errors[0].message}" if errors[0].node else errors[0].message
                self.status.setText(f"The Inputs now fit the dataset, but the graph has {len(errors)} problem"
                                    f"{'s' * (len(errors) != 1)} to fix before training (see Problems; Ctrl+Z "
                                    f"undoes the adapting). First: {first}")
            else:
                self.status.setText("The graph now fits the dataset")
        return bool(ok)

    # ---- run commands ----------------------------------------------------------------------------------------
    def train_or_resume(self):
        """F5: resume a paused run, else start one."""
        if self.controller.state == "paused":
            self.controller.resume()
        else:
            self.train()

    def train(self) -> bool:
        """Start training a snapshot of the current graph; False (and why, in the status line) when it cannot."""
        if self.controller.state != "idle":
            return False
        if not self.ready:
            self.load_choices(sync=True)
        from hybrid_studio.project import graph_to_dict
        from hybrid_studio.train.config import ConfigError, TrainConfig
        self._store_timer.stop()
        self._store_settings()
        values = self._settings_dict()
        if not self.document.checker.valid:
            errors = [d for d in self.document.checker.diagnostics() if getattr(d, "severity", "") == "error"]
            first = f" ({errors[0].node}: {errors[0].message})" if errors else ""
            self.status.setText(f"Cannot train: the graph has errors{first}.")
            return False
        try:
            config = TrainConfig.from_dict(values)
        except ConfigError as e:
            self.status.setText(f"Cannot train: {e}")
            return False
        if config.init_weights and not Path(config.init_weights).is_absolute() and self.document.path:
            # an import's weights, named relative to the project
            config = config.replace(init_weights=str(Path(self.document.path).parent / config.init_weights))
        if self.picker.dataset is not None:
            self._match()
            if self.picker.has_errors():
                self.status.setText("Cannot train: the dataset does not fit the graph (see the Dataset box; "
                                    "\"Adapt graph\" can fix it).")
                return False
        regression = self.picker.dataset is not None and self.picker.dataset.task != "classification"
        if regression and self.picker.dataset.task == "ctc":
            regression = "ctc"  # the metric plot shows the character error rate
        graph_dict = graph_to_dict(self.document.graph)
        # runs are named after the project file (mynet-..., not untitled-...) once it is saved
        graph_dict["name"] = getattr(self.document, "project_name", None) or graph_dict.get("name", "run")
        return self._start(graph_dict, values["dataset"], config, runs_dir_for(self.document), None, regression)

    def _start(self, graph_dict, dataset, config, runs_dir, resume, regression) -> bool:
        self.plots.reset(regression)
        self.run_dataset = dataset
        self._run_document = self.document  # the project this run belongs to (it may be saved or closed meanwhile)
        self.progress.begin(config.epochs)
        self.status.setText(f"Starting a run on {dataset}...")
        self.log.appendPlainText(f"--- run on {dataset} ({'resume ' + str(resume) if resume else 'new'})")
        try:
            self.controller.start(graph_dict, dataset, config, runs_dir, resume=resume)
        except Exception as e:  # noqa: BLE001 - bad input: say so, keep the app usable
            import traceback
            self.progress.end("Idle")
            self._error("Cannot start training", str(e), traceback.format_exc())
            return False
        if resume:
            self._preload(resume)
        settle_heap()  # what starting the run imported and built: keep full collections short during the run
        return True

    def _preload(self, run_dir):
        """A resumed run continues its curve: draw what the run recorded before."""
        from hybrid_studio.train.runs import load_metrics
        try:
            rows = load_metrics(run_dir)
        except (OSError, ValueError):
            return
        steps, epochs = rows_to_events(rows)
        self.plots.add_steps(steps)
        self.plots.add_epochs(epochs)
        self.plots.refresh()

    def resume_run(self, run_dir) -> bool:
        """Continue a stopped run from its last checkpoint, with its graph, dataset and settings."""
        if self.controller.state != "idle":
            return False
        from hybrid_studio.train.config import TrainConfig
        from hybrid_studio.train.runs import load_run_graph
        run_dir = Path(run_dir)
        try:
            stored = json.loads((run_dir / "config.json").read_text())
            config = TrainConfig.from_dict(stored.get("config", stored))
            graph_dict = load_run_graph(run_dir)
        except Exception as e:  # noqa: BLE001
            self._error("Cannot resume this run", str(e), "")
            return False
        dataset = stored.get("dataset") or config.dataset or self.picker.name
        regression = self.picker.dataset is not None and self.picker.dataset.task != "classification"
        if regression and self.picker.dataset.task == "ctc":
            regression = "ctc"  # the metric plot shows the character error rate
        self._show_run_settings(dict(config.to_dict(), dataset=dataset), run_dir.name)
        ok = self._start(graph_dict, dataset, config, run_dir.parent, run_dir, regression)
        if not ok:
            self._show_project_settings()
        return ok

    def _show_run_settings(self, values: dict, run_name: str) -> None:
        """While a resumed run trains, the form shows that run's settings (greyed: they are the run's, not the
        project's); the project's come back when it ends."""
        self._store_timer.stop()
        self._showing_run = values
        self._applied_training = None  # the form shows the run's settings now
        self._syncing = True
        try:
            self.settings.set_values(values)
        finally:
            self._syncing = False
        self.settings.setEnabled(False)
        self.settings.setToolTip(f"The settings of {run_name}, which is resuming")
        shown = ", ".join(f"{k} {values[k]}" for k in ("epochs", "batch_size", "lr", "optimizer") if k in values)
        self.log.appendPlainText(f"resuming {run_name} with its own settings: {shown}")

    def _show_project_settings(self) -> None:
        if self._showing_run is None:
            return
        self._showing_run = None
        self.settings.setEnabled(True)
        self.settings.setToolTip("")
        self._apply_document_settings()

    def restore_run(self, run_dir) -> None:
        """Put the graph a run trained on the canvas, as one undoable edit of the open project."""
        from hybrid_studio.project import loads_project
        from hybrid_studio.train.runs import load_run_graph
        from hybrid_studio.graph.edits import replace_graph_edit
        try:
            graph = loads_project(json.dumps(load_run_graph(run_dir)), str(Path(run_dir) / "project.json"))
        except Exception as e:  # noqa: BLE001
            self._error("Cannot restore this architecture", str(e), "")
            return
        edit = replace_graph_edit(self.document.graph, graph, f"Restore the architecture of {Path(run_dir).name}")
        if edit is None:
            self.status.setText("The canvas already shows this run's architecture")
            return
        # one undoable edit of the open project: its file, its runs folder and its undo history stay
        if self.document.push(edit):
            self.status.setText(f"Restored the architecture of {Path(run_dir).name} (Ctrl+Z to undo)")
        else:
            self.status.setText(f"Could not restore the architecture of {Path(run_dir).name}")

    def show_results(self, run_dir) -> None:
        self.results.load_run(run_dir)
        self.tabs.setCurrentWidget(self.results)

    @property
    def running(self) -> bool:
        """Whether a run is in progress (started, paused or stopping)."""
        return self.controller.state != "idle"

    def shutdown(self) -> None:
        """The app is closing: stop a run in progress so that it keeps a checkpoint and can be resumed."""
        if not self.running:
            return
        self.status.setText("Stopping the run (saving a checkpoint)...")
        self.status.repaint()
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            self.controller.shutdown()
        finally:
            QApplication.restoreOverrideCursor()

    # ---- events ----------------------------------------------------------------------------------------------
    def _on_events(self, events: list):
        """One batch of events (one timer tick): update everything once."""
        steps, epochs = [], []
        for e in events:
            k = kind(e)
            if k == "Step":
                steps.append(e)
            elif k == "EpochEnd":
                epochs.append(e)
            elif k == "Started":
                self.progress.on_started(e)
                self.plots.set_run_length(e.epochs * e.steps_per_epoch, e.epochs)
                self.plots.set_baseline(getattr(e, "baseline_loss", None), getattr(e, "baseline", "") or "baseline")
                self.status.setText(f"Run {e.run_id} on {e.device}")
                self.log.appendPlainText(f"started {e.run_id} on {e.device}: {e.epochs} epochs x "
                                         f"{e.steps_per_epoch} steps")
                if self.ready and self._run_is_ours():
                    self.runs.refresh(Path(e.run_dir).parent)
            elif k == "CheckpointSaved":
                best = ", best" if e.best else ""
                self.log.appendPlainText(f"checkpoint {Path(e.path).name} (epoch {e.epoch}{best})")
            elif k == "Log":
                self.log.appendPlainText(e.message)
        self.plots.add_steps(steps)
        self.plots.add_epochs(epochs)
        self.plots.refresh(limit=1)  # one plot repaints per tick: the UI thread never pays for all four at once
        if steps:
            self.progress.on_step(steps[-1])
        for e in epochs:
            self.log.appendPlainText(epoch_line(e))
        if epochs and not self._runs_timer.isActive():
            # the running row's best metric and duration (status.json, written each epoch): re-read at most every
            # two seconds, as fast epochs would otherwise re-read the runs folder many times a second on this thread
            self._runs_timer.start()

    def _on_state(self, state):
        idle, running, paused = state == "idle", state == "running", state == "paused"
        self.train_button.setEnabled(idle)
        self.pause_button.setEnabled(running)
        self.resume_button.setEnabled(paused)
        self.stop_button.setEnabled(running or paused)
        self.runs.set_busy(not idle)
        self.progress.on_state(state)

    def _on_ended(self, status: str, event):
        run_dir = self.controller.run_dir
        self._show_project_settings()
        self.plots.refresh()  # draw whatever the last ticks left waiting
        self.progress.end({"finished": "Finished", "stopped": "Stopped"}.get(status, "Failed"))
        if status == "failed":
            self.status.setText(f"Run failed: {event.message}")
            self.log.appendPlainText(f"failed: {event.message}")
            self._error("Training failed", event.message, getattr(event, "traceback", ""))
        else:
            summary = getattr(event, "summary", {}) or {}
            best = summary.get("best_metric", summary.get("best"))
            self.status.setText(f"Run {status}" + (f"; best {best:.4g}" if isinstance(best, float) else ""))
            self.log.appendPlainText(f"{status}: {summary}")
        # a run of the project that was open when it started: the list and the results belong to that project
        ours = run_dir is not None and self._run_is_ours()
        if self.ready and ours:
            self.runs.refresh(runs_dir_for(self.document))  # (saved meanwhile: its runs now go beside the file)
        if status != "failed" and ours and (run_dir / "checkpoints").is_dir():
            self.results.load_run(run_dir, self.run_dataset)
        elif run_dir is not None and not ours:
            self.log.appendPlainText(f"the run {run_dir.name} belongs to the project open when it started "
                                     f"(its runs are in {run_dir.parent})")

    def _report_settings(self, problems: list[str]) -> None:
        """Stored training settings the form could not show: said in the status line and the log (once: this runs
        after every edit, undo and redo)."""
        if problems == getattr(self, "_reported", None):
            return
        self._reported = problems
        for text in problems:
            self.log.appendPlainText(text)
        if problems:
            self.status.setText(problems[0] + (f" (and {len(problems) - 1} more: see the log)"
                                               if len(problems) > 1 else ""))

    def _refresh_running_row(self) -> None:
        run_dir = self.controller.run_dir
        if self.ready and run_dir is not None and self._run_is_ours() and self.runs.runs_dir == run_dir.parent:
            self.runs.refresh()

    def _run_is_ours(self) -> bool:
        """Whether the run in progress (or just ended) was started from the project that is open now."""
        return getattr(self, "_run_document", None) is self.document

    def _error(self, title, text, details):
        self.last_error = (title, text, details)
        self._loading = False
        return show_error(self, title, text, details)
