"""node_memory: enough RAM for Gitpod's workspace pods."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from exporter import metrics
from exporter.checks.shared import MIN_NODE_MEMORY_BYTES
from exporter.config import CheckSettings, Duration, Min
from exporter.context import CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.model import Reason, Requirement, Result, Scope, Severity
from exporter.parse import meminfo_total_bytes

REQUIREMENT = Requirement(
    id="node_memory",
    title="At least 16 GB of RAM per node",
    severity=Severity.CRITICAL,
    scope=Scope.NODE,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Use a machine type with at least 16 GB of memory for Gitpod node pools.",
)
HOST_PATHS = ("/proc/meminfo",)


@dataclass(frozen=True)
class Settings(CheckSettings):
    interval: Duration = 600.0
    min_bytes: Annotated[int, Min(1)] = MIN_NODE_MEMORY_BYTES


def _gb(n: int) -> str:
    return f"{n / 10**9:.1f} GB ({n / 2**30:.1f} GiB)"


async def run(ctx: CheckContext[Settings]) -> Result:
    total = meminfo_total_bytes(await ctx.read_host(HOST_PATHS[0]))
    sample = metrics.NODE_MEMORY_BYTES.sample(float(total))
    if total < ctx.settings.min_bytes:
        return Result.failed(
            Reason.BELOW_MINIMUM,
            _gb(total),
            f"MemTotal {_gb(total)}; at least {_gb(ctx.settings.min_bytes)} required",
            sample,
        )
    return Result.passed(_gb(total), sample)
