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
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from hybrid_studio.project import atomic_write_text

STATUSES = ("running", "finished", "stopped", "failed")
#: what a reader shows for a folder that says "running" while no process holds its lock (killed, power cut)
INTERRUPTED = "interrupted"
LOCK_NAME = ".lock"


class RunInUse(RuntimeError):
    """Another process is training this run folder."""


def acquire_lock(run_dir) -> int:
    """Take the OS lock of ``run_dir`` (``.lock``, flock) for this process and return its file descriptor; keep it
    open for the run. The OS drops the lock when the process ends, however it ends (SIGKILL included), so a folder
    that says "running" without a holder is known to be interrupted. Raises RunInUse when another process holds it.
    Interrupted writes' temporary files are removed once the lock is ours (no other writer can be mid-write)."""
    run_dir = Path(run_dir)
    fd = os.open(run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no flock; runs are then not guarded
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        try:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
        except OSError:
            holder = ""
        os.close(fd)
        raise RunInUse(f"{run_dir} is being trained by another process{f' (pid {holder})' if holder else ''}: "
                       f"wait for it to end, or stop it first") from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    clean_stale_temps(run_dir)
    return fd


def is_locked(run_dir) -> bool:
    """Whether a process holds ``run_dir``'s lock now (i.e. trains it)."""
    path = Path(run_dir) / LOCK_NAME
    try:
        import fcntl
        fd = os.open(path, os.O_RDONLY)
    except (ImportError, OSError):
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing drops the shared lock we may have taken
    return False


def clean_stale_temps(run_dir) -> list[Path]:
    """Remove the temporary files of writes that a killed process left (``.<name>.*.tmp``); call with the lock."""
    gone = []
    for folder in (Path(run_dir), Path(run_dir) / "checkpoints"):
        try:
            entries = list(folder.glob(".*.tmp"))
        except OSError:
            continue
        for tmp in entries:
            try:
                tmp.unlink()
                gone.append(tmp)
            except OSError:
                pass
    return gone
#: the contract's columns first, in its order (epoch, step, split, loss, accuracy), then ours
METRIC_COLUMNS = ("epoch", "step", "split", "loss", "accuracy", "mae", "cer", "lr", "samples_per_s", "elapsed_s",
                  "scope")


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

    def write_metrics(self, rows: list | None = None) -> None:
        """Write metrics.csv with ``rows`` (a snapshot taken by a background writer), else the rows so far."""
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, lineterminator="\n")
        w.writeheader()
        for r in self.rows if rows is None else rows:
            w.writerow({k: _fmt(v) for k, v in r.items()})
        atomic_write_text(self.path / "metrics.csv", buf.getvalue())

    def write_status(self, **changes) -> None:
        self.write_status_data(self.stage_status(**changes))

    def stage_status(self, **changes) -> dict:
        """The status with ``changes``, to write now or in the background; ``self.status`` stays what is on disk
        until it is written (a write that fails leaves the file and this in agreement)."""
        return {**self.status, **changes, "updated": now_iso()}

    def write_status_data(self, status: dict) -> None:
        atomic_write_text(self.path / "status.json", json.dumps(status, indent=2) + "\n")
        self.status = dict(status)


def _fmt(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else str(v)
    return v


def _load_json(path: Path):
    """A run-folder JSON file's value; ValueError for text that is not JSON, including arrays nested so deeply that
    the parser runs out of stack (json raises RecursionError for those, which no reader expects)."""
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("its JSON is nested too deeply to read") from None


def read_status(run_dir) -> dict:
    """The run's status.json as a dict ({} when missing, unreadable or not a JSON object)."""
    try:
        data = _load_json(Path(run_dir) / "status.json")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def status_problem(run_dir) -> str | None:
    """What is wrong with ``run_dir``'s status.json (naming the file and the field), or None."""
    path = Path(run_dir) / "status.json"
    try:
        data = _load_json(path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        return f"{path}: cannot be read ({getattr(e, 'strerror', None) or e})"
    if not isinstance(data, dict):
        return f"{path}: expected a JSON object, got {type(data).__name__}"
    if data.get("status") not in STATUSES:
        return f"{path}: field 'status' must be one of {', '.join(STATUSES)}, got {data.get('status')!r}"
    for name, kind in (("epoch", int), ("epochs", int), ("step", int), ("duration_s", float),
                       ("best_metric", float)):
        v = data.get(name)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (kind is int and not float(v).is_integer()) \
                or not math.isfinite(v) or v < 0 and name != "best_metric":
            return f"{path}: field '{name}' must be a {'whole ' if kind is int else ''}number >= 0, got {v!r}"
    return None


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
    path = Path(run_dir) / "project.json"
    try:
        return _load_json(path)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def load_run_config(run_dir) -> dict:
    """The run's config.json; raises ValueError naming the file when it is not a JSON object."""
    path = Path(run_dir) / "config.json"
    try:
        data = _load_json(path)
    except ValueError as e:
        raise ValueError(f"{path}: cannot be read ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of training settings, got {type(data).__name__}")
    return data


def run_info(d: Path) -> RunInfo | None:
    """One run folder as the runs list shows it (None when it has no status.json). A damaged status.json gives a
    "failed" row whose message names the file and the field; "running" without the lock is "interrupted"."""
    if not (d / "status.json").exists():
        return None
    problem = status_problem(d)
    st = read_status(d) if problem is None else {}

    def text(name):
        v = st.get(name)
        return v if isinstance(v, str) else ""
    status = st.get("status", "failed")
    message = problem or text("message")
    if status == "running" and not is_locked(d):
        status = INTERRUPTED
        resumable = (d / "checkpoints" / "last.pt").is_file()
        message = ("the process training it ended without a last word (killed or crashed); "
                   + ("resume continues from its last checkpoint" if resumable else "it has no checkpoint to resume"))
    try:
        started = text("started") or datetime.fromtimestamp((d / "status.json").stat().st_mtime).isoformat(
            timespec="seconds")
    except OSError:
        started = ""
    return RunInfo(run_id=d.name, path=str(d), status="failed" if problem else status,
                   best_metric=st.get("best_metric"), duration_s=float(st.get("duration_s") or 0.0),
                   device=text("device"), started=started, best_metric_name=text("best_metric_name"),
                   epoch=int(st.get("epoch") or 0), epochs=int(st.get("epochs") or 0), dataset=text("dataset"),
                   message=message)


def list_runs(runs_dir) -> list[RunInfo]:
    """Runs under ``runs_dir``, newest first (folders without a status.json are skipped); one damaged folder never
    hides the others."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    out = []
    for d in runs_dir.iterdir():
        try:
            if d.is_dir():
                info = run_info(d)
                if info is not None:
                    out.append(info)
        except OSError:
            continue
    out.sort(key=lambda r: (r.started, r.run_id), reverse=True)
    return out


def now_iso() -> str:
    return datetime.now().isoformat(timespec="seconds")

