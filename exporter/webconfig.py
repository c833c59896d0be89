"""The web config file of Prometheus' exporter-toolkit (node_exporter's --web.config.file), so
operators protect /metrics the way they already do for their other exporters: TLS with an
optional client CA, and basic auth with bcrypt hashes."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ssl
from dataclasses import dataclass, field
from typing import Annotated

from exporter import safeyaml
from exporter.config import ConfigError, OneOf, build, check_schema
from exporter.parse import ParseError

CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}


@dataclass(frozen=True)
class TLSServerConfig:
    cert_file: str = ""
    key_file: str = ""
    client_auth_type: Annotated[str, OneOf(tuple(CLIENT_AUTH))] = "NoClientCert"
    client_ca_file: str = ""
    min_version: Annotated[str, OneOf(tuple(TLS_VERSIONS))] = "TLS12"
    max_version: Annotated[str, OneOf(tuple(TLS_VERSIONS))] = "TLS13"


@dataclass(frozen=True)
class HTTPServerConfig:
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WebConfig:
    tls_server_config: TLSServerConfig | None = None
    http_server_config: HTTPServerConfig = field(default_factory=HTTPServerConfig)
    basic_auth_users: dict[str, str] = field(default_factory=dict)

    def ssl_context(self, path: str) -> ssl.SSLContext | None:
        tls = self.tls_server_config
        if tls is None:
            return None
        where = f"{path}: tls_server_config"
        if not tls.cert_file or not tls.key_file:
            raise ConfigError(where, "cert_file and key_file are both required")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = TLS_VERSIONS[tls.min_version]
        ctx.maximum_version = TLS_VERSIONS[tls.max_version]
        try:
            ctx.load_cert_chain(tls.cert_file, tls.key_file)
            ctx.verify_mode = CLIENT_AUTH[tls.client_auth_type]
            if tls.client_ca_file:
                ctx.load_verify_locations(cafile=tls.client_ca_file)
            elif tls.client_auth_type in ("VerifyClientCertIfGiven", "RequireAndVerifyClientCert"):
                raise ConfigError(f"{where}.client_ca_file", f"{tls.client_auth_type} needs it")
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(where, f"cannot load the certificate or key: {exc}") from None
        return ctx


check_schema(WebConfig)


def load_web_config(path: str) -> WebConfig:
    try:
        data = safeyaml.load(safeyaml.read(path, "the web config"), "the web config")
    except OSError as exc:
        raise ConfigError(path, f"cannot read the web config: {exc.strerror or exc}") from None
    except ParseError as exc:
        raise ConfigError(path, str(exc)) from None
    config = build(WebConfig, data, "")
    for user, hashed in config.basic_auth_users.items():
        if not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            raise ConfigError(f"basic_auth_users.{user}", "expected a bcrypt hash ($2y$...)")
    return config


class BasicAuth:
    """Checks Authorization headers against bcrypt hashes. A bcrypt check costs ~100 ms by
    design; successful (user, password) pairs are remembered by digest so that Prometheus'
    scrapes every few seconds do not each pay it, as exporter-toolkit does."""

    def __init__(self, users: dict[str, str]) -> None:
        import bcrypt  # only when basic auth is configured

        self._bcrypt = bcrypt
        self.users = {u: h.encode() for u, h in users.items()}
        self._ok: set[bytes] = set()

    def allows(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        hashed = self.users.get(user)
        if not sep or hashed is None:
            return False
        digest = hashlib.sha256(hashed + b"\0" + password.encode()).digest()
        if any(hmac.compare_digest(digest, ok) for ok in self._ok):
            return True
        if not self._bcrypt.checkpw(password.encode(), hashed):
            return False
        if len(self._ok) < 1024:
            self._ok.add(digest)
        return True
