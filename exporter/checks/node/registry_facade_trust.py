"""node_registry_facade_trust: containerd on this node will trust reg.<domain>:20000, where
registry-facade serves workspace images. With a customCACert, registry-facade's init container
writes the CA to /etc/containerd/certs.d/reg.<domain>:20000/ca.crt, which containerd reads only
when its CRI registry config_path includes /etc/containerd/certs.d; otherwise every workspace
image pull fails "x509: certificate signed by unknown authority"."""

from __future__ import annotations

import asyncio
import os
import posixpath
import ssl
from dataclasses import dataclass, field
from typing import Annotated

from exporter import criconfig, hostfs, safeyaml
from exporter.checks.shared import client_timeout, socket_first, with_note
from exporter.config import CheckSettings, Interval, Max, Min
from exporter.context import Applies, Check, CheckContext, Derive
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.installation import Derived, Installation, stated_origin
from exporter.installation.gitpod_config import DEFAULT_CONTAINERD_SOCKET
from exporter.model import CheckError, NotConfigured, Reason, Requirement, Result, Scope, Severity
from exporter.parse import excerpt

REQUIREMENT = Requirement(
    id="node_registry_facade_trust",
    title="containerd trusts registry-facade (reg.<domain>:20000)",
    severity=Severity.CRITICAL,
    scope=Scope.NODE,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy='Set config_path = "/etc/containerd/certs.d" under [plugins."io.containerd.grpc.v1.'
    "cri\".registry] in containerd's config.toml and restart containerd, so it reads the CA "
    "registry-facade writes for reg.<domain>:20000 (K3s: list that host with its ca_file in "
    "/etc/rancher/k3s/registries.yaml).",
)
CERTS_DIR = "/etc/containerd/certs.d"
PORT = 20000  # registry-facade's hostPort (common.RegistryFacadeServicePort)
MAX_CA_BYTES = 256 << 10


@dataclass(frozen=True)
class Settings(CheckSettings):
    interval: Interval = 300.0
    domain: str = ""  # Gitpod's domain; empty: not configured
    custom_ca: bool = False  # whether the installation sets customCACert
    namespace: str = "gitpod"  # Gitpod's: registry-facade's ready label names it
    port: Annotated[int, Min(1), Max(65535)] = PORT
    # host:port of the live probe; empty: HOST_IP (the downward API's status.hostIP) and port.
    address: str = ""
    sockets: list[str] = field(
        default_factory=lambda: [DEFAULT_CONTAINERD_SOCKET, "/run/k3s/containerd/containerd.sock"]
    )
    config_files: list[str] = field(default_factory=lambda: list(criconfig.CONFIG_FILES[:1]))
    certs_dir: str = CERTS_DIR  # where registry-facade's init container writes the CA
    k3s_registries: str = ""  # K3s: /etc/rancher/k3s/registries.yaml (opt-in: a file mount)


def host_paths(s: Settings) -> tuple[str, ...]:
    extra = (s.k3s_registries,) if s.k3s_registries else ()
    return (*s.sockets, *s.config_files, s.certs_dir, *extra)


async def from_installation(inst: Installation, s: Settings, timeout: float) -> Derived:
    cfg, where = await inst.stated(timeout)
    if not cfg.domain:
        return None
    sockets = socket_first(cfg.containerd_socket, s.sockets)
    values = {"domain": cfg.domain, "custom_ca": bool(cfg.custom_ca),
              "namespace": inst.namespace, "sockets": sockets}  # fmt: skip
    return values, stated_origin(where, "domain, customCACert, containerdSocket")


@dataclass(frozen=True)
class Trust:
    how: str  # how containerd trusts the host, for the detail
    ca_path: str = ""  # the CA file containerd reads for it ("" with insecure)
    insecure: bool = False


