"""Profiling and quantisation in a worker process (for the app): plain picklable messages over a queue.

Messages: ``("progress", fraction, text)``, then ``("done", report)`` or ``("error", message)``. The UI process
starts the job with ``start_job`` and drains the queue on a timer; torch is imported only in the child.
"""

from __future__ import annotations

import multiprocessing as mp


def _profile_job(project_text: str, device: str, batch_size: int, queue) -> None:
    from hybrid_studio.profile.engine import ProfileError, profile_graph
    from hybrid_studio.project import loads_project

    try:
        graph = loads_project(project_text, "<profile>")
        report = profile_graph(graph, device, batch_size,
                               progress=lambda f, m: queue.put(("progress", float(f), str(m))))
    except ProfileError as e:
        queue.put(("error", str(e)))
    except Exception as e:  # noqa: BLE001 - any failure becomes a message in the panel, never a dead worker
        queue.put(("error", f"profiling failed: {type(e).__name__}: {e}"))
    else:
        queue.put(("done", report))


def _quantize_job(run_dir: str, output, fmt: str, queue) -> None:
    from hybrid_studio.profile.quantize import QuantizeError, quantize_run

    try:
        report = quantize_run(run_dir, output, fmt=fmt,
                              progress=lambda f, m: queue.put(("progress", float(f), str(m))))
    except QuantizeError as e:
        queue.put(("error", str(e)))
    except Exception as e:  # noqa: BLE001
        queue.put(("error", f"quantisation failed: {type(e).__name__}: {e}"))
    else:
        queue.put(("done", report))


def start_job(kind: str, *args):
    """Start a ``"profile"`` (project text, device, batch size) or ``"quantize"`` (run dir, output, format) job in
    a spawned process; returns ``(process, queue)``."""
    from hybrid_studio.train._spawn import main_hidden

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    target = {"profile": _profile_job, "quantize": _quantize_job}[kind]
    proc = ctx.Process(target=target, args=(*args, queue), daemon=True, name=f"hybrid-studio-{kind}")
    with main_hidden():
        proc.start()
    return proc, queue
