"""node_kernel: a kernel recent enough for workspaces (shiftfs/idmapped mounts, cgroup v2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from exporter import families
from exporter.checks.shared import VERSION
from exporter.config import CheckSettings, Interval
from exporter.context import Check, CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.model import Reason, Requirement, Result, Scope, Severity
from exporter.parse import format_version, version_tuple

REQUIREMENT = Requirement(
    id="node_kernel",
    title="Linux kernel 5.4.0 or newer",
    severity=Severity.CRITICAL,
    scope=Scope.NODE,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Move Gitpod workloads to a node image with a kernel of 5.4 or newer.",
)
HOST_PATHS = ("/proc/sys/kernel/osrelease",)


@dataclass(frozen=True)
class Settings(CheckSettings):
    interval: Interval = 600.0
    min_version: Annotated[str, VERSION] = "5.4.0"


async def run(ctx: CheckContext[Settings]) -> Result:
    release = (await ctx.read_host(HOST_PATHS[0])).strip()
    sample = families.NODE_KERNEL_INFO.sample(1.0, release)
    found = version_tuple(release)  # ParseError: the scheduler reports error/parse, never pass
    minimum = version_tuple(ctx.settings.min_version)
    if found < minimum:
        return Result.failed(
            Reason.BELOW_MINIMUM,
            release,
            f"kernel {format_version(found)} is older than {format_version(minimum)}",
            sample,
        )
    return Result.passed(release, sample)


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    host_paths=HOST_PATHS,
)
