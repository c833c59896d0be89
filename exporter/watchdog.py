"""One deadline for a whole blocking exchange, from connect to the last byte.

A socket timeout bounds each recv, not the exchange: a server (or a proxy) that dribbles its
TLS handshake or its headers a byte at a time resets it with every byte and holds the pool
thread for hours. One daemon thread keeps every armed deadline in a heap and, when one passes,
shuts the socket down: whatever recv or handshake is blocked on it returns at once.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator

_lock = threading.Condition()
_heap: list[tuple[float, int]] = []
_armed: dict[int, Callable[[], None]] = {}
_ids = itertools.count()
_thread: threading.Thread | None = None


def _run() -> None:
    while True:
        with _lock:
            while not _heap:
                _lock.wait()
            deadline, key = _heap[0]
            wait = deadline - time.monotonic()
            if wait > 0:
                _lock.wait(wait)
                continue
            heapq.heappop(_heap)
            expire = _armed.pop(key, None)
            if expire is not None:
                # Under the lock: once the block has left deadline(), expire() is done or never
                # runs, so the caller may close what it touches.
                with contextlib.suppress(Exception):
                    expire()


@contextlib.contextmanager
def deadline(seconds: float, expire: Callable[[], None]) -> Iterator[None]:
    """Calls `expire` (from the watchdog's thread) if the block still runs after `seconds`."""
    global _thread
    key = next(_ids)
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_run, name="deadline-watchdog", daemon=True)
            _thread.start()
        _armed[key] = expire
        heapq.heappush(_heap, (time.monotonic() + seconds, key))
        _lock.notify()
    try:
        yield
    finally:
        with _lock:
            _armed.pop(key, None)


class Cut:
    """The sockets of one exchange, shut down together when its deadline passes: whatever
    connect, handshake or recv is blocked on them returns at once. A socket held after that is
    shut as it is held, so a client that carries on (a retry, the next call) gets no further."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []
        self.fired = False

    def hold(self, sock: socket.socket) -> None:
        self.sockets.append(sock)
        if self.fired:
            _shut(sock)

    def _expire(self) -> None:
        self.fired = True
        for sock in self.sockets:
            _shut(sock)

    @contextlib.contextmanager
    def within(self, seconds: float) -> Iterator[None]:
        with deadline(seconds, self._expire):
            yield


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # closed already: nothing to stop
        sock.shutdown(socket.SHUT_RDWR)
