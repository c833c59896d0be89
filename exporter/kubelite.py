"""Just enough of a Kubernetes client for the node role: one authenticated GET.

The node role runs on every node and must stay light, so it does not import the kubernetes
package, nor aiohttp (together ~15 MiB of RSS on every node): it reads a kubeconfig (or the
in-cluster service account) and makes the GET with http.client, in the check thread pool.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import ssl
import stat
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

from exporter import safeyaml, watchdog
from exporter.bounded import read_bounded
from exporter.parse import ParseError

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeConfigError(Exception):
    """No usable API credentials: the check is skipped or errors with this message."""


@dataclass(frozen=True)
class Endpoint:
    server: str
    ssl: ssl.SSLContext | bool
    # Read at request time: bound service-account tokens rotate under a running pod.
    token_file: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    # The token as last read from token_file, for the scrubber (set by request_headers).
    _token: list[str] = field(default_factory=lambda: [""], compare=False, repr=False)

    @property
    def last_token(self) -> str:
        return self._token[0]

    def request_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.token_file:
            token = read_token(self.token_file)
            self._token[0] = token
            headers["Authorization"] = "Bearer " + token
        return headers

    def __repr__(self) -> str:  # headers may carry a token
        return f"Endpoint(server={self.server!r})"


MAX_TOKEN_BYTES = 16 << 10


MAX_PEM_BYTES = 1 << 20  # a CA bundle of a few hundred certificates


def small_file(path: str | Path, limit: int, what: str) -> bytes:
    """A credential file's bytes (blocking: in the pool): a regular file, opened non-blocking
    (a FIFO cannot hold the thread), at most `limit` bytes (a replaced 512 MiB file is refused
    after reading `limit` of it, not read whole on every request)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise KubeConfigError(f"{what} {path}: {exc.strerror or exc}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise KubeConfigError(f"{what} {path} is not a regular file")
        data = os.read(fd, limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise KubeConfigError(f"{what} {path} is larger than {limit} bytes")
    return data


def read_token(path: str) -> str:
    """A token file's token: bounded, one line of what an HTTP header allows."""
    return bearer(small_file(path, MAX_TOKEN_BYTES, "token file").decode("ascii", "replace"),
                  f"token file {path}")  # fmt: skip


def bearer(value: object, where: str) -> str:
    """A bearer token as an HTTP header may carry it: one line of visible ASCII, the whitespace
    around it dropped (YAML's `token: |` keeps a newline; client-go's tokenFile trims too).
    Anything else is refused here, before http.client could quote it in its own error."""
    token = value.strip() if isinstance(value, str) else ""
    if not token or any(not 0x21 <= ord(ch) <= 0x7E for ch in token):
        # Never quoted: it is the credential.
        raise KubeConfigError(f"{where} does not hold one line of a bearer token")
    return token


def _pem(data_b64: str | None, path: str | None, base: Path) -> str | None:
    """A PEM from inline base64 data or a path relative to the kubeconfig's directory."""
    if data_b64:
        try:
            return base64.b64decode(data_b64).decode()
        except (ValueError, UnicodeDecodeError):
            raise KubeConfigError("certificate data is not valid base64 PEM") from None
    if path:
        data = small_file(base / path, MAX_PEM_BYTES, "certificate file")
        return data.decode("ascii", "replace")
    return None


def _ssl_context(cluster: dict[str, Any], user: dict[str, Any], base: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if cluster.get("insecure-skip-tls-verify"):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ca = _pem(cluster.get("certificate-authority-data"), cluster.get("certificate-authority"), base)
    if ca:
        ctx.load_verify_locations(cadata=ca)
    cert = _pem(user.get("client-certificate-data"), user.get("client-certificate"), base)
    key = _pem(user.get("client-key-data"), user.get("client-key"), base)
    if cert and key:
        # ssl only loads key pairs from files; keep them on disk for as short as possible.
        with tempfile.TemporaryDirectory() as tmp:
            cert_path, key_path = Path(tmp, "c.pem"), Path(tmp, "k.pem")
            cert_path.write_text(cert)
            key_path.touch(mode=0o600)
            key_path.write_text(key)
            ctx.load_cert_chain(cert_path, key_path)
    return ctx


def _named(items: Any, name: str, kind: str) -> dict[str, Any]:
    for item in items or []:
        if isinstance(item, dict) and item.get("name") == name:
            return item.get(kind) or {}
    raise KubeConfigError(f"kubeconfig has no {kind} named {name!r}")


def _merged(paths: list[str]) -> tuple[dict[str, Any], str]:
    """KUBECONFIG's list merged as kubectl merges it: the first file to name a context,
    cluster, user or current-context wins. Returns the document and the first file's path
    (relative certificate paths resolve against the file that names them; here, the first)."""
    merged: dict[str, Any] = {"contexts": [], "clusters": [], "users": []}
    seen: dict[str, set[str]] = {k: set() for k in merged}
    first = ""
    for path in paths:
        try:
            doc = safeyaml.load(safeyaml.read(path, "the kubeconfig"), "the kubeconfig")
        except FileNotFoundError:
            continue  # kubectl skips missing files of the list
        except (OSError, ParseError) as exc:
            raise KubeConfigError(f"cannot read kubeconfig {path}: {exc}") from None
        if not isinstance(doc, dict):
            raise KubeConfigError(f"kubeconfig {path} is not a mapping")
        first = first or path
        if doc.get("current-context") and "current-context" not in merged:
            merged["current-context"] = doc["current-context"]
        for kind in ("contexts", "clusters", "users"):
            for item in doc.get(kind) or []:
                name = item.get("name") if isinstance(item, dict) else None
                if isinstance(name, str) and name not in seen[kind]:
                    seen[kind].add(name)
                    merged[kind].append(item)
    if not first:
        raise KubeConfigError(f"no kubeconfig file found in {os.pathsep.join(paths)}")
    return merged, first


def from_kubeconfig(path: str, context: str = "") -> Endpoint:
    doc, path = _merged(path.split(os.pathsep))
    ctx_name = context or doc.get("current-context") or ""
    kctx = _named(doc.get("contexts"), ctx_name, "context")
    cluster = _named(doc.get("clusters"), kctx.get("cluster", ""), "cluster")
    user = _named(doc.get("users"), kctx.get("user", ""), "user") if kctx.get("user") else {}
    if "exec" in user or "auth-provider" in user:
        raise KubeConfigError("kubeconfig exec/auth-provider plugins are not supported here")
    server = cluster.get("server")
    if not server:
        raise KubeConfigError(f"cluster of context {ctx_name!r} has no server")
    base = Path(path).parent
    headers: dict[str, str] = {}
    if user.get("token"):
        headers["Authorization"] = "Bearer " + bearer(user["token"], "the kubeconfig's token")
    elif user.get("username") is not None:
        raw = f"{user['username']}:{user.get('password', '')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    tls: ssl.SSLContext | bool = (
        _ssl_context(cluster, user, base) if server.startswith("https") else False
    )
    return Endpoint(server.rstrip("/"), tls, user.get("tokenFile", ""), headers)


def in_cluster() -> Endpoint | None:
    host, port = (
        os.environ.get("KUBERNETES_SERVICE_HOST"),
        os.environ.get("KUBERNETES_SERVICE_PORT"),
    )
    token = SERVICE_ACCOUNT / "token"
    if not host or not port or not token.exists():
        return None
    ctx = ssl.create_default_context(cafile=str(SERVICE_ACCOUNT / "ca.crt"))
    host = f"[{host}]" if ":" in host else host
    return Endpoint(f"https://{host}:{port}", ctx, str(token))


def resolve(kubeconfig: str | None, context: str = "") -> Endpoint | None:
    """The API endpoint from --kubeconfig/KUBECONFIG (a list, merged as kubectl does; the
    given context, else current-context), else the in-cluster service account."""
    if kubeconfig:
        return from_kubeconfig(kubeconfig, context)
    return in_cluster()


MAX_ANSWER_BYTES = 4 << 20


def get_json(endpoint: Endpoint, path: str, timeout: float) -> tuple[int, Any]:
    """Blocking GET of `path`: (HTTP status, parsed JSON or None). Raises OSError (including
    ssl.SSLError and TimeoutError) when the API server cannot be reached, ValueError when it
    answers 200 with something other than JSON."""
    return request_json(endpoint, "GET", path, None, "", timeout)


def request_json(
    endpoint: Endpoint, method: str, path: str, body: bytes | None, content_type: str,
    timeout: float,
) -> tuple[int, Any]:  # fmt: skip
    """Blocking request: (HTTP status, parsed JSON of a 2xx answer or None). `timeout` bounds
    the whole exchange, from connect to the last byte (exporter/watchdog.py): a server that
    dribbles its handshake or headers holds the thread no longer than one that is silent."""
    url = urlsplit(endpoint.server)
    conn = http.client.HTTPConnection(url.netloc, timeout=timeout)
    headers = {**endpoint.request_headers(), "Accept": "application/json"}
    if content_type:
        headers["Content-Type"] = content_type
    cut = watchdog.Cut()
    try:
        with cut.within(timeout):
            try:
                conn.sock = _connect(url, endpoint.ssl, timeout, cut)
                conn.request(method, url.path.rstrip("/") + path, body=body, headers=headers)
                resp = conn.getresponse()
                # A Node is at most the 1.5 MiB etcd allows; an endless body ends here.
                answer = read_bounded(
                    resp.read1, MAX_ANSWER_BYTES, time.monotonic() + timeout, path
                )
                if cut.fired:  # the shutdown ends a read as the end of the answer would
                    raise TimeoutError
            except http.client.HTTPException as exc:
                if cut.fired:
                    raise TimeoutError(f"no complete answer within {timeout:g}s") from None
                raise ValueError(f"malformed HTTP answer: {exc!r}") from None
            except OSError:
                if cut.fired:
                    raise TimeoutError(f"no complete answer within {timeout:g}s") from None
                raise
    finally:
        conn.close()
    if not 200 <= resp.status < 300:
        return resp.status, None
    return resp.status, json.loads(answer) if answer else {}


def _connect(
    url: SplitResult, tls: ssl.SSLContext | bool, timeout: float, cut: watchdog.Cut
) -> socket.socket:
    """The connected (and for https, handshaken) socket, each stage held by the deadline as
    soon as it exists (one held after the deadline is shut at once: the next step fails)."""
    https = url.scheme == "https"
    host = url.hostname or ""
    raw = socket.create_connection((host, url.port or (443 if https else 80)), timeout)
    cut.hold(raw)
    if not https:
        return raw
    context = tls if isinstance(tls, ssl.SSLContext) else ssl.create_default_context()
    wrapped = context.wrap_socket(raw, server_hostname=host, do_handshake_on_connect=False)
    cut.hold(wrapped)  # `raw` is detached now: the deadline stops the handshake through this
    wrapped.do_handshake()
    return wrapped
