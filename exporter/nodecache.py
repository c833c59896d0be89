"""The cluster role's nodes, as the node-derived checks read them: a watched cache while
`serve` runs (exporter/nodewatch.py: one LIST, then changes), else one paginated LIST per
`kubernetes.node_cache_ttl` shared by every check of the round. It owns its data and its
statistics; the client below it (exporter/kube.py) is transport only."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from exporter.model import CheckError
from exporter.nodefacts import NodeFacts
from exporter.nodewatch import LIST_PAGE_SIZE, NodeWatch
from exporter.sharedreads import SharedReads

if TYPE_CHECKING:
    from exporter.kube import Kube

RESOURCE = "/api/v1/nodes"


@dataclass(frozen=True)
class CacheStats:
    """What the cache reports about itself (the daemon renders it as metrics)."""

    watching: bool  # following a watch, not relisting
    objects: int | None  # nodes held while watching; None otherwise
    lists: int  # full LISTs of the nodes made, by the watch or the fallback
    events: int  # watch events applied
    last_sync: float  # when the nodes were last complete (Unix time); 0.0 never


class NodeCache:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.watch: NodeWatch | None = None
        self._lists = 0  # LISTs made here, as the fallback (the watch counts its own)
        self._list_at = 0.0
        # A failed LIST is shared like a good one, for the ttl: every check of the round gets
        # the same reason, and a server sending refused pages is asked once per ttl, not once
        # per check (each refusal reads up to the page's bound first).
        self._reads = SharedReads((CheckError,))

    def start_watch(self, on_change: Callable[[], None]) -> None:
        """serve: feed nodes() from a watched cache from now on (one LIST, then changes)."""
        page_size = min(self.kube.page_size, LIST_PAGE_SIZE)
        self.watch = NodeWatch(self.kube, asyncio.get_running_loop(), on_change, page_size)
        self.watch.start()

    def stop_watch(self) -> None:
        if self.watch is not None:
            self.watch.stop()

    async def nodes(self, timeout: float = 10.0) -> list[NodeFacts]:
        """All Nodes: the watched cache while it is usable; else one paginated LIST per
        ttl, concurrent callers waiting for the same LIST rather than starting their own."""
        watch = self.watch
        if watch is not None:
            if not watch.synced.is_set():  # its first LIST is under way: no second one
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(watch.synced.wait(), timeout)
            if watch.usable:
                return watch.snapshot()
        return await self._reads.get("nodes", self.kube.cache_ttl, lambda: self._list(timeout))

    async def _list(self, timeout: float) -> list[NodeFacts]:
        nodes = await self.kube.list_all(RESOURCE, timeout, NodeFacts.from_json)
        self._lists += 1
        self._list_at = time.time()
        return nodes

    def stats(self) -> CacheStats:
        watch = self.watch
        watching = watch is not None and watch.up and not watch.fallback
        synced = watch is not None and watch.synced.is_set() and not watch.fallback
        return CacheStats(
            watching=watching,
            objects=len(watch) if watch is not None and synced else None,
            lists=self._lists + (watch.lists if watch else 0),
            events=watch.events if watch else 0,
            last_sync=max(self._list_at, watch.last_sync if watch else 0.0),
        )
