"""The web config file of Prometheus' exporter-toolkit (node_exporter's --web.config.file), so
operators protect /metrics the way they already do for their other exporters: TLS with an
optional client CA, and basic auth with bcrypt hashes."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import re
import ssl
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
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


ALLOWED_HEADERS = {
    "strict-transport-security",
    "x-frame-options",
    "x-content-type-options",
    "x-xss-protection",
    "content-security-policy",
}
# RFC 9110 field-value: visible ASCII and obs-text (Latin-1), spaces and tabs inside.
_HEADER_VALUE = re.compile(r"[\x21-\x7e\x80-\xff]([\t\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?")


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
    for name, value in config.http_server_config.headers.items():
        where = f"http_server_config.headers.{name}"
        # As exporter-toolkit: the security headers only, never the framing ones.
        if name.lower() not in ALLOWED_HEADERS:
            allowed = ", ".join(sorted(ALLOWED_HEADERS))
            raise ConfigError(where, f"not a header this server lets you set ({allowed})")
        if not _HEADER_VALUE.fullmatch(value):
            raise ConfigError(where, "a header value must be printable Latin-1 without CR or LF")
    return config


class BasicAuth:
    """Checks Authorization headers against bcrypt hashes, off the event loop.

    A bcrypt check costs ~50-100 ms by design. Successes are remembered by digest so that
    Prometheus' scrapes do not each pay it (as exporter-toolkit does); recent failures too, so a
    flood of the same wrong password costs one bcrypt. An unknown user is checked against a
    dummy hash (no timing tells users apart); a password over bcrypt's 72 bytes is refused like
    any wrong one. At most WORKERS checks run at once, in their own threads: a flood of wrong
    passwords queues there, while authorised scrapes (remembered) and the loop stay free."""

    WORKERS = 1  # of 2 cores here: the event loop keeps one under a flood
    REMEMBERED = 1024

    def __init__(self, users: dict[str, str]) -> None:
        import bcrypt  # only when basic auth is configured

        self._bcrypt = bcrypt
        self.users = {u: h.encode() for u, h in users.items()}
        self._dummy = bcrypt.hashpw(b"not a password", bcrypt.gensalt(rounds=10))
        self._ok: OrderedDict[bytes, None] = OrderedDict()
        self._bad: OrderedDict[bytes, None] = OrderedDict()
        self._pool: ThreadPoolExecutor | None = None
        self._gate: asyncio.Semaphore | None = None

    def _credentials(self, header: str) -> tuple[str, bytes] | None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic" or len(value) > 1024:
            return None
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return (user, password.encode()) if sep else None

    @staticmethod
    def _remember(cache: OrderedDict[bytes, None], digest: bytes, size: int) -> None:
        cache[digest] = None
        cache.move_to_end(digest)
        while len(cache) > size:
            cache.popitem(last=False)

    def _check(self, password: bytes, hashed: bytes) -> bool:
        try:
            return bool(self._bcrypt.checkpw(password, hashed))
        except ValueError:  # bcrypt 5 refuses passwords over 72 bytes
            return False

    async def allows(self, header: str) -> bool:
        creds = self._credentials(header)
        if creds is None:
            return False
        user, password = creds
        hashed = self.users.get(user)
        digest = hashlib.sha256(user.encode() + b"\0" + (hashed or b"") + b"\0" + password).digest()
        if digest in self._ok:
            return True
        if digest in self._bad:
            return False
        if len(password) > 72:
            self._remember(self._bad, digest, self.REMEMBERED)
            return False
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.WORKERS, thread_name_prefix="bcrypt")
            self._gate = asyncio.Semaphore(self.WORKERS * 8)
        assert self._gate is not None
        async with self._gate:
            loop = asyncio.get_running_loop()
            ok = await loop.run_in_executor(
                self._pool, self._check, password, hashed or self._dummy
            )
        ok = ok and hashed is not None
        self._remember(self._ok if ok else self._bad, digest, self.REMEMBERED)
        return ok
