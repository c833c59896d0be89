"""What a check may use, and the shape every check module has."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import threading
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from exporter import hostfs
from exporter.config import CheckSettings, check_schema
from exporter.model import CheckError, NotConfigured, Reason, Requirement, Result

if TYPE_CHECKING:
    from exporter.installation import Installation
    from exporter.kube import Kube
    from exporter.node_identity import NodeIdentity
    from exporter.nodecache import NodeCache
    from exporter.nodefacts import NodeFacts

S = TypeVar("S", bound=CheckSettings)
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


@dataclass(frozen=True)
class CheckContext(Generic[S]):
    settings: S
    host_root: Path
    pool: Executor
    node_name: str = ""
    kubeconfig: str | None = None
    kube_context: str = ""  # kubernetes.context: the kubeconfig context to use
    # Cluster role only: the shared API access, the namespace Gitpod is installed in, the
    # installation (read by the scheduler, not by checks) and the settings keys the config
    # file sets, which win over what the installation states.
    api: Kube | None = None
    node_cache: NodeCache | None = None
    namespace: str = "gitpod"
    installation: Installation | None = None
    explicit: frozenset[str] = frozenset()
    # Node role: this node's own Node, fetched once for the checks that need its labels.
    identity: NodeIdentity | None = None
    # Shared by every copy of this context (dataclasses.replace keeps it): the check's calls
    # still running in the pool after their run ended.
    inflight: InFlight = field(default_factory=InFlight, compare=False)
    # What a check keeps from one run to the next (a probe history, a total), shared the same
    # way; a config reload starts it afresh.
    state: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def kube(self) -> Kube:
        """The API access; a check without it is skipped, not failed."""
        if self.api is None:
            raise NotConfigured("no Kubernetes API access in this role")
        return self.api

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
        """Run a blocking call in the bounded pool so the event loop (and /metrics) stays free.
        A call still running when its run is cancelled (the check's timeout) is abandoned and
        counted; until it ends, this check's next calls are refused rather than queued."""
        if self.inflight.abandoned:
            raise CheckError(
                Reason.TIMEOUT,
                "the previous run's call to the dependency is still running (abandoned at its "
                "timeout): no other is started until it ends",
            )
        future = self.pool.submit(functools.partial(fn, *args))
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            if not future.cancel():  # already running in a thread: it cannot be stopped
                self.inflight.abandon(future)
            raise

    async def read_host(self, path: str) -> str:
        """A host file's text, bounded and confined (exporter/hostfs.py), read in the pool."""
        return await self.blocking(hostfs.read_text, self.host_root, path)


# One Result, or one per requirement id for a check judging several; a value may be the
# exception that part raised, which the scheduler turns into that requirement's Result.
Outcome = Result | Mapping[str, Result | Exception]


@dataclass(frozen=True)
class Check:
    """A registered check: what its module declares, with every optional part defaulted.

    A check module defines `REQUIREMENT`, `Settings` (a CheckSettings subclass) and
    `async def run(ctx) -> Result | Mapping[str, Result]`, and optionally:
    - `HOST_PATHS` or `host_paths(settings)`: host files it reads (the DaemonSet's mounts);
    - `requirements(settings)`: the requirements it judges when they are several (run then
      returns a mapping of requirement id to Result);
    - `requirement_for(id, settings)`: for a check whose requirements are learnt at run time
      (one per Secret the Gitpod config references, the labels the installation's kind
      needs): the Requirement of an id its run returned;
    - `from_installation(inst, settings, timeout)`: the settings the Gitpod installation
      states for it ((values, origin) or None), validated as the config file's are, and
      `INSTALLATION_TARGETS`, the settings that, set in the config file, make it configured
      by hand (the installation is then not consulted for it);
    - `READS`: the shared state it reads, so a change to it wakes the check: {"nodes"} for a
      check that reads the node cache (ctx.nodes()).
    Exceptions are the scheduler's business (scheduler.result_of), never the check's.
    """

    module: str
    requirement: Requirement
    settings_type: type[CheckSettings]
    run: Callable[[CheckContext[Any]], Awaitable[Outcome]]
    expand: Callable[[Any], tuple[Requirement, ...]] | None = None
    derive_host_paths: Callable[[Any], tuple[str, ...]] | None = None
    fixed_host_paths: tuple[str, ...] = ()
    requirement_for: Callable[[str, Any], Requirement] | None = None
    from_installation: Callable[[Any, Any, float], Awaitable[Any]] | None = None
    installation_targets: frozenset[str] = frozenset()
    reads: frozenset[str] = frozenset()

    @classmethod
    def of(cls, module: ModuleType) -> Check:
        name = module.__name__.rsplit(".", 1)[-1]
        for attr in ("REQUIREMENT", "Settings", "run"):
            if not hasattr(module, attr):
                raise TypeError(f"check module {name} defines no {attr}")
        if not (isinstance(module.Settings, type) and issubclass(module.Settings, CheckSettings)):
            raise TypeError(f"check module {name}: Settings must subclass CheckSettings")
        if not inspect.iscoroutinefunction(module.run):
            raise TypeError(f"check module {name}: run must be an async function")
        check_schema(module.Settings)
        return cls(
            module=name,
            requirement=module.REQUIREMENT,
            settings_type=module.Settings,
            run=module.run,
            expand=getattr(module, "requirements", None),
            derive_host_paths=getattr(module, "host_paths", None),
            fixed_host_paths=tuple(getattr(module, "HOST_PATHS", ())),
            requirement_for=getattr(module, "requirement_for", None),
            from_installation=getattr(module, "from_installation", None),
            installation_targets=frozenset(getattr(module, "INSTALLATION_TARGETS", ())),
            reads=frozenset(getattr(module, "READS", ())),
        )

    @property
    def id(self) -> str:
        return self.requirement.id

    def requirements(self, settings: CheckSettings) -> tuple[Requirement, ...]:
        return tuple(self.expand(settings)) if self.expand else (self.requirement,)

    def host_paths(self, settings: CheckSettings) -> tuple[str, ...]:
        """The host paths the check reads with these settings: what the DaemonSet must mount."""
        if self.derive_host_paths:
            return tuple(self.derive_host_paths(settings))
        return self.fixed_host_paths
