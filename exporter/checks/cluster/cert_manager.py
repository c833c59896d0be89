"""cluster_cert_manager: cert-manager is installed and working, so Gitpod's certificates are
issued and renewed; cluster_cert_manager_issuer: an Issuer is Ready to issue them.

The installer treats a missing issuer as a warning (the certificate may come from elsewhere),
so it is a requirement of its own with warning severity.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from exporter import families
from exporter.config import CheckSettings
from exporter.context import Check, CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.kube import KubeError, path
from exporter.model import Reason, Requirement, Result, Scope, Severity

REQUIREMENT = Requirement(
    id="cluster_cert_manager",
    title="cert-manager installed and working",
    severity=Severity.CRITICAL,
    scope=Scope.CLUSTER,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Install cert-manager (its CRDs and Deployments) and check its pods: "
    "kubectl -n cert-manager get pods; kubectl describe certificate NAME.",
)
ISSUER = Requirement(
    id="cluster_cert_manager_issuer",
    title="A cert-manager Issuer or ClusterIssuer is Ready",
    severity=Severity.WARNING,
    scope=Scope.CLUSTER,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Create an Issuer in the Gitpod namespace or a ClusterIssuer (e.g. ACME with a DNS "
    "solver) and check its status: kubectl describe clusterissuer NAME.",
)
CRDS = ("certificates", "issuers", "clusterissuers")


@dataclass(frozen=True)
class Settings(CheckSettings):
    namespace: str = "cert-manager"
    deployments: list[str] = field(
        default_factory=lambda: ["cert-manager", "cert-manager-webhook", "cert-manager-cainjector"]
    )
    # Certificates in the Gitpod namespace that must be Ready (e.g. https-certificates).
    certificates: list[str] = field(default_factory=list)


def requirements(settings: Settings) -> tuple[Requirement, ...]:
    return (REQUIREMENT, ISSUER)


def _condition(item: Mapping[str, Any], kind: str) -> bool:
    return any(
        c.get("type") == kind and c.get("status") == "True"
        for c in (item.get("status") or {}).get("conditions") or []
    )


async def _cert_manager(ctx: CheckContext[Settings]) -> Result:
    s, kube = ctx.settings, ctx.kube
    # One discovery GET tells which of cert-manager's kinds the API serves: its CRDs are
    # installed and established. (Three CRD GETs would cost two more calls every round.)
    try:
        served = await kube.get("/apis/cert-manager.io/v1", s.timeout)
        names = {r.get("name") for r in served.get("resources") or []}
    except KubeError as exc:
        if exc.status != 404:
            raise
        names = set()
    missing = [f"{crd}.cert-manager.io" for crd in CRDS if crd not in names]
    if missing:
        return Result.failed(Reason.MISSING, "not installed", f"missing CRDs: {', '.join(missing)}")
    deployments = {
        d["metadata"]["name"]: d
        for d in await kube.shared_list(
            path("/apis/apps/v1/namespaces/{ns}/deployments", ns=s.namespace), s.timeout
        )
    }
    absent = [d for d in s.deployments if d not in deployments]
    unavailable = [
        d for d in s.deployments if d in deployments and not _condition(deployments[d], "Available")
    ]
    samples = [
        families.CERT_MANAGER_DEPLOYMENTS_AVAILABLE.sample(
            float(len(s.deployments) - len(absent) - len(unavailable))
        )
    ]
    if absent:
        return Result.failed(
            Reason.MISSING,
            "not running",
            f"no Deployment {', '.join(absent)} in {s.namespace}",
            *samples,
        )
    if unavailable:
        return Result.failed(
            Reason.UNAVAILABLE,
            "unavailable",
            f"Deployment(s) not Available: {', '.join(unavailable)}",
            *samples,
        )
    not_ready = []
    for name in s.certificates:
        try:
            cert = await kube.get(
                path(
                    "/apis/cert-manager.io/v1/namespaces/{ns}/certificates/{n}",
                    ns=ctx.namespace,
                    n=name,
                ),
                s.timeout,
            )
        except KubeError as exc:
            if exc.status != 404:
                raise
            not_ready.append(f"{name} (absent)")
            continue
        if not _condition(cert, "Ready"):
            not_ready.append(name)
    samples.append(families.CERT_MANAGER_CERTIFICATES_NOT_READY.sample(float(len(not_ready))))
    if not_ready:
        return Result.failed(
            Reason.NOT_READY,
            "certificates not ready",
            f"Certificate(s) not Ready: {', '.join(not_ready)}",
            *samples,
        )
    return Result.passed("installed, available", *samples)


async def _issuer(ctx: CheckContext[Settings]) -> Result:
    s, kube = ctx.settings, ctx.kube
    try:
        issuers = await kube.list_all("/apis/cert-manager.io/v1/clusterissuers", s.timeout)
        issuers += await kube.list_all(
            path("/apis/cert-manager.io/v1/namespaces/{ns}/issuers", ns=ctx.namespace), s.timeout
        )
    except KubeError as exc:
        if exc.status == 404:
            return Result.failed(
                Reason.MISSING, "none", "cert-manager's issuer kinds are not installed"
            )
        raise
    ready = [f"{i['kind']}/{i['metadata']['name']}" for i in issuers if _condition(i, "Ready")]
    sample = families.CERT_MANAGER_ISSUERS_READY.sample(float(len(ready)))
    if not ready:
        return Result.failed(
            Reason.NOT_READY, "none ready", f"{len(issuers)} issuer(s), none Ready", sample
        )
    return Result.passed(", ".join(ready[:5]), sample)


async def run(ctx: CheckContext[Settings]) -> Mapping[str, Result | Exception]:
    results: dict[str, Result | Exception] = {}
    # Judged apart: a forbidden issuer list must not hide a working cert-manager. The
    # scheduler turns an exception into this requirement's Result.
    for req, part in ((REQUIREMENT, _cert_manager), (ISSUER, _issuer)):
        try:
            results[req.id] = await part(ctx)
        except Exception as exc:
            results[req.id] = exc
    return results


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    requirements=requirements,
)
