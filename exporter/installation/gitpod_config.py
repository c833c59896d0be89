"""Gitpod's installer config (apiVersion v1), read leniently: the fields a requirement checker
needs, the Secrets they reference, and what is wrong with them. Unknown fields are Gitpod's
business, not errors. Pure functions: the text comes from a ConfigMap or a file."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from exporter import safeyaml
from exporter.gitpod import KINDS
from exporter.parse import ParseError, excerpt

_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
_FQDN = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})+", re.ASCII)
DEFAULT_CONTAINERD_SOCKET = "/run/containerd/containerd.sock"
DEFAULT_CONTAINERD_RUNTIME_DIR = "/var/lib/containerd/io.containerd.runtime.v2.task/k8s.io"


class Content(enum.StrEnum):
    """What a referenced Secret holds beyond its keys, for cluster_gitpod_secret to judge."""

    NONE = ""
    HTTPS = "https"  # a certificate and its key for the domain and its wildcards
    DATABASE = "database"  # host, port, credentials and encryption keys
    DOCKERCONFIG = "dockerconfig"  # a .dockerconfigjson with the registry's host
    PROVIDER = "provider"  # an auth provider's YAML
    SSH = "ssh"  # an SSH host key
    CA = "ca"  # a PEM CA certificate
    JSON = "json"  # a JSON document (a service account)


@dataclass(frozen=True)
class SecretRef:
    """A Secret the config references, with what the installer requires of it."""

    name: str
    field: str  # where the config references it, e.g. database.external.certificate
    keys: tuple[str, ...] = ()
    content: Content = Content.NONE


@dataclass(frozen=True)
class GitpodConfig:
    domain: str = ""
    kind: str = "Full"
    shortname: str = "default"
    region: str = "local"
    certificate: str = "https-certificates"
    database: str = "in_cluster"  # in_cluster | external | cloudsql
    database_secret: str = ""
    database_ca_secret: str = ""
    storage: str = "in_cluster"  # in_cluster | s3 | gcs | azure
    storage_endpoint: str = ""
    storage_bucket: str = ""
    storage_insecure: bool = False
    storage_secret: str = ""
    registry: str = "in_cluster"  # in_cluster | external
    registry_url: str = ""
    registry_secret: str = ""
    auth_providers: tuple[str, ...] = ()
    containerd_socket: str = DEFAULT_CONTAINERD_SOCKET
    containerd_runtime_dir: str = DEFAULT_CONTAINERD_RUNTIME_DIR
    fs_shift_method: str = "fuse"  # workspace.runtime.fsShiftMethod: fuse or shiftfs
    ssh_host_key: str = ""
    custom_ca: str = ""
    secrets: tuple[SecretRef, ...] = ()
    problems: tuple[str, ...] = field(default=(), compare=False)

    @property
    def workspace_prefix(self) -> str:
        """ws, or ws-<shortname> for a named installation (its wildcard is *.ws-<name>.D)."""
        return "ws" if self.shortname in ("", "default") else f"ws-{self.shortname}"


class _Reader:
    """Walks the document, noting type problems instead of raising, so one run reports all."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.doc = doc
        self.problems: list[str] = []

    def get(self, path: str, kind: type, default: Any = None) -> Any:
        node: Any = self.doc
        for part in path.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return default
            node = node[part]
        if node is None:
            return default
        if not isinstance(node, kind) or (kind is int and isinstance(node, bool)):
            self.problems.append(f"{path}: expected {kind.__name__}, got {excerpt(repr(node))}")
            return default
        return node

    def secret(self, path: str) -> str:
        """The name of a `{kind: secret, name: N}` reference; '' when absent."""
        ref = self.get(path, dict)
        if ref is None:
            return ""
        name = ref.get("name")
        if not isinstance(name, str) or not name:
            self.problems.append(f"{path}: a secret reference without a name")
            return ""
        if ref.get("kind", "secret") != "secret":
            self.problems.append(f"{path}: kind {excerpt(str(ref.get('kind')))} is not secret")
        return name


