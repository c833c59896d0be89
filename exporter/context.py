"""What a check may use, and the shape every check module has."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from exporter import hostfs, inflight
from exporter.config import CheckSettings, check_schema
from exporter.inflight import InFlight
from exporter.model import NotConfigured, Requirement, Result
from exporter.nodeapi import NodeApi

if TYPE_CHECKING:
    from exporter.installation import Installation
    from exporter.kube import Kube
    from exporter.nodecache import NodeCache
    from exporter.nodefacts import NodeFacts

# The share of a check's timeout it waits for its node's labels, and the most it waits.
LABELS_TIMEOUT_SHARE, LABELS_TIMEOUT_MAX = 0.5, 5.0

S = TypeVar("S", bound=CheckSettings)
R = TypeVar("R")


@dataclass(frozen=True)
class CheckContext(Generic[S]):
    settings: S
    host_root: Path
    pool: Executor
    node_name: str = ""
    # The role's API access (the cluster role's Kube, the node role's NodeApi), the
    # namespace Gitpod is installed in, the installation (read by the scheduler, not by
    # checks) and the settings keys the config file sets, which win over what the
    # installation states.
    api: Kube | NodeApi | None = None
    node_cache: NodeCache | None = None
    namespace: str = "gitpod"
    installation: Installation | None = None
    explicit: frozenset[str] = frozenset()
    # Shared by every copy of this context (dataclasses.replace keeps it): the check's calls
    # still running in the pool after their run ended.
    inflight: InFlight = field(default_factory=InFlight, compare=False)
    # What a check keeps from one run to the next (a probe history, a total), shared the same
    # way; a config reload starts it afresh.
    state: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def kube(self) -> Kube:
        """The cluster role's API access; a check without it is skipped, not failed."""
        if self.api is None or isinstance(self.api, NodeApi):
            raise NotConfigured("no Kubernetes API access in this role")
        return self.api

    @property
    def node_api(self) -> NodeApi:
        """The node role's API access; a check without it is skipped, not failed."""
        if not isinstance(self.api, NodeApi):
            raise NotConfigured("no kubeconfig and not running in a pod")
        return self.api

    async def node_labels(self, timeout: float | None = None) -> dict[str, str]:
        """This node's labels (shared for a minute by the node role's checks). NotConfigured
        without NODE_NAME or API access; CheckError when the API cannot tell. By default a
        share of the check's timeout: a hung API server must leave time to judge the node."""
        if not self.node_name:
            raise NotConfigured("NODE_NAME is not set")
        if timeout is None:
            timeout = min(self.settings.timeout * LABELS_TIMEOUT_SHARE, LABELS_TIMEOUT_MAX)
        return await self.node_api.labels(self.node_name, timeout)

    async def nodes(self, timeout: float) -> list[NodeFacts]:
        """All Nodes, from the role's node cache (a check reading them declares READS)."""
        if self.node_cache is None:
            raise NotConfigured("no Kubernetes API access in this role")
        return await self.node_cache.nodes(timeout)

    @property
    def gitpod(self) -> Installation:
        """The Gitpod installation, for the checks whose subject it is (its config, its
        Secrets, its proxy); other checks get what it states as settings."""
        if self.installation is None:
            raise NotConfigured("the Gitpod installation is read by the cluster role only")
        return self.installation

    def host_path(self, path: str) -> Path:
        """`path` as seen on the node, resolved inside --host-root (symlinks included); for a
        socket to connect to. OSError when it does not exist."""
        return hostfs.resolve(self.host_root, path)

    def host_kind(self, path: str) -> str:
        """file, directory, socket, fifo, device or absent, inside --host-root."""
        return hostfs.kind(self.host_root, path)

    async def blocking(self, fn: Callable[..., R], *args: Any) -> R:
        """Run a blocking call in the bounded pool, accounted (exporter/inflight.py): a call
        its run's timeout abandoned holds back this check's next calls, not the pool."""
        return await inflight.call(self.pool, self.inflight, "the dependency", fn, *args)

    async def read_host(self, path: str) -> str:
        """A host file's text, bounded and confined (exporter/hostfs.py), read in the pool."""
        return await self.blocking(hostfs.read_text, self.host_root, path)


