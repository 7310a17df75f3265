"""Measured cost of a graph on a device: each block's forward time and output memory, the whole model's forward and
train-step time and its peak memory (contract section 5.5). No Qt here; the app runs it in a worker process.

Per-block times come from the compiled fx GraphModule: every fx node carries ``meta["block_id"]``
(``compile/fx.py``), so the nodes of one block are cut out into a small GraphModule of their own that shares the
model's submodules; the pieces run chained, in order, each on the fresh outputs of the ones before. Each is timed like the
whole model: warm-up runs, then the median of repeated runs, with ``torch.cuda.synchronize`` around each run on
CUDA. The sum of the block times is therefore comparable with the whole forward (the difference is the Python
dispatch between blocks). Peak memory is CUDA's own allocator statistic on a GPU; on the CPU it is
the weights, gradients and Adam moments plus what autograd saves for backward (``saved_tensors_hooks``), the
inputs and the outputs.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

#: Warm-up runs before timing (first runs pay for allocator growth and kernel selection). The block timing needs
#: none of its own: the recorded forward pass that collects the blocks' inputs has warmed every kernel.
WARMUP = 1
BLOCK_WARMUP = 0
#: Timed runs per measurement: at least MIN_REPEATS, at most MAX_REPEATS, stopping once BUDGET_S is spent.
MIN_REPEATS, MAX_REPEATS = 3, 25
BUDGET_S = 0.6
#: the clock the timings read (``profile_graph(clock=...)``); the repeat budget always runs on wall time
_now = time.perf_counter


class ProfileError(Exception):
    """Profiling cannot run: the message says why in the user's terms (bad device, out of memory, bad graph)."""

    def __init__(self, message: str, kind: str = "input"):
        super().__init__(message)
        self.kind = kind  # "input" (bad device/usage), "graph" (invalid graph), "memory" (batch too large)


@dataclass
class Timing:
    """Median and spread of repeated runs, in milliseconds."""

    median_ms: float
    runs: int


def check_device(name: str):
    """The torch.device for ``name`` (``cpu``, ``cuda``, ``cuda:I``); ProfileError when it is not there."""
    import torch

    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ProfileError(f"device {name!r} is not available: this machine has no CUDA device "
                               f"(use --device cpu)")
        index = 0 if name == "cuda" else name.split(":", 1)[1]
        try:
            index = int(index)
        except ValueError:
            raise ProfileError(f"device {name!r}: expected cuda:I with a number I") from None
        count = torch.cuda.device_count()
        if not 0 <= index < count:
            raise ProfileError(f"device {name!r} is not available: this machine has {count} CUDA device"
                               f"{'s' * (count != 1)} (cuda:0{f' to cuda:{count - 1}' if count > 1 else ''})")
        return torch.device("cuda", index)
    raise ProfileError(f"device {name!r} cannot be profiled: use cpu, cuda or cuda:I")


def time_call(fn, device, warmup: int = WARMUP, budget_s: float = BUDGET_S, min_repeats: int = MIN_REPEATS,
              max_repeats: int = MAX_REPEATS) -> Timing:
    """Median wall time of ``fn()`` after ``warmup`` runs, synchronising CUDA around every run."""
    import torch

    cuda = device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda *a: None)
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    start = time.perf_counter()
    while len(times) < max_repeats and (len(times) < min_repeats or time.perf_counter() - start < budget_s):
        t0 = _now()
        fn()
        sync(device)
        times.append((_now() - t0) * 1000.0)
    return Timing(statistics.median(times), len(times))


def example_inputs(graph, gen, checker, batch_size: int, device):
    """Random inputs for the graph's Input blocks (unknown sizes get the ONNX exporter's example size)."""
    import torch

    from hybrid_studio.compile.onnx_export import example_size

    size = example_size(graph, gen.input_ids)
    gen_ = torch.Generator().manual_seed(0)
    xs = []
    for iid in gen.input_ids:
        spec = checker.result(iid).output
        shape = [batch_size] + [size if s is None else s for s in spec.shape]
        if spec.dtype == "int64":
            xs.append(torch.zeros(shape, dtype=torch.long).to(device))
        else:
            xs.append(torch.randn(shape, generator=gen_).to(device))
    return xs


def _nbytes(value) -> int:
    import torch

    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    return 0