# What the installer's config v1 `Defaults()` fills in before it reads the admin's file over
# it (gitpod-io/gitpod, install/installer/pkg/config/v1/config.go at 2022.11.3). A hand-written
# file that leaves out `certificate` is valid to the installer, so it must be to us.
INSTALLER_DEFAULTS: Mapping[str, Any] = {
    "kind": "Full",
    "repository": "eu.gcr.io/gitpod-core-dev/build",
    "observability": {"logLevel": "info"},
    "certificate": {"kind": "secret", "name": "https-certificates"},
    "database": {"inCluster": True},
    "metadata": {"region": "local", "shortname": "default"},
    "objectStorage": {"inCluster": True, "resources": {"requests": {"memory": "2Gi"}}},
    "containerRegistry": {"inCluster": True, "privateBaseImageAllowList": []},
    "workspace": {
        "resources": {"requests": {"cpu": "1000m", "memory": "2Gi"}},
        "runtime": {
            "fsShiftMethod": "fuse",
            "containerdSocket": DEFAULT_CONTAINERD_SOCKET,
            "containerdRuntimeDir": DEFAULT_CONTAINERD_RUNTIME_DIR,
        },
        "maxLifetime": "36h",
        "prebuildPVC": {"size": "30Gi", "storageClass": "", "snapshotClass": ""},
        "pvc": {"size": "30Gi", "storageClass": "", "snapshotClass": ""},
    },
    "openVSX": {"url": "https://open-vsx.org"},
    "disableDefinitelyGp": True,
    "authProviders": [],
    "blockNewUsers": {"enabled": False, "passlist": []},
}


