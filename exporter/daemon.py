"""The long-running side: scheduler, store, thread pool and config reload on SIGHUP."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from exporter import families
from exporter.config import ConfigError
from exporter.exposition import Exposition, counter, gauge, make_exposition
from exporter.inflight import InFlight
from exporter.nodeapi import NodeApi
from exporter.nodecache import CacheStats
from exporter.nodecondition import NodeConditionWriter
from exporter.runtime import Loaded, Options, build, load, node_name
from exporter.scheduler import Scheduler
from exporter.store import Store

log = logging.getLogger("exporter.daemon")


STOP_GRACE_SECONDS = 2.0
NODE_CHANGE_DEBOUNCE = 0.5


class Daemon(Collector):
    def __init__(self, options: Options, loaded: Loaded, config_path: str | None) -> None:
        self.options = options
        self.config = loaded.config
        self.config_path = config_path
        self.pool = ThreadPoolExecutor(self.config.thread_pool_size, thread_name_prefix="check")
        runtime = build(options, loaded, self.pool)
        self.node_cache = runtime.node_cache
        self.store = Store(runtime.requirements)
        self.scheduler = Scheduler(runtime.jobs, self.store)
        self.condition: NodeConditionWriter | None = None
        if options.node_condition and isinstance(runtime.api, NodeApi):
            self.condition = NodeConditionWriter(
                runtime.api, node_name(self.config), self.store, options.node_condition_heartbeat
            )
        self._condition_task: asyncio.Task[None] | None = None
        self.reload_ok = True
        self.reload_at = time.time()
        self._reloading = False
        self._reload_again = False
        self._wake_pending: asyncio.TimerHandle | None = None

    def exposition(self, node: str) -> Exposition:
        """What /metrics serves: the Store's families, then the process's and this daemon's."""
        return make_exposition(self.store, node, self)

    def start(self) -> None:
        self._start_watch()
        self.scheduler.start()
        if self.condition is not None:
            self._condition_task = asyncio.get_running_loop().create_task(
                self.condition.run(), name="node-condition"
            )

    def _start_watch(self) -> None:
        if self.node_cache is not None and self.config.kubernetes.watch:
            self.node_cache.start_watch(self._nodes_changed)

    def _nodes_changed(self) -> None:
        # A burst of changes (a node pool scaling, a label applied to 200 nodes) becomes one
        # run of each node-derived check, NODE_CHANGE_DEBOUNCE after the first change.
        if self._wake_pending is None:
            self._wake_pending = asyncio.get_running_loop().call_later(
                NODE_CHANGE_DEBOUNCE, self._wake_node_readers
            )

    def _wake_node_readers(self) -> None:
        self._wake_pending = None
        self.scheduler.wake(j.check.id for j in self.scheduler.jobs if "nodes" in j.check.reads)

    async def stop(self) -> None:
        # SIGTERM: a run in progress gets a moment to land its result, then everything stops.
        if self.node_cache is not None:
            self.node_cache.stop_watch()
        if self._condition_task is not None:
            self._condition_task.cancel()
        await self.scheduler.stop(grace=STOP_GRACE_SECONDS)
        # Threads stuck in a hung client cannot be interrupted; do not wait for them.
        self.pool.shutdown(wait=False, cancel_futures=True)

    def reload(self) -> None:
        """SIGHUP: re-read the config; a broken file keeps the running config. One reload runs
        at a time; SIGHUPs during it queue exactly one more."""
        if self._reloading:
            self._reload_again = True
            return
        self._reloading = True
        # Held by the loop until done; the reference keeps it from being collected early.
        self._reload_task = asyncio.get_running_loop().create_task(self._reloads())

    async def _reloads(self) -> None:
        try:
            while True:
                self._reload_again = False
                await self._reload_once()
                if not self._reload_again:
                    return
        finally:
            self._reloading = False

    async def _reload_once(self) -> None:
        try:
            # Parsed off the loop (a large file must not stall /metrics) and off the check
            # pool (whose threads a hung dependency may hold).
            loaded = await asyncio.get_running_loop().run_in_executor(None, load, self.config_path)
        except Exception as exc:  # a hostile file may provoke more than ConfigError
            self.reload_ok = False
            why = str(exc) if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {exc}"
            log.error("config reload failed, keeping the running config: %s", why[:500])
            return
        self.reload_ok = True
        self.reload_at = time.time()
        config = loaded.config
        if config.thread_pool_size != self.config.thread_pool_size:
            log.warning("thread_pool_size changes take effect at restart")
        logging.getLogger().setLevel(config.log_level.upper())
        self.config = config
        old, old_cache = self.scheduler, self.node_cache
        runtime = build(self.options, loaded, self.pool)
        self.node_cache = runtime.node_cache
        self.scheduler = Scheduler(runtime.jobs, self.store)
        if old_cache is not None:
            old_cache.stop_watch()
        await old.stop()
        self.store.set_requirements(runtime.requirements)
        self._start_watch()
        self.scheduler.start()
        log.info("config reloaded from %s", self.config_path or "defaults")

    def collect(self) -> Iterator[Metric]:
        ok = gauge(families.CONFIG_RELOAD_SUCCESSFUL)
        ok.add_metric([], 1.0 if self.reload_ok else 0.0)
        at = gauge(families.CONFIG_RELOAD_SUCCESS_TIMESTAMP)
        at.add_metric([], self.reload_at)
        yield ok
        yield at
        abandoned = gauge(families.ABANDONED_THREADS)
        abandoned.add_metric([], float(InFlight.abandoned_total))
        yield abandoned
        if self.node_cache is not None:
            yield from self._node_cache_metrics(self.node_cache.stats())
        if self.condition is not None:
            updates = counter(families.NODE_CONDITION_UPDATES)
            updates.add_metric(["ok"], float(self.condition.ok))
            updates.add_metric(["error"], float(self.condition.errors))
            yield updates

    @staticmethod
    def _node_cache_metrics(stats: CacheStats) -> Iterator[Metric]:
        up = gauge(families.KUBERNETES_WATCH_UP)
        objects = gauge(families.KUBERNETES_CACHE_OBJECTS)
        relists = counter(families.KUBERNETES_RELISTS)
        events = counter(families.KUBERNETES_WATCH_EVENTS)
        synced = gauge(families.KUBERNETES_CACHE_LAST_SYNC)
        up.add_metric(["nodes"], 1.0 if stats.watching else 0.0)
        relists.add_metric(["nodes"], float(max(stats.lists - 1, 0)))
        events.add_metric(["nodes"], float(stats.events))
        if stats.objects is not None:
            objects.add_metric(["nodes"], float(stats.objects))
        if stats.last_sync:
            synced.add_metric(["nodes"], stats.last_sync)
        yield from (up, objects, relists, events, synced)
