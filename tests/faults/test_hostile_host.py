"""A node's files are untrusted input: each hostile case ends in a verdict with a reason, fast,
without reading outside --host-root, holding a thread, or echoing the file."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from exporter import hostfs
from tests.conftest import run_check
from tests.helpers.exporter import start
from tests.hosts import Node


def host(tmp_path: Path) -> Path:
    return Node().build(tmp_path / "host")


def test_a_fifo_is_refused_and_holds_no_thread(tmp_path: Path) -> None:
    root = host(tmp_path)
    (root / "proc/meminfo").unlink()
    os.mkfifo(root / "proc/meminfo")
    with ThreadPoolExecutor(2) as pool:
        for _ in range(6):  # more runs than threads: none may stay stuck on the FIFO
            started = time.monotonic()
            result = run_check("node_memory", root, pool, timeout=2.0).result
            assert (result.status, result.reason) == ("error", "io"), result
            assert "FIFO" in result.detail
            assert time.monotonic() - started < 1.5


def test_a_huge_sparse_file_is_refused_unread(tmp_path: Path, pool) -> None:
    root = host(tmp_path)
    with (root / "proc/meminfo").open("r+b") as f:
        f.truncate(1 << 30)  # 1 GiB, sparse
    started = time.monotonic()
    result = run_check("node_memory", root, pool).result
    assert (result.status, result.reason) == ("error", "io")
    assert "larger than" in result.detail
    assert time.monotonic() - started < 1


def test_symlinks_resolve_inside_the_host_root(tmp_path: Path, pool) -> None:
    root = host(tmp_path)
    os_release = root / "etc/os-release"
    content = os_release.read_text()
    os_release.unlink()
    # A link to the agent's own /etc/shadow means <root>/etc/shadow: absent here.
    os_release.symlink_to("/etc/shadow")
    result = run_check("node_os", root, pool).result
    assert (result.status, result.reason) == ("error", "io"), result
    assert "root:" not in result.detail
    # Absolute and relative links within the node's filesystem work as on the node.
    (root / "usr/lib").mkdir(parents=True)
    (root / "usr/lib/os-release").write_text(content)
    os_release.unlink()
    os_release.symlink_to("/usr/lib/os-release")
    assert run_check("node_os", root, pool).result.status == "pass"
    os_release.unlink()
    os_release.symlink_to("../../../../../usr/lib/os-release")  # `..` stops at the root
    assert run_check("node_os", root, pool).result.status == "pass"


def test_a_symlink_loop_is_an_io_error(tmp_path: Path, pool) -> None:
    root = host(tmp_path)
    (root / "proc/sys/kernel/osrelease").unlink()
    (root / "proc/sys/kernel/osrelease").symlink_to("osrelease")
    result = run_check("node_kernel", root, pool).result
    assert (result.status, result.reason) == ("error", "io")


def test_binary_garbage_is_a_parse_error_not_internal(tmp_path: Path, pool) -> None:
    root = host(tmp_path)
    (root / "proc/sys/kernel/osrelease").write_bytes(os.urandom(64) + b"\xff\xfe")
    result = run_check("node_kernel", root, pool).result
    assert (result.status, result.reason) == ("error", "parse")
    assert "not UTF-8" in result.detail


def test_a_9_mb_os_release_value_is_refused_quickly(tmp_path: Path, pool) -> None:
    root = host(tmp_path)
    (root / "etc/os-release").write_text('ID=ubuntu\nPRETTY_NAME="' + "x" * 9_000_000 + '"\n')
    started = time.monotonic()
    result = run_check("node_os", root, pool).result
    assert (result.status, result.reason) == ("error", "io")
    assert time.monotonic() - started < 1
    assert "xxxxxxxxxx" not in result.detail


def test_huge_and_deeply_nested_cni_configs_are_skipped(tmp_path: Path, pool) -> None:
    root = Node(
        cni={
            "20-calico.conflist": {
                "name": "k8s-pod-network",
                "cniVersion": "0.3.1",
                "plugins": [{"type": "calico"}],
            }
        }
    ).build(tmp_path / "h")
    net = root / "etc/cni/net.d"
    with (net / "00-huge.conflist").open("wb") as f:
        f.truncate(200 * 2**20)
    (net / "01-deep.conf").write_text("[" * 200_000 + "]" * 200_000)
    (net / "02-fifo.conf").touch()
    os.unlink(net / "02-fifo.conf")
    os.mkfifo(net / "02-fifo.conf")
    started = time.monotonic()
    result = run_check("node_cni_calico", root, pool).result
    assert result.status == "pass", result
    assert result.detail == "from 20-calico.conflist"
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("size", [1000, 1_000_000])
def test_host_parsers_are_linear(tmp_path: Path, size: int) -> None:
    """A guard against quadratic parsing (shlex took 5-7 s for 0.9 MB): generous bounds."""
    from exporter.parse import cni_plugin_types, meminfo_total_bytes, os_release

    cases = [
        (os_release, 'ID=ubuntu\nPRETTY_NAME="' + "a\\\\" * (size // 3) + '"\n'),
        (os_release, "ID=ubuntu\n" + "X=1\n" * (size // 4)),
        (meminfo_total_bytes, "Foo: 1 kB\n" * (size // 10) + "MemTotal: 16 kB\n"),
        (cni_plugin_types, json.dumps({"name": "x" * size, "plugins": [{"type": "calico"}]})),
    ]
    for parse, text in cases:
        started = time.perf_counter()
        parse(text)
        assert time.perf_counter() - started < 2.0, parse.__name__


def test_resolve_never_leaves_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    (root / "a/up").symlink_to("../../../../etc")
    (root / "etc").mkdir()
    assert hostfs.resolve(root, "/a/up") == root / "etc"
    assert hostfs.resolve(root, "../../etc") == root / "etc"
    assert not hostfs.exists(root, "/a/up/passwd")  # the real /etc/passwd is not in the root


def test_the_node_role_serving_a_hostile_host_stays_small_and_responsive(tmp_path: Path) -> None:
    """Every hostile file at once, every check each second: /metrics and /healthz answer
    within 1 s throughout, peak RSS stays within the DaemonSet's limit, SIGTERM exits fast."""
    root = Node(cni={"20-calico.conflist": {"name": "k8s", "plugins": [{"type": "calico"}]}}).build(
        tmp_path / "host"
    )
    (root / "proc/meminfo").unlink()
    os.mkfifo(root / "proc/meminfo")
    with (root / "etc/os-release").open("r+b") as f:
        f.truncate(1 << 30)
    (root / "proc/sys/kernel/osrelease").write_bytes(b"\x1b[31m\xff\xfe")
    with (root / "etc/cni/net.d/00-huge.conflist").open("wb") as f:
        f.truncate(200 * 2**20)
    config = tmp_path / "config.yaml"
    config.write_text("defaults:\n  interval: 1s\n")
    served = start(
        ["--role", "node", "--host-root", str(root), "--config", str(config)],
        {"NODE_NAME": "hostile-1"},
    )
    try:
        served.wait_ready(10)
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            for page in ("/metrics", "/healthz"):
                started = time.monotonic()
                assert served.get(page)[0] == 200
                assert time.monotonic() - started < 1.0, page
            time.sleep(0.1)
        status = Path(f"/proc/{served.proc.pid}/status").read_text()
        peak_kib = int(
            next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
        )
        assert peak_kib < 128 * 1024, f"peak RSS {peak_kib} KiB"
        text = served.get("/metrics")[2]
        assert 'reason="io",requirement="node_memory"' in text  # the FIFO
        assert 'reason="io",requirement="node_os"' in text  # the 1 GB file
        assert 'reason="parse",requirement="node_kernel"' in text  # garbage
        started = time.monotonic()
        served.proc.terminate()
        assert served.proc.wait(5) == 0
        assert time.monotonic() - started < 3
    finally:
        if served.proc.poll() is None:
            served.proc.kill()
            served.proc.wait()
    assert "Traceback" not in served.logs()
