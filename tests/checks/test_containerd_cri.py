"""node_containerd_cri against real containerd: with its CRI plugin it passes and reports the
effective snapshotter and registry config_path; without it (Docker's containerd) it fails
unsupported, though node_containerd passes on the same socket."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from exporter.criconfig import status_config as cri_config
from tests.conftest import run_check
from tests.hosts import Node
from tests.servers.grpc_fake import unix_peer

SOCK = "run/containerd/containerd.sock"


def test_containerd_with_its_cri_passes_and_says_how_it_is_set_up(
    tmp_path: Path, pool, containerd
) -> None:
    root = Node().build(tmp_path / "h", containerd.socket)
    result = run_check("node_containerd_cri", root, pool).result
    assert result.status == "pass", result
    assert result.observed.startswith("CRI v1 (containerd ")
    (info,) = result.samples
    assert dict(info.labels) == {"snapshotter": "overlayfs",
                                 "config_path": "/etc/containerd/certs.d"}  # fmt: skip
    assert "registry config_path /etc/containerd/certs.d" in result.detail


def test_dockers_containerd_without_cri_fails(tmp_path: Path, pool, containerd_without_cri):
    root = Node().build(tmp_path / "h", containerd_without_cri.socket)
    assert run_check("node_containerd", root, pool).result.status == "pass"
    result = run_check("node_containerd_cri", root, pool).result
    assert (result.status, result.reason) == ("fail", "unsupported"), result
    assert "serves no CRI" in result.detail


def _against_peer(tmp_path: Path, pool, mode: str, timeout: float):
    root = Node().build(tmp_path / mode)
    with unix_peer(Path("/tmp") / f"gre-cri-{mode}-{os.getpid()}.sock", mode) as p:
        (root / SOCK).parent.mkdir(parents=True)
        os.link(p, root / SOCK)
        return run_check("node_containerd_cri", root, pool, timeout=timeout).result


def test_garbage_fails_protocol(tmp_path: Path, pool) -> None:
    result = _against_peer(tmp_path, pool, "garbage", 10.0)
    assert (result.status, result.reason) == ("fail", "protocol"), result


@pytest.mark.integration  # waits out a timeout on purpose: its margin is the machine's load
def test_silence_fails_timeout(tmp_path: Path, pool) -> None:
    result = _against_peer(tmp_path, pool, "silent", 2.0)
    assert (result.status, result.reason) == ("fail", "timeout"), result


def test_no_socket_fails(tmp_path: Path, pool) -> None:
    result = run_check("node_containerd_cri", Node().build(tmp_path / "h"), pool).result
    assert (result.status, result.reason) == ("fail", "no_socket")


def test_a_status_without_config_or_with_a_broken_one() -> None:
    def entry(key: str, value: str) -> bytes:
        k, v = key.encode(), value.encode()
        body = bytes([0x0A, len(k)]) + k + bytes([0x12, len(v)]) + v
        return bytes([0x12, len(body)]) + body

    assert cri_config(entry("golang", "go1.20")) == {}
    assert cri_config(entry("config", '{"registry": {"configPath": "/x"}}'))["registry"] == {
        "configPath": "/x"}  # fmt: skip
    try:
        cri_config(entry("config", "{not json"))
    except Exception as exc:
        assert "not JSON" in str(exc)
    else:
        raise AssertionError("a broken config must not pass")
