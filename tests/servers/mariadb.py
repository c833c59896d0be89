"""A real MariaDB (`mariadbd` from Debian's mariadb-server) with its own datadir and port."""

from __future__ import annotations

import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers.procs import launch, require_binary, stop

USER, PASSWORD, DATABASE = "gitpod", "probe-password-7f3a", "gitpod"


@dataclass(frozen=True)
class MariaDB:
    host: str
    port: int
    user: str = USER
    password: str = PASSWORD
    database: str = DATABASE


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDB]:
    install = require_binary("mariadb-install-db", "mariadb-server")
    server = require_binary("mariadbd", "mariadb-server")
    base = Path(tempfile.mkdtemp(prefix="mdb-", dir="/tmp"))
    datadir = base / "data"
    subprocess.run(
        [install, "--no-defaults", "--user=root", f"--datadir={datadir}",
         "--auth-root-authentication-method=normal", "--skip-test-db"],
        check=True, capture_output=True,
    )  # fmt: skip
    init = base / "init.sql"
    init.write_text(
        f"CREATE DATABASE IF NOT EXISTS {DATABASE};\n"
        + "".join(
            f"CREATE USER IF NOT EXISTS '{USER}'@'{h}' IDENTIFIED BY '{PASSWORD}';\n"
            f"GRANT ALL ON {DATABASE}.* TO '{USER}'@'{h}';\n"
            for h in ("%", "localhost", "127.0.0.1")
        )
    )
    log = base / "mariadbd.log"

    def start(port: int) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            return subprocess.Popen(
                [server, "--no-defaults", "--user=root", f"--datadir={datadir}",
                 f"--socket={base}/sock", f"--port={port}", "--bind-address=127.0.0.1",
                 "--skip-log-bin", "--innodb-buffer-pool-size=32M", f"--init-file={init}",
                 f"--log-error={log}"],
                stdout=out, stderr=out,
            )  # fmt: skip

    def answers(port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    proc, port = launch("mariadbd", start, answers, log, timeout=30)
    try:
        yield MariaDB("127.0.0.1", port)
    finally:
        stop(proc)
        subprocess.run(["rm", "-rf", str(base)], check=False)
