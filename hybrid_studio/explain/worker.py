"""Explaining in a worker process (for the app: the UI process never imports torch or Captum).

``start_explain`` spawns a process running ``explain`` and returns (process, queue); the queue receives
``("progress", done, total)``, then ``("done", result)`` (the result with its arrays) or ``("error", message)``.
"""

from __future__ import annotations


def _work(queue, run_dir, checkpoint, samples, method, block):
    try:
        from .engine import ExplainError, explain
        try:
            result = explain(run_dir, checkpoint, samples, method, block,
                             progress=lambda done, total: queue.put(("progress", done, total)))
        except ExplainError as e:
            queue.put(("error", str(e)))
            return
        queue.put(("done", result))
    except Exception as e:  # noqa: BLE001 - whatever fails is reported, never a silent dead worker
        queue.put(("error", f"the attribution failed: {type(e).__name__}: {e}"))


def start_explain(run_dir, checkpoint="best", samples=32, method="integrated-gradients", block=None):
    """Start explaining ``run_dir`` in a spawned process; returns (process, queue)."""
    import multiprocessing as mp

    from hybrid_studio.train._spawn import main_hidden

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_work, args=(queue, str(run_dir), checkpoint, samples, method, block), daemon=True)
    with main_hidden():
        proc.start()
    return proc, queue