def block_pieces(gm):
    """``{block_id: (GraphModule, [names of the outside values it reads], [names of its nodes used outside])}``.

    Each piece holds the fx nodes of one block, in order, with the values it reads from other blocks (or the
    inputs) as placeholders; its outputs are the block's values that other blocks (or the model's output) use.
    """
    import torch.fx

    order, members = [], {}
    for node in gm.graph.nodes:
        bid = node.meta.get("block_id")
        if node.op in ("placeholder", "output") or bid is None:
            continue
        if bid not in members:
            order.append(bid)
            members[bid] = []
        members[bid].append(node)
    pieces = {}
    for bid in order:
        nodes = members[bid]
        inside = set(nodes)
        g = torch.fx.Graph()
        env, reads = {}, []

        def remap(n, env=env, reads=reads, g=g, inside=inside):
            if n not in inside and n not in env:
                env[n] = g.placeholder(f"in_{len(reads)}")
                reads.append(n.name)
            return env[n]

        for n in nodes:
            env[n] = g.node_copy(n, remap)
        used_outside = [n for n in nodes if any(u not in inside for u in n.users)] or [nodes[-1]]
        g.output(tuple(env[n] for n in used_outside))
        pieces[bid] = (torch.fx.GraphModule(gm, g), reads, [n.name for n in used_outside])
    return pieces


def _record_values(gm, xs) -> dict:
    """The value of every fx node in one forward pass, by node name."""
    import torch.fx

    values = {}

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n):
            out = super().run_node(n)
            values[n.name] = out
            return out

    Recorder(gm).run(*xs)
    return values


def _train_loss(torch, outs):
    # A stand-in loss that touches every output, so backward runs through the whole graph as training does (the
    # loss itself costs microseconds next to the model).
    return sum(o.float().pow(2).mean() for o in outs if o.is_floating_point())


def profile_graph(graph, device: str = "cpu", batch_size: int = 32, train_step: bool = True, onnx: bool = True,
                  progress=None, budget_s: float = BUDGET_S, clock: str = "wall") -> dict:
    """Measure ``graph`` on ``device`` at ``batch_size``; returns the contract's profile object (section 5.5).

    ``progress(fraction, message)`` is called as the work goes on. Raises ProfileError for an unknown device, an
    invalid graph, or a batch that does not fit in memory (the message suggests a smaller one). ``clock``: ``wall``
    (what a user waits) or ``cpu`` (this process's CPU time: on a busy machine, wall-clock medians of runs of a few
    milliseconds include being descheduled more often than sub-millisecond blocks do; CPU time does not, and with
    one torch thread it is exact; CPU device only). With ``onnx`` and
    the onnx extra installed, the result also holds ``onnxruntime`` (its median forward time on the CPU).
    """
    import torch

    from hybrid_studio.blocks import checker_for
    from hybrid_studio.compile import CompileError, compile_graph

    say = progress or (lambda f, m: None)
    if batch_size < 1:
        raise ProfileError(f"batch size must be at least 1, got {batch_size}")
    dev = check_device(device)
    checker = checker_for(graph)
    checker.flush()
    if not checker.valid:
        errors = [d for d in checker.diagnostics() if d.severity == "error"]
        first = errors[0] if errors else None
        where = f" (block '{first.node}': {first.message})" if first is not None and first.node else ""
        raise ProfileError(f"the graph has {len(errors)} error{'s' * (len(errors) != 1)}{where}; fix it before "
                           f"profiling (hybrid-studio check lists them)", kind="graph")
    say(0.02, "compiling")
    try:
        gm = compile_graph(graph, checker)
    except CompileError as e:
        raise ProfileError(f"cannot compile the graph: {e}", kind="graph") from e
    gen = gm.hs_generated
    try:
        global _now
        _now = time.process_time if clock == "cpu" and dev.type == "cpu" else time.perf_counter
        return _measure(torch, graph, gm, gen, checker, dev, batch_size, train_step, onnx, say, budget_s)
    except torch.OutOfMemoryError as e:
        raise _oom(device, batch_size) from e
    except RuntimeError as e:
        if "out of memory" in str(e).lower() or "can't allocate memory" in str(e).lower():
            raise _oom(device, batch_size) from e
        raise
    finally:
        _now = time.perf_counter
        if dev.type == "cuda":
            torch.cuda.empty_cache()


