"""DNS and TLS answers as large as their protocols allow: a DNS answer of thousands of
addresses (64 KiB over TCP, the most a DNS message can be) keeps the report to a line, and a
certificate chain of hundreds of certificates is refused by OpenSSL's own 100 KiB bound on the
chain, with reason tls, quickly."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from pathlib import Path

import trustme
from aiohttp import web

from tests.conftest import run_component
from tests.servers.dns import dns_server
from tests.servers.tls import leaf, serving

DOMAIN = "gitpod.example.com"


def test_a_dns_answer_of_thousands_of_addresses_is_reported_in_a_line(pool) -> None:
    many = [f"10.{i // 250}.{i % 250}.1" for i in range(3000)]
    records = {DOMAIN: many, f"*.{DOMAIN}": many, f"*.ws.{DOMAIN}": many}
    with dns_server(records, tcp=True) as port:  # type: ignore[arg-type]
        result = run_component(
            "cluster_dns",
            {"domain": DOMAIN, "nameserver": "127.0.0.1", "port": port, "timeout": 10,
             "addresses": ["34.117.12.9"]},
            pool,
        )["cluster_dns"].result  # fmt: skip
    assert (result.status, result.reason) == ("fail", "mismatch"), result
    assert "... (2992 more)" in result.observed
    assert len(result.observed) < 600
    assert len(result.detail) < 800


def test_a_certificate_chain_of_hundreds_is_refused(tmp_path: Path, tls_ca: trustme.CA, pool):
    cert = leaf(tls_ca, DOMAIN, f"*.{DOMAIN}", f"*.ws.{DOMAIN}")
    chain, key = tmp_path / "chain.pem", tmp_path / "key.pem"
    cert.private_key_pem.write_to_path(str(key))
    chain.write_bytes(cert.cert_chain_pems[0].bytes() + tls_ca.cert_pem.bytes() * 500)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(chain, key)
    ca = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(ca))
    started = time.monotonic()
    with serving(web.Application(), server) as port:
        result = run_component(
            "cluster_tls",
            {"domain": DOMAIN, "address": f"127.0.0.1:{port}", "ca_file": str(ca), "timeout": 5},
            pool,
        )["cluster_tls"].result  # fmt: skip
    assert (result.status, result.reason) == ("fail", "tls"), result
    assert "EXCESSIVE_MESSAGE_SIZE" in result.detail
    assert time.monotonic() - started < 3


def test_a_peer_that_never_closes_its_side_still_gets_a_verdict(tmp_path: Path, tls_ca, pool):
    """A TLS close waits for the peer's close_notify: a peer that completes the handshake and
    then reads nothing made a valid certificate end in error/timeout."""
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf(tls_ca, DOMAIN, f"*.{DOMAIN}", f"*.ws.{DOMAIN}").configure_cert(server)
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[ssl.SSLSocket] = []

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                held.append(server.wrap_socket(conn, server_side=True))  # then silence

    threading.Thread(target=serve, daemon=True).start()
    ca = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(ca))
    try:
        result = run_component(
            "cluster_tls",
            {"domain": DOMAIN, "address": f"127.0.0.1:{listener.getsockname()[1]}",
             "ca_file": str(ca), "timeout": 3},
            pool,
        )["cluster_tls"].result  # fmt: skip
    finally:
        listener.close()
        for conn in held:
            conn.close()
    assert result.status == "pass", result
