"""node_registry_facade_trust: containerd on this node will trust reg.<domain>:20000, where
registry-facade serves workspace images. Judged as containerd judges it (core/remotes/docker/
config/hosts.go, the same in 1.6, 1.7 and 2.x): the hosts directory for that host under each
of the CRI registry's config_path roots (reg.<domain>_20000_, reg.<domain>:20000, _default),
its hosts.toml (a CA relative to that directory; loose *.crt files count only without a
hosts.toml), else containerd 1.x's legacy registry.configs tls; the CAs it names are added to
the node's system roots. With a customCACert, registry-facade's init container writes the CA to
/etc/containerd/certs.d/reg.<domain>:20000/ca.crt, read only when config_path includes that
directory. Whenever registry-facade answers, its certificate is verified against what
containerd would trust, whatever the config says: a self-signed certificate without a
customCACert fails here as every workspace image pull fails there ("x509: certificate signed by
unknown authority")."""

from __future__ import annotations

import asyncio
import os
import posixpath
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from exporter import criconfig, hostfs, safeyaml, truststore
from exporter.checks.shared import client_timeout, socket_first, with_note
from exporter.config import CheckSettings, Interval, Max, Min
from exporter.context import Applies, Check, CheckContext, Derive
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC, ready_label
from exporter.installation import Derived, Installation, stated_origin
from exporter.installation.gitpod_config import DEFAULT_CONTAINERD_SOCKET
from exporter.model import CheckError, NotConfigured, Reason, Requirement, Result, Scope, Severity
from exporter.parse import ParseError, excerpt

REQUIREMENT = Requirement(
    id="node_registry_facade_trust",
    title="containerd trusts registry-facade (reg.<domain>:20000)",
    severity=Severity.CRITICAL,
    scope=Scope.NODE,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy='Set config_path = "/etc/containerd/certs.d" in containerd\'s CRI registry config '
    '(containerd 1.x: [plugins."io.containerd.grpc.v1.cri".registry]; 2.x: '
    "[plugins.'io.containerd.cri.v1.images'.registry]) and restart containerd, so it reads the "
    "CA registry-facade writes for reg.<domain>:20000; a hosts.toml in that host's directory "
    "must name the CA (ca = ...). K3s: list the host with its ca_file in "
    "/etc/rancher/k3s/registries.yaml. Without a customCACert, registry-facade's certificate "
    "must chain to a CA in the node's system trust store.",
)
CERTS_DIR = "/etc/containerd/certs.d"
PORT = 20000  # registry-facade's hostPort (common.RegistryFacadeServicePort)
MAX_CA_BYTES = 256 << 10
MAX_HOST_DIR_FILES = 256
DEFAULT_HOST_DIR = "_default"


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
    # The node's trust store: bundles and certificate directories (under /etc, /usr).
    stores = (*truststore.BUNDLES, *truststore.DIRECTORIES)
    return (*s.sockets, *s.config_files, s.certs_dir, *stores, *extra)


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
    """How containerd will verify the host: the node's system roots plus `cas` (host paths),
    or not at all (`insecure`)."""

    how: str
    cas: tuple[str, ...] = ()
    insecure: bool = False
    note: str = ""  # something containerd ignores, worth saying
    empty: bool = False  # a hosts directory with neither hosts.toml nor *.crt


async def run(ctx: CheckContext[Settings]) -> Result:
    s = ctx.settings
    if not s.domain:
        raise NotConfigured("no domain: the installation is not read and no domain is set")
    host = f"reg.{s.domain}:{s.port}"
    budget = client_timeout(s.timeout, 4)
    cri = await criconfig.effective(ctx, s.sockets, budget, s.config_files)
    answering, probe_note = await _answers(s, budget)
    running, running_note = await _facade_runs(ctx, s, answering)
    trust = await _trust(ctx, s, cri, host, running)
    if isinstance(trust, Result):
        return with_note(trust, running_note)
    notes = [
        trust.note,
        probe_note,
        running_note,
        f"containerd's registry config from {cri.source}",
    ]
    if answering and not trust.insecure:
        verified = await _verify(ctx, s, host, trust, answering)
        if isinstance(verified, Result):
            return with_note(verified, "; ".join(filter(None, [trust.how, *notes])))
        notes.insert(0, f"{host} at {answering} verified against {verified}")
    elif not answering and not s.custom_ca:
        notes.insert(0, "its certificate is not verified until registry-facade answers")
    observed = "insecure" if trust.insecure else "trusted"
    return Result.passed(observed, detail="; ".join(filter(None, [trust.how, *notes])))


