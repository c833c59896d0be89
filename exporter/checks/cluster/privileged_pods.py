"""cluster_privileged_pods: admission lets the pods Gitpod really runs into its namespace.

A server-side dry run (dryRun=All) per workload shape: the API server runs authentication,
authorization and every admission controller and webhook (PodSecurity, PSP, Gatekeeper, Kyverno,
ResourceQuota) on the pod, then stores nothing. The shapes are ws-daemon's (privileged, hostPID,
hostPath mounts, priority class system-node-critical, on a workspace node), registry-facade's
(hostPort 20000), the proxy's (a privileged sysctl init container) and a plain privileged pod.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any

from exporter import families
from exporter.config import CheckSettings, ConfigError, NonEmpty
from exporter.context import Check, CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC, WORKLOAD_WORKSPACE_REGULAR
from exporter.kube import KubeError, path
from exporter.model import CheckError, Reason, Requirement, Result, Scope, Severity

REQUIREMENT = Requirement(
    id="cluster_privileged_pods",
    title="The cluster admits Gitpod's privileged workloads in its namespace",
    severity=Severity.CRITICAL,
    scope=Scope.CLUSTER,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Allow Gitpod's workloads in its namespace: label it "
    "pod-security.kubernetes.io/enforce=privileged, exempt it from Gatekeeper/Kyverno policies, "
    "and (GKE) let it use priority class system-node-critical (Gitpod's ResourceQuota).",
)
LABELS = {"app.kubernetes.io/managed-by": "gitpod-requirements-exporter"}


def _pod(shape: str, image: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": f"gitpod-requirements-{shape}-", "labels": LABELS},
        "spec": {"restartPolicy": "Never", "automountServiceAccountToken": False, **spec},
    }


def probe_pod(image: str) -> dict[str, Any]:
    """A plain privileged pod: what every Gitpod node daemon needs at the least."""
    return _pod(
        "probe",
        image,
        {
            "containers": [
                {
                    "name": "probe",
                    "image": image,
                    "securityContext": {"privileged": True, "allowPrivilegeEscalation": True},
                }
            ]
        },
    )


def ws_daemon_pod(image: str) -> dict[str, Any]:
    """ws-daemon as Gitpod deploys it, in the parts admission judges."""
    return _pod(
        "ws-daemon",
        image,
        {
            "priorityClassName": "system-node-critical",
            "hostPID": True,
            "nodeSelector": {WORKLOAD_WORKSPACE_REGULAR: "true"},
            "volumes": [
                {
                    "name": "working-area",
                    "hostPath": {"path": "/var/gitpod/workspaces", "type": "DirectoryOrCreate"},
                },
                {"name": "node-fs0", "hostPath": {"path": "/", "type": "Directory"}},
            ],
            "containers": [
                {
                    "name": "ws-daemon",
                    "image": image,
                    "securityContext": {"privileged": True, "runAsUser": 0},
                    "volumeMounts": [
                        {
                            "name": "working-area",
                            "mountPath": "/mnt/workingarea",
                            "mountPropagation": "Bidirectional",
                        },
                        {"name": "node-fs0", "mountPath": "/mnt/node0", "readOnly": True},
                    ],
                }
            ],
        },
    )


def registry_facade_pod(image: str) -> dict[str, Any]:
    """registry-facade: the node's containerd pulls workspace images from hostPort 20000."""
    return _pod(
        "registry-facade",
        image,
        {
            "nodeSelector": {WORKLOAD_WORKSPACE_REGULAR: "true"},
            "containers": [
                {
                    "name": "registry-facade",
                    "image": image,
                    "ports": [{"containerPort": 32223, "hostPort": 20000, "protocol": "TCP"}],
                }
            ],
        },
    )


def proxy_pod(image: str) -> dict[str, Any]:
    """The proxy: a privileged init container raises net.core.somaxconn."""
    return _pod(
        "proxy",
        image,
        {
            "initContainers": [
                {
                    "name": "sysctl",
                    "image": image,
                    "command": ["sysctl", "-w", "net.core.somaxconn=4096"],
                    "securityContext": {"privileged": True},
                }
            ],
            "containers": [{"name": "proxy", "image": image}],
        },
    )


SHAPES = {
    "privileged": probe_pod,
    "ws-daemon": ws_daemon_pod,
    "registry-facade": registry_facade_pod,
    "proxy": proxy_pod,
}


@dataclass(frozen=True)
class Settings(CheckSettings):
    image: str = "registry.k8s.io/pause:3.9"
    shapes: Annotated[list[str], NonEmpty()] = field(default_factory=lambda: list(SHAPES))

    def __post_init__(self) -> None:
        unknown = [s for s in self.shapes if s not in SHAPES]
        if unknown:
            raise ConfigError(
                "shapes", f"unknown shape {unknown[0]!r}; expected {', '.join(SHAPES)}"
            )


def _rbac_denied(message: str) -> bool:
    # The authorizer's wording; admission denials say "violates", "denied the request", ...
    return "cannot create resource" in message


def controller(message: str) -> str:
    """Which admission controller a denial came from, by the wording each uses."""
    if "violates PodSecurity" in message:
        return "PodSecurity"
    if "quota" in message:
        return "ResourceQuota"
    hook = re.search(r'admission webhook "([^"]+)"', message)
    if hook:
        name = hook.group(1)
        for known in ("gatekeeper", "kyverno"):
            if known in name:
                return known.capitalize()
        return f"webhook {name[:60]}"
    if "PodSecurityPolicy" in message or "unable to validate against any pod security" in message:
        return "PodSecurityPolicy"
    return "admission"


async def run(ctx: CheckContext[Settings]) -> Result:
    resource = path("/api/v1/namespaces/{ns}/pods", ns=ctx.namespace)
    admitted, denied, samples = [], [], []
    for shape in ctx.settings.shapes:
        pod = SHAPES[shape](ctx.settings.image)
        try:
            # Never without dryRun=All: this check must not create anything.
            await ctx.kube.post(resource, pod, ctx.settings.timeout, dryRun="All")
        except KubeError as exc:
            message = str(exc.body.get("message") or exc.detail)
            if exc.status == 404:
                raise CheckError(Reason.NOT_FOUND, f"namespace {ctx.namespace} not found") from None
            if exc.status not in (400, 403, 422) or _rbac_denied(message):
                raise
            denied.append(f"{shape}: refused by {controller(message)}: {message[:300]}")
            samples.append(families.CLUSTER_WORKLOAD_ADMITTED.sample(0.0, shape))
            continue
        admitted.append(shape)
        samples.append(families.CLUSTER_WORKLOAD_ADMITTED.sample(1.0, shape))
    if denied:
        observed = f"{len(denied)} of {len(ctx.settings.shapes)} denied"
        return Result.failed(Reason.DENIED, observed, "; ".join(denied), *samples)
    return Result.passed(
        "admitted", *samples, detail=f"{', '.join(admitted)} passed admission in {ctx.namespace}"
    )


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
)
