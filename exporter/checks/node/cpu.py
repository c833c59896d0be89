"""node_cpu: enough vCPUs for the workspace and IDE pods Gitpod schedules on a node."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated

from exporter import families
from exporter.checks.shared import recommended_requirement, sized
from exporter.config import CheckSettings, Interval, Min
from exporter.context import Check, CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.model import Requirement, Result, Scope, Severity
from exporter.parse import cpu_list_count, cpuinfo_count
from exporter.sizing import CPU_BY_ROLE, Size

REQUIREMENT = Requirement(
    id="node_cpu",
    title="The vCPUs the node's Gitpod role needs (workspace 4, meta and IDE 2)",
    severity=Severity.CRITICAL,
    scope=Scope.NODE,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Use a machine type with at least 4 vCPUs for workspace node pools (2 for meta and "
    "IDE nodes).",
)
# sysfs reflects the host's online CPUs, unlike sched affinity inside a CPU-limited container.
HOST_PATHS = ("/sys/devices/system/cpu/online", "/proc/cpuinfo")


RECOMMENDED = recommended_requirement(
    REQUIREMENT,
    "The vCPUs recommended for the node's Gitpod role",
    "Meta nodes run better with 4 vCPUs: use a larger machine type for that pool.",
)


@dataclass(frozen=True)
class Settings(CheckSettings):
    interval: Interval = 600.0
    # The floor when the node's role is unknown (no NODE_NAME or no API access).
    min_cpus: Annotated[int, Min(1)] = 4
    # By the role the node's labels give it: workspace, meta, ide.
    by_role: dict[str, Size] = field(default_factory=lambda: dict(CPU_BY_ROLE))


def requirements(settings: Settings) -> tuple[Requirement, ...]:
    return (REQUIREMENT, RECOMMENDED)


async def run(ctx: CheckContext[Settings]) -> Mapping[str, Result]:
    if ctx.host_kind(HOST_PATHS[0]) != "absent":
        cpus = cpu_list_count(await ctx.read_host(HOST_PATHS[0]))
    else:
        cpus = cpuinfo_count(await ctx.read_host(HOST_PATHS[1]))
    sample = families.NODE_CPUS.sample(float(cpus))
    s = ctx.settings
    return await sized(
        ctx,
        cpus,
        lambda n: f"{n:g} vCPU",
        s.min_cpus,
        s.by_role,
        (REQUIREMENT, RECOMMENDED),
        sample,
    )


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    host_paths=HOST_PATHS,
    requirements=requirements,
)
