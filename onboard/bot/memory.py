"""How a long-running process holds its memory: start-up's objects out of the collector's
way, freed C memory given back to the system instead of kept for later, and where the memory
is (`heap`), for /metrics and the memory benchmark.

docs/benchmarks.md measures the result: `onboard serve`'s resident size under load.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

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


def give_back_free_pages() -> None:
    """glibc's `malloc_trim(0)`: hand the free pages inside every heap (the main one and each
    thread's arena, not only their tops) back to the system. After each scheduled job: a
    sweep's transient memory (~4 MiB over a few hundred clients) is otherwise left resident
    in the arena of the pool thread that ran it, pinned there by a few blocks still in use
    above it: the memory benchmark's resident size stepped up 4 MiB at a time, at the
    stand-up sweep's runs. 0.1–2 ms of CPU, with the GIL released meanwhile."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    trim.argtypes = (ctypes.c_size_t,)
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


class MallInfo2(ctypes.Structure):
    """glibc's `struct mallinfo2` (malloc.h; glibc 2.33 and later): sizes in bytes, all heaps."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",  # bytes of the heaps (not the blocks mapped on their own)
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",  # bytes of the blocks mapped on their own
            "usmblks",
            "fsmblks",
            "uordblks",  # bytes in use in the heaps
            "fordblks",  # bytes free in the heaps, kept rather than given back
            "keepcost",
        )
    ]


@dataclass(frozen=True)
class Heap:
    """Where a process's memory is, beyond its resident size: in live objects, or kept free.

    A resident size that grows while `python_blocks` and `malloc_in_use` stay flat is the
    allocators keeping pages (in `malloc_free`, or in Python's own arenas, which none of these
    count), not objects piling up."""

    python_blocks: int  # memory blocks Python's allocator has handed out and not had back
    malloc_in_use: int | None  # bytes C code (and Python's larger objects) hold from malloc
    malloc_free: int | None  # bytes malloc keeps free in its heaps
    sqlite_in_use: int | None = None  # bytes SQLite holds (of malloc's), its page caches most

    @property
    def known(self) -> bool:
        """False where the C library is not glibc: malloc's figures are not known."""
        return self.malloc_in_use is not None


def heap() -> Heap:
    """This process's heap now. glibc locks each of its heaps in turn and walks their free
    lists: fine for a scrape every few seconds, not for a hot path."""
    read, sqlite = _mallinfo2(), _sqlite_memory_used()
    info = read() if read is not None else None
    return Heap(
        sys.getallocatedblocks(),
        info.uordblks + info.hblkhd if info is not None else None,
        info.fordblks if info is not None else None,
        sqlite() if sqlite is not None else None,
    )


@cache
def _mallinfo2() -> Callable[[], MallInfo2] | None:
    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):  # not glibc, or older than 2.33
        return None
    mallinfo2.restype = MallInfo2
    mallinfo2.argtypes = ()
    return mallinfo2  # type: ignore[no-any-return]


@cache
def _sqlite_memory_used() -> Callable[[], int] | None:
    """SQLite's `sqlite3_memory_used`, from the library Python's sqlite3 module uses; None
    where it is hidden, or where SQLite was built not to count (it would always say 0)."""
    try:
        import _sqlite3
        import sqlite3
    except ImportError:  # a Python built without SQLite
        return None
    try:
        used = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
        with contextlib.closing(sqlite3.connect(":memory:")) as probe:
            options = {row[0] for row in probe.execute("PRAGMA compile_options")}
    except (OSError, AttributeError, sqlite3.Error):  # the symbol hidden
        return None
    if "DEFAULT_MEMSTATUS=0" in options:
        return None
    used.restype = ctypes.c_int64
    used.argtypes = ()
    return used  # type: ignore[no-any-return]
