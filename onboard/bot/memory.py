"""How a long-running process holds its memory: start-up's objects out of the collector's
way, and freed C memory given back to the system instead of kept for later.

docs/benchmarks.md measures the result: `onboard serve`'s resident size under load.
"""

from __future__ import annotations

import ctypes
import gc
import os
from collections.abc import Callable
from typing import cast

# glibc's mallopt parameters (malloc.h) and the value both thresholds start at.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
GLIBC_DEFAULT = 128 * 1024
ARENAS = 2  # heaps the threads share (glibc's default: eight per core)


def few_arenas() -> bool:
    """Before the threads start: they share ARENAS of glibc's heaps instead of one each.

    glibc gives each new thread a heap (an arena) of its own, up to eight per core, and serve
    has some thirty threads. What a thread's burst of work freed stays in that thread's heap:
    no other thread reuses it, and it goes back to the system only from the heap's very top.
    With two, a 30,000-request run peaked at 121 MiB instead of 125 (docs/benchmarks.md).
    Python allocates under the interpreter lock, so threads seldom wait for an arena.
    An operator's MALLOC_ARENA_MAX wins. False off glibc, or when left to it.
    """
    mallopt = None if "MALLOC_ARENA_MAX" in os.environ else _mallopt()
    return mallopt is not None and mallopt(M_ARENA_MAX, ARENAS) == 1


def settle() -> None:
    """Once started: compile every template, move what start-up built out of the collector's
    reach, and have freed C memory given back from now on.

    A full collection walks every tracked object and holds the interpreter meanwhile: with
    start-up's objects in the heap that was a 70–110 ms pause, long enough to show in the acks'
    p99 (docs/benchmarks.md). Frozen objects are never walked again.
    """
    from onboard.messages.render import load_all

    load_all()
    gc.collect()
    gc.freeze()
    give_back_freed_memory()


def give_back_freed_memory() -> bool:
    """Keep glibc's malloc at its starting thresholds: blocks of 128 KiB and more mapped on
    their own and unmapped when freed, and free space over 128 KiB at a heap's top returned.

    glibc raises both thresholds each time it frees a large mapped block (start-up's imports
    free a few), up to 32 MiB: from then on the heaps keep megabytes they no longer use, and a
    busy process's resident size steps up for good each time a burst of work needs more than
    before. Large blocks are rare here once serving (heaptrack counted 58 in a memory run's
    first 90 s, start-up included), so mapping them costs nothing measurable. An operator's
    MALLOC_*_THRESHOLD_ settings win. False where the C library is not glibc, or the
    settings were left to the operator.
    """
    if any(f"MALLOC_{name}_THRESHOLD_" in os.environ for name in ("TRIM", "MMAP")):
        return False
    mallopt = _mallopt()
    return mallopt is not None and all(
        mallopt(parameter, GLIBC_DEFAULT) == 1 for parameter in (M_MMAP_THRESHOLD, M_TRIM_THRESHOLD)
    )


def _mallopt() -> Callable[[int, int], int] | None:
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    except (OSError, AttributeError):  # not glibc (macOS has no mallopt)
        return None
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return cast(Callable[[int, int], int], mallopt)
