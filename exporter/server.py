"""The HTTP face: /metrics, /healthz, /readyz and the HTML report at /.

A small HTTP/1.1 server on asyncio streams rather than aiohttp's: it answers four GET routes
from memory, and aiohttp's server costs ~15 MiB of RSS on every node (benchmarks/RESULTS.md).
Keep-alive, HEAD, gzip, bounded request heads, idle timeouts, TLS and basic auth (web config)
are what Prometheus and a browser need from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import ssl
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from exporter import report
from exporter.store import Store
from exporter.webconfig import BasicAuth, WebConfig

log = logging.getLogger(__name__)

MAX_HEAD = 16 * 1024  # request line and headers
IDLE_SECONDS = 60.0  # keep-alive connections idle longer are closed
HEAD_SECONDS = 10.0  # a client has this long to send a request head once it started one
GZIP_MIN = 1024
CHALLENGE = {"WWW-Authenticate": 'Basic realm="gitpod-requirements-exporter"'}


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    query: str = ""


Handler = Callable[[Request], Response | Awaitable[Response]]


def make_routes(
    role: str, store: Store, registry: CollectorRegistry, runbook_url: str = report.RUNBOOK_URL
) -> dict[str, Handler]:
    def metrics(request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(body=encoder(registry), content_type=content_type)

    def healthz(_: Request) -> Response:
        return Response(body=b"ok\n")

    def readyz(_: Request) -> Response:
        if store.ready:
            return Response(body=b"ready\n")
        return Response(503, b"first round of checks still running\n")

    def index(request: Request) -> Response:
        # ?refresh=N: the page reloads itself every N seconds (5 at least), for a wall screen.
        wanted = urllib.parse.parse_qs(request.query).get("refresh", [""])[0]
        refresh = max(int(wanted), 5) if wanted.isdigit() and len(wanted) < 6 else 0
        page = report.as_html(
            role, store.requirements, store.snapshot(), store.ready, runbook_url, refresh
        )
        return Response(body=page.encode(), content_type="text/html; charset=utf-8")

    return {"/metrics": metrics, "/healthz": healthz, "/readyz": readyz, "/": index}


class BadRequest(Exception):
    pass


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    try:
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ")
    except ValueError:
        raise BadRequest("malformed request line") from None
    if not version.startswith("HTTP/1."):
        raise BadRequest("unsupported HTTP version")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest("malformed header")
        headers[name.lower()] = value.strip()
    return method, target, version, headers


class HTTPServer:
    def __init__(self, routes: dict[str, Handler], web: WebConfig | None = None,
                 tls: ssl.SSLContext | None = None) -> None:  # fmt: skip
        self.routes = routes
        web = web or WebConfig()
        self.ssl = tls
        self.auth = BasicAuth(web.basic_auth_users) if web.basic_auth_users else None
        self.extra_headers = dict(web.http_server_config.headers)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> list[tuple[str, int]]:
        self._server = await asyncio.start_server(
            self._connection, host or None, port, ssl=self.ssl, limit=MAX_HEAD
        )
        return [s.getsockname()[:2] for s in self._server.sockets]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError, OSError):
                await writer.wait_closed()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; False when the connection should close."""
        try:
            first = await asyncio.wait_for(reader.read(1), IDLE_SECONDS)
            if not first:
                return False
            rest = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_SECONDS)
        except asyncio.LimitOverrunError:
            await self._send(writer, "GET", Response(431, b"request head too large\n"), False)
            return False
        try:
            method, target, version, headers = _parse_head(first + rest[:-4])
        except BadRequest as exc:
            await self._send(writer, "GET", Response(400, f"{exc}\n".encode()), False)
            return False
        if "transfer-encoding" in headers:
            await self._send(writer, method, Response(400, b"request bodies not accepted\n"), False)
            return False
        length = headers.get("content-length", "0")
        if not length.isdigit() or int(length) > MAX_HEAD:
            await self._send(writer, method, Response(413, b"request body too large\n"), False)
            return False
        if int(length):
            await asyncio.wait_for(reader.readexactly(int(length)), HEAD_SECONDS)
        connection = headers.get("connection", "").lower()
        keep = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
        path, _, query = target.partition("?")
        response = await self._respond(Request(method, path, headers, query))
        await self._send(writer, method, response, keep,
                         "gzip" in headers.get("accept-encoding", ""))  # fmt: skip
        return keep

    async def _respond(self, request: Request) -> Response:
        if self.auth is not None and not self.auth.allows(request.headers.get("authorization", "")):
            return Response(401, b"Unauthorized\n", headers=CHALLENGE)
        handler = self.routes.get(request.path)
        if handler is None:
            return Response(404, b"not found\n")
        if request.method not in ("GET", "HEAD"):
            return Response(405, b"method not allowed\n", headers={"Allow": "GET, HEAD"})
        try:
            result = handler(request)
            return await result if isinstance(result, Awaitable) else result
        except Exception:
            log.exception("handler for %s failed", request.path)
            return Response(500, b"internal error\n")

    async def _send(self, writer: asyncio.StreamWriter, method: str, r: Response, keep: bool,
                    gzip_ok: bool = False) -> None:  # fmt: skip
        body, headers = r.body, {**self.extra_headers, **r.headers}
        if gzip_ok and len(body) >= GZIP_MIN:
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
            headers["Vary"] = "Accept-Encoding"
        reason = HTTPStatus(r.status).phrase
        head = [f"HTTP/1.1 {r.status} {reason}", f"Content-Type: {r.content_type}",
                f"Content-Length: {len(body)}", f"Connection: {'keep-alive' if keep else 'close'}",
                *(f"{k}: {v}" for k, v in headers.items())]  # fmt: skip
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if method != "HEAD":
            writer.write(body)
        await writer.drain()