async def run(ctx: CheckContext[Settings]) -> Result:
    s = ctx.settings
    if not s.domain:
        raise NotConfigured("no domain: the installation is not read and no domain is set")
    host = f"reg.{s.domain}:{s.port}"
    if not s.custom_ca:
        return Result.passed(
            "public CA",
            detail=f"no customCACert: {host} serves a "
            "certificate containerd trusts through the system roots",
        )
    budget = client_timeout(s.timeout, 4)
    cri = await criconfig.effective(ctx, s.sockets, budget, s.config_files)
    answering, probe_note = await _answers(s, budget)
    running, running_note = await _facade_runs(ctx, s, answering)
    trust = await _trust(ctx, s, cri, host, running)
    if isinstance(trust, Result):
        return with_note(trust, running_note)
    notes = [probe_note, running_note, f"containerd's registry config from {cri.source}"]
    if answering and not trust.insecure:
        failure = await _verify(ctx, s, host, trust, answering)
        if failure is not None:
            return with_note(failure, "; ".join(filter(None, notes)))
        notes.insert(0, f"{host} at {answering} verified against {trust.ca_path}")
    return with_note(Result.passed("trusted", detail=trust.how), "; ".join(filter(None, notes)))


async def _trust(
    ctx: CheckContext[Settings], s: Settings, cri: criconfig.CriConfig, host: str, running: bool
) -> Trust | Result:
    legacy = cri.tls.get(host)
    if legacy:
        if legacy["insecure_skip_verify"]:
            return Trust(f"registry.configs.\"{host}\".tls.insecure_skip_verify = true: "
                         "containerd does not verify it", insecure=True)  # fmt: skip
        if legacy["ca_file"]:
            return _ca_file(ctx, legacy["ca_file"], f'registry.configs."{host}".tls.ca_file')
    if s.k3s_registries:
        k3s = await _k3s(ctx, s.k3s_registries, host)
        if k3s is not None:
            return k3s
    if s.certs_dir not in cri.config_paths:
        shown = cri.config_path or "unset"
        return Result.failed(
            Reason.MISMATCH,
            f"config_path {excerpt(shown, 60)}",
            f"containerd's CRI registry config_path is {shown!r}: it will not read the CA "
            f"registry-facade writes to {s.certs_dir}/{host}/ca.crt for the customCACert "
            f"(containerd's registry config from {cri.source})",
        )
    hosts_dir = posixpath.join(s.certs_dir, host)
    ca = posixpath.join(hosts_dir, "ca.crt")
    if ctx.host_kind(ca) == "file":
        return Trust(f"config_path includes {s.certs_dir}; {ca} is there", ca)
    named = await _hosts_toml(ctx, posixpath.join(hosts_dir, "hosts.toml"))
    if not isinstance(named, str):
        return named  # the CA it names, or why that is no CA
    if running:
        return Result.failed(
            Reason.MISSING,
            "no CA",
            f"registry-facade runs here but {ca} is missing{named}: its init container writes "
            "it from the customCACert; check its logs",
        )
    return Trust(f"config_path includes {s.certs_dir}: registry-facade's init container will "
                 f"write {ca} when it starts here")  # fmt: skip


def _ca_file(ctx: CheckContext[Settings], path: str, where: str) -> Trust | Result:
    if ctx.host_kind(path) != "file":
        return Result.failed(Reason.MISSING, "no CA", f"{where} is {path}, which is not a file")
    return Trust(f"{where} = {path}", path)


async def _hosts_toml(ctx: CheckContext[Settings], path: str) -> Trust | Result | str:
    """A hosts.toml naming a CA (or skip_verify) stands for ca.crt, and one naming a CA that
    is not there fails; else why it does not count, for the detail."""
    if ctx.host_kind(path) != "file":
        return ""
    text = await ctx.blocking(hostfs.read_text, ctx.host_root, path, criconfig.MAX_CONFIG_BYTES)
    doc = await ctx.blocking(criconfig.parse_toml, text, path)
    tables = [doc, *(t for t in criconfig.table(doc.get("host")).values() if isinstance(t, dict))]
    for table in tables:
        if table.get("skip_verify") is True:
            return Trust(f"{path} sets skip_verify: containerd does not verify it", insecure=True)
        ca = table.get("ca")
        first = ca[0] if isinstance(ca, list) and ca else ca
        if isinstance(first, str) and first:
            return _ca_file(ctx, first, f"{path} ca")
    return f" and {path} names no ca"


