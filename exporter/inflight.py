"""Calls a check left running in the pool when its timeout gave the verdict."""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Any


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