async def _trust(
    ctx: CheckContext[Settings], s: Settings, cri: criconfig.CriConfig, host: str, running: bool
) -> Trust | Result:
    ignored = ""
    legacy = cri.tls.get(host)
    if legacy and cri.legacy_tls and not cri.config_paths:
        if legacy["insecure_skip_verify"]:
            return Trust(f"registry.configs.\"{host}\".tls.insecure_skip_verify = true: "
                         "containerd does not verify it", insecure=True)  # fmt: skip
        if legacy["ca_file"]:
            where = f'registry.configs."{host}".tls.ca_file'
            return _ca_files(ctx, [legacy["ca_file"]], f"{where} = {legacy['ca_file']}")
    elif legacy:
        ignored = (f'registry.configs."{host}".tls is ignored: '
                   + ("containerd 2.x dropped it" if not cri.legacy_tls
                      else "config_path is set"))  # fmt: skip
    if not cri.registry_known:
        if s.custom_ca:
            raise CheckError(Reason.NOT_FOUND, f"cannot tell where containerd reads registry "
                             f"certificates: {cri.source}")  # fmt: skip
        return Trust("containerd's registry config_path unknown; judged by the node's system "
                     "roots", note=ignored)  # fmt: skip
    paths = cri.config_paths
    bare = ""  # a hosts directory naming no CA, while the customCACert is still to come
    if paths:
        found = await ctx.blocking(host_dir, ctx.host_root, paths, host)
        if found is not None:
            trust = await _from_host_dir(ctx, found, host, cri.strict_hosts_toml)
            if isinstance(trust, Result) or not (trust.empty and s.custom_ca):
                if isinstance(trust, Trust) and ignored:
                    trust = Trust(trust.how, trust.cas, trust.insecure, ignored)
                return trust
            bare = f" ({trust.how})"
    if s.k3s_registries:
        k3s = await _k3s(ctx, s.k3s_registries, host)
        if k3s is not None:
            return k3s
    shown = ":".join(paths) or "unset"
    if not s.custom_ca:
        where = f"no directory for {host} under config_path {shown}"
        return Trust(f"{where}: containerd verifies it against the node's system roots",
                     note=ignored)  # fmt: skip
    certs_dir = posixpath.normpath(s.certs_dir)
    ca = posixpath.join(certs_dir, host, "ca.crt")
    if certs_dir not in paths:
        return Result.failed(
            Reason.MISMATCH,
            f"config_path {excerpt(shown, 60)}",
            f"containerd's CRI registry config_path is {shown!r}: it will not read the CA "
            f"registry-facade writes to {ca} for the customCACert (containerd's registry "
            f"config from {cri.source})" + (f"; {ignored}" if ignored else ""),
        )
    if running:
        return Result.failed(
            Reason.MISSING,
            "no CA",
            f"registry-facade runs here but {ca} is missing{bare}: its init container writes it "
            "from the customCACert; check its logs",
        )
    return Trust(f"config_path includes {certs_dir}: registry-facade's init container will "
                 f"write {ca} when it starts here", note=ignored)  # fmt: skip


def host_dir(root: Path, roots: list[str], host: str) -> str | None:
    """The hosts directory containerd uses for `host` (blocking): under each config_path root
    in turn, `host` with ':port' written '_port_', then `host`, then _default; the first that
    exists (symlinks followed), else None."""
    colon = host.rfind(":")
    escaped = f"{host[:colon]}_{host[colon + 1 :]}_" if colon > 0 else host
    for base in roots:
        for name in dict.fromkeys((escaped, host, DEFAULT_HOST_DIR)):
            candidate = posixpath.join(base, name)
            if hostfs.exists(root, candidate):
                return candidate
    return None


