"""cluster_tls: the Gitpod proxy presents a trusted certificate covering the domain, its
wildcard and the workspace wildcard; cluster_tls_expiry: it is not about to expire."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from exporter import families, httpcheck
from exporter.checks.shared import client_timeout, covers, probe_names
from exporter.config import CheckSettings, Min
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
    id="cluster_tls",
    title="The domain's certificate is trusted and covers domain, *.domain and *.ws.domain",
    severity=Severity.CRITICAL,
    scope=Scope.CLUSTER,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    unreachable_fails=True,
    remedy="Issue a certificate whose SANs list the domain, *.domain and *.ws.domain from a "
    "CA the clients trust (cert-manager with a DNS-01 solver does this).",
)
EXPIRY = Requirement(
    id="cluster_tls_expiry",
    title="The domain's certificate is not expiring within 14 days",
    severity=Severity.WARNING,
    scope=Scope.CLUSTER,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Renew the certificate; with cert-manager, check the Certificate's events and the "
    "issuer's status.",
)
# OpenSSL verify codes (x509_vfy.h).
X509_V_ERR_CERT_HAS_EXPIRED = 10
X509_V_ERR_HOSTNAME_MISMATCH = 62


@dataclass(frozen=True)
class Settings(CheckSettings):
    domain: str = ""  # empty: the check is not configured
    address: str = ""  # host:port of the proxy; empty: the domain on port 443
    ca_file: str = ""
    ca_pem: str = ""  # PEM text, as the installation's customCACert gives it
    warn_days: Annotated[float, Min(0)] = 14.0
    workspace_prefix: str = "ws"  # as cluster_dns


def requirements(settings: Settings) -> tuple[Requirement, ...]:
    return (REQUIREMENT, EXPIRY)


async def _peer_cert(
    host: str, port: int, sni: str, ctx: ssl.SSLContext, timeout: float
) -> dict[str, Any]:
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=ctx, server_hostname=sni), timeout
        )
    except ssl.SSLCertVerificationError as exc:
        if exc.verify_code == X509_V_ERR_CERT_HAS_EXPIRED:
            raise DependencyError(Reason.EXPIRED, f"{sni}: the certificate has expired") from None
        raise DependencyError(Reason.TLS, f"{sni}: {exc.verify_message}") from None
    except ssl.SSLError as exc:
        raise DependencyError(Reason.TLS, f"{sni}: TLS handshake failed: {exc.reason}") from None
    except TimeoutError:
        raise DependencyError(
            Reason.TIMEOUT, f"{sni}: no TLS handshake within {timeout:g}s"
        ) from None
    except OSError as exc:
        raise DependencyError(Reason.CONNECT, f"{host}:{port}: {exc.strerror or exc}") from None
    cert = writer.get_extra_info("peercert") or {}
    # Dropped, not closed: a TLS close waits for the peer's close_notify (up to 30 s), and a
    # peer that never sends it would turn a valid certificate into a timeout.
    writer.transport.abort()
    return cert


async def run(ctx: CheckContext[Settings]) -> Mapping[str, Result]:
    s = ctx.settings
    if not s.domain:
        raise NotConfigured("no domain configured")
    host, _, port = (s.address or f"{s.domain}:443").rpartition(":")
    # Trust is checked by OpenSSL; names by covers(), so a wrong name still shows expiry.
    tls = httpcheck.tls_context(s.ca_file, s.ca_pem)
    tls.check_hostname = False
    names = probe_names(s.domain, s.workspace_prefix)
    budget = client_timeout(s.timeout, len(names))
    samples, uncovered, earliest = [], [], None
    try:
        for pattern, name in names.items():
            cert = await _peer_cert(host.strip("[]"), int(port), name, tls, budget)
            sans = [v for k, v in cert.get("subjectAltName", ()) if k == "DNS"]
            if not any(covers(p, name) for p in sans):
                uncovered.append(pattern)
            expires = ssl.cert_time_to_seconds(cert["notAfter"]) if "notAfter" in cert else None
            if expires is not None:
                earliest = expires if earliest is None else min(earliest, expires)
                samples.append(
                    families.TLS_CERTIFICATE_EXPIRY_TIMESTAMP_SECONDS.sample(
                        expires, pattern, "endpoint"
                    )
                )
    except DependencyError as exc:
        if exc.reason is not Reason.EXPIRED:
            raise  # the scheduler: cluster_tls fails, cluster_tls_expiry has no verdict
        # An expired certificate is a verdict on expiry too, not a missing one.
        failed = Result.failed(exc.reason, "invalid", exc.detail, *samples)
        return {REQUIREMENT.id: failed, EXPIRY.id: failed}
    days = (earliest - time.time()) / 86400 if earliest is not None else None
    observed = f"expires in {days:.1f} days" if days is not None else "valid"
    if uncovered:
        main = Result.failed(
            Reason.MISMATCH,
            observed,
            f"not covered by the certificate: {', '.join(uncovered)}",
            *samples,
        )
    else:
        main = Result.passed(observed, *samples)
    if days is None:
        expiry = Result.errored(Reason.PARSE, "the certificate has no notAfter")
    elif days < s.warn_days:
        expiry = Result.failed(Reason.EXPIRING, observed, f"expires within {s.warn_days:g} days")
    else:
        expiry = Result.passed(observed)
    return {REQUIREMENT.id: main, EXPIRY.id: expiry}


# The settings that name its target: when the config file sets one, the installation is
# not consulted.
async def from_installation(inst: Installation, s: Settings, timeout: float) -> Derived:
    cfg, where = await inst.stated(timeout)
    if not cfg.domain:
        return None
    values: dict[str, Any] = {"domain": cfg.domain, "workspace_prefix": cfg.workspace_prefix}
    if "proxy" in inst.settings.services:
        host, port = inst.service("proxy", 443)
        values["address"] = f"{host}:{port}"
    ca = await inst.custom_ca(cfg, timeout)
    if ca:
        values["ca_pem"] = ca
    return values, stated_origin(where, "domain" + (", customCACert" if ca else ""))


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    requirements=requirements,
    installation=Derive(from_installation, frozenset({"domain"})),
)
