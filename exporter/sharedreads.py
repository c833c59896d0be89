"""Reads that several checks make in one round, made once (the node list, /version, the Gitpod
config and Secrets, this node's own Node): per key, one read per `ttl`, and callers arriving
while it runs wait for it instead of starting their own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


class SharedReads:
    def __init__(self, keep_failures: tuple[type[BaseException], ...] = ()) -> None:
        # Failures of these types are shared like results (every check sees the same reason
        # until the next read); others propagate to their caller only and are not kept.
        self.keep_failures = keep_failures
        self._cache: dict[str, tuple[float, Any, BaseException | None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, key: str, ttl: float, fetch: Callable[[], Awaitable[T]]) -> T:
        """The read of `key` made less than `ttl` seconds ago, else a new one (ttl 0: always)."""
        async with self._locks.setdefault(key, asyncio.Lock()):
            cached = self._cache.get(key)
            if cached is None or time.monotonic() - cached[0] >= ttl:
                try:
                    cached = (time.monotonic(), await fetch(), None)
                except self.keep_failures as exc:
                    cached = (time.monotonic(), None, exc)
                self._cache[key] = cached
        if cached[2] is not None:
            # Without its old traceback: raising one exception object again prepends to the
            # traceback it carries, so a failure shared for ten minutes by a dozen checks a
            # second would keep every frame of every raise (13 KB a second, measured).
            raise cached[2].with_traceback(None)
        return cached[1]
