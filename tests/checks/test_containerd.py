from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from tests.conftest import run_check
from tests.helpers.process import open_sockets
from tests.hosts import Node
from tests.servers.grpc_fake import unix_peer

SOCK = "run/containerd/containerd.sock"


def test_real_containerd_reports_its_version(tmp_path: Path, pool, containerd) -> None:
    root = Node().build(tmp_path / "h", containerd.socket)
    result = run_check("node_containerd", root, pool).result
    assert result.status == "pass"
    assert result.observed.startswith(containerd.version)
    info = next(s for s in result.samples if s.name == "gitpod_node_containerd_info")
    assert dict(info.labels) == {"version": containerd.version}
    latency = next(s for s in result.samples if s.name.endswith("rpc_duration_seconds"))
    assert 0 < latency.value < 5


def test_no_socket_fails_with_no_socket(tmp_path: Path, pool) -> None:
    result = run_check("node_containerd", Node().build(tmp_path), pool).result
    assert (result.status, result.reason) == ("fail", "no_socket")


def test_stale_socket_without_listener_fails_fast_with_connect(tmp_path: Path, pool) -> None:
    root = Node().build(tmp_path / "h")
    # A socket file left behind by a containerd that died: bound once, nobody listening.
    path = tmp_path / "stale.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()
    (root / SOCK).parent.mkdir(parents=True)
    os.link(path, root / SOCK)  # inside the host root
    started = time.monotonic()
    result = run_check("node_containerd", root, pool, timeout=5.0).result
    assert (result.status, result.reason) == ("fail", "connect")
    assert "stale socket" in result.detail
    assert time.monotonic() - started < 1


def test_old_containerd_fails_below_minimum(tmp_path: Path, pool) -> None:
    root = Node().build(tmp_path / "h")
    with unix_peer(Path("/tmp") / f"gre-{tmp_path.name[:20]}.sock", "version", "1.4.13") as p:
        (root / SOCK).parent.mkdir(parents=True)
        os.link(p, root / SOCK)  # inside the host root
        result = run_check("node_containerd", root, pool).result
    assert (result.status, result.reason) == ("fail", "below_minimum")
    assert result.observed.startswith("1.4.13")


def test_k3s_style_version_string_parses(tmp_path: Path, pool) -> None:
    root = Node().build(tmp_path / "h")
    with unix_peer(Path("/tmp") / f"gre-{tmp_path.name[:20]}.sock", "version", "v1.7.11-k3s2") as p:
        (root / SOCK).parent.mkdir(parents=True)
        os.link(p, root / SOCK)  # inside the host root
        assert run_check("node_containerd", root, pool).result.status == "pass"


def test_garbage_answer_fails_with_protocol(tmp_path: Path, pool) -> None:
    root = Node().build(tmp_path / "h")
    with unix_peer(Path("/tmp") / f"gre-{tmp_path.name[:20]}.sock", "garbage") as p:
        (root / SOCK).parent.mkdir(parents=True)
        os.link(p, root / SOCK)  # inside the host root
        result = run_check("node_containerd", root, pool).result
    assert (result.status, result.reason) == ("fail", "protocol")


def test_silent_socket_times_out_within_the_timeout(tmp_path: Path, pool) -> None:
    root = Node().build(tmp_path / "h")
    with unix_peer(Path("/tmp") / f"gre-{tmp_path.name[:20]}.sock", "silent") as p:
        (root / SOCK).parent.mkdir(parents=True)
        os.link(p, root / SOCK)  # inside the host root
        started = time.monotonic()
        result = run_check("node_containerd", root, pool, timeout=0.5).result
        elapsed = time.monotonic() - started
    # containerd is what node_containerd judges: hung, it fails the requirement.
    assert (result.status, result.reason) == ("fail", "timeout")
    assert elapsed < 2


def test_a_symlink_out_of_the_host_root_is_not_followed(tmp_path: Path, pool, containerd) -> None:
    root = Node().build(tmp_path / "h")
    (root / SOCK).parent.mkdir(parents=True)
    (root / SOCK).symlink_to(containerd.socket)  # absolute: means <root>/tmp/..., not /tmp/...
    result = run_check("node_containerd", root, pool).result
    assert (result.status, result.reason) == ("fail", "no_socket")


def test_a_regular_file_at_the_socket_path_is_no_socket(tmp_path: Path, pool) -> None:
    root = Node().build(tmp_path / "h")
    (root / SOCK).parent.mkdir(parents=True)
    (root / SOCK).write_text("")
    result = run_check("node_containerd", root, pool).result
    assert (result.status, result.reason) == ("fail", "no_socket")


def test_a_ping_flood_is_refused_and_leaves_nothing_behind(tmp_path: Path, pool) -> None:
    """A peer that only sends HTTP/2 PINGs and never reads: the client answers a bounded number
    of them, then gives up with protocol (not timeout), and drops the connection without
    waiting to flush the ACKs nobody reads: no socket is left open after the run."""
    root = Node().build(tmp_path / "h")
    with unix_peer(Path("/tmp") / f"gre-{tmp_path.name[:20]}.sock", "ping_flood") as p:
        (root / SOCK).parent.mkdir(parents=True)
        os.link(p, root / SOCK)
        before = open_sockets()
        for _ in range(3):
            result = run_check("node_containerd", root, pool, timeout=2.0).result
            # protocol, not timeout: the client gave up on the flood, not on the clock.
            assert (result.status, result.reason) == ("fail", "protocol"), result
            assert "control frames" in result.detail
        # The peer's side closes on its own thread once it sees the hang-up; a leaked client
        # socket would stay.
        deadline = time.monotonic() + 5
        while open_sockets() > before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert open_sockets() <= before
