from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_check
from tests.hosts import Node

GIB_KIB = 1024 * 1024


@pytest.mark.parametrize(
    ("mem_kib", "status"),
    [
        (16_393_932, "pass"),  # 16 GiB VM (GKE e2-standard-4): 15.6 GiB MemTotal
        (int(15.2 * GIB_KIB), "pass"),  # 16 GiB VM with a large kernel reservation
        (32_880_000, "pass"),
        (8_136_000, "fail"),  # 8 GiB VM
        (15_000_000, "fail"),  # 15.36 GB: below 16 x 10^9 bytes
    ],
)
def test_memory_threshold_reads_16_gb_as_decimal(mem_kib: int, status: str, tmp_path, pool):
    result = run_check("node_memory", Node(mem_kib=mem_kib).build(tmp_path), pool).result
    assert result.status == status
    assert result.samples[0].value == mem_kib * 1024


def test_memory_threshold_is_configurable(tmp_path: Path, pool) -> None:
    root = Node(mem_kib=16_393_932).build(tmp_path)
    result = run_check("node_memory", root, pool, min_bytes=32 * 10**9).result
    assert (result.status, result.reason) == ("fail", "below_minimum")


@pytest.mark.parametrize(("cpus", "status"), [(2, "fail"), (4, "pass"), (96, "pass")])
def test_cpu_count_from_sysfs(cpus: int, status: str, tmp_path: Path, pool) -> None:
    result = run_check("node_cpu", Node(cpus=cpus).build(tmp_path), pool).result
    assert result.status == status
    assert result.samples[0].value == cpus


def test_cpu_falls_back_to_cpuinfo_without_sysfs(tmp_path: Path, pool) -> None:
    result = run_check("node_cpu", Node(cpus=6, sysfs_cpus=False).build(tmp_path), pool).result
    assert (result.status, result.observed) == ("pass", "6 vCPU")


def test_cpu_sysfs_with_offline_cpus(tmp_path: Path, pool) -> None:
    root = Node(cpus=8).build(tmp_path)
    (root / "sys/devices/system/cpu/online").write_text("0-1,4\n")
    result = run_check("node_cpu", root, pool).result
    assert (result.status, result.observed) == ("fail", "3 vCPU")