# One Result, or one per requirement id for a check judging several; a value may be the
# exception that part raised, which the scheduler turns into that requirement's Result.
Outcome = Result | Mapping[str, Result | Exception]


class Applies(StrEnum):
    """Where a node check is judged. The scheduler runs the gate before the check: a check
    declared for workspace nodes is skipped (`not_workspace_node`) on a node without a
    workspace label, and judged with a note when the node's labels cannot be read."""

    EVERY_NODE = "every node"
    WORKSPACE_NODES = "workspace nodes"


# What a check may declare it reads besides its own dependency, so a change wakes it.
READABLE = frozenset({"nodes"})


@dataclass(frozen=True)
class Derive(Generic[S]):
    """The settings a check takes from the Gitpod installation: `fn(installation, settings,
    timeout)` returns (fields, origin) or None; `targets` are the settings that, set in the
    config file, make the check configured by hand (the installation is then not consulted);
    without targets it fills whatever the file leaves unset."""

    fn: Callable[[Installation, S, float], Awaitable[tuple[dict[str, Any], str] | None]]
    targets: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Check(Generic[S]):
    """One check, declared once in its module as `CHECK = Check(...)` and listed in the
    registry (exporter/checks/__init__.py). A misspelled field is a TypeError at import (and
    a mypy error); a Derive target that is no field of `settings`, a `reads` the framework
    does not know or a `run` that is not async is refused at import too.

    - `run(ctx)` returns a Result, or a mapping of requirement id to Result for a check that
      judges several (`requirements`, or `requirement_for` for ids learnt at run time: one per
      Secret the Gitpod config references);
    - `host_paths`: the host files it reads (the DaemonSet's mounts), fixed or from settings;
    - `installation`: what it derives from the Gitpod installation;
    - `reads`: shared state whose change wakes it: {"nodes"} for the node cache;
    - `applies_to`: where a node check is judged (the gate the scheduler runs).
    Exceptions are the scheduler's business (scheduler.result_of), never the check's.
    """

    requirement: Requirement
    settings: type[S]
    run: Callable[[CheckContext[S]], Awaitable[Outcome]]
    host_paths: tuple[str, ...] | Callable[[S], tuple[str, ...]] = ()
    requirements: Callable[[S], tuple[Requirement, ...]] | None = None
    requirement_for: Callable[[str, S], Requirement] | None = None
    installation: Derive[S] | None = None
    reads: frozenset[str] = frozenset()
    applies_to: Applies = Applies.EVERY_NODE

    def __post_init__(self) -> None:
        name = self.requirement.id
        if not (isinstance(self.settings, type) and issubclass(self.settings, CheckSettings)):
            raise TypeError(f"check {name}: settings must subclass CheckSettings")
        if not inspect.iscoroutinefunction(self.run):
            raise TypeError(f"check {name}: run must be an async function")
        check_schema(self.settings)
        if self.installation is not None:
            fields = {f.name for f in dataclasses.fields(self.settings)}
            unknown = sorted(self.installation.targets - fields)
            if unknown:
                raise TypeError(
                    f"check {name}: installation targets {unknown} are not fields of "
                    f"{self.settings.__name__}"
                )
        unknown_reads = sorted(self.reads - READABLE)
        if unknown_reads:
            raise TypeError(f"check {name}: reads {unknown_reads}; known: {sorted(READABLE)}")
        if not isinstance(self.applies_to, Applies):
            raise TypeError(f"check {name}: applies_to must be an Applies")

    @property
    def id(self) -> str:
        return self.requirement.id

    @property
    def module(self) -> str:
        """The module that declares it (named after what it checks)."""
        return self.run.__module__.rsplit(".", 1)[-1]

    def judged(self, settings: S) -> tuple[Requirement, ...]:
        """The requirements it judges with these settings, known before it runs."""
        if self.requirements is None:
            return (self.requirement,)
        return tuple(self.requirements(settings))

    def paths(self, settings: S) -> tuple[str, ...]:
        """The host paths the check reads with these settings: what the DaemonSet must mount."""
        if callable(self.host_paths):
            return tuple(self.host_paths(settings))
        return self.host_paths