def _oom(device, batch_size) -> ProfileError:
    smaller = max(1, batch_size // 4)
    return ProfileError(f"batch size {batch_size} does not fit in the memory of {device}; "
                        f"try a smaller one, e.g. --batch-size {smaller}", kind="memory")


def _measure(torch, graph, gm, gen, checker, dev, batch_size, train_step, onnx, say, budget_s) -> dict:
    gm = gm.to(dev).eval()
    xs = example_inputs(graph, gen, checker, batch_size, dev)
    param_bytes = sum(p.numel() * p.element_size() for p in gm.parameters())
    param_bytes += sum(b.numel() * b.element_size() for b in gm.buffers())
    result_blocks = {}
    with torch.no_grad():
        say(0.05, "recording a forward pass")
        values = _record_values(gm, xs)
        pieces = block_pieces(gm)
        calls = [(bid, piece, reads, outs) for bid, (piece, reads, outs) in pieces.items()]
        for bid, (_, _, outs) in pieces.items():
            result_blocks[bid] = {"output_bytes": sum(_nbytes(values[o]) for o in outs)}
        del values
        placeholders = [n.name for n in gm.graph.nodes if n.op == "placeholder"]
        # Interleaved rounds (the blocks in order, then the whole model), so that load on the machine that changes
        # during the measurement affects both sides alike; medians over the rounds. The blocks run chained, each
        # on the fresh outputs of the blocks before it, so they allocate and touch memory as the whole model does.
        per_block = {bid: [] for bid, *_ in calls}
        whole = []
        sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda *a: None)

        # Each block frees the values it was the last to read inside its own timing, as the whole model does
        # (``x = None`` after the last use): returning big buffers to the system is part of the cost, and on Linux
        # it is not small (a freed multi-MiB activation is unmapped, the next one faults its pages in again).
        last_read = {}
        for bid, _, reads, _ in calls:
            for r in reads:
                last_read[r] = bid
        frees = {bid: [r for r in reads if last_read[r] == bid] for bid, _, reads, _ in calls}

        def chained(record: bool):
            env = dict(zip(placeholders, xs))
            for bid, piece, reads, outs in calls:
                args = [env[r] for r in reads]
                t0 = _now()
                results = piece(*args)
                del args
                for r in frees[bid]:
                    env.pop(r, None)
                sync(dev)
                if record:
                    per_block[bid].append((_now() - t0) * 1000.0)
                env.update(zip(outs, results))
                del results

        def timed_whole():
            t0 = _now()
            gm(*xs)
            sync(dev)
            whole.append((_now() - t0) * 1000.0)

        for _ in range(BLOCK_WARMUP):
            chained(False)
            gm(*xs)
        sync(dev)
        start = time.perf_counter()
        while len(whole) < MAX_REPEATS and (len(whole) < MIN_REPEATS or time.perf_counter() - start < budget_s):
            say(0.1 + 0.5 * min(1.0, len(whole) / MIN_REPEATS), "timing each block and the whole forward")
            chained(True)
            timed_whole()
        for bid, ts in per_block.items():
            result_blocks[bid]["forward_ms"] = statistics.median(ts)
        whole = Timing(statistics.median(whole), len(whole))
    total = {"forward_ms": whole.median_ms, "train_step_ms": None, "param_bytes": param_bytes, "peak_bytes": None}
    if train_step:
        say(0.7, "timing a train step")
        total["train_step_ms"], total["peak_bytes"] = _train_step(torch, gm, xs, dev, param_bytes, budget_s)
    gm.eval()
    block_sum = sum(b["forward_ms"] for b in result_blocks.values())
    blocks = {}
    for node in graph.nodes:  # every block, in file order (Inputs and Outputs cost nothing of their own)
        res = checker.result(node.id)
        b = result_blocks.get(node.id, {"forward_ms": 0.0, "output_bytes": 0})
        if node.type in ("Input", "Output") and node.id not in result_blocks:
            spec = res.output
            shape = [batch_size] + [1 if s is None else s for s in (spec.shape if spec else ())]
            size = 8 if spec is not None and spec.dtype == "int64" else 4
            count = 1
            for s in shape:
                count *= s
            b = {"forward_ms": 0.0, "output_bytes": count * size}
        blocks[node.id] = {"forward_ms": round(b["forward_ms"], 4),
                           "share": round(b["forward_ms"] / block_sum, 4) if block_sum > 0 else 0.0,
                           "output_bytes": int(b["output_bytes"]), "params": res.params, "macs": res.macs}
    report = {"device": str(dev) if dev.type == "cuda" else "cpu", "batch_size": batch_size,
              "total": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in total.items()},
              "blocks": blocks, "block_sum_ms": round(block_sum, 4)}
    if onnx:
        say(0.9, "timing onnxruntime")
        ort = onnxruntime_latency(graph, gm.cpu(), [x.cpu() for x in xs], budget_s)
        if ort is not None:
            report["onnxruntime"] = ort
    say(1.0, "done")
    return report


