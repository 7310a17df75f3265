"""Explaining in a worker process (for the app: the UI process never imports torch or Captum).

``start_explain`` spawns a process running ``explain`` and returns (process, queue); the queue receives
``("progress", done, total)``, then ``("done", result)`` (the result with its arrays) or ``("error", message)``.
``start_activations`` spawns a process that loads a run once and answers per-sample activation requests (the
Explain view's block activations), so a click on the canvas never runs the model on the UI thread.
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


def _serve_activations(requests, replies, run_dir, checkpoint):
    """Load the run once, then answer each sample index on ``requests`` with its blocks' activation views;
    ``None`` ends the process."""
    try:
        replies.put(("progress", "loading the run", 0, 0))
        from .engine import ExplainError, activation_views, load_run
        try:
            run = load_run(run_dir, checkpoint)
        except ExplainError as e:
            replies.put(("error", None, str(e)))
            return
        while True:
            sample = requests.get()
            if sample is None:
                return
            try:
                views = activation_views(run, sample, progress=lambda done, total, _s=sample: replies.put(
                    ("progress", f"sample {_s}: block {done} of {total}", done, total)))
            except ExplainError as e:
                replies.put(("error", sample, str(e)))
                continue
            replies.put(("activations", sample, views))
    except Exception as e:  # noqa: BLE001 - reported to the view, never a silent dead worker
        replies.put(("error", None, f"the activations failed: {type(e).__name__}: {e}"))


def start_activations(run_dir, checkpoint="best"):
    """Start a spawned process that loads ``run_dir`` once and computes per-block activations on request.

    Returns (process, requests, replies): put a validation sample index on ``requests`` (``None`` stops it);
    ``replies`` receives ``("progress", text, done, total)``, ``("activations", sample, {block: view})`` (views as
    ``engine.activation_view`` makes them) or ``("error", sample_or_None, message)``."""
    import multiprocessing as mp

    from hybrid_studio.train._spawn import main_hidden

    ctx = mp.get_context("spawn")
    requests, replies = ctx.Queue(), ctx.Queue()
    proc = ctx.Process(target=_serve_activations, args=(requests, replies, str(run_dir), checkpoint), daemon=True)
    with main_hidden():
        proc.start()
    return proc, requests, replies
