"""A real containerd (Debian's package) on a private socket, with its own root and state."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers.procs import require_binary, stop, wait_until

# Plugins that need kernel features or a CRI set-up the test neither has nor needs.
DISABLED = [
    "io.containerd.grpc.v1.cri",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.aufs",
]


@dataclass(frozen=True)
class Containerd:
    socket: Path
    version: str


@pytest.fixture(scope="session")
def containerd() -> Iterator[Containerd]:
    binary = require_binary("containerd", "containerd")
    if os.geteuid() != 0:
        pytest.fail("containerd needs root to start (CI runs as root)")
    # A short base directory: Unix socket paths are limited to 107 bytes.
    base = Path(tempfile.mkdtemp(prefix="ctd-", dir="/tmp"))
    sock = base / "c.sock"
    config = base / "config.toml"
    config.write_text(
        "version = 2\n"
        f'root = "{base}/root"\nstate = "{base}/state"\n'
        f"disabled_plugins = {DISABLED!r}\n".replace("'", '"')
        + f'[grpc]\n  address = "{sock}"\n[ttrpc]\n  address = "{base}/t.sock"\n'
        '[debug]\n  address = ""\n[metrics]\n  address = ""\n'
    )
    log = base / "containerd.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([binary, "--config", str(config)], stdout=out, stderr=out)
    try:
        wait_until(sock.exists, proc, "containerd", log)
        version = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, check=True
        ).stdout.split()[2]
        yield Containerd(sock, version)
    finally:
        stop(proc)
        subprocess.run(["rm", "-rf", str(base)], check=False)
