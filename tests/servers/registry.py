"""The CNCF registry (Debian's docker-registry) on a random port: anonymous, htpasswd Basic
auth, or token auth backed by a small token issuer in this module that signs JWTs with a
trustme key the registry is configured to trust."""

from __future__ import annotations

import base64
import contextlib
import json
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tests.servers.procs import launch, require_binary, stop
from tests.servers.tls import serving

USER, PASSWORD = "gitpod", "registry-password-5d9e"
SERVICE, ISSUER = "gitpod-registry", "gitpod-test-issuer"


@dataclass(frozen=True)
class Registry:
    url: str
    mode: str
    token_requests: list[dict[str, str]]
    root: Path

    def uploads(self) -> list[Path]:
        """Upload data left in storage. A cancelled upload loses its data and start time;
        the registry itself leaves an empty hash state behind for its purger."""
        repos = self.root / "docker/registry/v2/repositories"
        return [p for p in repos.glob("*/_uploads/*/*") if p.name != "hashstates"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(key: ec.EllipticCurvePrivateKey, cert_der: bytes, claims: dict) -> str:
    header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(cert_der).decode()]}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def token_app(ca: trustme.CA, seen: list[dict[str, str]]) -> web.Application:
    signer = ca.issue_cert("token-signer.test")
    key = serialization.load_pem_private_key(signer.private_key_pem.bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    cert_der = signer.cert_chain_pems[0].bytes()
    from cryptography import x509

    der = x509.load_pem_x509_certificate(cert_der).public_bytes(serialization.Encoding.DER)

    async def token(request: web.Request) -> web.Response:
        seen.append(dict(request.query))
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.json_response({"errors": [{"code": "UNAUTHORIZED"}]}, status=401)
        access = []
        for scope in request.query.getall("scope", []):
            kind, name, actions = scope.split(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": USER, "aud": SERVICE, "exp": now + 300, "nbf": now - 10,
                  "iat": now, "jti": uuid.uuid4().hex, "access": access}  # fmt: skip
        return web.json_response({"token": _jwt(key, der, claims), "expires_in": 300})

    app = web.Application()
    app.router.add_get("/token", token)
    return app


@contextlib.contextmanager
def start_registry(mode: str, ca: trustme.CA, tls: bool = False) -> Iterator[Registry]:
    """`tls`: serve HTTPS with a certificate for 127.0.0.1 from `ca`, as Gitpod's in-cluster
    registry serves one from Gitpod's own CA."""
    binary = require_binary("docker-registry", "docker-registry")
    base = Path(tempfile.mkdtemp(prefix="reg-", dir="/tmp"))
    auth = ""
    seen: list[dict[str, str]] = []
    with contextlib.ExitStack() as stack:
        if mode == "htpasswd":
            htpasswd = require_binary("htpasswd", "apache2-utils")
            line = subprocess.run([htpasswd, "-Bbn", USER, PASSWORD], check=True,
                                  capture_output=True, text=True).stdout  # fmt: skip
            (base / "htpasswd").write_text(line)
            auth = f"auth:\n  htpasswd:\n    realm: basic-realm\n    path: {base}/htpasswd\n"
        elif mode == "token":
            token_port = stack.enter_context(serving(token_app(ca, seen)))
            ca.cert_pem.write_to_path(str(base / "root.pem"))
            auth = (
                f"auth:\n  token:\n    realm: http://127.0.0.1:{token_port}/token\n"
                f"    service: {SERVICE}\n    issuer: {ISSUER}\n"
                f"    rootcertbundle: {base}/root.pem\n"
            )
        tls_conf, scheme, context = "", "http", None
        if tls:
            cert = ca.issue_cert("127.0.0.1")
            cert.cert_chain_pems[0].write_to_path(str(base / "tls.crt"))
            cert.private_key_pem.write_to_path(str(base / "tls.key"))
            tls_conf = f"  tls:\n    certificate: {base}/tls.crt\n    key: {base}/tls.key\n"
            scheme, context = "https", ssl.create_default_context()
            ca.configure_trust(context)
        log = base / "registry.log"

        def start(port: int) -> subprocess.Popen[bytes]:
            (base / "config.yml").write_text(
                "version: 0.1\nlog:\n  level: warn\n"
                f"storage:\n  filesystem:\n    rootdirectory: {base}/data\n"
                "  delete:\n    enabled: true\n"
                f"http:\n  addr: 127.0.0.1:{port}\n  secret: test-secret\n" + tls_conf + auth
            )
            with log.open("ab") as out:
                return subprocess.Popen(
                    [binary, "serve", str(base / "config.yml")], stdout=out, stderr=out
                )

        def answers(port: int) -> bool:
            try:
                urllib.request.urlopen(
                    f"{scheme}://127.0.0.1:{port}/v2/", timeout=0.5, context=context
                )
            except urllib.error.HTTPError:
                return True
            except OSError:
                return False
            return True

        proc, port = launch("docker-registry", start, answers, log)
        try:
            yield Registry(f"{scheme}://127.0.0.1:{port}", mode, seen, base / "data")
        finally:
            stop(proc)
            subprocess.run(["rm", "-rf", str(base)], check=False)


@pytest.fixture
def registry_server(tls_ca: trustme.CA) -> Iterator[Callable[..., Registry]]:
    with contextlib.ExitStack() as stack:
        yield lambda mode, tls=False: stack.enter_context(start_registry(mode, tls_ca, tls))
