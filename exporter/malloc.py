"""glibc's allocator, told to give back what a large answer took.

Each pool thread gets an arena of its own, and an arena keeps what was freed in it: a thread
that once read a 62 MiB page (refused at its bound, or a legitimate page of 2,000 Nodes) keeps
that much resident for good, and so does the next thread that reads one (a cluster role
retrying a refused page reached 946 MiB). Blocks from 64 KiB up are mapped on their own and
unmapped when freed, and two arenas serve all threads. Python's own small objects are not
affected (pymalloc). Nothing happens where glibc is not the C library (musl)."""

from __future__ import annotations

import contextlib
import ctypes

M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = 64 * 1024
ARENAS = 2


def tune() -> bool:
    """True when glibc took the settings. The process's own symbols are asked (the C library
    is loaded already): ctypes.util.find_library would run ldconfig at every start."""
    with contextlib.suppress(OSError, AttributeError):
        mallopt = ctypes.CDLL(None).mallopt
        mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
            mallopt(M_ARENA_MAX, ARENAS)
        )
    return False
