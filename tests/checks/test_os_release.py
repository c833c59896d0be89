from __future__ import annotations

from pathlib import Path

from tests import hosts
from tests.conftest import run_check
from tests.hosts import Node


def test_ubuntu_2204_passes_with_its_pretty_name(tmp_path: Path, pool) -> None:
    result = run_check("node_os", Node().build(tmp_path), pool).result
    assert result.status == "pass"
    assert result.observed == "Ubuntu 22.04.3 LTS"
    assert dict(result.samples[0].labels) == {"id": "ubuntu", "version_id": "22.04"}


def test_amazon_linux_fails_as_unsupported(tmp_path: Path, pool) -> None:
    result = run_check("node_os", hosts.EKS_AMAZON_LINUX.build(tmp_path), pool).result
    assert (result.status, result.reason) == ("fail", "unsupported")
    assert "ID=amzn" in result.detail


def test_version_allow_list(tmp_path: Path, pool) -> None:
    root = hosts.GKE_UBUNTU_2004.build(tmp_path)
    result = run_check("node_os", root, pool, version_ids=["22.04"]).result
    assert (result.status, result.reason) == ("fail", "unsupported")
    assert "VERSION_ID=20.04" in result.detail


def test_falls_back_to_usr_lib_os_release(tmp_path: Path, pool) -> None:
    root = Node().build(tmp_path)
    (root / "usr/lib").mkdir(parents=True)
    (root / "etc/os-release").rename(root / "usr/lib/os-release")
    assert run_check("node_os", root, pool).result.status == "pass"


def test_garbage_os_release_is_a_parse_error(tmp_path: Path, pool) -> None:
    root = Node(os_release="this is not os-release\n").build(tmp_path)
    result = run_check("node_os", root, pool).result
    assert (result.status, result.reason) == ("error", "parse")
