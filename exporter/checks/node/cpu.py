"""node_cpu: enough vCPUs for the workspace and IDE pods Gitpod schedules on a node."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from exporter import metrics
from exporter.config import CheckSettings, Duration, Min
from exporter.context import CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.model import Reason, Requirement, Result, Scope, Severity
from exporter.parse import cpu_list_count, cpuinfo_count

REQUIREMENT = Requirement(
    id="node_cpu",
    title="At least 4 vCPU per node",
    severity=Severity.CRITICAL,
    scope=Scope.NODE,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Use a machine type with at least 4 vCPUs for Gitpod node pools.",
)
# sysfs reflects the host's online CPUs, unlike sched affinity inside a CPU-limited container.
HOST_PATHS = ("/sys/devices/system/cpu/online", "/proc/cpuinfo")


@dataclass(frozen=True)
class Settings(CheckSettings):
    interval: Duration = 600.0
    min_cpus: Annotated[int, Min(1)] = 4


async def run(ctx: CheckContext[Settings]) -> Result:
    if ctx.host_path(HOST_PATHS[0]).exists():
        cpus = cpu_list_count(await ctx.read_host(HOST_PATHS[0]))
    else:
        cpus = cpuinfo_count(await ctx.read_host(HOST_PATHS[1]))
    sample = metrics.NODE_CPUS.sample(float(cpus))
    observed = f"{cpus} vCPU"
    if cpus < ctx.settings.min_cpus:
        return Result.failed(
            Reason.BELOW_MINIMUM,
            observed,
            f"{cpus} vCPU online; at least {ctx.settings.min_cpus} required",
            sample,
        )
    return Result.passed(observed, sample)
