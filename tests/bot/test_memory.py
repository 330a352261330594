"""A long-running process gives freed C memory back, however large the blocks start-up freed."""

from __future__ import annotations

import ctypes
import os
import sqlite3
import subprocess
import sys

import pytest

from onboard.bot import memory

# In a fresh interpreter: free one large block, as start-up's imports do, then make and free
# 4 MiB of temporaries, as a burst of work does; print how much the heap kept (bytes).
BURST = """
import ctypes, sys
from onboard.bot import memory

libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
libc.mallinfo2.restype = memory.MallInfo2
libc.free(libc.malloc(8 << 20))
if sys.argv[1] == "settled":
    assert memory.give_back_freed_memory()
before = libc.mallinfo2().arena
blocks = [libc.malloc(256 << 10) for _ in range(16)]
for block in blocks:
    libc.free(block)
print(libc.mallinfo2().arena - before)
"""


def glibc_with_mallinfo2() -> bool:
    try:
        ctypes.CDLL(None).mallinfo2  # noqa: B018 - glibc 2.33 and later
    except (OSError, AttributeError):
        return False
    return True


def in_fresh_interpreter(script: str, how: str) -> int:
    """What `script` prints (bytes), run `how`, with glibc's malloc at its own defaults."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run(
        [sys.executable, "-c", script, how], capture_output=True, text=True, env=env, check=True
    )
    return int(done.stdout)


def heap_kept(how: str) -> int:
    return in_fresh_interpreter(BURST, how)


@pytest.mark.skipif(not glibc_with_mallinfo2(), reason="glibc's malloc only")
def test_a_burst_of_large_temporaries_leaves_nothing_behind_once_settled() -> None:
    # Left to itself, glibc keeps the burst: the large free raised its thresholds.
    # Of the 4 MiB: importing onboard.bot.memory may leave a little free room at the top.
    assert heap_kept("as glibc starts") >= 3 << 20

    assert heap_kept("settled") < 1 << 20


def test_an_operators_malloc_settings_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "1048576")

    assert memory.give_back_freed_memory() is False


def test_the_heap_tells_live_objects_from_memory_kept_free() -> None:
    before = memory.heap()
    objects = [object() for _ in range(50_000)]
    buffer = bytearray(4 << 20)
    holding = memory.heap()

    assert holding.python_blocks - before.python_blocks >= 50_000
    if before.known:  # glibc
        assert holding.malloc_in_use - before.malloc_in_use >= 4 << 20  # type: ignore[operator]

    del objects, buffer
    let_go = memory.heap()
    assert let_go.python_blocks < holding.python_blocks - 45_000
    if before.known:
        assert let_go.malloc_in_use < holding.malloc_in_use - (3 << 20)  # type: ignore[operator]


def test_the_heap_counts_what_sqlite_holds() -> None:
    if memory.heap().sqlite_in_use is None:
        pytest.skip("this Python's SQLite does not export sqlite3_memory_used")
    before = memory.heap().sqlite_in_use or 0
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE kept (data BLOB)")
    connection.executemany("INSERT INTO kept VALUES (?)", [(b"x" * 1000,)] * 1000)

    assert (memory.heap().sqlite_in_use or 0) - before >= 1_000_000  # its pages, in memory

    connection.close()
    assert (memory.heap().sqlite_in_use or 0) - before < 100_000


# In a fresh interpreter: a scheduled job's temporaries in a pool thread's arena (16 MiB of
# small blocks), all freed but the last, which pins the rest; print what the process gave back.
JOB = """
import ctypes, sys, threading
from onboard.bot import memory

libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
libc.memset.argtypes = (ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t)

def resident():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) << 10

def job():
    blocks = [libc.malloc(16 << 10) for _ in range(1024)]
    for block in blocks:
        libc.memset(block, 1, 16 << 10)
    for block in blocks[:-1]:
        libc.free(block)

worker = threading.Thread(target=job)
worker.start()
worker.join()
before = resident()
if sys.argv[1] == "after the job":
    memory.give_back_free_pages()
print(before - resident())
"""


def given_back(how: str) -> int:
    return in_fresh_interpreter(JOB, how)


@pytest.mark.skipif(not glibc_with_mallinfo2(), reason="glibc's malloc only")
def test_what_a_scheduled_job_freed_is_given_back_once_it_ends() -> None:
    # Left to itself, glibc keeps the freed pages under the block still in use.
    assert given_back("left alone") < 1 << 20

    assert given_back("after the job") > 12 << 20
