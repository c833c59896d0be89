"""cluster_node_pools: Gitpod's services run apart from workspaces, and headless (prebuild)
workspaces apart from regular ones, as the reference architecture recommends."""

from __future__ import annotations

from dataclasses import dataclass

from exporter import families
from exporter.config import CheckSettings
from exporter.context import Check, CheckContext
from exporter.gitpod import (
    GITPOD_REQUIREMENTS_DOC,
    WORKLOAD_IDE,
    WORKLOAD_META,
    WORKLOAD_WORKSPACE_HEADLESS,
    WORKLOAD_WORKSPACE_REGULAR,
)
from exporter.model import Reason, Requirement, Result, Scope, Severity

REQUIREMENT = Requirement(
    id="cluster_node_pools",
    title="Separate node pools for services and for regular and headless workspaces",
    severity=Severity.WARNING,
    scope=Scope.CLUSTER,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Put meta/ide workloads on their own node pool and give headless (prebuild) "
    "workspaces a pool apart from regular workspaces.",
)
# The node cache: a node change wakes this check.
SPLITS = {
    # split name: (one side's labels, the other side's labels)
    "services_workspaces": (
        (WORKLOAD_META, WORKLOAD_IDE),
        (WORKLOAD_WORKSPACE_REGULAR, WORKLOAD_WORKSPACE_HEADLESS),
    ),
    "regular_headless": ((WORKLOAD_WORKSPACE_REGULAR,), (WORKLOAD_WORKSPACE_HEADLESS,)),
}


@dataclass(frozen=True)
class Settings(CheckSettings):
    value: str = "true"


async def run(ctx: CheckContext[Settings]) -> Result:
    value = ctx.settings.value
    nodes = await ctx.nodes(ctx.settings.timeout)
    samples = []
    problems = []
    for split, (left, right) in SPLITS.items():
        # Judged once per distinct set of Gitpod labels (a handful), not per node.
        sides = {(k, value) for k in left}, {(k, value) for k in right}
        judged: dict[tuple[tuple[str, str], ...], bool] = {}
        shared = []
        for n in nodes:
            both = judged.get(n.workload)
            if both is None:
                pairs = set(n.workload)
                both = judged[n.workload] = bool(pairs & sides[0] and pairs & sides[1])
            if both:
                shared.append(n.name)
        samples.append(families.CLUSTER_NODE_POOLS_SHARED_NODES.sample(float(len(shared)), split))
        if shared:
            problems.append(f"{split}: {len(shared)} node(s) shared ({', '.join(shared[:5])})")
    if problems:
        return Result.failed(Reason.OVERLAP, "shared", "; ".join(problems), *samples)
    return Result.passed("separate", *samples)


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    reads=frozenset({"nodes"}),
)
