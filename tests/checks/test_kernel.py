from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_check
from tests.hosts import Node

# (kernel release as /proc/sys/kernel/osrelease shows it, status)
TABLE = [
    ("5.15.0-1051-gke", "pass"),  # GKE Ubuntu
    ("5.4.0-1104-gke", "pass"),  # GKE Ubuntu 20.04: exactly the floor
    ("5.10.199-190.747.amzn2.x86_64", "pass"),  # EKS Amazon Linux 2
    ("5.15.0-1019-aws", "pass"),  # EKS Ubuntu
    ("5.15.0-1052-azure", "pass"),  # AKS
    ("6.1.0-13-amd64", "pass"),  # Debian 12
    ("5.4.0+", "pass"),  # custom build with a `+` suffix
    ("4.18.0-372.9.1.el8_6.x86_64", "fail"),  # RHEL 8
    ("4.19.0-26-cloud-amd64", "fail"),  # Debian 10 cloud
    ("5.3.18-59.37-default", "fail"),  # SLES 15 SP3
]


@pytest.mark.parametrize(("release", "status"), TABLE)
def test_kernel_table(release: str, status: str, tmp_path: Path, pool) -> None:
    root = Node(kernel=release).build(tmp_path)
    record = run_check("node_kernel", root, pool)
    assert record.result.status == status
    assert record.result.observed == release
    assert record.result.reason == ("" if status == "pass" else "below_minimum")
    (sample,) = record.result.samples
    assert sample.name == "gitpod_node_kernel_info"
    assert dict(sample.labels) == {"release": release}


def test_gke_kernel_with_vendor_suffix_passes(tmp_path: Path, pool) -> None:
    root = Node(kernel="5.15.0-1051-gke").build(tmp_path)
    assert run_check("node_kernel", root, pool).result.status == "pass"


def test_unparsable_release_is_an_error_not_a_pass(tmp_path: Path, pool) -> None:
    root = Node(kernel="unknown-kernel").build(tmp_path)
    result = run_check("node_kernel", root, pool).result
    assert (result.status, result.reason) == ("error", "parse")


def test_configured_minimum_is_applied(tmp_path: Path, pool) -> None:
    root = Node(kernel="5.15.0-1051-gke").build(tmp_path)
    result = run_check("node_kernel", root, pool, min_version="6.1").result
    assert (result.status, result.reason) == ("fail", "below_minimum")
    assert "older than 6.1.0" in result.detail


def test_missing_osrelease_file_is_an_io_error(tmp_path: Path, pool) -> None:
    root = Node().build(tmp_path)
    (root / "proc/sys/kernel/osrelease").unlink()
    result = run_check("node_kernel", root, pool).result
    assert (result.status, result.reason) == ("error", "io")
    assert "osrelease" in result.detail
