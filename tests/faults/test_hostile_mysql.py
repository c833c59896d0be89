"""A MySQL server that, after the handshake, switches authentication to a plugin that gets the
password sent as it is (mysql_clear_password, dialog) on a connection without TLS: the check
refuses, the server never reads the password, and the requirement fails with reason auth."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.conftest import run_component

PASSWORD = "never-on-the-wire-4f2a"
CAPS = 0x0001 | 0x0008 | 0x0200 | 0x8000 | 0x80000  # long pw, db, 4.1, secure, plugin auth


def _packet(seq: int, payload: bytes) -> bytes:
    return struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload


def _greeting() -> bytes:
    salt = b"abcdefgh" + b"ijklmnopqrst"
    return (
        b"\x0a" + b"5.7.44-fake\x00" + struct.pack("<I", 7) + salt[:8] + b"\x00"
        + struct.pack("<H", CAPS & 0xFFFF) + b"\x21" + struct.pack("<H", 2)
        + struct.pack("<H", CAPS >> 16) + bytes([21]) + b"\x00" * 10 + salt[8:] + b"\x00"
        + b"mysql_native_password\x00"
    )  # fmt: skip


@contextmanager
def switching_server(plugin: bytes) -> Iterator[tuple[int, list[bytes]]]:
    """Greets, reads the client's answer, asks to switch to `plugin`, records what comes."""
    received: list[bytes] = []
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(10)

    def serve() -> None:
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5)
            conn.sendall(_packet(0, _greeting()))
            received.append(conn.recv(65536))  # the handshake response
            switch = b"\xfe" + plugin + b"\x00"
            if plugin == b"dialog":
                switch += b"\x04Password: "  # a password prompt
            conn.sendall(_packet(2, switch))
            try:
                while data := conn.recv(65536):
                    received.append(data)
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1], received
    finally:
        srv.close()
        thread.join(10)


@pytest.mark.parametrize("plugin", [b"mysql_clear_password", b"dialog"])
def test_a_cleartext_auth_switch_without_tls_is_refused(plugin, pool, monkeypatch) -> None:
    monkeypatch.setenv("GRE_TEST_MYSQL_PW", PASSWORD)
    with switching_server(plugin) as (port, received):
        records = run_component(
            "cluster_database",
            {"host": "127.0.0.1", "port": port, "user": "gitpod", "timeout": 5,
             "password": {"env": "GRE_TEST_MYSQL_PW"}},
            pool,
        )  # fmt: skip
    result = records["cluster_database"].result
    assert (result.status, result.reason) == ("fail", "auth"), result
    assert "clear text without TLS" in result.detail
    assert received, "the server saw no handshake"
    assert not any(PASSWORD.encode() in data for data in received)
