"""cluster_dns: the domain, a name under it and a name under ws.<domain> resolve, to the
expected (LoadBalancer) addresses when they are configured."""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

from exporter import families
from exporter.checks.shared import client_timeout, probe_names
from exporter.config import CheckSettings, Max, Min
from exporter.context import Check, CheckContext, Derive
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.installation import Derived, Installation, stated_origin
from exporter.model import (
    DependencyError,
    NotConfigured,
    Reason,
    Requirement,
    Result,
    Scope,
    Severity,
)

REQUIREMENT = Requirement(
    id="cluster_dns",
    title="domain, *.domain and *.ws.domain resolve to the LoadBalancer",
    severity=Severity.CRITICAL,
    scope=Scope.CLUSTER,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    unreachable_fails=True,
    remedy="Create A (or CNAME) records for the domain, *.domain and *.ws.domain pointing at "
    "the proxy's LoadBalancer address.",
)


@dataclass(frozen=True)
class Settings(CheckSettings):
    domain: str = ""  # empty: the check is not configured
    nameserver: str = ""  # an IP; empty: the system resolver
    port: Annotated[int, Min(1), Max(65535)] = 53
    addresses: list[str] = field(default_factory=list)  # expected; empty: any answer
    # Workspaces live under <workspace_prefix>.<domain>: ws, or ws-<shortname> when the Gitpod
    # installation has a shortname.
    workspace_prefix: str = "ws"


async def _resolve(resolver: object, name: str) -> list[str]:
    import dns.asyncresolver
    import dns.exception
    import dns.resolver

    assert isinstance(resolver, dns.asyncresolver.Resolver)
    found: list[str] = []
    try:
        for rdtype in ("A", "AAAA"):
            try:
                answer = await resolver.resolve(name, rdtype)
            except dns.resolver.NoAnswer:
                continue
            found += [r.to_text() for r in answer]
    except dns.resolver.NXDOMAIN:
        raise DependencyError(Reason.NOT_FOUND, f"{name}: no such name (NXDOMAIN)") from None
    except dns.resolver.LifetimeTimeout:
        raise DependencyError(
            Reason.TIMEOUT, f"{name}: the resolver did not answer in time"
        ) from None
    except dns.resolver.NoNameservers as exc:
        raise DependencyError(Reason.CONNECT, f"{name}: no nameserver answered: {exc}") from None
    except dns.exception.DNSException as exc:
        raise DependencyError(Reason.PROTOCOL, f"{name}: {exc}") from None
    if not found:
        raise DependencyError(Reason.NOT_FOUND, f"{name}: no A or AAAA record")
    return found


# A DNS message is at most 64 KiB (a 2-byte length over TCP), a few thousand A records; what
# the report says of them stays a line.
_SHOWN = 8


def _shown(addresses: list[str], sep: str) -> str:
    more = len(addresses) - _SHOWN
    return sep.join(addresses[:_SHOWN]) + (f"{sep}... ({more} more)" if more > 0 else "")


async def run(ctx: CheckContext[Settings]) -> Result:
    import dns.asyncresolver

    s = ctx.settings
    if not s.domain:
        raise NotConfigured("no domain configured")
    resolver = dns.asyncresolver.Resolver(configure=not s.nameserver)
    if s.nameserver:
        resolver.nameservers = [s.nameserver]
        resolver.port = s.port
    names = probe_names(s.domain, s.workspace_prefix)
    resolver.lifetime = client_timeout(s.timeout, len(names))
    samples, wrong, seen = [], [], []
    for pattern, name in names.items():
        started = time.perf_counter()
        addresses = await _resolve(resolver, name)
        samples.append(
            families.DNS_RESOLUTION_DURATION_SECONDS.sample(time.perf_counter() - started, pattern)
        )
        seen.append(f"{pattern}={_shown(addresses, ',')}")
        if s.addresses and not set(addresses) & set(s.addresses):
            wrong.append(f"{pattern} -> {_shown(addresses, ', ')}")
    observed = "; ".join(seen)
    if wrong:
        return Result.failed(
            Reason.MISMATCH,
            observed,
            f"expected {', '.join(s.addresses)}: {'; '.join(wrong)}",
            *samples,
        )
    return Result.passed(observed, *samples)


async def from_installation(inst: Installation, s: Settings, timeout: float) -> Derived:
    values: dict[str, Any] = {}
    what, unread = [], []
    try:
        cfg, where = await inst.stated(timeout)
        if cfg.domain:
            values.update(domain=cfg.domain, workspace_prefix=cfg.workspace_prefix)
            what.append(stated_origin(where, "domain"))
    except NotConfigured as exc:
        unread.append(str(exc))
    try:
        addresses = await proxy_addresses(inst, timeout)
    except NotConfigured as exc:
        # No API: the addresses the config file lists are expected, or any answer.
        addresses = []
        unread.append(str(exc))
    if addresses:
        values["addresses"] = addresses
        what.append(f"expected addresses from Service {inst.namespace}/proxy")
    if values:
        return values, "; ".join(what)
    if unread:
        raise NotConfigured("; ".join(dict.fromkeys(unread)))
    return None


async def proxy_addresses(inst: Installation, timeout: float) -> list[str]:
    """The proxy Service's LoadBalancer addresses, hostnames resolved (an ELB's name)."""
    if inst.kube is None:
        return []
    from exporter.kube import KubeError

    try:
        svc = await inst.proxy_service(timeout)
    except KubeError as exc:
        if exc.status != 403:
            raise
        svc = None  # cluster_proxy_service reports it
    if svc is None:
        return []  # DNS then accepts any answer
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    found: list[str] = []
    loop = asyncio.get_running_loop()
    for entry in ingress if isinstance(ingress, list) else []:
        if not isinstance(entry, dict):
            continue
        if entry.get("ip"):
            found.append(str(entry["ip"]))
        elif entry.get("hostname"):
            try:
                infos = await loop.getaddrinfo(str(entry["hostname"]), None,
                                               type=socket.SOCK_STREAM)  # fmt: skip
            except OSError:
                continue
            found += [str(info[4][0]) for info in infos]
    return list(dict.fromkeys(found))


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    installation=Derive(from_installation),
)
