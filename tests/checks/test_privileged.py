from __future__ import annotations

from pathlib import Path

from tests import hosts
from tests.conftest import run_check
from tests.hosts import Node


def test_privileged_container_passes_with_full_capability_set(tmp_path: Path, pool) -> None:
    result = run_check("node_privileged", Node().build(tmp_path), pool).result
    assert result.status == "pass"
    assert "41 capabilities, full set" in result.observed


def test_default_unprivileged_capabilities_fail(tmp_path: Path, pool) -> None:
    result = run_check("node_privileged", hosts.UNPRIVILEGED_NODE.build(tmp_path), pool).result
    assert (result.status, result.reason) == ("fail", "missing")
    assert "CAP_SYS_ADMIN" in result.detail
    assert result.samples[0].value == 14


def test_cap_sys_admin_alone_is_enough(tmp_path: Path, pool) -> None:
    root = Node(capeff=f"{1 << 21:016x}").build(tmp_path)
    assert run_check("node_privileged", root, pool).result.status == "pass"


def test_reads_this_process_status_on_a_real_host(pool) -> None:
    # With --host-root / the check reads the exporter's own /proc/self/status.
    result = run_check("node_privileged", Path("/"), pool).result
    assert result.status in ("pass", "fail")
    assert result.observed.startswith("CapEff ")
