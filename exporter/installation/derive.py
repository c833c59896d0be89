"""What the Gitpod installation states, as check settings: one function per check id, each
returning (settings fields, origin) or None when the installation says nothing for it."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import socket
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from exporter import safeyaml
from exporter.config import CheckSettings, SecretValue
from exporter.gitpod import labels_for_kind
from exporter.installation import Installation
from exporter.installation.gitpod_config import GitpodConfig
from exporter.model import CheckError, NotConfigured, Reason
from exporter.parse import ParseError, excerpt, first

Derived = tuple[dict[str, Any], str] | None
Deriver = Callable[[Installation, CheckSettings, float], Awaitable[Derived]]

# The in-cluster registry's certificate is issued by Gitpod's own CA into this Secret.
REGISTRY_CERTS_SECRET = "builtin-registry-certs"
REGISTRY_AUTH_SECRET = "builtin-registry-auth"


async def _config(inst: Installation, timeout: float) -> tuple[GitpodConfig, str]:
    """The installer config and where it was read. NotConfigured, naming why, when there is
    none or it cannot be read: the check then goes by its own settings and says so
    (cluster_gitpod_config is the one that judges the config)."""
    try:
        loaded = await inst.config(timeout)
    except (CheckError, ParseError) as exc:
        raise NotConfigured(f"its config cannot be read: {exc}") from None
    return loaded.config, loaded.origin


def _origin(where: str, what: str) -> str:
    return f"from Gitpod config: {what}" + (f" ({where})" if where else "")


async def _secret(inst: Installation, name: str, key: str, timeout: float) -> SecretValue:
    return SecretValue(await inst.secret_text(name, key, timeout), f"Secret {name} key {key}")


async def custom_ca(inst: Installation, cfg: GitpodConfig, timeout: float) -> str:
    if not cfg.custom_ca:
        return ""
    return await inst.secret_text(cfg.custom_ca, "ca.crt", timeout)


async def tls(inst: Installation, s: CheckSettings, timeout: float) -> Derived:
    cfg, where = await _config(inst, timeout)
    if not cfg.domain:
        return None
    values: dict[str, Any] = {"domain": cfg.domain, "workspace_prefix": cfg.workspace_prefix}
    if "proxy" in inst.settings.services:
        host, port = inst.service("proxy", 443)
        values["address"] = f"{host}:{port}"
    ca = await custom_ca(inst, cfg, timeout)
    if ca:
        values["ca_pem"] = ca
    return values, _origin(where, "domain" + (", customCACert" if ca else ""))


async def dns(inst: Installation, s: CheckSettings, timeout: float) -> Derived:
    values: dict[str, Any] = {}
    what, unread = [], []
    try:
        cfg, where = await _config(inst, timeout)
        if cfg.domain:
            values.update(domain=cfg.domain, workspace_prefix=cfg.workspace_prefix)
            what.append(_origin(where, "domain"))
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


async def node_labels(inst: Installation, s: CheckSettings, timeout: float) -> Derived:
    cfg, where = await _config(inst, timeout)
    return {"labels": labels_for_kind(cfg.kind)}, _origin(where, f"kind {cfg.kind}")


async def database(inst: Installation, s: CheckSettings, timeout: float) -> Derived:
    cfg, where = await _config(inst, timeout)
    values: dict[str, Any] = {"database": "gitpod"}
    if cfg.database == "external":
        name = cfg.database_secret
        data = await inst.secret(name, timeout)
        port_text = data.get("port", b"3306").decode("utf-8", "replace").strip()
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise CheckError(Reason.CONFIG, f"Secret {name}: port is not a port number")
        values.update(
            host=await inst.secret_text(name, "host", timeout),
            port=int(port_text),
            user=await inst.secret_text(name, "username", timeout),
            password=await _secret(inst, name, "password", timeout),
        )
        what = f"database.external, Secret {name}"
    else:
        service, name = ("cloudsqlproxy", cfg.database_secret) if cfg.database == "cloudsql" \
            else ("db", "mysql")  # fmt: skip
        host, port = inst.service(service, 3306)
        values.update(
            host=host,
            port=port,
            user=await inst.secret_text(name, "username", timeout),
            password=await _secret(inst, name, "password", timeout),
        )
        what = f"database.{'cloudSQL' if service == 'cloudsqlproxy' else 'inCluster'}, " \
            f"Service {service}, Secret {name}"  # fmt: skip
    if cfg.database_ca_secret:
        values.update(tls=True, ca_pem=await inst.secret_text(cfg.database_ca_secret, "ca.crt",
                                                               timeout))  # fmt: skip
        what += f", CA from Secret {cfg.database_ca_secret}"
    return values, _origin(where, what)


async def storage(inst: Installation, s: CheckSettings, timeout: float) -> Derived:
    cfg, where = await _config(inst, timeout)
    if cfg.storage == "in_cluster":
        host, port = inst.service("minio", 9000)
        values = {
            "endpoint": f"http://{host}:{port}",
            "region": "local",
            "bucket": "",
            "addressing_style": "path",
            "access_key_id": await _secret(inst, "minio", "root-user", timeout),
            "secret_access_key": await _secret(inst, "minio", "root-password", timeout),
        }
        return values, _origin(where, "objectStorage.inCluster, Service minio, Secret minio")
    if cfg.storage == "s3":
        endpoint = cfg.storage_endpoint
        if endpoint and "://" not in endpoint:
            endpoint = ("http://" if cfg.storage_insecure else "https://") + endpoint
        name = cfg.storage_secret
        values = {
            "endpoint": endpoint,
            "bucket": cfg.storage_bucket,
            "region": cfg.region,
            "access_key_id": await _secret(inst, name, "accessKeyId", timeout),
            "secret_access_key": await _secret(inst, name, "secretAccessKey", timeout),
        }
        return values, _origin(where, f"objectStorage.s3, Secret {name}")
    raise NotConfigured(f"the installation uses {cfg.storage} object storage, which "
                        "cluster_storage (S3 and MinIO) does not judge")  # fmt: skip


def docker_credentials(config_json: bytes, host: str, secret: str) -> tuple[str, str] | None:
    """(username, password) for `host` from a .dockerconfigjson; None when it has no entry."""
    try:
        doc = json.loads(config_json)
    except ValueError:
        raise CheckError(Reason.CONFIG, f"Secret {secret}: .dockerconfigjson is not JSON") from None
    auths = doc.get("auths") if isinstance(doc, dict) else None
    if not isinstance(auths, dict):
        raise CheckError(Reason.CONFIG, f"Secret {secret}: .dockerconfigjson has no auths")
    entry = auths.get(host)
    if entry is None:
        for key, value in auths.items():
            if _host_of(str(key)) == host:
                entry = value
                break
    if not isinstance(entry, dict):
        return None
    if entry.get("username"):
        return str(entry["username"]), str(entry.get("password", ""))
    try:
        user, _, password = base64.b64decode(str(entry.get("auth", ""))).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise CheckError(Reason.CONFIG, f"Secret {secret}: auth for {host} is not base64") from None
    return user, password


def _host_of(url: str) -> str:
    return urlsplit(url if "://" in url else f"https://{url}").netloc


async def registry(inst: Installation, s: CheckSettings, timeout: float) -> Derived:
    cfg, where = await _config(inst, timeout)
    values: dict[str, Any] = {}
    if cfg.registry == "external":
        url = cfg.registry_url if "://" in cfg.registry_url else f"https://{cfg.registry_url}"
        name, hosts = cfg.registry_secret, [_host_of(url)]
        what = f"containerRegistry.external, Secret {name}"
    else:
        host, port = inst.service("registry", 443)
        url = f"https://{host}:{port}"
        name, hosts = REGISTRY_AUTH_SECRET, [f"registry.{cfg.domain}", _host_of(url)]
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
    return values, _origin(where, what)


# Gitpod's auth provider types -> cluster_scm's, by whether the host is the public service.
_PUBLIC = {"github.com": "github", "gitlab.com": "gitlab", "bitbucket.org": "bitbucket"}
_TYPES = {"github": "github_enterprise", "gitlab": "gitlab", "bitbucket": "bitbucket",
          "bitbucketserver": "bitbucket_server", "azuredevops": "azure_devops"}  # fmt: skip


def provider_of(text: str, secret: str) -> dict[str, str]:
    """An auth provider's Secret `provider` YAML as a cluster_scm provider."""
    try:
        doc = safeyaml.load(text, f"Secret {secret} key provider")
    except ParseError as exc:
        raise CheckError(Reason.CONFIG, str(exc)) from None
    if not isinstance(doc, dict) or not doc.get("host") or not doc.get("type"):
        raise CheckError(Reason.CONFIG, f"Secret {secret}: provider has no host or type")
    host, kind = str(doc["host"]), str(doc["type"]).lower().replace("-", "").replace("_", "")
    if _PUBLIC.get(host) == kind:
        scm_type, url = kind, ""  # the public service: cluster_scm knows its API address
    elif kind in _TYPES:
        scm_type, url = _TYPES[kind], f"https://{host}"
    else:
        raise CheckError(Reason.CONFIG, f"Secret {secret}: provider type "
                         f"{excerpt(str(doc['type']))} is not one cluster_scm knows")  # fmt: skip
    name = re.sub(r"[^a-zA-Z0-9_.-]", "-", str(doc.get("id") or secret))[:63]
    return {"name": name, "type": scm_type, "url": url}