async def _from_host_dir(
    ctx: CheckContext[Settings], directory: str, host: str, strict: bool
) -> Trust | Result:
    """What containerd makes of a hosts directory: its hosts.toml when there is one with
    content that it decodes (a CA relative to the directory; containerd 1.x, `strict`,
    decodes none without a [host] table), else its loose *.crt files."""
    hosts_toml = posixpath.join(directory, "hosts.toml")
    kind = ctx.host_kind(hosts_toml)
    fallback = ""
    if kind == "file":
        text = await ctx.blocking(
            hostfs.read_text, ctx.host_root, hosts_toml, criconfig.MAX_CONFIG_BYTES
        )
        if text:
            try:
                doc = await ctx.blocking(criconfig.parse_toml, text, hosts_toml)
            except ParseError as exc:
                fallback = f"{exc}: containerd logs 'failed to decode' and reads the *.crt files"
            else:
                if not strict or isinstance(doc.get("host"), dict):
                    return _from_hosts_toml(ctx, doc, directory, hosts_toml, host)
                fallback = (f"{hosts_toml} has no [host] table: containerd 1.x cannot decode it "
                            "('invalid `host` tree') and reads the *.crt files")  # fmt: skip
    elif kind != "absent":
        raise CheckError(Reason.IO, f"{hosts_toml} is a {kind}: refused")
    names, _ = await ctx.blocking(hostfs.scan, ctx.host_root, directory, MAX_HOST_DIR_FILES)
    cas = [posixpath.join(directory, n) for n in names if n.endswith(".crt")]
    where = fallback or f"{directory} has no hosts.toml"
    if not cas:
        return Trust(f"{where} and no *.crt: containerd verifies {host} against the node's "
                     "system roots", empty=not fallback)  # fmt: skip
    return _ca_files(ctx, cas, f"{where}; containerd reads {', '.join(cas)}")


def _from_hosts_toml(
    ctx: CheckContext[Settings], doc: dict[str, Any], directory: str, path: str, host: str
) -> Trust | Result:
    """The entries of a hosts.toml that reach `host`: [host."<url>"] tables naming it, and the
    top level (its `server`, else the host itself). Loose *.crt files are not read then."""
    table = criconfig.table
    entries: list[tuple[str, dict[str, Any]]] = []
    for url, entry in list(table(doc.get("host")).items())[:64]:
        if _host_of(str(url)) == host.lower() and isinstance(entry, dict):
            entries.append((f"[host.{excerpt(str(url), 80)}]", entry))
    server = doc.get("server")
    if not isinstance(server, str) or not server or _host_of(server) == host.lower():
        entries.append(("its top level", doc))
    if not entries:
        return Result.failed(
            Reason.MISMATCH,
            "elsewhere",
            f"{path} sends pulls of {host} to {excerpt(str(server), 80)}, not registry-facade",
        )
    for where, entry in entries:
        if entry.get("skip_verify") is True:
            return Trust(f"{path} ({where}) sets skip_verify: containerd does not verify it",
                         insecure=True)  # fmt: skip
        ca = entry.get("ca")
        named = [ca] if isinstance(ca, str) else ca if isinstance(ca, list) else []
        files = [posixpath.join(directory, c) for c in named[:16] if isinstance(c, str) and c]
        if files:
            return _ca_files(ctx, files, f"{path} ({where}) ca = {', '.join(files)}")
    return Trust(f"{path} names no ca for {host} (its *.crt files are not read beside a "
                 "hosts.toml): containerd verifies it against the node's system roots")  # fmt: skip


def _host_of(url: str) -> str:
    split = urlsplit(url if "://" in url else f"https://{url}")
    return split.netloc.lower()


