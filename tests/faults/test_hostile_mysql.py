"""A MySQL server that, after the handshake, switches authentication to a plugin that gets the
password sent as it is (mysql_clear_password, dialog) on a connection without TLS: the check
refuses, the server never reads the password, and the requirement fails with reason auth."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.conftest import run_component
from tests.helpers.process import peak_rss_mib

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


@contextmanager
def greeting_server(how: str) -> Iterator[int]:
    """A server whose greeting never ends: one packet announced as 16 MiB and continued for
    ever (`endless`), or a real greeting sent a byte at a time (`dribbled`)."""
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(0.2)  # a close from another thread does not wake accept(): look again
    stop = threading.Event()

    def greet(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(1)
            try:
                if how == "endless":
                    conn.sendall(struct.pack("<I", 0xFFFFFF)[:3] + b"\x00")
                    chunk = b"\x0a" * 65536
                    while not stop.is_set():
                        conn.sendall(chunk)
                else:
                    for byte in _packet(0, _greeting()):
                        if stop.wait(0.3):
                            return
                        conn.sendall(bytes([byte]))
            except OSError:
                pass

    def serve() -> None:  # every connection, as a check that runs each second makes them
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=greet, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        srv.close()
        thread.join(10)


@pytest.mark.parametrize(
    ("how", "reason", "said"),
    [("endless", "protocol", "a packet over 1 MiB: refused"),
     ("dribbled", "timeout", "still arriving at the deadline")],
)  # fmt: skip
def test_a_greeting_that_never_ends_is_cut_off(how, reason, said, pool) -> None:
    before, started = peak_rss_mib(), time.monotonic()
    with greeting_server(how) as port:
        records = run_component(
            "cluster_database", {"host": "127.0.0.1", "port": port, "timeout": 3}, pool
        )
    result = records["cluster_database"].result
    assert (result.status, result.reason) == ("fail", reason), result
    assert said in result.detail
    # read_timeout alone would let a byte every 0.3 s go on for the greeting's 80 bytes (24 s).
    assert time.monotonic() - started < 5
    assert peak_rss_mib() - before < 32
