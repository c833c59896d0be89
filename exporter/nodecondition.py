"""The node role's Node condition, opt-in (serve --node-condition): `GitpodRequirementsMet` on its
own Node, where `kubectl describe node`, the descheduler and Cluster API's MachineHealthCheck
look, kept the way node-problem-detector keeps its conditions: a strategic-merge PATCH of
nodes/<name>/status when the condition changes and, unchanged, at most once per heartbeat; its
lastTransitionTime moves only when its status does; one core v1 Event per change of status or
reason, never one per round. A failed write changes no verdict, blocks nothing, and is
logged at most once per ERROR_LOG_EVERY and counted."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from dataclasses import dataclass
from urllib.parse import quote

from exporter.model import CheckError, NotConfigured, Severity, Status
from exporter.nodeapi import NodeApi
from exporter.store import Store

log = logging.getLogger("exporter.nodecondition")

TYPE = "GitpodRequirementsMet"
MET = "RequirementsMet"
PENDING = "FirstRoundRunning"
COMPONENT = "gitpod-requirements-exporter"
EVENTS_NAMESPACE = "default"
MAX_MESSAGE = 1024
ERROR_LOG_EVERY = 600.0
# After a failed write the next attempt waits this long: a 403 is not retried every second.
RETRY_AFTER = 30.0
POLL = 1.0
PATCH = "application/strategic-merge-patch+json"


@dataclass(frozen=True)
class Condition:
    status: str  # True | False | Unknown
    reason: str
    message: str


def camel(requirement_id: str) -> str:
    """node_registry_facade_trust -> NodeRegistryFacadeTrust (a condition reason's form)."""
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[^A-Za-z0-9]+", requirement_id) if p)


def condition_of(store: Store) -> Condition:
    """True when every critical requirement judged on this node is met, False when one is
    unmet (failed, or its check errored), Unknown before the first round."""
    if not store.ready:
        return Condition("Unknown", PENDING, "the first round of checks is still running")
    records = store.snapshot()
    unmet: list[tuple[bool, str, str]] = []
    for req in store.requirements:
        record = records.get(req.id)
        if record is None or record.result.status not in (Status.FAIL, Status.ERROR):
            continue
        critical = req.severity is Severity.CRITICAL
        if critical or req.severity is Severity.WARNING:
            unmet.append((critical, req.id, str(record.result.reason or record.result.status)))
    criticals = [u for u in unmet if u[0]]
    if not criticals:
        message = "every critical requirement judged on this node is met"
        warnings = [f"{rid}: {why} (warning)" for _, rid, why in unmet]
        if warnings:
            message += "; unmet warnings: " + ", ".join(warnings)
        return Condition("True", MET, message[:MAX_MESSAGE])
    parts = [f"{rid}: {why}" for _, rid, why in criticals]
    parts += [f"{rid}: {why} (warning)" for c, rid, why in unmet if not c]
    message = "unmet: " + ", ".join(parts)
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 3] + "..."
    return Condition("False", camel(criticals[0][1]), message)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class NodeConditionWriter:
    """Keeps the condition on `node` from `store` until cancelled."""

    def __init__(
        self, api: NodeApi, node: str, store: Store, heartbeat: float, timeout: float = 10.0
    ) -> None:
        self.api, self.node, self.store = api, node, store
        self.heartbeat, self.timeout = heartbeat, timeout
        self.ok = self.errors = 0  # gitpod_node_condition_updates_total{result}
        self._written: Condition | None = None
        self._transition = ""
        self._written_at = -heartbeat
        self._uid = ""
        self._read = False
        self._retry_at = 0.0
        self._logged_at = -ERROR_LOG_EVERY

    async def run(self) -> None:
        seen = -1
        while True:
            now = time.monotonic()
            due = now - self._written_at >= self.heartbeat
            if (self.store.version != seen or due) and now >= self._retry_at:
                seen = self.store.version
                await self.update()
            await asyncio.sleep(POLL)

    async def update(self) -> None:
        """One pass: write the condition if it changed or a heartbeat is due."""
        try:
            if not self._read:
                await self._read_node()
            wanted = condition_of(self.store)
            if wanted.status == "Unknown" and self._written is not None:
                return  # a previous pod's verdict stands until this one has its own
            changed = wanted != self._written
            if not changed and time.monotonic() - self._written_at < self.heartbeat:
                return
            status_changed = self._written is None or wanted.status != self._written.status
            if status_changed or not self._transition:
                self._transition = _now()
            await self._patch(wanted)
            previous, self._written = self._written, wanted
            self._written_at = time.monotonic()
            self.ok += 1
            # An Event per change of verdict; "Unknown" (before the first round) is none.
            moved = previous is None or (previous.status, previous.reason) != (
                wanted.status, wanted.reason)  # fmt: skip
            if moved and wanted.status != "Unknown":
                await self._event(wanted)
                self.ok += 1
        except (CheckError, NotConfigured, OSError) as exc:
            self.errors += 1
            self._retry_at = time.monotonic() + RETRY_AFTER
            now = time.monotonic()
            if now - self._logged_at >= ERROR_LOG_EVERY:
                self._logged_at = now
                log.warning("cannot write the node condition %s on %s (retried; logged once per "
                            "%ds): %s", TYPE, self.node, int(ERROR_LOG_EVERY), exc)  # fmt: skip

    async def _read_node(self) -> None:
        """The Node's uid (for Events) and the condition a previous pod left, so a restart
        neither moves lastTransitionTime nor repeats an Event."""
        node = await self.api.get(f"/api/v1/nodes/{quote(self.node, safe='')}", self.timeout)
        meta = node.get("metadata") or {}
        self._uid = str(meta.get("uid") or "")[:64]
        for c in (node.get("status") or {}).get("conditions") or []:
            if isinstance(c, dict) and c.get("type") == TYPE:
                self._written = Condition(str(c.get("status", ""))[:16],
                                          str(c.get("reason", ""))[:128],
                                          str(c.get("message", ""))[:MAX_MESSAGE])  # fmt: skip
                self._transition = str(c.get("lastTransitionTime", ""))[:40]
        self._read = True

    async def _patch(self, c: Condition) -> None:
        body = {"status": {"conditions": [{
            "type": TYPE, "status": c.status, "reason": c.reason, "message": c.message,
            "lastHeartbeatTime": _now(), "lastTransitionTime": self._transition,
        }]}}  # fmt: skip
        path = f"/api/v1/nodes/{quote(self.node, safe='')}/status"
        await self.api.write("PATCH", path, body, PATCH, self.timeout)

    async def _event(self, c: Condition) -> None:
        now = _now()
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{self.node}.{secrets.token_hex(8)}",
                         "namespace": EVENTS_NAMESPACE},
            "involvedObject": {"kind": "Node", "apiVersion": "v1", "name": self.node,
                               "uid": self._uid},
            "reason": c.reason,
            "message": c.message,
            "type": "Normal" if c.status == "True" else "Warning",
            "source": {"component": COMPONENT, "host": self.node},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }  # fmt: skip
        await self.api.write("POST", f"/api/v1/namespaces/{EVENTS_NAMESPACE}/events", event,
                             "application/json", self.timeout)  # fmt: skip
