"""What a process holds, read from /proc: its peak memory, its open sockets."""

from __future__ import annotations

import contextlib
import os
import resource


def peak_rss_mib() -> float:
    """This process's high-water mark of resident memory."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def open_sockets(pid: int | str = "self") -> int:
    """How many of the process's file descriptors are sockets."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):  # closed while we look (the listing's own, too)
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
    return count
