"""Servers that misbehave on purpose: refuse, accept and stay silent, answer too late, answer
garbage, HTML where JSON is due, truncated JSON, or TLS with a certificate nobody trusts."""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

FAULTS = ("refused", "silent", "slow", "garbage", "html", "truncated_json", "untrusted_tls")
SLOW_SECONDS = 4.0  # longer than every check timeout the matrix configures

HTML = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


def _http(status: str, ctype: str, body: bytes) -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode() + body  # fmt: skip


ANSWERS = {
    "garbage": os.urandom(512),
    "html": _http("200 OK", "text/html", HTML),
    # Claims more than it sends, then closes: a truncated body.
    "truncated_json": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Content-Length: 400\r\nConnection: close\r\n\r\n" + b'{"kind": "Status", "items": [{"na',
}


def _serve(conn: socket.socket, fault: str, tls: ssl.SSLContext | None, stop: threading.Event):
    try:
        if tls is not None:
            conn = tls.wrap_socket(conn, server_side=True)
        conn.settimeout(0.5)
        if fault in ("silent", "slow"):
            deadline = time.monotonic() + (SLOW_SECONDS if fault == "slow" else 60)
            while time.monotonic() < deadline and not stop.is_set():
                try:
                    if not conn.recv(4096):
                        return
                except TimeoutError:
                    continue
            if fault == "slow" and not stop.is_set():
                conn.sendall(ANSWERS["html"])
            return
        # Read what the client says first (if it speaks first), then answer the fault.
        conn.settimeout(0.3)
        with contextlib.suppress(TimeoutError):
            conn.recv(65536)
        conn.sendall(ANSWERS["html" if fault == "untrusted_tls" else fault])
    except (OSError, ssl.SSLError):
        pass
    finally:
        conn.close()


@contextmanager
def hostile(fault: str, family: int = socket.AF_INET, path: str = "",
            tls: ssl.SSLContext | None = None) -> Iterator[str]:  # fmt: skip
    """Yields 127.0.0.1:PORT (or the unix socket path) of a server that commits `fault`."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind(path or ("127.0.0.1", 0))
    address = path or f"127.0.0.1:{sock.getsockname()[1]}"
    if fault == "refused":
        sock.close()  # the port (or a stale socket file) with nobody listening
        yield address
        return
    sock.listen(32)
    sock.settimeout(0.2)
    stop = threading.Event()
    workers: list[threading.Thread] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except (TimeoutError, OSError):
                continue
            t = threading.Thread(target=_serve, args=(conn, fault, tls, stop), daemon=True)
            t.start()
            workers.append(t)

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield address
    finally:
        stop.set()
        acceptor.join(2)
        sock.close()
