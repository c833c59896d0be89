"""The HTTP face: /metrics, /healthz, /readyz and the HTML report at /.

A small HTTP/1.1 server on asyncio streams rather than aiohttp's: it answers four GET routes
from memory, and aiohttp's server costs ~15 MiB of RSS on every node (benchmarks/RESULTS.md).
Parsing and framing are h11's (python-hyper, pure Python, ~0.5 MB): request lines, header
validation, Content-Length and chunked framing, keep-alive rules. What is ours: routing, basic
auth off the loop, gzip and the exposition format by Accept, and the limits a hostile client
meets: a connection cap (the oldest idle keep-alive is closed first under pressure), deadlines
for the TLS handshake, the request head and every write, and accept errors logged at most
every 10 s.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import contextlib
import gzip
import logging
import resource
import socket
import ssl
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus

import h11

from exporter import report
from exporter.checks.node.pod_network import PROBE_BYTES, PROBE_PATH
from exporter.exposition import Exposition
from exporter.store import Store
from exporter.webconfig import BasicAuth, WebConfig

log = logging.getLogger(__name__)

MAX_HEAD = 16 * 1024  # request line and headers
IDLE_SECONDS = 60.0  # keep-alive connections idle longer are closed
HEAD_SECONDS = 10.0  # a client has this long to send a request head once it started one
HANDSHAKE_SECONDS = 10.0  # and this long to finish a TLS handshake
SEND_BUFFER = 64 * 1024  # per connection; the kernel doubles it
# What a connection's reader buffers before it stops reading the socket (asyncio pauses at
# twice this): a head longer than one read still arrives, over several.
READ_BUFFER = 4 * 1024
# Requests a client may pipeline behind one it has not read the answer of: Prometheus sends one
# at a time; a pipeliner gets this many answers, then the connection is closed.
MAX_PIPELINED = 16
WRITE_SECONDS = 10.0  # a client that does not read its answer is dropped after this
HANDSHAKES = 64  # TLS handshakes in progress at once
GZIP_MIN = 1024
# Routes a probe must reach without credentials (kubelet sends none); they reveal nothing.
# node_pod_network's peers fetch the full-size answer unauthenticated, like a health check.
UNAUTHENTICATED = ("/healthz", "/readyz", PROBE_PATH)
POD_NETWORK_PROBE = b"." * PROBE_BYTES
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_FORMAT = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def default_max_connections() -> int:
    """Half the file descriptors, at most 512: the process keeps fds for its own work."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(16, min(512, soft // 2)) if soft > 0 else 512


def wants_openmetrics(accept: str) -> bool:
    """Whether an Accept header asks for OpenMetrics: media types compared exactly, parameters
    ignored, nothing of the header ever copied into the answer."""
    for item in accept.split(",")[:32]:
        media = item.split(";", 1)[0].strip().lower()
        if media == "application/openmetrics-text":
            return True
    return False


