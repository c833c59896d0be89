"""cluster_loadbalancer: Gitpod's LoadBalancer Services got an external address, and
(optionally) answer on the HTTPS and SSH ports."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from exporter import families
from exporter.config import CheckSettings, Duration
from exporter.context import Check, CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.kube import path
from exporter.model import Reason, Requirement, Result, Scope, Severity

REQUIREMENT = Requirement(
    id="cluster_loadbalancer",
    title="LoadBalancer Services get an address (HTTPS; SSH for desktop IDEs)",
    severity=Severity.CRITICAL,
    scope=Scope.CLUSTER,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Install a load-balancer controller (cloud provider, MetalLB, ServiceLB) and check "
    "the Service's events: kubectl -n NAMESPACE describe service NAME.",
)


@dataclass(frozen=True)
class Settings(CheckSettings):
    services: list[str] = field(default_factory=list)  # empty: every LoadBalancer Service
    connect: bool = False
    ports: list[int] = field(default_factory=lambda: [443, 22])
    connect_timeout: Duration = 3.0


def _addresses(svc: dict[str, Any]) -> list[str]:
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return [i.get("ip") or i.get("hostname") for i in ingress if i.get("ip") or i.get("hostname")]


async def _connect(host: str, port: int, timeout: float) -> float:
    started = time.perf_counter()
    _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    writer.close()
    return time.perf_counter() - started


async def run(ctx: CheckContext[Settings]) -> Result:
    s = ctx.settings
    items = await ctx.kube.list_all(
        path("/api/v1/namespaces/{ns}/services", ns=ctx.namespace), s.timeout
    )
    services = [i for i in items if (i.get("spec") or {}).get("type") == "LoadBalancer"]
    if s.services:
        by_name = {i["metadata"]["name"]: i for i in items}
        missing = [n for n in s.services if n not in by_name]
        if missing:
            return Result.failed(
                Reason.NOT_FOUND, "absent", f"no Service {', '.join(missing)} in {ctx.namespace}"
            )
        services = [by_name[n] for n in s.services]
    if not services:
        return Result.failed(Reason.MISSING, "none", f"no LoadBalancer Service in {ctx.namespace}")
    pending = [i["metadata"]["name"] for i in services if not _addresses(i)]
    samples = [
        families.CLUSTER_LOADBALANCER_SERVICES.sample(float(n), st)
        for st, n in (("ready", len(services) - len(pending)), ("pending", len(pending)))
    ]
    observed = ", ".join(
        f"{i['metadata']['name']}={','.join(_addresses(i)) or 'pending'}" for i in services
    )
    if pending:
        return Result.failed(
            Reason.PENDING, observed, f"no external address yet: {', '.join(pending)}", *samples
        )
    if s.connect:
        for svc in services:
            name, host = svc["metadata"]["name"], _addresses(svc)[0]
            exposed = {p.get("port") for p in (svc.get("spec") or {}).get("ports") or []}
            for port in (p for p in s.ports if p in exposed):
                try:
                    took = await _connect(host, port, s.connect_timeout)
                except (OSError, TimeoutError) as exc:
                    return Result.failed(
                        Reason.CONNECT,
                        observed,
                        f"{name} {host}:{port} unreachable: {exc}",
                        *samples,
                    )
                samples.append(
                    families.CLUSTER_LOADBALANCER_CONNECT_DURATION_SECONDS.sample(
                        took, name, str(port)
                    )
                )
    return Result.passed(observed, *samples)


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
)
