"""Run folders (contract section 4): writing them during a run and reading them back.

``RUNS_DIR/<run-id>/`` holds ``project.json``, ``config.json``, ``metrics.csv``, ``checkpoints/last.pt`` and
``checkpoints/best.pt``, and ``status.json``. Every file is written atomically (temp file + rename), so a reader,
or a run killed at any moment, never sees half a file. No torch here: the app lists runs without it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from hybrid_studio.project import atomic_write_text

STATUSES = ("running", "finished", "stopped", "failed")
#: the contract's columns first, in its order (epoch, step, split, loss, accuracy), then ours
METRIC_COLUMNS = ("epoch", "step", "split", "loss", "accuracy", "mae", "lr", "samples_per_s", "elapsed_s", "scope")


@dataclass
class RunInfo:
    run_id: str
    path: str
    status: str
    #: Best validation accuracy (classification) or lowest validation loss (regression); None before an epoch ends.
    best_metric: float | None
    duration_s: float
    device: str
    #: ISO 8601 local time the run (first) started.
    started: str
    best_metric_name: str = ""
    epoch: int = 0
    epochs: int = 0
    dataset: str = ""
    message: str = ""


def default_runs_dir() -> Path:
    """Where runs go when no folder is given (and the app's runs of unsaved projects): ``runs/`` in the data folder
    (``hybrid_studio.paths``)."""
    from hybrid_studio.paths import data_dir
    return data_dir() / "runs"


def new_run_id(runs_dir, name: str = "run") -> str:
    """A fresh, sortable run id: ``YYYYmmdd-HHMMSS-<name>`` (with a suffix if taken)."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name or "run").strip("-.")[:40] or "run"
    base = f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{slug}"
    runs_dir = Path(runs_dir)
    run_id, i = base, 2
    while (runs_dir / run_id).exists():
        run_id, i = f"{base}-{i}", i + 1
    return run_id


class RunFolder:
    """Writes one run's folder; only the process that owns the run (rank 0) makes one."""

    def __init__(self, path):
        self.path = Path(path)
        self.checkpoints = self.path / "checkpoints"
        self.rows: list[dict] = []
        self.status: dict = {}

    def create(self, project_text: str, config: dict, status: dict) -> None:
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path / "project.json", project_text)
        atomic_write_text(self.path / "config.json", json.dumps(config, indent=2) + "\n")
        self.write_metrics()
        self.write_status(**status)

    def reopen(self, config: dict, keep_until_step: int) -> None:
        """Continue an existing run folder: keep metric rows up to the checkpoint's step, drop later ones."""
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        self.rows = [r for r in _read_rows(self.path / "metrics.csv") if int(r.get("step") or 0) <= keep_until_step]
        self.status = read_status(self.path)
        atomic_write_text(self.path / "config.json", json.dumps(config, indent=2) + "\n")
        self.write_metrics()

    def add_row(self, **row) -> None:
        self.rows.append({k: row.get(k) for k in METRIC_COLUMNS})

    def write_metrics(self) -> None:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, lineterminator="\n")
        w.writeheader()
        for r in self.rows:
            w.writerow({k: _fmt(v) for k, v in r.items()})
        atomic_write_text(self.path / "metrics.csv", buf.getvalue())

    def write_status(self, **changes) -> None:
        self.status.update(changes)
        self.status["updated"] = now_iso()
        atomic_write_text(self.path / "status.json", json.dumps(self.status, indent=2) + "\n")


def _fmt(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else str(v)
    return v


def read_status(run_dir) -> dict:
    """The run's status.json as a dict ({} when missing or unreadable)."""
    try:
        return json.loads((Path(run_dir) / "status.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def mark_status(run_dir, status: str, message: str = "") -> None:
    """Set a run folder's status from outside the run (the parent after its worker died)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return
    folder = RunFolder(run_dir)
    folder.status = read_status(run_dir)
    folder.write_status(status=status, **({"message": message} if message else {}))


def _read_rows(path: Path) -> list[dict]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    except OSError:
        return []


def _num(v):
    if v is None or v == "":
        return None
    try:
        f = float(v)
    except ValueError:
        return v
    return int(f) if f.is_integer() and "." not in v and "e" not in v.lower() and "n" not in v.lower() else f


def load_metrics(run_dir) -> list[dict]:
    """metrics.csv as dicts with numbers parsed (empty cells are None). Rows: ``split`` train/val, ``scope``
    step (a logging interval) or epoch (means over the epoch)."""
    return [{k: (v if k in ("split", "scope") else _num(v)) for k, v in r.items()}
            for r in _read_rows(Path(run_dir) / "metrics.csv")]


def load_run_graph(run_dir) -> dict:
    """The project (graph) the run trained, as the dict stored in project.json."""
    return json.loads((Path(run_dir) / "project.json").read_text(encoding="utf-8"))


def load_run_config(run_dir) -> dict:
    return json.loads((Path(run_dir) / "config.json").read_text(encoding="utf-8"))


def list_runs(runs_dir) -> list[RunInfo]:
    """Runs under ``runs_dir``, newest first (folders without a status.json are skipped)."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    out = []
    for d in runs_dir.iterdir():
        if not d.is_dir():
            continue
        st = read_status(d)
        if not st:
            continue
        out.append(RunInfo(
            run_id=d.name, path=str(d), status=st.get("status", "failed"), best_metric=st.get("best_metric"),
            duration_s=float(st.get("duration_s") or 0.0), device=st.get("device", ""),
            started=st.get("started", ""), best_metric_name=st.get("best_metric_name", ""),
            epoch=int(st.get("epoch") or 0), epochs=int(st.get("epochs") or 0), dataset=st.get("dataset", ""),
            message=st.get("message", "")))
    out.sort(key=lambda r: (r.started, r.run_id), reverse=True)
    return out


def now_iso() -> str:
    return datetime.now().isoformat(timespec="seconds")

