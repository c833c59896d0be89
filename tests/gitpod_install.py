"""A Gitpod installation as the fake API server serves it: ConfigMap `gitpod` with the full
installer config (defaults merged, as `gitpod-installer render` writes it) and the Secrets it
references, built from real certificates and the credentials of the real test servers."""

from __future__ import annotations

import base64
import copy
import datetime
import json
from typing import Any

import trustme
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.servers.kube_fake import FakeKube, configmap, secret

NS = "gitpod"

DEFAULT_CONFIG: dict[str, Any] = {
    "apiVersion": "v1",
    "authProviders": [],
    "blockNewUsers": {"enabled": False, "passlist": []},
    "certificate": {"kind": "secret", "name": "https-certificates"},
    "containerRegistry": {"inCluster": True, "privateBaseImageAllowList": []},
    "database": {"inCluster": True},
    "disableDefinitelyGp": True,
    "domain": "gitpod.test",
    "kind": "Full",
    "metadata": {"region": "local", "shortname": "default"},
    "objectStorage": {"inCluster": True, "resources": {"requests": {"memory": "2Gi"}}},
    "observability": {"logLevel": "info"},
    "openVSX": {"url": "https://open-vsx.org"},
    "repository": "eu.gcr.io/gitpod-core-dev/build",
    "workspace": {
        "maxLifetime": "36h0m0s",
        "pvc": {"size": "30Gi", "storageClass": "", "snapshotClass": ""},
        "resources": {"requests": {"cpu": "1", "memory": "2Gi"}},
        "runtime": {
            "containerdRuntimeDir": "/var/lib/containerd/io.containerd.runtime.v2.task/k8s.io",
            "containerdSocket": "/run/containerd/containerd.sock",
            "fsShiftMethod": "shiftfs",
        },
        "timeoutDefault": "30m",
        "timeoutExtended": "10h",
    },
}


def config(**changes: Any) -> dict[str, Any]:
    """The default config with top-level keys replaced (None removes one)."""
    doc = copy.deepcopy(DEFAULT_CONFIG)
    for key, value in changes.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


def ref(name: str) -> dict[str, str]:
    return {"kind": "secret", "name": name}


def https_secret(ca: trustme.CA, *names: str, other_key: bool = False, days: float = 90):
    now = datetime.datetime.now(datetime.UTC)
    cert = ca.issue_cert(*names, not_after=now + datetime.timedelta(days=days))
    key = cert.private_key_pem.bytes()
    if other_key:
        key = ca.issue_cert("other.test").private_key_pem.bytes()
    return {"tls.crt": cert.cert_chain_pems[0].bytes(), "tls.key": key}


def dockerconfig(host: str, user: str, password: str) -> bytes:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    return json.dumps({"auths": {host: {"auth": auth}}}).encode()


def ssh_host_key() -> bytes:
    return ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )


def provider(host: str, kind: str = "GitLab", **drop: bool) -> str:
    doc: dict[str, Any] = {
        "id": "corp-gitlab",
        "host": host,
        "type": kind,
        "oauth": {
            "clientId": "client-id-1",
            "clientSecret": "client-secret-9c1e",
            "callBackUrl": "https://gitpod.test/auth/callback",
        },
    }
    for key in drop:
        doc.pop(key, None)
        doc["oauth"].pop(key, None)
    return yaml.safe_dump(doc)


def install(fake: FakeKube, doc: dict[str, Any], secrets: dict[str, dict[str, Any]]) -> None:
    """ConfigMap gitpod and the given Secrets (name -> data) in namespace gitpod."""
    fake.namespaces.add(NS)
    fake.configmaps[f"{NS}/gitpod"] = configmap(
        "gitpod", NS, {"config.yaml": yaml.safe_dump(doc), "versions.json": "{}"}
    )
    for name, data in secrets.items():
        type_ = "kubernetes.io/tls" if "tls.crt" in data else "Opaque"
        if ".dockerconfigjson" in data:
            type_ = "kubernetes.io/dockerconfigjson"
        fake.secrets[f"{NS}/{name}"] = secret(name, NS, data, type_)
