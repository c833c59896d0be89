"""cluster_scm: every configured source control system answers its API over valid TLS."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated

from exporter import families, httpcheck
from exporter.checks.shared import client_timeout
from exporter.config import CheckSettings, ConfigError, Max, Min, OneOf, Pattern
from exporter.context import Check, CheckContext, Derive
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.installation import Derived, Installation, stated_origin
from exporter.installation.content import provider_of
from exporter.model import (
    DependencyError,
    NotConfigured,
    Reason,
    Requirement,
    Result,
    Scope,
    Severity,
)
from exporter.parse import first

REQUIREMENT = Requirement(
    id="cluster_scm",
    title="Each configured source control system is reachable",
    severity=Severity.CRITICAL,
    scope=Scope.CLUSTER,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    unreachable_fails=True,
    remedy="Check egress from the cluster to the SCM (proxy, firewall) and that its certificate "
    "is trusted (configure ca_file for a private CA).",
)

# Type: (default API base, path of an endpoint that answers without a token or with 401).
ENDPOINTS = {
    "github": ("https://api.github.com", "/"),
    "github_enterprise": ("", "/api/v3/meta"),
    "gitlab": ("https://gitlab.com", "/api/v4/version"),
    "bitbucket": ("https://api.bitbucket.org", "/2.0/user"),
    "bitbucket_server": ("", "/rest/api/1.0/application-properties"),
    "azure_devops": ("https://dev.azure.com", "/_apis/connectionData"),
}
# Answers that prove the API is there: auth-only endpoints say 401 (or 203 on Azure DevOps).
OK_STATUS = {200, 203, 204, 401}


@dataclass(frozen=True)
class Provider:
    name: Annotated[str, Pattern(r"[a-zA-Z0-9_.-]+", "a short name")] = ""
    type: Annotated[str, OneOf(tuple(ENDPOINTS))] = "github"
    url: str = ""  # required for github_enterprise and bitbucket_server
    ca_file: str = ""
    ca_pem: str = ""  # PEM text, as the installation's customCACert gives it

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigError("name", "expected a short name for the provider (its metric label)")
        if not (self.url or ENDPOINTS[self.type][0]):
            raise ConfigError("url", f"type {self.type} needs the url of its server")


@dataclass(frozen=True)
class Settings(CheckSettings):
    providers: list[Provider] = field(default_factory=list)
    # Probed (and labelled in metrics) up to this many, the rest named in the detail: the
    # series must not grow with whatever an installation lists.
    max_providers: Annotated[int, Min(1), Max(1000)] = 50


async def _probe(p: Provider, timeout: float) -> tuple[float, int]:
    base, endpoint = ENDPOINTS[p.type]
    url = (p.url or base).rstrip("/") + endpoint
    if not url.startswith("https://"):
        raise DependencyError(Reason.TLS, f"{p.name}: {url} is not HTTPS")
    started = time.perf_counter()
    async with (
        httpcheck.session(timeout) as http,
        http.get(
            url, ssl=httpcheck.tls_context(p.ca_file, p.ca_pem), allow_redirects=False
        ) as resp,
    ):
        # An API root is a few KiB of JSON; a stream past this is not the SCM's.
        await httpcheck.read_body(resp, 1 << 20, f"{p.name}: {url}")
        if resp.status not in OK_STATUS:
            raise DependencyError(Reason.PROTOCOL, f"{p.name}: {url} answered HTTP {resp.status}")
        # Every supported SCM answers its API root in JSON, even with 401; an HTML 200 is a
        # proxy's or captive portal's page, not the SCM.
        if "json" not in resp.content_type:
            raise DependencyError(
                Reason.PROTOCOL, f"{p.name}: {url} answered {resp.content_type}, not its JSON API"
            )
        return time.perf_counter() - started, resp.status


async def run(ctx: CheckContext[Settings]) -> Result:
    s = ctx.settings
    if not s.providers:
        raise NotConfigured("no SCM providers configured")
    samples, problems, ok = [], [], []
    probed, rest = s.providers[: s.max_providers], s.providers[s.max_providers :]
    skipped = (
        f"; {len(rest)} more not probed (max_providers {s.max_providers}): "
        + first([p.name for p in rest], 5)
        if rest
        else ""
    )
    for p in probed:
        try:
            latency, status = await _probe(p, client_timeout(s.timeout, len(probed)))
        except DependencyError as exc:
            problems.append((p.name, exc))
            samples.append(families.SCM_UP.sample(0.0, p.name))
            continue
        ok.append(f"{p.name} ({status})")
        samples.append(families.SCM_UP.sample(1.0, p.name))
        samples.append(families.SCM_LATENCY_SECONDS.sample(latency, p.name))
    if problems:
        detail = "; ".join(f"{name}: {exc.detail}" for name, exc in problems)
        return Result.failed(
            problems[0][1].reason,
            first([n for n, _ in problems], 5) + " unreachable",
            detail + skipped,
            *samples,
        )
    return Result.passed(first(ok, 5), *samples, detail=skipped.removeprefix("; "))


# The settings that name its target: when the config file sets one, the installation is
# not consulted.
async def from_installation(inst: Installation, s: Settings, timeout: float) -> Derived:
    cfg, where = await inst.stated(timeout)
    if not cfg.auth_providers:
        return None
    ca = await inst.custom_ca(cfg, timeout)
    providers = []
    # One Secret read per provider the check will probe, not per provider listed.
    limit = s.max_providers
    for name in cfg.auth_providers[:limit]:
        fields = provider_of(await inst.secret_text(name, "provider", timeout), name)
        # As the config file would list it: validated the same way (with_derived).
        providers.append({**fields, "ca_pem": ca})
    listed = cfg.auth_providers
    what = f"authProviders, Secrets {first(list(listed[:limit]), 5)}"
    if len(listed) > limit:
        what += f" ({len(listed) - limit} more not read: max_providers {limit})"
    return {"providers": providers}, stated_origin(where, what + (", customCACert" if ca else ""))


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    installation=Derive(from_installation, frozenset({"providers"})),
)
