"""cluster_openshift: the cluster is not OpenShift, on which Gitpod is known not to work
(its security context constraints reject the privileged workspace pods)."""

from __future__ import annotations

from dataclasses import dataclass

from exporter import platforms
from exporter.config import CheckSettings
from exporter.context import Check, CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.model import Reason, Requirement, Result, Scope, Severity

REQUIREMENT = Requirement(
    id="cluster_openshift",
    title="Not OpenShift (known incompatible with Gitpod)",
    severity=Severity.WARNING,
    scope=Scope.CLUSTER,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Run Gitpod on a supported distribution (GKE, EKS, AKS, K3s); OpenShift's security "
    "context constraints block Gitpod's workspaces.",
)


# The node cache: a node change wakes this check.
@dataclass(frozen=True)
class Settings(CheckSettings):
    pass


async def run(ctx: CheckContext[Settings]) -> Result:
    info = await ctx.kube.version(ctx.settings.timeout)
    found = platforms.detect(str(info.get("gitVersion", "")), await ctx.nodes(ctx.settings.timeout))
    if found == platforms.OPENSHIFT:
        return Result.failed(Reason.UNSUPPORTED, found, "the nodes run Red Hat CoreOS (OpenShift)")
    return Result.passed(found)


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    reads=frozenset({"nodes"}),
)