def _ca_files(ctx: CheckContext[Settings], paths: list[str], how: str) -> Trust | Result:
    """containerd fails every pull when a CA it is told to read cannot be read."""
    for path in paths:
        kind = ctx.host_kind(path)
        if kind != "file":
            what = "absent" if kind == "absent" else f"a {kind}"
            return Result.failed(
                Reason.MISSING, "no CA", f"{how}: {path} is {what} (containerd: unable to read "
                "CA cert, every pull of the host fails)",
            )  # fmt: skip
    return Trust(how, tuple(paths))


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
        return _ca_files(ctx, [tls["ca_file"]], f"{path} ca_file = {tls['ca_file']}")
    return None


async def _answers(s: Settings, timeout: float) -> tuple[str, str]:
    """(host:port when something accepts a connection there, a note when not probed). Where
    containerd goes: reg.<domain> is 127.0.0.1 in the node's /etc/hosts (ws-daemon's entry),
    reached so from the host network; from a pod's own network, the node's address."""
    host_ip = os.environ.get("HOST_IP", "")
    on_host_network = bool(host_ip) and os.environ.get("POD_IP") == host_ip
    address = s.address or (
        f"127.0.0.1:{s.port}" if on_host_network else f"{host_ip}:{s.port}" if host_ip else ""
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
    label = ready_label("registry-facade", s.namespace)
    try:
        labels = await ctx.node_labels()
    except (NotConfigured, CheckError) as exc:
        return False, f"whether registry-facade runs here is unknown ({exc})"
    return label in labels, ""


def _trusted_pem(root: Path, cas: tuple[str, ...]) -> tuple[str, str, list[str]]:
    """(the PEM containerd would trust: the node's roots and the CAs, what that is, the CAs
    holding no certificate). Blocking."""
    roots = truststore.node_roots(root)
    pems, empty = [roots.pem], []
    for path in cas:
        found = truststore.certificates(hostfs.read_text(root, path, MAX_CA_BYTES))
        if not found:
            empty.append(path)
        pems += found
    shown = f"the node's system roots ({roots.count} from {roots.where})"
    if cas:
        shown += f" and {', '.join(cas)}"
    return "\n".join(p for p in pems if p), shown, empty


async def _verify(
    ctx: CheckContext[Settings], s: Settings, host: str, trust: Trust, address: str
) -> Result | str:
    """A TLS handshake with reg.<domain> against what containerd would trust: what it was
    verified against, else the failed Result naming what was served."""
    pem, against, empty = await ctx.blocking(_trusted_pem, ctx.host_root, trust.cas)
    if empty:
        return Result.failed(
            Reason.INVALID, "no CA", f"{', '.join(empty)} holds no PEM certificate"
        )
    if not pem:
        raise CheckError(
            Reason.NOT_FOUND,
            f"no system trust store on the node ({', '.join(truststore.BUNDLES[:2])}, ...) and "
            f"no CA configured for {host}: cannot verify {address} as containerd would",
        )
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # nothing of the image's own trust
    try:
        tls.load_verify_locations(cadata=pem)
    except (ssl.SSLError, ValueError):
        return Result.failed(Reason.INVALID, "no CA", f"{against}: no usable PEM certificate")
    ip, _, port = address.rpartition(":")
    name = host.rpartition(":")[0]
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
            f"{address} serves a certificate issued by {issuer}, which {against} do not verify "
            f"({exc.verify_message}): workspace image pulls fail with x509: certificate signed "
            "by unknown authority"
        )
        return Result.failed(Reason.UNTRUSTED, "untrusted", why)
    except ssl.SSLError as exc:
        return Result.failed(Reason.TLS, "no TLS", f"{address}: TLS handshake failed: {exc.reason}")
    except TimeoutError:
        return Result.failed(Reason.TIMEOUT, "unresponsive",
                             f"{address}: no TLS handshake within {budget:.1f}s")  # fmt: skip
    except OSError as exc:
        return Result.failed(Reason.CONNECT, "unreachable", f"{address}: {exc.strerror or exc}")
    writer.transport.abort()
    return against


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
