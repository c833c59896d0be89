"""cluster_privileged_pods: admission lets privileged pods into the Gitpod namespace.

A server-side dry run (dryRun=All): the API server runs authentication, authorization and every
admission controller and webhook (PodSecurity, PSP, Gatekeeper, Kyverno) on a privileged pod,
then stores nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exporter.config import CheckSettings
from exporter.context import CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.kube import KubeError, path
from exporter.model import CheckError, Reason, Requirement, Result, Scope, Severity

REQUIREMENT = Requirement(
    id="cluster_privileged_pods",
    title="The cluster admits privileged pods in the Gitpod namespace",
    severity=Severity.CRITICAL,
    scope=Scope.CLUSTER,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Allow privileged pods in the namespace: label it "
    "pod-security.kubernetes.io/enforce=privileged and exempt it from Gatekeeper/Kyverno policies.",
)


@dataclass(frozen=True)
class Settings(CheckSettings):
    image: str = "registry.k8s.io/pause:3.9"


def probe_pod(image: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": "gitpod-requirements-probe-",
            "labels": {"app.kubernetes.io/managed-by": "gitpod-requirements-exporter"},
        },
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "containers": [
                {
                    "name": "probe",
                    "image": image,
                    "securityContext": {"privileged": True, "allowPrivilegeEscalation": True},
                }
            ],
        },
    }


def _rbac_denied(message: str) -> bool:
    # The authorizer's wording; admission denials say "violates", "denied the request", ...
    return "cannot create resource" in message


async def run(ctx: CheckContext[Settings]) -> Result:
    resource = path("/api/v1/namespaces/{ns}/pods", ns=ctx.namespace)
    try:
        # Never without dryRun=All: this check must not create anything.
        await ctx.kube.post(
            resource, probe_pod(ctx.settings.image), ctx.settings.timeout, dryRun="All"
        )
    except KubeError as exc:
        message = str(exc.body.get("message") or exc.detail)
        if exc.status in (400, 403, 422) and not _rbac_denied(message):
            return Result.failed(Reason.DENIED, "denied", message[:500])
        if exc.status == 404:
            raise CheckError(Reason.NOT_FOUND, f"namespace {ctx.namespace} not found") from None
        raise
    return Result.passed("admitted", detail=f"a privileged pod passed admission in {ctx.namespace}")