async def scm(inst: Installation, s: CheckSettings, timeout: float) -> Derived:
    cfg, where = await _config(inst, timeout)
    if not cfg.auth_providers:
        return None
    from exporter.checks.cluster.scm import Provider

    ca = await custom_ca(inst, cfg, timeout)
    providers = []
    # One Secret read per provider the check will probe, not per provider listed.
    limit = getattr(s, "max_providers", len(cfg.auth_providers))
    for name in cfg.auth_providers[:limit]:
        fields = provider_of(await inst.secret_text(name, "provider", timeout), name)
        providers.append(Provider(**fields, ca_pem=ca))
    listed = cfg.auth_providers
    what = f"authProviders, Secrets {first(list(listed[:limit]), 5)}"
    if len(listed) > limit:
        what += f" ({len(listed) - limit} more not read: max_providers {limit})"
    return {"providers": providers}, _origin(where, what + (", customCACert" if ca else ""))


# The settings that name a check's target: set in the config file, the installation is not
# consulted for that check at all. (cluster_dns still learns the proxy's addresses.)
TARGETS: dict[str, frozenset[str]] = {
    "cluster_tls": frozenset({"domain"}),
    "cluster_node_label": frozenset({"labels"}),
    "cluster_database": frozenset({"host"}),
    "cluster_storage": frozenset({"bucket", "endpoint"}),
    "cluster_registry": frozenset({"url"}),
    "cluster_scm": frozenset({"providers"}),
}

DERIVERS: dict[str, Deriver] = {
    "cluster_tls": tls,
    "cluster_dns": dns,
    "cluster_node_label": node_labels,
    "cluster_database": database,
    "cluster_storage": storage,
    "cluster_registry": registry,
    "cluster_scm": scm,
}
