"""cluster_gitpod_secret:<name>: each Secret the Gitpod config references exists and carries
what the installer requires (`gitpod-installer validate cluster`), and beyond it: the https
certificate parses, matches its key, covers the domain, its wildcard and the workspace
wildcard and is within its validity; .dockerconfigjson has an entry for the registry; the
database port is a number; a provider is complete; an SSH host key parses.

One requirement per referenced Secret, learnt from the config at each run. Values are read to
be judged and never leave this module: details name keys, never contents."""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from exporter import families, safeyaml
from exporter.checks.shared import covers, probe_names
from exporter.config import CheckSettings, Max, Min
from exporter.context import Check, CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.installation.gitpod_config import Content, GitpodConfig, SecretRef
from exporter.model import (
    CheckError,
    NotConfigured,
    Reason,
    Requirement,
    Result,
    Sample,
    Scope,
    Severity,
)
from exporter.parse import ParseError, first

REQUIREMENT = Requirement(
    id="cluster_gitpod_secret",
    title="A Secret the Gitpod config references exists and is complete",
    severity=Severity.CRITICAL,
    scope=Scope.CLUSTER,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Create or fix the Secret in the Gitpod namespace with the keys the detail names "
    "(kubectl -n NAMESPACE describe secret NAME shows its keys, not its values).",
)
PROVIDER_FIELDS = ("id", "host", "type")
OAUTH_FIELDS = ("clientId", "clientSecret", "callBackUrl")


@dataclass(frozen=True)
class Settings(CheckSettings):
    # One requirement (and one Secret read per round) per referenced Secret up to this many;
    # the rest are named in one requirement, `cluster_gitpod_secret:_more`. 2,000 auth
    # providers made 14,316 series and a check that timed out.
    max_secrets: Annotated[int, Min(1), Max(1000)] = 50


MORE = "_more"  # not a Secret name: Kubernetes names are lower case, with no underscore


def requirement_for(requirement_id: str, settings: Settings) -> Requirement:
    name = requirement_id.partition(":")[2]
    if not name:
        return REQUIREMENT
    title = (
        "Secrets beyond max_secrets" if name == MORE else f"Secret {name} exists and is complete"
    )
    return dataclasses.replace(REQUIREMENT, id=requirement_id, title=title)


