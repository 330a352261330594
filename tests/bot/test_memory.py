"""A long-running process gives freed C memory back, however large the blocks start-up freed."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import pytest

from onboard.bot import memory

# In a fresh interpreter: free one large block, as start-up's imports do, then make and free
# 4 MiB of temporaries, as a burst of work does; print how much the heap kept (bytes).
BURST = """
import ctypes, sys
from onboard.bot import memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
libc.mallinfo2.restype = MallInfo2
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


def heap_kept(how: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run(
        [sys.executable, "-c", BURST, how], capture_output=True, text=True, env=env, check=True
    )
    return int(done.stdout)


@pytest.mark.skipif(not glibc_with_mallinfo2(), reason="glibc's malloc only")
def test_a_burst_of_large_temporaries_leaves_nothing_behind_once_settled() -> None:
    # Left to itself, glibc keeps the burst: the large free raised its thresholds.
    assert heap_kept("as glibc starts") >= 4 << 20

    assert heap_kept("settled") < 1 << 20


def test_an_operators_malloc_settings_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "1048576")

    assert memory.give_back_freed_memory() is False
