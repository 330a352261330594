"""How a long-running process holds its memory: start-up's objects out of the collector's
way, and freed C memory given back to the system instead of kept for later.

docs/benchmarks.md measures the result: `onboard serve`'s resident size under load.
"""

from __future__ import annotations

import ctypes
import gc
import os

# glibc's mallopt parameters (malloc.h) and the value both start at.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
GLIBC_DEFAULT = 128 * 1024


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
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    except (OSError, AttributeError):  # not glibc (macOS has no mallopt)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return all(
        mallopt(parameter, GLIBC_DEFAULT) == 1 for parameter in (M_MMAP_THRESHOLD, M_TRIM_THRESHOLD)
    )
