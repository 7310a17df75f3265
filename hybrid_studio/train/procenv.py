"""Settings of a process that does nothing but train (the worker process, ``hybrid-studio train``): the C
allocator's thresholds, and a one-line account of them and of torch's thread pools for the run's log.

Why the allocator: glibc's malloc hands blocks above its *mmap threshold* straight to the kernel and gives the
free memory at the top of its heap back above its *trim threshold*. Both thresholds move at run time with the
history of the process (a freed mmapped block raises them), so the same training loop either reuses its memory
from step to step or has the kernel unmap and zero-fill its activations again at every step, depending on what
the process did before. Measured on crnn-small / digit-strings (1 thread, 960 samples an epoch,
same code): 150 to 330,000 minor page faults an epoch and 0.002 to 1.2 s of system time on a ~2.8 s epoch, for the
runner and a minimal hand-written loop alike; worker epochs at ~275,000 faults took 4.0-4.4 CPU seconds, at
< 45,000 faults 2.4-3.1 s (tests/benchmarks/README.md, train section). Fixing the thresholds (mmap at its
32 MiB maximum, trim at 256 MiB) keeps the faults at a few thousand an epoch and the system time near zero in
every process. The cost: a training process keeps up to ``TRIM_THRESHOLD`` of freed memory instead of returning
it at once, which it would need again at the next step anyway.

Nothing here imports torch; ``tune_allocator`` is a no-op where the C library is not glibc (macOS, Windows,
musl) and when the user set glibc's own malloc environment variables, which then win.
"""

from __future__ import annotations

import os
import sys

#: Blocks up to this size come from the heap (reused) instead of fresh mmaps; 32 MiB is glibc's maximum on 64-bit.
MMAP_THRESHOLD = 32 * 2 ** 20
#: Free memory at the top of the heap is kept up to this size (not given back and zero-filled again each step).
TRIM_THRESHOLD = 256 * 2 ** 20

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")

#: What ``tune_allocator`` did in this process (for ``process_settings``); None before it ran.
_allocator_note: str | None = None


def tune_allocator() -> str:
    """Fix glibc malloc's mmap and trim thresholds for this process (see the module docstring); returns what was
    done, in words. Call it once, early, in a process that only trains."""
    global _allocator_note
    _allocator_note = _tune()
    return _allocator_note


def _tune() -> str:
    if not sys.platform.startswith("linux"):
        return "allocator: the system's default"
    user = [k for k in _USER_SETTINGS if os.environ.get(k)]
    if "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        user.append("GLIBC_TUNABLES")
    if user:
        return f"allocator: as set by {', '.join(user)}"
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return "allocator: the C library's default"
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) != 1 or mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) != 1:
        return "allocator: the C library's default (mallopt refused the thresholds)"
    return (f"allocator: glibc malloc, mmap threshold {MMAP_THRESHOLD >> 20} MiB, "
            f"trim threshold {TRIM_THRESHOLD >> 20} MiB")


def process_settings() -> str:
    """One line for the run's log: torch's thread pools and the allocator settings of this process."""
    import torch

    allocator = _allocator_note or "allocator: the default"
    return (f"process {os.getpid()}: torch {torch.get_num_threads()} intra-op thread(s), "
            f"{torch.get_num_interop_threads()} inter-op; {allocator}")