def with_defaults(doc: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """`doc` over `defaults` as Go's decoder fills a struct that already holds them: mappings
    merge key by key, anything else (lists, scalars, null) replaces, and a null where the
    default is a mapping (a struct, not a pointer) leaves the default. Recurses only as deep as
    `defaults`, whatever the depth of `doc`."""
    out = dict(defaults)
    for key, value in doc.items():
        default = defaults.get(key)
        if isinstance(default, Mapping) and isinstance(value, Mapping):
            out[key] = with_defaults(value, default)
        elif not (isinstance(default, Mapping) and value is None):
            out[key] = value
    return out


def parse(text: str, what: str) -> GitpodConfig:
    """The config as the installer reads it: its defaults, the document over them, then
    validated (the problems noted, not raised)."""
    doc = safeyaml.load(text, what)
    if not isinstance(doc, Mapping):
        raise ParseError(f"{what} is not a mapping")
    r = _Reader(with_defaults(doc, INSTALLER_DEFAULTS))
    refs: list[SecretRef] = []
    domain = r.get("domain", str, "")
    if not domain:
        r.problems.append("domain: required, and missing")
    elif not _FQDN.fullmatch(domain):
        r.problems.append(f"domain: {excerpt(domain)} is not a fully qualified domain name")
    kind = r.get("kind", str, "Full")
    if kind not in KINDS:
        r.problems.append(f"kind: {excerpt(kind)} is not one of {', '.join(KINDS)}")
    certificate = r.secret("certificate")
    if not certificate:
        r.problems.append("certificate: required, and missing")
    else:
        refs.append(SecretRef(certificate, "certificate", ("tls.crt", "tls.key"), Content.HTTPS))

    db, db_secret = "in_cluster", ""
    if r.get("database.inCluster", bool, False):
        db = "in_cluster"
    elif r.get("database.external", dict) is not None:
        db, db_secret = "external", r.secret("database.external.certificate")
        keys: tuple[str, ...] = ("encryptionKeys", "host", "password", "port", "username")
        refs.append(SecretRef(db_secret, "database.external.certificate", keys, Content.DATABASE))
    elif r.get("database.cloudSQL", dict) is not None:
        db, db_secret = "cloudsql", r.secret("database.cloudSQL.serviceAccount")
        keys = ("credentials.json", "encryptionKeys", "password", "username")
        refs.append(SecretRef(db_secret, "database.cloudSQL.serviceAccount", keys))
    db_ca = r.secret("database.ssl.caCert")
    if db_ca:
        refs.append(SecretRef(db_ca, "database.ssl.caCert", ("ca.crt",), Content.CA))

    storage, st_secret, endpoint, bucket, insecure = "in_cluster", "", "", "", False
    if r.get("objectStorage.inCluster", bool, False):
        storage = "in_cluster"
    elif r.get("objectStorage.s3", dict) is not None:
        storage, st_secret = "s3", r.secret("objectStorage.s3.credentials")
        endpoint = r.get("objectStorage.s3.endpoint", str, "")
        if not endpoint:
            r.problems.append("objectStorage.s3.endpoint: required, and missing")
        bucket = r.get("objectStorage.s3.bucket", str, "")
        insecure = r.get("objectStorage.s3.allowInsecureConnection", bool, False)
        keys = ("accessKeyId", "secretAccessKey")
        refs.append(SecretRef(st_secret, "objectStorage.s3.credentials", keys))
    elif r.get("objectStorage.cloudStorage", dict) is not None:
        storage, st_secret = "gcs", r.secret("objectStorage.cloudStorage.serviceAccount")
        field_ = "objectStorage.cloudStorage.serviceAccount"
        refs.append(SecretRef(st_secret, field_, ("service-account.json",), Content.JSON))
    elif r.get("objectStorage.azure", dict) is not None:
        storage, st_secret = "azure", r.secret("objectStorage.azure.credentials")
        refs.append(SecretRef(st_secret, "objectStorage.azure.credentials",
                              ("accountName", "accountKey")))  # fmt: skip

    registry, reg_url, reg_secret = "in_cluster", "", ""
    if r.get("containerRegistry.inCluster", bool, False):
        registry = "in_cluster"
    elif r.get("containerRegistry.external", dict) is not None:
        registry = "external"
        reg_url = r.get("containerRegistry.external.url", str, "")
        if not reg_url:
            r.problems.append("containerRegistry.external.url: required, and missing")
        reg_secret = r.secret("containerRegistry.external.certificate")
        refs.append(SecretRef(reg_secret, "containerRegistry.external.certificate",
                              (".dockerconfigjson",), Content.DOCKERCONFIG))  # fmt: skip
    s3_reg = r.secret("containerRegistry.s3storage.certificate")
    if s3_reg:
        refs.append(SecretRef(s3_reg, "containerRegistry.s3storage.certificate",
                              ("s3AccessKey", "s3SecretKey")))  # fmt: skip

    providers: list[str] = []
    listed = r.get("authProviders", list, [])
    for i, ref in enumerate(listed):
        name = ref.get("name") if isinstance(ref, Mapping) else None
        if not isinstance(name, str) or not name:
            r.problems.append(f"authProviders[{i}]: a secret reference without a name")
            continue
        providers.append(name)
        refs.append(SecretRef(name, f"authProviders[{i}]", ("provider",), Content.PROVIDER))

    optional: tuple[tuple[str, tuple[str, ...], Content], ...] = (
        ("sshGatewayHostKey", (), Content.SSH),
        ("customCACert", ("ca.crt",), Content.CA),
        ("license", ("license",), Content.NONE),
        ("httpProxy", ("httpProxy", "httpsProxy", "noProxy"), Content.NONE),
    )
    named: dict[str, str] = {}
    for path, keys, content in optional:
        named[path] = r.secret(path)
        if named[path]:
            refs.append(SecretRef(named[path], path, keys, content))

    shift = r.get("workspace.runtime.fsShiftMethod", str, "fuse")
    if shift not in ("fuse", "shiftfs"):
        r.problems.append(f"workspace.runtime.fsShiftMethod: {excerpt(shift)} is not fuse or "
                          "shiftfs")  # fmt: skip
    return GitpodConfig(
        domain=domain,
        kind=kind,
        shortname=r.get("metadata.shortname", str, "default"),
        region=r.get("metadata.region", str, "local"),
        certificate=certificate,
        database=db,
        database_secret=db_secret,
        database_ca_secret=db_ca,
        storage=storage,
        storage_endpoint=endpoint,
        storage_bucket=bucket,
        storage_insecure=insecure,
        storage_secret=st_secret,
        registry=registry,
        registry_url=reg_url,
        registry_secret=reg_secret,
        auth_providers=tuple(providers),
        containerd_socket=r.get(
            "workspace.runtime.containerdSocket", str, DEFAULT_CONTAINERD_SOCKET
        ),
        containerd_runtime_dir=r.get(
            "workspace.runtime.containerdRuntimeDir", str, DEFAULT_CONTAINERD_RUNTIME_DIR
        ),
        fs_shift_method=shift,
        ssh_host_key=named["sshGatewayHostKey"],
        custom_ca=named["customCACert"],
        secrets=tuple(_unique(ref for ref in refs if ref.name)),
        problems=tuple(r.problems),
    )


def _unique(refs: Any) -> list[SecretRef]:
    """One entry per Secret name: a Secret referenced twice is checked once, for the union of
    the keys both references need."""
    out: dict[str, SecretRef] = {}
    for ref in refs:
        seen = out.get(ref.name)
        if seen is None:
            out[ref.name] = ref
        else:
            keys = tuple(dict.fromkeys(seen.keys + ref.keys))
            out[ref.name] = SecretRef(ref.name, f"{seen.field}, {ref.field}", keys,
                                      seen.content or ref.content)  # fmt: skip
    return list(out.values())
