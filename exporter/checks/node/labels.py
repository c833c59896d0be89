"""node_labels: this node carries a gitpod.io/workload_* label, so Gitpod schedules here.

One GET of the node's own Node object per interval: the DaemonSet runs on every node, so it
never lists cluster objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from exporter import families
from exporter.config import CheckSettings, Interval, NonEmpty
from exporter.context import Check, CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.model import Reason, Requirement, Result, Scope, Severity

REQUIREMENT = Requirement(
    id="node_labels",
    title="The node carries a gitpod.io/workload_* label",
    severity=Severity.WARNING,
    scope=Scope.NODE,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Label the node for the Gitpod workloads it should run, e.g. "
    "kubectl label node NAME gitpod.io/workload_workspace_regular=true.",
)

DEFAULT_LABELS = [
    "gitpod.io/workload_meta",
    "gitpod.io/workload_ide",
    "gitpod.io/workload_workspace_services",
    "gitpod.io/workload_workspace_regular",
    "gitpod.io/workload_workspace_headless",
    "gitpod.io/workload_services",
]


@dataclass(frozen=True)
class Settings(CheckSettings):
    interval: Interval = 300.0
    labels: Annotated[list[str], NonEmpty()] = field(default_factory=lambda: list(DEFAULT_LABELS))
    value: str = "true"


async def run(ctx: CheckContext[Settings]) -> Result:
    labels = await ctx.node_labels(ctx.settings.timeout)
    s = ctx.settings
    carried = sorted(k for k in s.labels if labels.get(k) == s.value)
    sample = families.NODE_WORKLOAD_LABELS.sample(float(len(carried)))
    if not carried:
        return Result.failed(
            Reason.MISSING,
            "none",
            f"node {ctx.node_name} has none of {', '.join(s.labels)}",
            sample,
        )
    return Result.passed(", ".join(carried), sample)


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
)
