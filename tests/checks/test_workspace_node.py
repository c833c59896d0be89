"""The workspace data plane on a node, against host trees shaped like real nodes: user
namespaces, kernel features, the fs shift method and the cgroup version; judged on workspace
nodes only (the node's labels through the fake API), and bounded against hostile host files."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import pytest

from tests.conftest import run_check
from tests.helpers.exporter import check_json
from tests.hosts import Node

CHECKS = ("node_user_namespaces", "node_kernel_features", "node_fs_shift", "node_cgroup")


def judge(check: str, host: Node, tmp_path: Path, pool, **kw):
    root = host.build(tmp_path / "host")
    return run_check(check, root, pool, **kw).result


@pytest.mark.parametrize("check", CHECKS)
def test_a_healthy_ubuntu_node_passes(check: str, tmp_path: Path, pool) -> None:
    result = judge(check, Node(), tmp_path, pool)
    assert result.status == "pass", result
    if check != "node_cgroup":  # judged on every node
        assert "judged as a workspace node: its labels are unknown" in result.detail


@pytest.mark.parametrize(
    ("host", "reason", "said"),
    [
        (Node(max_user_namespaces=0), "unsupported", "user.max_user_namespaces is 0"),
        (Node(unprivileged_userns_clone=0), "unsupported", "unprivileged_userns_clone is 0"),
    ],
    ids=["max-0", "debian-switch-off"],
)
def test_user_namespaces_switched_off_fail(host, reason, said, tmp_path: Path, pool) -> None:
    result = judge("node_user_namespaces", host, tmp_path, pool)
    assert (result.status, result.reason) == ("fail", reason), result
    assert said in result.detail


UBUNTU_2404 = 'NAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\nVERSION_CODENAME=noble\n'


@pytest.mark.parametrize(("restrict", "status"), [(1, "fail"), (0, "pass")], ids=["1", "0"])
def test_ubuntu_24_04s_apparmor_restriction_fails(restrict, status, tmp_path: Path, pool) -> None:
    host = Node(os_release=UBUNTU_2404, kernel="6.8.0-1015-gcp", apparmor_restrict_userns=restrict)
    result = judge("node_user_namespaces", host, tmp_path, pool)
    assert (result.status, result.observed.endswith(f"={restrict}")) == (status, True), result
    if status == "fail":
        assert result.reason == "unsupported"
        assert "kernel.apparmor_restrict_unprivileged_userns is 1" in result.detail
        assert "set it to 0" in result.detail


def test_missing_kernel_features_are_listed(tmp_path: Path, pool) -> None:
    host = Node(loaded_modules=("nf_tables",), module_files=("kernel/drivers/net/veth.ko",))
    result = judge("node_kernel_features", host, tmp_path, pool)
    assert (result.status, result.reason) == ("fail", "missing"), result
    assert "has none of: nft_chain_nat, nft_nat, nft_masq, overlay" in result.detail
    assert result.samples[0].value == 4


BUILT_IN = ("kernel/drivers/net/veth.ko", "kernel/net/netfilter/nf_tables.ko",
            "kernel/net/netfilter/nft_masq.ko", "kernel/fs/overlayfs/overlay.ko")  # fmt: skip


def test_nft_nat_alone_is_not_the_nat_chain_nsinsider_creates(tmp_path: Path, pool) -> None:
    # nft_nat is the DNAT expression; a nat chain needs nft_chain_nat (the chain type).
    host = Node(loaded_modules=(), module_files=("kernel/net/netfilter/nft_nat.ko.xz",),
                builtin_modules=BUILT_IN)  # fmt: skip
    result = judge("node_kernel_features", host, tmp_path, pool)
    assert (result.status, result.reason) == ("fail", "missing"), result
    assert "has none of: nft_chain_nat (" in result.detail


@pytest.mark.parametrize("chain", ["nft_chain_nat", "nft_chain_nat_ipv4"])
def test_built_in_and_loadable_modules_count(chain: str, tmp_path: Path, pool) -> None:
    host = Node(loaded_modules=(), builtin_modules=BUILT_IN,
                module_files=("kernel/net/netfilter/nft_nat.ko.xz",
                              f"kernel/net/ipv4/netfilter/{chain}.ko"))  # fmt: skip
    assert judge("node_kernel_features", host, tmp_path, pool).status == "pass"


def test_without_lib_modules_only_loaded_modules_count(tmp_path: Path, pool) -> None:
    result = judge("node_kernel_features", Node(module_files=None), tmp_path, pool)
    assert (result.status, result.reason) == ("fail", "missing")
    assert "nft_masq" in result.detail and "no /lib/modules/5.15.0-1051-gke" in result.detail


def test_fuse_without_dev_fuse_fails(tmp_path: Path, pool) -> None:
    result = judge("node_fs_shift", Node(dev_fuse=False), tmp_path, pool)
    assert (result.status, result.reason) == ("fail", "missing"), result
    assert "/dev/fuse is absent" in result.detail


def test_fuse_neither_loaded_nor_loadable_fails(tmp_path: Path, pool) -> None:
    host = Node(loaded_modules=("veth",), module_files=())
    result = judge("node_fs_shift", host, tmp_path, pool)
    assert "no fuse filesystem" in result.detail and result.status == "fail"


@pytest.mark.parametrize(
    ("host", "status"),
    [
        (Node(shiftfs_loaded=True), "pass"),
        (Node(kernel_headers=True), "pass"),
        (Node(), "fail"),  # neither: "cannot mount shiftfs mark"
    ],
    ids=["loaded", "headers", "neither"],
)
def test_shiftfs(host: Node, status: str, tmp_path: Path, pool) -> None:
    result = judge("node_fs_shift", host, tmp_path, pool, method="shiftfs")
    assert result.status == status, result
    if status == "fail":
        assert "no /usr/src/linux-headers-5.15.0-1051-gke" in result.detail


def test_cgroup_v1_where_the_release_needs_v2(tmp_path: Path, pool) -> None:
    host = Node(cgroup_v2=False)
    assert judge("node_cgroup", host, tmp_path, pool).observed == "v1"
    result = judge("node_cgroup", host, tmp_path / "b", pool, versions=[2])
    assert (result.status, result.reason, result.observed) == ("fail", "unsupported", "v1")
    assert result.samples[0].value == 1


def test_hostile_module_lists_are_bounded(tmp_path: Path, pool) -> None:
    root = Node().build(tmp_path / "host")
    dep = root / "lib/modules/5.15.0-1051-gke/modules.dep"
    # 50 MB, sparse: refused by size while read, never held whole.
    with dep.open("r+b") as f:
        f.truncate(50 << 20)
    started = time.monotonic()
    result = run_check("node_kernel_features", root, pool).result
    assert (result.status, result.reason) == ("error", "io"), result
    assert "larger than" in result.detail
    assert time.monotonic() - started < 2
    # A FIFO in its place is refused, not waited on.
    dep.unlink()
    os.mkfifo(dep)
    result = run_check("node_kernel_features", root, pool, timeout=2.0).result
    assert (result.status, result.reason) == ("error", "io") and "a fifo" in result.detail


def test_a_symlink_out_of_the_host_root_is_not_followed(tmp_path: Path, pool) -> None:
    root = Node().build(tmp_path / "host")
    outside = tmp_path / "outside"
    outside.write_text("0\n")
    target = root / "proc/sys/user/max_user_namespaces"
    target.unlink()
    target.symlink_to(outside)  # absolute: means <root>/<tmp>/outside, which does not exist
    result = run_check("node_user_namespaces", root, pool).result
    assert result.status == "error", result


def test_nothing_is_read_outside_the_declared_host_paths() -> None:
    from tests.conftest import check_by_id

    for check_id in CHECKS:
        check = check_by_id(check_id)
        paths = check.paths(check.settings())
        assert paths and all(p.startswith(("/proc", "/sys", "/lib", "/dev", "/usr"))
                             for p in paths), paths  # fmt: skip
    assert dataclasses.is_dataclass(Node)


def test_a_release_that_needs_cgroup_v2_fails_a_v1_node_by_the_matrix(tmp_path: Path) -> None:
    matrix = tmp_path / "matrix.yaml"
    matrix.write_text(
        'releases:\n  "2023.01":\n    source: a release needing v2\n    cgroup:\n'
        "      versions: [2]\n"
    )
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"compatibility:\n  file: {matrix}\ngitpod:\n  release: '2023.01'\n")
    root = Node(cgroup_v2=False).build(tmp_path / "host")
    _, results, stderr = check_json("--role", "node", "--host-root", str(root), "--config",
                                    str(cfg), "--only", "node_cgroup")  # fmt: skip
    r = results["node_cgroup"]
    assert (r["status"], r["reason"], r["observed"]) == ("fail", "unsupported", "v1"), stderr
    assert "the release needs v2" in r["detail"]
    assert "compatibility matrix: release 2023.01 (gitpod.release)" in r["detail"]
    assert r["severity"] == "critical"  # the release is stated: a v1 node pages
    # The same matrix with no release stated: the newest entry is assumed, and only informs.
    guess = tmp_path / "guess.yaml"
    guess.write_text(f"compatibility:\n  file: {matrix}\n")
    _, results, _ = check_json("--role", "node", "--host-root", str(root), "--config",
                               str(guess), "--only", "node_cgroup")  # fmt: skip
    assert (results["node_cgroup"]["status"], results["node_cgroup"]["severity"]) == (
        "fail",
        "info",
    )
    # The built-in matrix's 2022 releases run on both.
    _, results, _ = check_json("--role", "node", "--host-root", str(root), "--only", "node_cgroup")
    assert results["node_cgroup"]["status"] == "pass"