def _train_step(torch, gm, xs, dev, param_bytes, budget_s):
    """(median train-step ms, peak bytes) of forward + loss + backward + Adam step (on CUDA, the allocator's peak)."""
    gm.train()
    opt = torch.optim.Adam(gm.parameters(), lr=1e-6)

    def step():
        opt.zero_grad(set_to_none=True)
        outs = gm(*xs)
        outs = outs if isinstance(outs, tuple) else (outs,)
        loss = _train_loss(torch, outs)
        loss.backward()
        opt.step()

    if dev.type == "cuda":
        step()  # Adam's state exists from here on, as in training
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        t = time_call(step, dev, warmup=0, budget_s=budget_s)
        peak = torch.cuda.max_memory_allocated(dev)
    else:
        peak = param_bytes * 4 + cpu_step_bytes(torch, gm, xs)  # weights, grads, Adam's moments + the step's
        # no separate warm-up: that forward pass warmed the allocator, and the median of at least three steps
        # leaves out the first one's creation of Adam's state (a train step is the slowest part of a profile)
        t = time_call(step, dev, warmup=0, budget_s=budget_s)
    gm.zero_grad(set_to_none=True)
    return t.median_ms, int(peak)


def cpu_step_bytes(torch, gm, xs) -> int:
    """Bytes a train step holds at its peak on the CPU beyond the weights and optimizer state: the tensors that
    autograd saves for backward during the forward pass (measured with ``saved_tensors_hooks``, each storage once)
    plus the outputs; the CPU allocator has no peak statistic like CUDA's, and these are what a batch adds."""
    seen = {}
    # weights saved for backward are already counted with the parameters
    weights = {p.untyped_storage().data_ptr() for p in gm.parameters()}
    weights |= {b.untyped_storage().data_ptr() for b in gm.buffers()}

    def pack(t):
        try:
            key = t.untyped_storage().data_ptr()
            if key not in weights:
                seen.setdefault(key, t.untyped_storage().nbytes())
        except (RuntimeError, NotImplementedError):  # e.g. tensors without storage
            pass
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        outs = gm(*xs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    inputs = sum(_nbytes(x) for x in xs)
    return sum(seen.values()) + sum(_nbytes(o) for o in outs) + inputs


def onnxruntime_latency(graph, model, xs, budget_s: float = BUDGET_S) -> dict | None:
    """``{"forward_ms", "torch_cpu_forward_ms", "exporter", "max_abs_diff"}`` of the model in onnxruntime on the CPU,
    next to torch's on the same inputs; None when the onnx extra is not installed."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    import tempfile
    from pathlib import Path

    import torch

    from hybrid_studio.compile.onnx_export import export_onnx

    with tempfile.TemporaryDirectory(prefix="hybrid-studio-profile-") as tmp:
        path = Path(tmp) / "model.onnx"
        info: dict = {}
        export_onnx(graph, path, model=model, report=info)
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        feeds = {i.name: x.numpy() for i, x in zip(session.get_inputs(), xs)}
        got = session.run(None, feeds)
        t = time_call(lambda: session.run(None, feeds), torch.device("cpu"), budget_s=budget_s)
    model = model.eval()
    with torch.no_grad():
        want = model(*xs)
        want = want if isinstance(want, tuple) else (want,)
        diff = max(float(abs(torch.as_tensor(g) - w).max()) for g, w in zip(got, want))
        t_torch = time_call(lambda: model(*xs), torch.device("cpu"), budget_s=budget_s)
    return {"forward_ms": round(t.median_ms, 4), "torch_cpu_forward_ms": round(t_torch.median_ms, 4),
            "exporter": info["exporter"], "max_abs_diff": diff}