async def _k3s(ctx: CheckContext[Settings], path: str, host: str) -> Trust | Result | None:
    if ctx.host_kind(path) != "file":
        return None
    text = await ctx.blocking(hostfs.read_text, ctx.host_root, path, safeyaml.MAX_BYTES)
    doc = await ctx.blocking(safeyaml.load, text, path)
    table = criconfig.table
    tls = table(table(table(table(doc).get("configs")).get(host)).get("tls"))
    if tls.get("insecure_skip_verify") is True:
        return Trust(f"{path} sets insecure_skip_verify for {host}", insecure=True)
    if isinstance(tls.get("ca_file"), str) and tls["ca_file"]:
        return _ca_file(ctx, tls["ca_file"], f"{path} ca_file")
    return None


async def _answers(s: Settings, timeout: float) -> tuple[str, str]:
    """(host:port when something accepts a connection there, a note when not probed)."""
    address = s.address or (
        f"{os.environ['HOST_IP']}:{s.port}" if os.environ.get("HOST_IP") else ""
    )
    if not address:
        return "", "no HOST_IP: registry-facade not probed live"
    host, _, port = address.rpartition(":")
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host.strip("[]"), int(port)), timeout
        )
    except (OSError, TimeoutError, ValueError):
        return "", f"nothing answers at {address}"
    writer.transport.abort()
    return address, ""


async def _facade_runs(
    ctx: CheckContext[Settings], s: Settings, answering: str
) -> tuple[bool, str]:
    if answering:
        return True, ""
    label = f"gitpod.io/registry-facade_ready_ns_{s.namespace}"
    try:
        labels = await ctx.node_labels(min(s.timeout / 2, 5.0))
    except (NotConfigured, CheckError) as exc:
        return False, f"whether registry-facade runs here is unknown ({exc})"
    return label in labels, ""


async def _verify(
    ctx: CheckContext[Settings], s: Settings, host: str, trust: Trust, address: str
) -> Result | None:
    """A TLS handshake with reg.<domain> against the CA containerd would use: None when it
    verifies, else the failed Result naming what was served."""
    pem = await ctx.blocking(hostfs.read_text, ctx.host_root, trust.ca_path, MAX_CA_BYTES)
    ip, _, port = address.rpartition(":")
    name = host.rpartition(":")[0]
    tls = ssl.create_default_context()
    try:
        tls.load_verify_locations(cadata=pem)
    except (ssl.SSLError, ValueError):
        return Result.failed(
            Reason.INVALID, "no CA", f"{trust.ca_path} holds no usable PEM certificate"
        )
    budget = client_timeout(s.timeout, 4)
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(ip.strip("[]"), int(port), ssl=tls, server_hostname=name),
            budget,
        )
    except ssl.SSLCertVerificationError as exc:
        issuer = await _issuer(ip.strip("[]"), int(port), name, budget)
        if "hostname" in (exc.verify_message or "").lower() or "IP address mismatch" in str(exc):
            return Result.failed(Reason.MISMATCH, "wrong name",
                                 f"{address} serves a certificate not valid for {name} "
                                 f"(issued by {issuer})")  # fmt: skip
        why = (
            f"{address} serves a certificate issued by {issuer}, which {trust.ca_path} does "
            f"not verify ({exc.verify_message}): workspace image pulls fail with x509: "
            "certificate signed by unknown authority"
        )
        return Result.failed(Reason.UNTRUSTED, "untrusted", why)
    except ssl.SSLError as exc:
        return Result.failed(Reason.TLS, "no TLS", f"{address}: TLS handshake failed: {exc.reason}")
    except (OSError, TimeoutError) as exc:
        return Result.failed(
            Reason.CONNECT,
            "unreachable",
            f"{address}: {getattr(exc, 'strerror', None) or exc or 'timeout'}",
        )
    writer.transport.abort()
    return None


async def _issuer(ip: str, port: int, name: str, timeout: float) -> str:
    """The served certificate's issuer, read without verifying (for the report)."""
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    tls.check_hostname = False
    tls.verify_mode = ssl.CERT_NONE
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(ip, port, ssl=tls, server_hostname=name), timeout
        )
    except (OSError, TimeoutError, ssl.SSLError):
        return "an issuer it did not show again"
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    writer.transport.abort()
    if not der:
        return "nobody (no certificate)"
    from cryptography import x509

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return "an unreadable certificate"
    return excerpt(cert.issuer.rfc4514_string(), 120)


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    host_paths=host_paths,
    installation=Derive(from_installation, frozenset({"domain"})),
    applies_to=Applies.WORKSPACE_NODES,
)
