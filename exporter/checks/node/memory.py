"""node_memory: enough RAM for Gitpod's workspace pods."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated

from exporter import families
from exporter.checks.shared import MIN_NODE_MEMORY_BYTES, recommended_requirement, sized
from exporter.config import CheckSettings, Interval, Min
from exporter.context import Check, CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.model import Requirement, Result, Scope, Severity
from exporter.parse import meminfo_total_bytes
from exporter.sizing import MEMORY_BY_ROLE, Size

REQUIREMENT = Requirement(
    id="node_memory",
    title="The memory the node's Gitpod role needs (workspace 16 GB, meta 8 GB, IDE 4 GB)",
    severity=Severity.CRITICAL,
    scope=Scope.NODE,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Use a machine type with at least 16 GB of memory for Gitpod node pools.",
)
HOST_PATHS = ("/proc/meminfo",)


RECOMMENDED = recommended_requirement(
    REQUIREMENT,
    "The memory recommended for the node's Gitpod role",
    "Meta nodes run better with 16 GB: use a larger machine type for that pool.",
)


@dataclass(frozen=True)
class Settings(CheckSettings):
    interval: Interval = 600.0
    # The floor when the node's role is unknown (no NODE_NAME or no API access).
    min_bytes: Annotated[int, Min(1)] = MIN_NODE_MEMORY_BYTES
    # By the role the node's labels give it: workspace, meta, ide (bytes, 10^9 per GB).
    by_role: dict[str, Size] = field(default_factory=lambda: dict(MEMORY_BY_ROLE))


def requirements(settings: Settings) -> tuple[Requirement, ...]:
    return (REQUIREMENT, RECOMMENDED)


def _gb(n: float) -> str:
    return f"{n / 10**9:.1f} GB ({n / 2**30:.1f} GiB)"


async def run(ctx: CheckContext[Settings]) -> Mapping[str, Result]:
    total = meminfo_total_bytes(await ctx.read_host(HOST_PATHS[0]))
    sample = families.NODE_MEMORY_BYTES.sample(float(total))
    s = ctx.settings
    return await sized(ctx, total, _gb, s.min_bytes, s.by_role, (REQUIREMENT, RECOMMENDED), sample)


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    host_paths=HOST_PATHS,
    requirements=requirements,
)
