"""What the checks use of a Node, and nothing more: the node cache (exporter/nodewatch.py) and
the paginated LIST (exporter/kube.py) both keep these instead of the Node objects."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from exporter.gitpod import GITPOD_LABEL_PREFIX
from exporter.parse import ParseError, quantity, timestamp

# The one label every node has a value of its own for (the kubelet sets it to the hostname).
HOSTNAME = "kubernetes.io/hostname"
T = TypeVar("T")
Pairs = tuple[tuple[str, str], ...]
# Distinct label sets, one copy each: a cluster has a handful (one per pool). Beyond the cap
# (hostile labels), no more are shared, so memory stays bounded.
_MAX_SHARED = 4096
_BASES: dict[Pairs, dict[str, str]] = {}  # the labels but the hostname
_WORKLOADS: dict[Pairs, Pairs] = {}  # the gitpod.io/workload_* labels


def _shared(cache: dict[Pairs, T], key: Pairs, value: T) -> T:
    """The copy of `value` every node with the same `key` shares."""
    found = cache.get(key)
    if found is None:
        found = value
        if len(cache) < _MAX_SHARED:
            cache[key] = value
    return found


class Labels(Mapping[str, str]):
    """A node's labels, read-only: the hostname label apart, all the others in a dict shared by
    every node that has the same (the nodes of one pool). A 24-label dict per node was 1 KB of
    each NodeFacts, 20 MiB of a 20,000-node cache."""

    __slots__ = ("_base", "_host")

    def __init__(self, labels: Mapping[str, str]) -> None:
        host = labels.get(HOSTNAME)
        base = {k: v for k, v in labels.items() if k != HOSTNAME}
        self._base = _shared(_BASES, tuple(sorted(base.items())), base)
        self._host = host

    def __getitem__(self, key: str) -> str:
        if key == HOSTNAME and self._host is not None:
            return self._host
        return self._base[key]

    def get(self, key: str, default: Any = None) -> Any:
        if key == HOSTNAME:
            return self._host if self._host is not None else default
        return self._base.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._base or (key == HOSTNAME and self._host is not None)

    def __iter__(self) -> Iterator[str]:
        yield from self._base
        if self._host is not None:
            yield HOSTNAME

    def __len__(self) -> int:
        return len(self._base) + (self._host is not None)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Labels):
            return self._host == other._host and self._base == other._base
        return isinstance(other, Mapping) and dict(self.items()) == dict(other.items())

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Labels({dict(self.items())!r})"


def _workload(labels: Mapping[str, str]) -> Pairs:
    found = tuple(sorted((k, v) for k, v in labels.items() if k.startswith(GITPOD_LABEL_PREFIX)))
    return _shared(_WORKLOADS, found, found) if found else ()


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
    workload: Pairs = ()

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
            labels=Labels(labels),
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
