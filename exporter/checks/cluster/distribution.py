"""cluster_distribution: the cluster is one of the distributions Gitpod supports."""

from __future__ import annotations

from dataclasses import dataclass, field

from exporter import families, platforms
from exporter.config import CheckSettings
from exporter.context import Check, CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.model import Reason, Requirement, Result, Scope, Severity

REQUIREMENT = Requirement(
    id="cluster_distribution",
    title="A supported Kubernetes distribution (GKE, EKS, AKS, K3s)",
    severity=Severity.INFO,
    scope=Scope.CLUSTER,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Gitpod is tested on GKE, EKS, AKS and K3s; other distributions may need extra work.",
)


# The node cache: a node change wakes this check.
@dataclass(frozen=True)
class Settings(CheckSettings):
    supported: list[str] = field(
        default_factory=lambda: [
            platforms.GKE,
            platforms.EKS,
            platforms.AKS,
            platforms.K3S,
        ]
    )


async def run(ctx: CheckContext[Settings]) -> Result:
    info = await ctx.kube.version(ctx.settings.timeout)
    nodes = await ctx.nodes(ctx.settings.timeout)
    found = platforms.detect(str(info.get("gitVersion", "")), nodes)
    sample = families.CLUSTER_DISTRIBUTION_INFO.sample(1.0, found)
    if found not in ctx.settings.supported:
        return Result.failed(
            Reason.UNSUPPORTED,
            found,
            f"detected {found}; supported: {', '.join(ctx.settings.supported)}",
            sample,
        )
    return Result.passed(found, sample)


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    reads=frozenset({"nodes"}),
)
