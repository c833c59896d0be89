"""What a check may use, and the shape every check module has."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from exporter.config import CheckSettings
from exporter.model import Requirement, Result

S = TypeVar("S", bound=CheckSettings)
R = TypeVar("R")


@dataclass(frozen=True)
class CheckContext(Generic[S]):
    settings: S
    host_root: Path
    pool: Executor
    node_name: str = ""
    kubeconfig: str | None = None

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
    """A check module: its requirement, its settings class and one async function."""

    REQUIREMENT: Requirement
    Settings: type[CheckSettings]
    # Host paths the check reads, for the DaemonSet's mounts and the tests that compare them.
    HOST_PATHS: tuple[str, ...]

    async def run(self, ctx: CheckContext[Any]) -> Result: ...