GZIPPED = {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
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


def accepts_gzip(headers: dict[str, str]) -> bool:
    return "gzip" in headers.get("accept-encoding", "")


def make_routes(
    role: str, store: Store, exposition: Exposition, runbook_url: str = report.RUNBOOK_URL
) -> dict[str, Handler]:
    def metrics(request: Request) -> Response:
        openmetrics = wants_openmetrics(request.headers.get("accept", ""))
        gzipped = accepts_gzip(request.headers)
        return Response(
            body=exposition.body(openmetrics, gzipped),
            content_type=OPENMETRICS_FORMAT if openmetrics else TEXT_FORMAT,
            headers=GZIPPED if gzipped else {},
        )

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

    def report_json(_: Request) -> Response:
        # The document `check --output json` prints, from the last results.
        records = store.snapshot()
        judged = [r for r in store.requirements if r.id in records]
        doc = report.as_json(role, judged, records)
        return Response(body=doc.encode() + b"\n", content_type="application/json")

    def pod_network_probe(_: Request) -> Response:
        return Response(body=POD_NETWORK_PROBE)

    return {"/metrics": metrics, "/healthz": healthz, "/readyz": readyz, "/": index,
            "/report.json": report_json, PROBE_PATH: pod_network_probe}  # fmt: skip


def _refuse_unless_plain_get(request: h11.Request) -> None:
    """What these routes never need, refused before anything is read or done: versions other
    than HTTP/1.0 and 1.1, request bodies, heads over MAX_HEAD (h11 bounds only a head still
    arriving; one that arrives whole is measured here)."""
    if request.http_version not in (b"1.0", b"1.1"):
        raise h11.RemoteProtocolError("unsupported HTTP version", 400)
    size = len(request.target) + sum(len(k) + len(v) + 4 for k, v in request.headers)
    if size > MAX_HEAD:
        raise h11.RemoteProtocolError("request head too large", 431)
    for name, value in request.headers:
        if name == b"transfer-encoding":
            raise h11.RemoteProtocolError("chunked request bodies not accepted", 400)
        if name == b"content-length" and int(value) > MAX_HEAD:  # h11 checked it is digits
            raise h11.RemoteProtocolError("request body too large", 413)


def _small_tls_buffers() -> None:
    """asyncio's SSLProtocol gives every connection a 256 KiB read buffer at accept time, before
    the handshake: 400 silent TLS connections cost ~100 MiB that the allocator then keeps. Our
    requests and answers are small and a TLS record is at most 16 KiB: one record's buffer does
    (measured in benchmarks/RESULTS.md, "The HTTP surface under attack")."""
    proto = getattr(asyncio.sslproto, "SSLProtocol", None)
    if proto is not None and getattr(proto, "max_size", 0) > 17 * 1024:
        proto.max_size = 17 * 1024


class _Conn:
    """One client connection's state, for the cap and idle-first eviction."""

    def __init__(self, task: asyncio.Task[None], writer: asyncio.StreamWriter) -> None:
        self.task, self.writer = task, writer
        self.opened = time.monotonic()
        self.idle_since: float | None = self.opened
        self.answering = False  # a whole request arrived: its answer is being made or sent


class HTTPServer:
    def __init__(
        self,
        routes: dict[str, Handler],
        web: WebConfig | None = None,
        tls: ssl.SSLContext | None = None,
        max_connections: int = 0,
    ) -> None:
        self.routes = routes
        web = web or WebConfig()
        self.ssl = tls
        self.auth = BasicAuth(web.basic_auth_users) if web.basic_auth_users else None
        self.extra_headers = dict(web.http_server_config.headers)
        self.max_connections = max_connections or default_max_connections()
        self._server: asyncio.Server | None = None
        self._conns: dict[asyncio.Task[None], _Conn] = {}
        self._handshaking: dict[asyncio.Task[None], None] = {}  # in arrival order
        self._accept_errors = 0
        self._accept_logged = 0.0
        self._closed = False

    async def start(self, host: str, port: int) -> list[tuple[str, int]]:
        if self.ssl is not None:
            _small_tls_buffers()
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(self._loop_error)
        # TLS is started per connection, after the cap is checked: a pending handshake costs
        # memory, so it must count against the cap like any connection.
        self._server = await asyncio.start_server(
            self._connection, host or None, port, limit=READ_BUFFER, backlog=128
        )
        return [sock.getsockname()[:2] for sock in self._server.sockets]

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        """asyncio reports failed accepts (EMFILE) here, one line each: keep one per 10 s. After
        an EMFILE it retries serving on a timer (BaseSelectorEventLoop._start_serving); one
        that fires after the server closed fails on the closed socket: nothing to say (at
        shutdown, a traceback each, they filled a stderr pipe nobody read and held the exit)."""
        message = str(context.get("message", ""))
        if "_start_serving" in message and self._closed:
            return
        if "accept" in message or "_start_serving" in message:
            self._accept_errors += 1
            now = time.monotonic()
            if now - self._accept_logged >= 10:
                log.error(
                    "accepting connections fails: %s (%d times since the last report)",
                    context.get("exception") or message,
                    self._accept_errors,
                )
                self._accept_errors, self._accept_logged = 0, now
            return
        loop.default_exception_handler(context)

    async def close(self) -> None:
        self._closed = True
        if self._server is not None:
            self._server.close()
        for task in list(self._conns):
            task.cancel()
        await asyncio.gather(*self._conns, return_exceptions=True)

    def _make_room(self) -> bool:
        """Under the cap, or made so by closing the oldest idle keep-alive connection, else the
        oldest one that has not sent a whole request (a held head or handshake): whoever holds
        the cap's worth of unfinished heads must not cost Prometheus its scrape. Only
        connections whose answer is under way are never evicted."""
        if len(self._conns) < self.max_connections:
            return True
        idle = [c for c in self._conns.values() if c.idle_since is not None]
        if idle:
            victim = min(idle, key=lambda c: c.idle_since or 0.0)
        else:
            unfinished = [c for c in self._conns.values() if not c.answering]
            if not unfinished:
                return False
            victim = min(unfinished, key=lambda c: c.opened)
        victim.writer.transport.abort()
        victim.task.cancel()
        self._conns.pop(victim.task, None)
        return True

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if not self._make_room():
            writer.transport.abort()  # at the cap, every connection busy: refuse at once
            return
        conn = _Conn(task, writer)
        self._conns[task] = conn
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # The kernel would buffer megabytes of answers for a client that pipelines requests
            # and reads none, all of them made before the write deadline bites; a small buffer
            # stops it after a few answers. A real scrape's answer still flows, in round trips.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        # An answer is handed to the kernel whole before the next request is even parsed:
        # unsent answers never pile up in this process (500 pipelining clients that read
        # nothing held 64 KiB of them each, and kept the node role over its limit).
        writer.transport.set_write_buffer_limits(high=0)
        # asyncio reads up to 256 KiB per recv before its reader pauses: a client's whole
        # pipelined stream, taken into this process at once (500 of them, 90 MiB).
        if hasattr(writer.transport, "max_size"):
            writer.transport.max_size = 2 * READ_BUFFER
        try:
            if self.ssl is not None:
                # A handshake in progress holds an OpenSSL object: at most HANDSHAKES at once.
                # Beyond, the oldest unfinished one gives way: a real client finishes in
                # milliseconds, a silent one is what is left unfinished.
                if len(self._handshaking) >= HANDSHAKES:
                    oldest = next(iter(self._handshaking))
                    oldest.cancel()
                    self._handshaking.pop(oldest, None)
                self._handshaking[task] = None
                try:
                    await writer.start_tls(self.ssl, ssl_handshake_timeout=HANDSHAKE_SECONDS)
                finally:
                    self._handshaking.pop(task, None)
            await self._serve(reader, writer, conn)
        except (ConnectionError, TimeoutError, ssl.SSLError, OSError, asyncio.CancelledError):
            pass
        finally:
            self._conns.pop(task, None)
            if writer.transport.is_closing() or writer.transport.get_write_buffer_size():
                # Data the client never read (its write deadline passed): dropped, not
                # flushed, or close() would wait on it with the connection still open.
                writer.transport.abort()
            else:
                writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1)

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, conn: _Conn
    ) -> None:
        http = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        received = [0]  # bytes of the request being read: a head over MAX_HEAD is 431 first
        pipelined = 0  # requests in a row that were buffered before their turn
        while True:
            received[0] = 0
            # Idle between requests (IDLE_SECONDS), then HEAD_SECONDS for the rest of a head.
            conn.idle_since = time.monotonic()
            try:
                # Idle up to IDLE_SECONDS for a request to begin; once its first bytes are in,
                # the whole head within HEAD_SECONDS (slowloris dribbles a byte at a time).
                event: object = http.next_event()  # a pipelined request may be buffered already
                pipelined = pipelined + 1 if event is not h11.NEED_DATA else 0
                if pipelined > MAX_PIPELINED:
                    return
                if event is h11.NEED_DATA:
                    async with asyncio.timeout(IDLE_SECONDS):
                        first = await reader.read(READ_BUFFER)
                    received[0] += len(first)
                    http.receive_data(first)
                    conn.idle_since = None
                    async with asyncio.timeout(HEAD_SECONDS):
                        event = await self._next(http, reader, received)
                conn.idle_since = None
                if isinstance(event, h11.ConnectionClosed) or event is None:
                    return
                assert isinstance(event, h11.Request)
                _refuse_unless_plain_get(event)
                # A small body (a POST's) is read and dropped, so the answer can be a 405.
                while not isinstance(
                    ended := await self._next_within(http, reader, received),
                    h11.EndOfMessage,
                ):
                    if not isinstance(ended, h11.Data):
                        return
            except h11.RemoteProtocolError as exc:
                status = (
                    exc.error_status_hint if exc.error_status_hint in (400, 413, 414, 431) else 400
                )
                if received[0] > MAX_HEAD and status == 400:
                    status, exc = 431, h11.RemoteProtocolError("request head too large", 431)
                if http.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    await self._send(writer, http, "GET", Response(status, f"{exc}\n".encode()))
                return
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in event.headers}
            path, _, query = event.target.decode("latin-1").partition("?")
            method = event.method.decode("latin-1")
            conn.answering = True
            await self._send(
                writer,
                http,
                method,
                await self._respond(Request(method, path, headers, query)),
                accepts_gzip(headers),
            )
            conn.answering = False
            # Pipelined requests are answered one per loop turn, not back to back.
            await asyncio.sleep(0)
            if http.our_state is h11.MUST_CLOSE or http.their_state is h11.MUST_CLOSE:
                return
            try:
                http.start_next_cycle()
            except h11.LocalProtocolError:
                return

    async def _next(
        self, http: h11.Connection, reader: asyncio.StreamReader, received: list[int]
    ) -> object:
        """The next h11 event, reading as needed; the caller bounds the time with one
        asyncio.timeout (3.11's wait_for inside it can swallow the deadline's cancellation when
        a read completes at the same moment: a dribbling client would never be cut)."""
        while True:
            event = http.next_event()
            if event is not h11.NEED_DATA:
                return event
            data = await reader.read(READ_BUFFER)
            received[0] += len(data)
            http.receive_data(data)  # b"" marks the end of the stream

    async def _next_within(
        self, http: h11.Connection, reader: asyncio.StreamReader, received: list[int]
    ) -> object:
        async with asyncio.timeout(HEAD_SECONDS):
            return await self._next(http, reader, received)

    async def _respond(self, request: Request) -> Response:
        needs_auth = self.auth is not None and request.path not in UNAUTHENTICATED
        if needs_auth and not await self.auth.allows(request.headers.get("authorization", "")):  # type: ignore[union-attr]
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

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        http: h11.Connection,
        method: str,
        r: Response,
        gzip_ok: bool = False,
    ) -> None:
        body, headers = r.body, {**self.extra_headers, **r.headers}
        if gzip_ok and len(body) >= GZIP_MIN and "Content-Encoding" not in headers:
            body = gzip.compress(body, compresslevel=1)
            headers.update(GZIPPED)
        head = [
            ("Content-Type", r.content_type),
            ("Content-Length", str(len(body))),
            *headers.items(),
        ]
        reason = HTTPStatus(r.status).phrase.encode()
        parts = [http.send(h11.Response(status_code=r.status, headers=head, reason=reason))]
        if method != "HEAD" and body:
            parts.append(http.send(h11.Data(data=body)))
        parts.append(http.send(h11.EndOfMessage()))
        writer.writelines(p for p in parts if p)
        # What the kernel did not take is in the transport's buffer now; this copy of the answer
        # is not kept while a client that does not read holds the drain below.
        del parts, body, r
        # A client that never reads its answers is dropped, not kept at 100 % CPU.
        async with asyncio.timeout(WRITE_SECONDS):
            await writer.drain()
