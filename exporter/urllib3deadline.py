"""One deadline over a urllib3 request's connect, send and answer head (the cluster role's
Kubernetes client): urllib3 bounds each recv, so an API server or a proxy that dribbles its
headers a byte at a time held a pool thread for as long as it liked. The connections of a
client's pools note their socket for the calling thread; when the deadline passes, the
watchdog (exporter/watchdog.py) shuts it down and the blocked read returns."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

from exporter import watchdog

_local = threading.local()


def _note(conn: Any) -> None:
    held = getattr(_local, "held", None)
    sock = getattr(conn, "sock", None)
    if held is not None and sock is not None:
        held.append(sock)


def install(pool_manager: Any) -> None:
    """Make `pool_manager`'s pools (a urllib3 PoolManager or ProxyManager) note their sockets."""
    import urllib3
    from urllib3.connection import HTTPConnection, HTTPSConnection

    class Conn(HTTPConnection):
        def getresponse(self, *args: Any, **kwargs: Any) -> Any:
            _note(self)
            return super().getresponse(*args, **kwargs)

    class TLSConn(HTTPSConnection):
        def getresponse(self, *args: Any, **kwargs: Any) -> Any:
            _note(self)
            return super().getresponse(*args, **kwargs)

    class Pool(urllib3.HTTPConnectionPool):
        ConnectionCls = Conn

    class TLSPool(urllib3.HTTPSConnectionPool):
        ConnectionCls = TLSConn

    pool_manager.pool_classes_by_scheme = {"http": Pool, "https": TLSPool}


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[list[bool]]:
    """Within the block, this thread's requests through installed pools end by `seconds`;
    the list it yields is non-empty once the deadline cut one."""
    held: list[socket.socket] = []
    fired: list[bool] = []

    def expire() -> None:
        fired.append(True)
        for sock in held:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    _local.held = held
    try:
        with watchdog.deadline(seconds, expire):
            yield fired
    finally:
        _local.held = None
