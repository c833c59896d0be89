"""What the checks use of a Node, and nothing more: the node cache (exporter/nodewatch.py) and
the paginated LIST (exporter/kube.py) both keep these instead of the Node objects."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exporter.gitpod import GITPOD_LABEL_PREFIX
from exporter.parse import ParseError, quantity, timestamp

# Distinct sets of Gitpod labels, one copy each: a cluster has a handful (one per pool).
_WORKLOADS: dict[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]] = {}
_MAX_WORKLOADS = 4096  # beyond (hostile labels), no more are shared: memory stays bounded


def _workload(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    found = tuple(sorted((k, v) for k, v in labels.items() if k.startswith(GITPOD_LABEL_PREFIX)))
    if not found:
        return ()
    shared = _WORKLOADS.get(found)
    if shared is None and len(_WORKLOADS) < _MAX_WORKLOADS:
        shared = _WORKLOADS[found] = found
    return shared or found


@dataclass(frozen=True, slots=True)
class NodeFacts:
    """What the checks use of a Node; the rest of its JSON is dropped page by page, so a
    20,000-node list costs a few MB, not the full objects."""

    name: str
    labels: Mapping[str, str]
    provider_id: str
    ready: bool
    schedulable: bool
    kubelet_version: str
    runtime: str
    os_image: str
    kernel: str
    cpu: float | None
    memory: float | None
    # When Ready last changed (its condition's lastTransitionTime, Unix time); 0.0 when not
    # given. A kubelet heartbeat leaves it alone, so the cache still ignores heartbeats.
    ready_since: float = 0.0
    # The labels named gitpod.io/workload_*, sorted: what the node-derived checks judge, set
    # apart once where the node is read (the watch's thread), so a check over 20,000 nodes does
    # not scan each node's 20-odd labels on the event loop.
    workload: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> NodeFacts:
        meta = item.get("metadata") or {}
        spec = item.get("spec") or {}
        status = item.get("status") or {}
        info = status.get("nodeInfo") or {}
        capacity = status.get("capacity") or {}
        ready_condition = next(
            (c for c in status.get("conditions") or []
             if isinstance(c, Mapping) and c.get("type") == "Ready"),
            {},
        )  # fmt: skip
        ready = ready_condition.get("status") == "True"

        def amount(key: str) -> float | None:
            try:
                return quantity(str(capacity[key]))
            except (KeyError, ParseError):
                return None

        # Interned: thousands of nodes share their label keys and most values, their
        # versions and OS; one copy each keeps a 20,000-node cache small.
        labels = {
            sys.intern(str(k)): sys.intern(str(v)) for k, v in (meta.get("labels") or {}).items()
        }
        return cls(
            name=str(meta.get("name", "")),
            labels=labels,
            provider_id=str(spec.get("providerID", "")),
            ready=ready,
            schedulable=not spec.get("unschedulable", False),
            kubelet_version=sys.intern(str(info.get("kubeletVersion", ""))),
            runtime=sys.intern(str(info.get("containerRuntimeVersion", ""))),
            os_image=sys.intern(str(info.get("osImage", ""))),
            kernel=sys.intern(str(info.get("kernelVersion", ""))),
            cpu=amount("cpu"),
            memory=amount("memory"),
            ready_since=timestamp(ready_condition.get("lastTransitionTime")),
            workload=_workload(labels),
        )
