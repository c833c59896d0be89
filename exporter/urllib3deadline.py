"""One deadline over a urllib3 request's connect, send and answer head (the cluster role's
Kubernetes client): urllib3 bounds each recv, so an API server or a proxy that dribbles its
headers a byte at a time held a pool thread for as long as it liked. The connections of a
client's pools note their socket for the calling thread; when the deadline passes, the
watchdog (exporter/watchdog.py) shuts it down and the blocked read returns."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from exporter import watchdog

_local = threading.local()


def _note(conn: Any) -> None:
    cut: watchdog.Cut | None = getattr(_local, "cut", None)
    sock = getattr(conn, "sock", None)
    if cut is not None and sock is not None:
        cut.hold(sock)


_NOTING: dict[type, type] = {}  # a pool class -> its noting subclass, made once


def _noting(pool_cls: type) -> type:
    """`pool_cls` whose connections note their socket once connected and before each answer
    is read (a kept-alive connection is not connected again)."""
    sub = _NOTING.get(pool_cls)
    if sub is None:
        base: Any = pool_cls.ConnectionCls  # type: ignore[attr-defined]

        class Conn(base):  # type: ignore[misc]
            def connect(self) -> None:
                super().connect()
                _note(self)

            def getresponse(self, *args: Any, **kwargs: Any) -> Any:
                _note(self)
                return super().getresponse(*args, **kwargs)

        sub = _NOTING[pool_cls] = type(pool_cls.__name__, (pool_cls,), {"ConnectionCls": Conn})
    return sub


def noting(classes: dict[str, type]) -> dict[str, type]:
    """A PoolManager's `pool_classes_by_scheme`, each class made to note its sockets: urllib3's
    own (the kubernetes client) or botocore's AWS pools alike."""
    return {scheme: _noting(cls) for scheme, cls in classes.items()}


def install(pool_manager: Any) -> None:
    """Make `pool_manager`'s pools (a urllib3 PoolManager or ProxyManager) note their sockets."""
    pool_manager.pool_classes_by_scheme = noting(pool_manager.pool_classes_by_scheme)


@contextlib.contextmanager
def deadline(cut: watchdog.Cut, seconds: float) -> Iterator[None]:
    """Within the block, this thread's requests through installed pools end by `seconds`:
    `cut.fired` once the deadline cut one."""
    _local.cut = cut
    try:
        with cut.within(seconds):
            yield
    finally:
        _local.cut = None
