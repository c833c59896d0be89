"""Throwaway certificates (trustme) and TLS servers on 127.0.0.1 that present them."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from aiohttp import web


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    return trustme.CA()


def server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    return ctx


def ca_file(ca: trustme.CA, directory: Path) -> str:
    path = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def leaf(ca: trustme.CA, *names: str, days: float = 90, expired: bool = False) -> trustme.LeafCert:
    now = datetime.datetime.now(datetime.UTC)
    if expired:
        return ca.issue_cert(*names, not_before=now - datetime.timedelta(days=30),
                             not_after=now - datetime.timedelta(days=1))  # fmt: skip
    return ca.issue_cert(*names, not_after=now + datetime.timedelta(days=days))


@contextlib.contextmanager
def serving(
    app: web.Application, ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1"
) -> Iterator[int]:
    """Serve an aiohttp app (HTTPS when given a context) on `host`, a loopback address;
    yields the port."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
    port: list[int] = []

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, host, 0, ssl_context=ssl_context).start()
        port.append(runner.addresses[0][1])

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        yield port[0]
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
