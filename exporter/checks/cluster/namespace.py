"""cluster_namespace: the namespace Gitpod is installed into exists and is active."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.config import CheckSettings
from exporter.context import Check, CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.kube import KubeError, path
from exporter.model import Reason, Requirement, Result, Scope, Severity

REQUIREMENT = Requirement(
    id="cluster_namespace",
    title="The Gitpod namespace exists",
    severity=Severity.CRITICAL,
    scope=Scope.CLUSTER,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Create the namespace (kubectl create namespace NAME) or set kubernetes.namespace.",
)


@dataclass(frozen=True)
class Settings(CheckSettings):
    pass


async def run(ctx: CheckContext[Settings]) -> Result:
    try:
        ns = await ctx.kube.get(
            path("/api/v1/namespaces/{name}", name=ctx.namespace), ctx.settings.timeout
        )
    except KubeError as exc:
        if exc.status == 404:
            return Result.failed(Reason.NOT_FOUND, "absent", f"namespace {ctx.namespace} not found")
        raise
    phase = (ns.get("status") or {}).get("phase", "")
    if phase != "Active":
        return Result.failed(Reason.UNAVAILABLE, phase, f"namespace {ctx.namespace} is {phase}")
    return Result.passed(ctx.namespace)


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
)
