"""cluster_proxy_service: Gitpod's entry point, Service `proxy`, is a LoadBalancer with an
external address, and exposes SSH (22) when the installation runs the SSH gateway."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.config import CheckSettings
from exporter.context import Check, CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.model import NotConfigured, Reason, Requirement, Result, Scope, Severity

REQUIREMENT = Requirement(
    id="cluster_proxy_service",
    title="Service proxy is a LoadBalancer with an address (and port 22 with the SSH gateway)",
    severity=Severity.CRITICAL,
    scope=Scope.CLUSTER,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Check the proxy Service's events (kubectl -n NAMESPACE describe service proxy): a "
    "load-balancer controller must give it an address; set sshGatewayHostKey for port 22.",
)


@dataclass(frozen=True)
class Settings(CheckSettings):
    pass


async def run(ctx: CheckContext[Settings]) -> Result:
    svc = await ctx.gitpod.proxy_service(ctx.settings.timeout)
    loaded = await ctx.gitpod.optional_config(ctx.settings.timeout)
    where = f"{ctx.namespace}/proxy"
    if svc is None:
        if loaded is not None and loaded.origin.startswith("file"):
            raise NotConfigured(f"no Service {where} yet: judged once Gitpod is installed")
        return Result.failed(Reason.NOT_FOUND, "absent", f"no Service {where}")
    spec = svc.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    if kind != "LoadBalancer":
        return Result.failed(
            Reason.UNSUPPORTED, kind, f"Service {where} is {kind}, not LoadBalancer"
        )
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    addresses = [str(i.get("ip") or i.get("hostname")) for i in ingress
                 if isinstance(i, dict) and (i.get("ip") or i.get("hostname"))]  # fmt: skip
    if not addresses:
        return Result.failed(Reason.PENDING, "pending", f"Service {where} has no external address")
    observed = ", ".join(addresses)
    ports = {
        p["port"]
        for p in spec.get("ports") or []
        if isinstance(p, dict) and isinstance(p.get("port"), int)
    }
    if loaded is not None and loaded.config.ssh_host_key and 22 not in ports:
        return Result.failed(
            Reason.MISSING, observed, "sshGatewayHostKey is set but the Service exposes no port 22"
        )
    return Result.passed(observed, detail=f"ports {', '.join(str(p) for p in sorted(ports))}")


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
)
