from __future__ import annotations

import socket
import threading
import time

import pytest

from exporter.parse import mysql_version
from tests.conftest import run_component

ID = "cluster_database"


def settings(db, **over):
    return {"host": db.host, "port": db.port, "user": db.user, "database": db.database,
            "password": {"env": "GRE_TEST_DB_PASSWORD"}, **over}  # fmt: skip


@pytest.fixture(autouse=True)
def _password(mariadb, monkeypatch) -> None:
    monkeypatch.setenv("GRE_TEST_DB_PASSWORD", mariadb.password)


@pytest.mark.parametrize(
    ("text", "flavor", "version"),
    [
        ("5.7.44-log", "mysql", (5, 7, 44)),
        ("8.0.36", "mysql", (8, 0, 36)),
        ("5.7.39-google-log", "mysql", (5, 7, 39)),
        ("8.0.28-cloudsql", "mysql", (8, 0, 28)),
        ("10.11.6-MariaDB-0+deb12u1", "mariadb", (10, 11, 6)),
        ("5.5.5-10.6.12-MariaDB", "mariadb", (10, 6, 12)),
        ("5.6.51", "mysql", (5, 6, 51)),
    ],
)
def test_version_strings(text: str, flavor: str, version: tuple[int, int, int]) -> None:
    assert mysql_version(text) == (flavor, version)


def test_real_mariadb_passes_as_mariadb(mariadb, pool) -> None:
    record = run_component(ID, settings(mariadb), pool)[ID]
    result = record.result
    assert result.status == "pass", result.detail
    info = next(s for s in result.samples if s.name == "gitpod_database_version_info")
    assert dict(info.labels)["flavor"] == "mariadb"
    assert dict(info.labels)["version"].startswith("10.")
    assert "Gitpod documents MySQL" in result.detail
    latency = next(s for s in result.samples if s.name == "gitpod_database_latency_seconds")
    assert 0 < latency.value < 5


def test_mariadb_refused_by_policy(mariadb, pool) -> None:
    result = run_component(ID, settings(mariadb, allow_mariadb=False), pool)[ID].result
    assert (result.status, result.reason) == ("fail", "version")


def test_mariadb_below_configured_floor(mariadb, pool) -> None:
    result = run_component(ID, settings(mariadb, min_mariadb_version="11.4"), pool)[ID].result
    assert (result.status, result.reason) == ("fail", "version")


def test_wrong_password_is_auth(mariadb, pool, monkeypatch) -> None:
    monkeypatch.setenv("GRE_TEST_DB_PASSWORD", "wrong")
    result = run_component(ID, settings(mariadb), pool)[ID].result
    assert (result.status, result.reason) == ("fail", "auth")
    assert "wrong" not in result.detail


def test_database_the_user_may_not_use_is_auth(mariadb, pool) -> None:
    # MySQL answers 1044 (access denied to the database), not 1049, to a user without grants.
    result = run_component(ID, settings(mariadb, database="nope"), pool)[ID].result
    assert (result.status, result.reason) == ("fail", "auth")
    assert "'nope'" in result.detail


def test_database_down_is_connect(mariadb, pool) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    result = run_component(ID, settings(mariadb, port=port), pool)[ID].result
    assert (result.status, result.reason) == ("fail", "connect")


def test_silent_listener_times_out_within_the_timeout(mariadb, pool) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    started = time.monotonic()
    result = run_component(
        ID, settings(mariadb, port=listener.getsockname()[1], timeout="1s"), pool
    )[ID].result
    elapsed = time.monotonic() - started
    listener.close()
    assert result.reason == "timeout"
    assert result.status in ("fail", "error")
    assert elapsed < 2


def test_absent_section_is_skipped(pool) -> None:
    result = run_component(ID, {}, pool)[ID].result
    assert (result.status, result.reason) == ("skipped", "not_configured")
