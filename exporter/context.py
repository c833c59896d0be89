"""What a check may use, and the shape every check module has."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from exporter.config import CheckSettings
from exporter.model import NotConfigured, Requirement, Result

if TYPE_CHECKING:
    from exporter.kube import Kube

S = TypeVar("S", bound=CheckSettings)
R = TypeVar("R")


@dataclass(frozen=True)
class CheckContext(Generic[S]):
    settings: S
    host_root: Path
    pool: Executor
    node_name: str = ""
    kubeconfig: str | None = None
    # Cluster role only: the shared API access and the namespace Gitpod is installed in.
    kube_api: Kube | None = None
    namespace: str = "gitpod"

    @property
    def kube(self) -> Kube:
        if self.kube_api is None:
            raise NotConfigured("no Kubernetes API access in this role")
        return self.kube_api

    def host_path(self, path: str) -> Path:
        """`path` as seen on the node, resolved under --host-root."""
        return self.host_root / path.lstrip("/")

    async def blocking(self, fn: Callable[..., R], *args: Any) -> R:
        """Run a blocking call in the bounded pool so the event loop (and /metrics) stays free."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, functools.partial(fn, *args))

    async def read_host(self, path: str) -> str:
        return await self.blocking(self.host_path(path).read_text)


class Check(Protocol):
    """A check module: its requirement, its settings class and one async function.

    A check that judges several requirements at once (one per configured node label, say)
    also defines `requirements(settings) -> tuple[Requirement, ...]` and returns a mapping of
    requirement id to Result. A check whose host paths are configurable defines
    `host_paths(settings) -> tuple[str, ...]`.
    """

    REQUIREMENT: Requirement
    Settings: type[CheckSettings]
    # Host paths the check reads, for the DaemonSet's mounts and the tests that compare them.
    HOST_PATHS: tuple[str, ...]

    async def run(self, ctx: CheckContext[Any]) -> Result | Mapping[str, Result]: ...


def requirements_of(check: Check, settings: CheckSettings) -> tuple[Requirement, ...]:
    expand = getattr(check, "requirements", None)
    return tuple(expand(settings)) if expand else (check.REQUIREMENT,)


def host_paths_of(check: Check, settings: CheckSettings) -> tuple[str, ...]:
    """The host paths the check reads with these settings: what the DaemonSet must mount."""
    derive = getattr(check, "host_paths", None)
    return tuple(derive(settings)) if derive else check.HOST_PATHS
