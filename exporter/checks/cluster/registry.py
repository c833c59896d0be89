"""cluster_registry: the image registry speaks the Docker Registry HTTP API V2 and accepts
Gitpod's credentials (Basic or the Bearer token flow); optionally, that it lets them push."""

from __future__ import annotations

import base64
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urljoin, urlsplit

from exporter import compat, families, httpcheck
from exporter.checks.shared import client_timeout, compatibility_of, compatibility_requirement
from exporter.config import CheckSettings, Secret, SecretValue
from exporter.context import Check, CheckContext, Derive
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.installation import Derived, Installation, stated_origin
from exporter.installation.content import docker_credentials, host_of
from exporter.model import (
    CheckError,
    DependencyError,
    NotConfigured,
    Reason,
    Requirement,
    Result,
    Scope,
    Severity,
)
from exporter.parse import ParseError, registry_errors, registry_token, www_authenticate

if TYPE_CHECKING:
    import aiohttp

REQUIREMENT = Requirement(
    id="cluster_registry",
    title="An image registry implementing Docker Registry HTTP API V2",
    severity=Severity.CRITICAL,
    scope=Scope.CLUSTER,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    unreachable_fails=True,
    remedy="Check the registry URL and the credentials Gitpod uses (docker login URL works?), "
    "and that the registry implements the V2 API.",
)
API_HEADER = "Docker-Distribution-API-Version"


@dataclass(frozen=True)
class Settings(CheckSettings):
    url: str = ""  # e.g. https://registry.example.com; empty: the check is not configured
    username: str = ""
    password: Secret | None = None
    ca_file: str = ""
    ca_pem: str = ""  # PEM text, e.g. Gitpod's in-cluster CA from its Secret
    # Start a blob upload and cancel it: proves push rights, leaves nothing behind.
    push_check: bool = False
    repository: str = "gitpod-requirements-probe"
    # Hosts besides the registry's own (and those under its parent domain) whose token realm
    # may receive the registry credentials, over HTTPS only.
    token_hosts: list[str] = field(default_factory=list)


