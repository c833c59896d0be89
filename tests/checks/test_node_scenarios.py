"""Realistic nodes through the real `check` command: the exact verdict of every requirement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exporter.cli import main
from tests import hosts
from tests.helpers.catalogue import requirements

# (status, reason) per requirement: every node requirement of the catalogue passes on a
# healthy node (a new check is expected to, with nothing to add here), except these.
HEALTHY = {req.id: ("pass", "") for req in requirements("node")} | {
    # Without NODE_NAME and API access.
    "node_labels": ("skipped", "not_configured"),
    "node_pod_network": ("skipped", "not_configured"),
    # Whether ws-daemon ran here (its ready label) is unknown.
    "node_workspace_sysctls": ("skipped", "not_configured"),
    # No installation read and no domain set: nothing to trust.
    "node_registry_facade_trust": ("skipped", "not_configured"),
}


def verdicts(**changes: tuple[str, str]) -> dict[str, tuple[str, str]]:
    """A healthy node's verdicts with the given requirements changed."""
    return {**HEALTHY, **changes}


SCENARIOS = {
    "gke_ubuntu_2204": (hosts.GKE_UBUNTU_2204, verdicts(), 0),
    "gke_ubuntu_2004": (hosts.GKE_UBUNTU_2004, verdicts(), 0),
    "eks_amazon_linux": (
        hosts.EKS_AMAZON_LINUX,
        verdicts(node_os=("fail", "unsupported"), node_cni_calico=("fail", "unsupported")),
        0,  # only warnings fail
    ),
    "k3s": (hosts.K3S_NODE, verdicts(node_cni_calico=("fail", "unsupported")), 0),
    "small_8gib_2vcpu": (
        hosts.SMALL_NODE,
        # Role unknown (no NODE_NAME): judged by the 4 vCPU / 16 GB floor.
        verdicts(
            node_cpu=("fail", "below_minimum"),
            node_cpu_recommended=("fail", "below_minimum"),
            node_memory=("fail", "below_minimum"),
            node_memory_recommended=("fail", "below_minimum"),
        ),
        1,
    ),
    "no_calico": (hosts.NO_CALICO_NODE, verdicts(node_cni_calico=("fail", "unsupported")), 0),
    "unprivileged": (hosts.UNPRIVILEGED_NODE, verdicts(node_privileged=("fail", "missing")), 1),
    "old_kernel": (hosts.OLD_KERNEL_NODE, verdicts(node_kernel=("fail", "below_minimum")), 1),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_node_scenario_verdicts(
    name: str, tmp_path: Path, containerd, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    node, expected, code = SCENARIOS[name]
    monkeypatch.delenv("NODE_NAME", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    root = node.build(tmp_path / "host", containerd.socket)
    # The installation states where containerd's socket is (K3s' own), as gitpod.config.yaml
    # would.
    cfg = tmp_path / "config.yaml"
    cfg.write_text(json.dumps({"checks": {"node_workspace_host_paths": {"socket": node.socket}}}))
    args = ["--host-root", str(root), "--output", "json", "--config", str(cfg)]
    rc = main(["check", "--role", "node", *args])
    doc = json.loads(capsys.readouterr().out)
    got = {r["requirement"]: (r["status"], r["reason"]) for r in doc["results"]}
    assert got == expected
    assert rc == code


def test_k3s_node_uses_the_k3s_socket_and_reports_the_real_version(
    tmp_path: Path, containerd, capsys: pytest.CaptureFixture[str]
) -> None:
    root = hosts.K3S_NODE.build(tmp_path / "host", containerd.socket)
    main(["check", "--role", "node", "--host-root", str(root), "--output", "json"])
    doc = json.loads(capsys.readouterr().out)
    result = next(r for r in doc["results"] if r["requirement"] == "node_containerd")
    assert result["observed"].startswith(containerd.version)
    assert "/run/k3s/containerd/containerd.sock" in result["detail"]


def test_without_the_installation_the_defaults_used_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.delenv("NODE_NAME", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    root = hosts.GKE_UBUNTU_2204.build(tmp_path / "host")
    main(["check", "--role", "node", "--host-root", str(root), "--output", "json",
          "--only", "node_fs_shift", "--only", "node_workspace_host_paths"])  # fmt: skip
    details = {
        r["requirement"]: r["detail"] for r in json.loads(capsys.readouterr().out)["results"]
    }
    assert "not derived from the Gitpod installation" in details["node_fs_shift"]
    assert "judged with the installer's defaults: method='fuse'" in details["node_fs_shift"]
    assert (
        "judged with the installer's defaults: runtime_dir="
        "'/var/lib/containerd/io.containerd.runtime.v2.task/k8s.io', "
        "socket='/run/containerd/containerd.sock'"
    ) in details["node_workspace_host_paths"]
