"""Calls a check left running in the pool when its timeout gave the verdict."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

from exporter.model import CheckError, Reason

R = TypeVar("R")


class InFlight:
    """One check's blocking calls that outlived the run that started them: a hung client
    (a server dribbling a byte per read timeout) keeps its pool thread after the check's
    timeout gave the verdict. While one is still running the check starts no other, so a
    slow dependency holds one thread, never the pool its neighbours need."""

    abandoned_total = 0  # across all checks, for gitpod_exporter_abandoned_threads
    _lock = threading.Lock()

    def __init__(self) -> None:
        self.abandoned = 0

    def abandon(self, future: concurrent.futures.Future[Any]) -> None:
        with InFlight._lock:
            self.abandoned += 1
            InFlight.abandoned_total += 1
        future.add_done_callback(self._finished)

    def _finished(self, _: concurrent.futures.Future[Any]) -> None:
        with InFlight._lock:  # called in the pool thread
            self.abandoned -= 1
            InFlight.abandoned_total -= 1


async def call(
    pool: Executor, inflight: InFlight, what: str, fn: Callable[..., R], *args: Any
) -> R:
    """`fn` in the bounded pool so the event loop (and /metrics) stays free. A call still
    running when its caller is cancelled (a check's timeout) is abandoned and counted; until it
    ends, the next calls of the same `inflight` are refused rather than queued."""
    if inflight.abandoned:
        raise CheckError(
            Reason.TIMEOUT,
            f"the previous call to {what} is still running (abandoned at its timeout): no "
            "other is started until it ends",
        )
    future = pool.submit(functools.partial(fn, *args))
    try:
        return await asyncio.wrap_future(future)
    except asyncio.CancelledError:
        if not future.cancel():  # already running in a thread: it cannot be stopped
            inflight.abandon(future)
        raise