class _Client:
    def __init__(self, http: aiohttp.ClientSession, s: Settings, password: str) -> None:
        self.http, self.s, self.password = http, s, password
        self.base = s.url.rstrip("/")
        # True: aiohttp's default verification (and unused for plain http).
        self.ssl: ssl.SSLContext | bool = (
            httpcheck.tls_context(s.ca_file, s.ca_pem) if self.base.startswith("https") else True
        )
        self.auth: dict[str, str] = {}

    def _basic(self) -> dict[str, str]:
        if not self.s.username:
            return {}
        pair = base64.b64encode(f"{self.s.username}:{self.password}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}

    async def call(self, method: str, url: str, scope: str = "") -> aiohttp.ClientResponse:
        """A request that follows one 401 challenge, as docker's client does."""
        resp = await self.http.request(
            method, url, headers=self.auth, ssl=self.ssl, allow_redirects=False
        )
        if resp.status != 401:
            return resp
        header = resp.headers.get("WWW-Authenticate", "")
        resp.release()
        try:
            challenges = dict(www_authenticate(header))
        except ParseError as exc:
            raise DependencyError(
                Reason.PROTOCOL, f"unusable WWW-Authenticate {header!r}: {exc}"
            ) from None
        if "bearer" in challenges:
            self.auth = {
                "Authorization": f"Bearer {await self._token(challenges['bearer'], scope)}"
            }
        elif "basic" in challenges:
            if not self.s.username:
                raise DependencyError(
                    Reason.AUTH, "the registry wants credentials and none are configured"
                )
            self.auth = self._basic()
        else:
            raise DependencyError(Reason.PROTOCOL, f"no Basic or Bearer challenge in {header!r}")
        resp = await self.http.request(
            method, url, headers=self.auth, ssl=self.ssl, allow_redirects=False
        )
        if resp.status == 401:
            resp.release()
            raise DependencyError(Reason.AUTH, "the registry refused the configured credentials")
        return resp

    async def _token(self, params: dict[str, str], scope: str) -> str:
        realm = params.get("realm")
        if not realm:
            raise DependencyError(Reason.PROTOCOL, "Bearer challenge without a realm")
        # The challenge's scope is what this request needs (a DELETE wants "delete", not
        # "push"); the caller's scope is the fallback for a challenge that names none.
        wanted = params.get("scope") or scope
        query = {k: v for k, v in (("service", params.get("service", "")), ("scope", wanted)) if v}
        url = f"{realm}?{urlencode(query)}" if query else realm
        token_ssl = (
            httpcheck.tls_context(self.s.ca_file, self.s.ca_pem)
            if realm.startswith("https")
            else True
        )
        refused = self.s.username and _realm_refused(self.base, realm, self.s.token_hosts)
        if refused:
            raise DependencyError(Reason.AUTH, refused)
        async with self.http.get(
            url, headers=self._basic(), ssl=token_ssl, allow_redirects=False
        ) as resp:
            if resp.status in (401, 403):
                raise DependencyError(
                    Reason.AUTH, f"the token service refused the credentials (HTTP {resp.status})"
                )
            if resp.status != 200:
                raise DependencyError(Reason.PROTOCOL, f"token service answered HTTP {resp.status}")
            # A token answer is a JWT or two in JSON, a few KiB.
            raw = await httpcheck.read_body(resp, 1 << 20, "the token service")
            text = raw.decode("utf-8", "replace")
        try:
            token = registry_token(text)
        except ParseError as exc:
            raise DependencyError(Reason.PROTOCOL, str(exc)) from None
        return token


async def _push_check(client: _Client, repo: str) -> str:
    """Start a blob upload (proves push rights) and cancel it; returns how the cancel went."""
    scope = f"repository:{repo}:push,pull"
    resp = await client.call("POST", f"{client.base}/v2/{repo}/blobs/uploads/", scope)
    async with resp:
        if resp.status in (401, 403):
            raise _Refused(f"push to {repo} refused (HTTP {resp.status})")
        location = resp.headers.get("Location", "")
        if resp.status != 202 or not location:
            raise DependencyError(
                Reason.PROTOCOL, f"starting an upload answered HTTP {resp.status}"
            )
    # Cancel the upload so nothing stays behind. Token registries may grant push but not
    # delete; then the registry's upload purger removes the empty session later.
    target = urljoin(client.base + "/", location)
    if _origin(target) != _origin(client.base):
        # The credentials stay with the registry's origin; the purger removes the session.
        return f"upload not cancelled: its Location is on another origin ({_origin(target)})"
    try:
        cancel = await client.call("DELETE", target, scope)
    except DependencyError as exc:
        if exc.reason is not Reason.AUTH:
            raise
        return "upload not cancelled: delete not permitted (the registry purges it)"
    async with cancel as resp:
        if resp.status not in (200, 202, 204):
            raise DependencyError(
                Reason.PROTOCOL, f"cancelling the upload answered HTTP {resp.status}"
            )
    return "upload started and cancelled"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _realm_refused(base: str, realm: str, token_hosts: list[str]) -> str:
    """Why the registry credentials must not go to this token realm ('' when they may): over
    HTTPS to the registry's host, a host under its parent domain (GitLab's registry.example.com
    -> example.com/jwt/auth) or one of token_hosts; over plain HTTP only to the registry's own
    host when the registry itself is plain HTTP (nothing is exposed that is not already)."""
    reg, tok = urlsplit(base), urlsplit(realm)
    host, realm_host = (reg.hostname or "").lower(), (tok.hostname or "").lower()
    if tok.scheme == "http" and reg.scheme == "http" and realm_host == host:
        return ""
    if tok.scheme != "https":
        return f"token realm {realm_host} is not HTTPS: the credentials are not sent there"
    parent = host.split(".", 1)[1] if host.count(".") >= 2 else ""
    expected = {host, *(h.lower() for h in token_hosts)}
    if realm_host in expected or (parent and (realm_host == parent or realm_host.endswith(
            "." + parent))):  # fmt: skip
        return ""
    return (
        f"token realm {realm_host} is neither the registry's host nor under its domain: the "
        "credentials are not sent there (add it to token_hosts if it is yours)"
    )


class _Refused(Exception):
    pass


COMPATIBILITY = compatibility_requirement("registry")


def requirements(settings: Settings) -> tuple[Requirement, ...]:
    return (REQUIREMENT, COMPATIBILITY)


async def run(ctx: CheckContext[Settings]) -> Mapping[str, Result | Exception]:
    """The V2 API with Gitpod's credentials, and the registry against the compatibility
    matrix (an ECR host is not supported), judged from its address even when it is down."""
    host = urlsplit(ctx.settings.url).hostname or ""
    compatibility = (
        await compatibility_of(
            ctx, "registry", lambda release: compat.registry(host, release.rule("registry"))
        )
        if ctx.settings.url
        else NotConfigured("no registry url configured")
    )
    try:
        main: Result | Exception = await _v2(ctx)
    except Exception as exc:
        main = exc
    return {REQUIREMENT.id: main, COMPATIBILITY.id: compatibility}


async def _v2(ctx: CheckContext[Settings]) -> Result:
    s = ctx.settings
    if not s.url:
        raise NotConfigured("no registry url configured")
    password = s.password.read() if s.password else ""
    started = time.perf_counter()
    async with httpcheck.session(client_timeout(s.timeout)) as http:
        client = _Client(http, s, password)
        async with await client.call("GET", f"{client.base}/v2/") as resp:
            version = resp.headers.get(API_HEADER, "")  # CIMultiDict: any header-name case
            if resp.status in (401, 403) and version == "registry/2.0":
                # A V2 registry that refuses these credentials (or their lack) access: what it
                # says of why is read, bounded, and scrubbed with every detail.
                raw = await httpcheck.read_body(resp, 64 << 10, "the registry's refusal")
                said = registry_errors(raw.decode("utf-8", "replace"))
                raise DependencyError(
                    Reason.AUTH,
                    f"GET /v2/ answered HTTP {resp.status}: the registry refused access"
                    + (f" ({said})" if said else ""),
                )
            if resp.status != 200 or version != "registry/2.0":
                raise DependencyError(
                    Reason.PROTOCOL,
                    f"GET /v2/ answered HTTP {resp.status} with "
                    f"{API_HEADER}={version or 'absent'}: not a V2 registry",
                )
        latency = time.perf_counter() - started
        pushed = ""
        if s.push_check:
            try:
                pushed = await _push_check(client, s.repository)
            except _Refused as exc:
                return Result.failed(Reason.AUTH, "V2, no push", str(exc))
    sample = families.REGISTRY_LATENCY_SECONDS.sample(latency)
    auth = client.auth.get("Authorization", "").split(" ")[0].lower() or "anonymous"
    observed = f"V2 ({auth})" + (", push ok" if s.push_check else "")
    return Result.passed(observed, sample, detail=pushed)


# The settings that name its target: when the config file sets one, the installation is
# not consulted.
# The in-cluster registry's certificate is issued by Gitpod's own CA into this Secret.
REGISTRY_CERTS_SECRET = "builtin-registry-certs"
REGISTRY_AUTH_SECRET = "builtin-registry-auth"


async def from_installation(inst: Installation, s: Settings, timeout: float) -> Derived:
    cfg, where = await inst.stated(timeout)
    values: dict[str, Any] = {}
    if cfg.registry == "external":
        url = cfg.registry_url if "://" in cfg.registry_url else f"https://{cfg.registry_url}"
        name, hosts = cfg.registry_secret, [host_of(url)]
        what = f"containerRegistry.external, Secret {name}"
    else:
        host, port = inst.service("registry", 443)
        url = f"https://{host}:{port}"
        name, hosts = REGISTRY_AUTH_SECRET, [f"registry.{cfg.domain}", host_of(url)]
        what = f"containerRegistry.inCluster, Service registry, Secret {name}"
        try:
            values["ca_pem"] = await inst.secret_text(REGISTRY_CERTS_SECRET, "ca.crt", timeout)
            what += f", CA from Secret {REGISTRY_CERTS_SECRET}"
        except CheckError as exc:
            if exc.reason is not Reason.NOT_FOUND:
                raise
    values["url"] = url
    data = await inst.secret(name, timeout)
    if ".dockerconfigjson" not in data:
        raise CheckError(Reason.CONFIG, f"Secret {name} has no key .dockerconfigjson")
    for host in hosts:
        creds = docker_credentials(data[".dockerconfigjson"], host, name)
        if creds:
            values["username"] = creds[0]
            values["password"] = SecretValue(creds[1], f"Secret {name} .dockerconfigjson")
            break
    return values, stated_origin(where, what)


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    requirements=requirements,
    installation=Derive(from_installation, frozenset({"url"})),
)
