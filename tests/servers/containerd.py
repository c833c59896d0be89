"""A real containerd (Debian's package) on a private socket, with its own root and state."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers.procs import require_binary, stop, wait_until

# The CRI plugin (for the Docker-like instance), and snapshotters that need kernel features or
# tools the test machine does not have.
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
def containerd_without_cri() -> Iterator[Containerd]:
    """containerd without its CRI plugin: what Docker's own containerd is to the kubelet."""
    with _running(DISABLED, "") as c:
        yield c


# The CRI plugin's set-up: its own CNI directories (empty: "cni plugin not initialized" is
# only a status), and the registry config_path node checks read back through the CRI.
CRI_CONFIG = """[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "/etc/containerd/certs.d"
[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "{base}/cni-bin"
  conf_dir = "{base}/cni-conf"
"""


@pytest.fixture(scope="session")
def containerd() -> Iterator[Containerd]:
    """containerd with its CRI plugin, as a Kubernetes node runs it."""
    with _running(DISABLED[1:], CRI_CONFIG) as c:
        yield c


@contextlib.contextmanager
def _running(
    disabled: list[str], extra: str, prefix: list[str] | None = None
) -> Iterator[Containerd]:
    """containerd with `extra` config, started through `prefix` (a mount namespace) if given."""
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
        f"disabled_plugins = {disabled!r}\n".replace("'", '"')
        + f'[grpc]\n  address = "{sock}"\n[ttrpc]\n  address = "{base}/t.sock"\n'
        '[debug]\n  address = ""\n  level = "debug"\n[metrics]\n  address = ""\n'
        + extra.format(base=base)
    )
    log = base / "containerd.log"
    with log.open("wb") as out:
        command = [*(prefix or []), binary, "--config", str(config)]
        proc = subprocess.Popen(command, stdout=out, stderr=out)
    try:
        wait_until(sock.exists, proc, "containerd", log)
        version = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, check=True
        ).stdout.split()[2]
        yield Containerd(sock, version)
    finally:
        stop(proc)
        subprocess.run(["rm", "-rf", str(base)], check=False)
