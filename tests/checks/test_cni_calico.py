from __future__ import annotations

import json
from pathlib import Path

from tests import hosts
from tests.conftest import run_check
from tests.hosts import Node


def test_calico_conflist_passes(tmp_path: Path, pool) -> None:
    result = run_check("node_cni_calico", Node().build(tmp_path), pool).result
    assert result.status == "pass"
    assert result.observed == "k8s-pod-network (calico, portmap, bandwidth)"
    assert dict(result.samples[0].labels) == {"network": "k8s-pod-network", "type": "calico"}


def test_only_the_first_config_is_active(tmp_path: Path, pool) -> None:
    # The runtime takes the lexically first valid file: a leftover calico config behind a
    # newer cilium one does not count.
    cni = {
        "05-cilium.conflist": {"name": "cilium", "plugins": [{"type": "cilium-cni"}]},
        "10-calico.conflist": hosts.CALICO_CONFLIST,
    }
    result = run_check("node_cni_calico", Node(cni=cni).build(tmp_path), pool).result
    assert (result.status, result.reason) == ("fail", "unsupported")
    assert "05-cilium.conflist" in result.detail


def test_invalid_files_are_skipped_like_the_runtime_does(tmp_path: Path, pool) -> None:
    root = Node().build(tmp_path)
    (root / "etc/cni/net.d/00-broken.conflist").write_text("{not json")
    (root / "etc/cni/net.d/01-readme.txt").write_text("ignored extension")
    assert run_check("node_cni_calico", root, pool).result.status == "pass"


def test_single_plugin_conf_file(tmp_path: Path, pool) -> None:
    conf = {"name": "calico-k8s-network", "cniVersion": "0.3.1", "type": "calico"}
    root = Node(cni={"10-calico.conf": conf}).build(tmp_path)
    assert run_check("node_cni_calico", root, pool).result.status == "pass"


def test_no_cni_directory_fails_as_missing(tmp_path: Path, pool) -> None:
    result = run_check("node_cni_calico", Node(cni=None).build(tmp_path), pool).result
    assert (result.status, result.reason) == ("fail", "missing")


def test_empty_directory_fails_as_missing(tmp_path: Path, pool) -> None:
    result = run_check("node_cni_calico", Node(cni={}).build(tmp_path), pool).result
    assert (result.status, result.reason) == ("fail", "missing")


def test_gke_dataplane_ptp_is_not_calico(tmp_path: Path, pool) -> None:
    root = hosts.NO_CALICO_NODE.build(tmp_path)
    result = run_check("node_cni_calico", root, pool).result
    assert result.status == "fail"
    assert json.dumps(result.observed).find("ptp") > 0
