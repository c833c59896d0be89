"""The cluster role's node cache, kept the way client-go's informers keep theirs: one paginated
LIST, then a WATCH from the list's resourceVersion (with bookmarks), a relist only after 410
Gone. Only NodeFacts are kept. A change that matters to a check (labels, Ready, schedulable,
nodeInfo, capacity, a node added or removed) calls `on_change` on the event loop, so the
node-derived requirements are judged again within seconds, not at their next interval.

The LIST and the stream run in one thread of their own: a watch blocks for minutes, which the
check pool must not pay for, and each event's JSON is parsed there, off the event loop. When a
watch cannot be had (RBAC without `watch`, a proxy that cuts every stream) the cache says so
(`fallback`) and Kube lists per round as before; the watch is tried again later."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from exporter.model import CheckError, KubeError, Reason
from exporter.nodefacts import NodeFacts
from exporter.pager import Pager

if TYPE_CHECKING:
    from exporter.kube import Kube

log = logging.getLogger("exporter.nodewatch")

RESOURCE = "/api/v1/nodes"
# One event is one Node (10-25 KB); an unbounded line is a hostile or broken stream.
MAX_EVENT_BYTES = 4 << 20
# A stream that ends this many times in a row without delivering anything is not a watch.
FAILURES_BEFORE_FALLBACK = 3
# How long the cache relies on relisting before it tries to watch again.
FALLBACK_SECONDS = 300.0
BACKOFF_MAX = 30.0
# Nodes per page of the cache's LIST. It runs once (and after 410 Gone), so fewer, larger pages
# buy nothing, while each page is parsed whole before it is slimmed: measured at 5,000
# realistic nodes (benchmarks/watch.py), peak RSS 221 MiB with pages of 2,000, 115 with 500,
# 79 with 100.
LIST_PAGE_SIZE = 100


class Gone(Exception):
    """The resourceVersion is too old (410): list again."""


class NodeWatch:
    def __init__(
        self,
        kube: Kube,
        loop: asyncio.AbstractEventLoop,
        on_change: Callable[[], None],
        page_size: int = LIST_PAGE_SIZE,
        timeout: float = 10.0,
    ) -> None:
        self.kube = kube
        self.loop = loop
        self.on_change = on_change
        self.page_size = page_size
        self.timeout = timeout
        self._facts: dict[str, NodeFacts] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="node-watch", daemon=True)
        self._response: Any = None
        self._rv = ""  # the resourceVersion the cache is current to
        self._delivered = False  # the current attempt brought a list, an event or a bookmark
        self.synced = asyncio.Event()  # set on the loop: the first list is in, or fallback
        # Written by the thread only, read by the loop (Kube.nodes, the collector).
        self.fallback = False
        self.up = False
        self.lists = 0
        self.events = 0
        self.last_sync = 0.0

    # --- the loop's side ---------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current read; the thread touches nothing of ours afterwards."""
        self._stop.set()
        response = self._response
        if response is not None:
            # Unblocks a read in progress (urllib3 >= 2.3); a dead stream may fail to close.
            with contextlib.suppress(Exception):
                response.shutdown()

    @property
    def usable(self) -> bool:
        return self.synced.is_set() and not self.fallback

    def snapshot(self) -> list[NodeFacts]:
        with self._lock:
            return list(self._facts.values())

    def __len__(self) -> int:
        return len(self._facts)

    # --- the thread ----------------------------------------------------------------------
    def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        if not self._stop.is_set():
            self.loop.call_soon_threadsafe(fn, *args)

    def _run(self) -> None:
        failures = 0
        backoff = 1.0
        while not self._stop.is_set():
            self._delivered = False
            try:
                if not self._rv:
                    self._rv = self._list()
                    self._delivered = True
                self._watch()
            except Gone:
                self._rv = ""
                continue
            except CheckError as exc:
                self.up = False
                if exc.reason in (Reason.FORBIDDEN, Reason.AUTH) and self._rv:
                    failures = FAILURES_BEFORE_FALLBACK  # RBAC without watch: no use retrying
                log.debug("node watch: %s", exc)
            except Exception as exc:  # a hostile stream must not end the cache
                self.up = False
                log.debug("node watch: %s: %s", type(exc).__name__, exc)
            if self._delivered:
                # A stream that brought something and then ended (its timeout, a proxy, a
                # restart) resumes at once from the last version it delivered.
                failures, backoff = 0, 1.0
                continue
            failures += 1
            if failures >= FAILURES_BEFORE_FALLBACK:
                self._fall_back()
                failures, backoff, self._rv = 0, 1.0, ""
                continue
            self._stop.wait(backoff * random.uniform(0.8, 1.2))
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _fall_back(self) -> None:
        log.warning(
            "cannot watch nodes (RBAC without watch, or a proxy cutting streams): relisting "
            "every round instead; trying again in %.0fs",
            FALLBACK_SECONDS,
        )
        self.up, self.fallback = False, True
        self._call(self.synced.set)  # nobody waits for a cache that is not coming
        self._stop.wait(FALLBACK_SECONDS)
        self.fallback = False

    def _list(self) -> str:
        """Every node, page by page, slimmed to NodeFacts as each page arrives; the list's
        resourceVersion, to watch from."""

        pager = Pager(self.page_size)
        facts: dict[str, NodeFacts] = {}
        rv = ""
        while (query := pager.next()) is not None:
            try:
                page = self.kube.request("GET", RESOURCE, query, None, self.timeout)
            except KubeError as exc:
                pager.failed(exc)
                facts.clear()
                continue
            for item in page.get("items") or []:
                node = NodeFacts.from_json(item)
                facts[node.name] = node
            del page["items"]  # the full objects go now, not with the next page
            rv = str((page.get("metadata") or {}).get("resourceVersion") or "")
            pager.took(page)
        if not rv:
            raise CheckError(Reason.PROTOCOL, "node list without a resourceVersion")
        with self._lock:
            changed = facts != self._facts
            self._facts = facts
        self.lists += 1
        self.last_sync = time.time()
        self._call(self.synced.set)
        if changed:
            self._call(self.on_change)
        return rv

    def _watch(self) -> None:
        """One watch stream from self._rv, until the server ends it; each event or bookmark
        moves self._rv on and sets self._delivered."""
        # As client-go: a random timeout, so many watchers do not reconnect in step.
        seconds = random.randint(300, 600)
        query = {
            "watch": "true",
            "resourceVersion": self._rv,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(seconds),
        }
        response = self.kube.stream(RESOURCE, query, (self.timeout, seconds + 30.0))
        self._response = response
        self.up = True
        buffer = bytearray()
        try:
            for chunk in response.stream(1 << 16):
                if self._stop.is_set():
                    break
                buffer += chunk
                while (end := buffer.find(b"\n")) >= 0:
                    line = bytes(buffer[:end])
                    del buffer[: end + 1]
                    if line.strip():
                        self._rv = self._apply(line, self._rv)
                        self._delivered = True
                if len(buffer) > MAX_EVENT_BYTES:
                    raise CheckError(Reason.PROTOCOL, "a watch event over 4 MiB")
        finally:
            # Closed, not returned to the pool: a stream left mid-way cannot be reused.
            self._response = None
            response.close()

    def _apply(self, line: bytes, rv: str) -> str:

        try:
            event = json.loads(line)
            kind, obj = event["type"], event["object"]
            meta = obj.get("metadata") or {}
        except (ValueError, KeyError, TypeError, AttributeError):
            raise CheckError(Reason.PROTOCOL, "a watch event that is not JSON") from None
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise Gone()
            raise CheckError(Reason.PROTOCOL, f"watch error: {obj.get('message', '')}"[:200])
        new_rv = str(meta.get("resourceVersion") or rv)
        changed = False
        if kind in ("ADDED", "MODIFIED"):
            node = NodeFacts.from_json(obj)
            with self._lock:
                changed = self._facts.get(node.name) != node
                self._facts[node.name] = node
        elif kind == "DELETED":
            with self._lock:
                changed = self._facts.pop(str(meta.get("name", "")), None) is not None
        elif kind != "BOOKMARK":
            raise CheckError(Reason.PROTOCOL, f"unknown watch event type {kind!r}"[:100])
        self.events += 1
        self.last_sync = time.time()
        if changed:
            self._call(self.on_change)
        return new_rv
