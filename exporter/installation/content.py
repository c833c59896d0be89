"""What the installation's Secrets hold, parsed: a .dockerconfigjson's credentials for a host
and an auth provider's YAML. Pure functions, shared by the checks that derive their settings
from these Secrets and by cluster_gitpod_secrets, which judges them."""

from __future__ import annotations

import base64
import binascii
import json
import re
from urllib.parse import urlsplit

from exporter import safeyaml
from exporter.model import CheckError, Reason
from exporter.parse import ParseError, excerpt


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
            if host_of(str(key)) == host:
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


def host_of(url: str) -> str:
    return urlsplit(url if "://" in url else f"https://{url}").netloc


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