class _Bad(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def _text(data: Mapping[str, bytes], key: str) -> str:
    return data[key].decode("utf-8", "replace")


def _https(data: Mapping[str, bytes], cfg: GitpodConfig) -> tuple[str, list[Sample]]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import ExtensionOID

    try:
        chain = x509.load_pem_x509_certificates(data["tls.crt"])
    except ValueError:
        raise _Bad(Reason.PARSE, "tls.crt is not a PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(data["tls.key"], password=None)
    except (ValueError, TypeError):
        raise _Bad(Reason.PARSE, "tls.key is not an unencrypted PEM private key") from None
    leaf = chain[0]
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, pub) != leaf.public_key().public_bytes(der, pub):
        raise _Bad(Reason.MISMATCH, "tls.key does not belong to the certificate in tls.crt")
    now = datetime.datetime.now(datetime.UTC)
    expires = leaf.not_valid_after_utc
    sample = families.TLS_CERTIFICATE_EXPIRY_TIMESTAMP_SECONDS.sample(
        expires.timestamp(), cfg.domain, "secret"
    )
    if expires < now:
        raise _Bad(Reason.EXPIRED, f"tls.crt expired on {expires:%Y-%m-%d}")
    if leaf.not_valid_before_utc > now:
        raise _Bad(Reason.EXPIRED, f"tls.crt is not valid before {leaf.not_valid_before_utc}")
    try:
        ext = leaf.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
        names = ext.value
        sans = (
            names.get_values_for_type(x509.DNSName)
            if isinstance(names, x509.SubjectAlternativeName)
            else []
        )
    except x509.ExtensionNotFound:
        sans = []
    uncovered = [
        pattern
        for pattern, name in probe_names(cfg.domain, cfg.workspace_prefix).items()
        if not any(covers(san, name) for san in sans)
    ]
    if uncovered:
        raise _Bad(Reason.MISMATCH, f"tls.crt does not cover {', '.join(uncovered)}")
    days = (expires - now).total_seconds() / 86400
    return f"certificate ok, expires in {days:.0f} days", [sample]


def _database(data: Mapping[str, bytes], cfg: GitpodConfig) -> str:
    port = _text(data, "port").strip()
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise _Bad(Reason.INVALID, "port is not a port number")
    return "keys ok, port numeric"


def _dockerconfig(data: Mapping[str, bytes], cfg: GitpodConfig) -> str:
    try:
        doc = json.loads(data[".dockerconfigjson"])
    except ValueError:
        raise _Bad(Reason.PARSE, ".dockerconfigjson is not JSON") from None
    auths = doc.get("auths") if isinstance(doc, dict) else None
    if not isinstance(auths, dict):
        raise _Bad(Reason.INVALID, ".dockerconfigjson has no auths")
    url = cfg.registry_url if "://" in cfg.registry_url else f"https://{cfg.registry_url}"
    host = urlsplit(url).netloc
    hosts = {urlsplit(k if "://" in k else f"https://{k}").netloc for k in auths}
    if host and host not in hosts:
        raise _Bad(Reason.MISSING, f".dockerconfigjson has no entry for {host}")
    return f"credentials for {host}" if host else "keys ok"


def _provider(data: Mapping[str, bytes], cfg: GitpodConfig) -> str:
    try:
        doc = safeyaml.load(_text(data, "provider"), "provider")
    except ParseError as exc:
        raise _Bad(Reason.PARSE, str(exc)) from None
    if not isinstance(doc, dict):
        raise _Bad(Reason.INVALID, "provider is not a mapping")
    found = doc.get("oauth")
    oauth: dict[str, Any] = found if isinstance(found, dict) else {}
    missing = [f for f in PROVIDER_FIELDS if not doc.get(f)]
    missing += [f"oauth.{f}" for f in OAUTH_FIELDS if not oauth.get(f)]
    if missing:
        raise _Bad(Reason.MISSING, f"provider lacks {', '.join(missing)}")
    return f"provider {doc['type']} at {doc['host']}"


def _ssh(data: Mapping[str, bytes], cfg: GitpodConfig) -> str:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    for key, value in data.items():
        for load in (serialization.load_ssh_private_key, serialization.load_pem_private_key):
            try:
                load(value, password=None)
            except (ValueError, TypeError, UnsupportedAlgorithm):
                continue
            return f"host key in {key}"
    raise _Bad(Reason.PARSE, "no key of the Secret parses as an SSH private key")


def _ca(data: Mapping[str, bytes], cfg: GitpodConfig) -> str:
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(data["ca.crt"])
    except ValueError:
        raise _Bad(Reason.PARSE, "ca.crt is not a PEM certificate") from None
    return f"{len(certs)} CA certificate(s)"


def _json(data: Mapping[str, bytes], cfg: GitpodConfig) -> str:
    key = next(iter(k for k in data if k.endswith(".json")), "")
    try:
        json.loads(data[key])
    except (KeyError, ValueError):
        raise _Bad(Reason.PARSE, f"{key or 'the .json key'} is not JSON") from None
    return "keys ok"


_CONTENT: dict[Content, Any] = {
    Content.HTTPS: _https,
    Content.DATABASE: _database,
    Content.DOCKERCONFIG: _dockerconfig,
    Content.PROVIDER: _provider,
    Content.SSH: _ssh,
    Content.CA: _ca,
    Content.JSON: _json,
}


def judge(ref: SecretRef, data: Mapping[str, bytes], cfg: GitpodConfig) -> Result:
    """The verdict on one Secret's data; never quotes a value."""
    missing = [k for k in ref.keys if k not in data or not data[k].strip()]
    if missing:
        return Result.failed(
            Reason.MISSING,
            "incomplete",
            f"Secret {ref.name} ({ref.field}) lacks {', '.join(missing)}",
        )
    content = _CONTENT.get(ref.content)
    if content is None:
        return Result.passed("keys ok", detail=f"referenced by {ref.field}")
    samples: list[Sample] = []
    try:
        out = content(data, cfg)
    except _Bad as bad:
        return Result.failed(
            bad.reason, "invalid", f"Secret {ref.name} ({ref.field}): {bad.detail}"
        )
    if isinstance(out, tuple):
        out, samples = out
    return Result.passed(out, *samples, detail=f"referenced by {ref.field}")


async def run(ctx: CheckContext[Settings]) -> Mapping[str, Result | Exception]:
    try:
        loaded = await ctx.gitpod.config(ctx.settings.timeout)
    except ParseError:
        raise NotConfigured(
            "the Gitpod config does not parse (see cluster_gitpod_config)"
        ) from None
    cfg = loaded.config
    results: dict[str, Result | Exception] = {}
    refs, rest = cfg.secrets[: ctx.settings.max_secrets], cfg.secrets[ctx.settings.max_secrets :]
    if rest:
        results[f"{REQUIREMENT.id}:{MORE}"] = Result.skipped(
            Reason.NOT_CONFIGURED,
            f"{len(rest)} more Secrets not checked (max_secrets {ctx.settings.max_secrets}): "
            + first([r.name for r in rest], 5),
        )
    for ref in refs:
        rid = f"{REQUIREMENT.id}:{ref.name}"
        try:
            data = await ctx.gitpod.secret(ref.name, ctx.settings.timeout)
        except Exception as exc:
            if isinstance(exc, CheckError) and exc.reason is Reason.NOT_FOUND:
                results[rid] = Result.failed(Reason.NOT_FOUND, "absent",
                                             f"{exc.detail} ({ref.field})")  # fmt: skip
            else:
                results[rid] = exc  # forbidden, API trouble: this Secret has no verdict
            continue
        # Parsing certificates and keys is CPU work: off the event loop. One Secret's surprise
        # is that Secret's error, not the others'.
        try:
            results[rid] = await ctx.blocking(judge, ref, data, cfg)
        except Exception as exc:
            results[rid] = exc
    if not results:
        raise NotConfigured("the Gitpod config references no Secret")
    return results


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    requirement_for=requirement_for,
)
