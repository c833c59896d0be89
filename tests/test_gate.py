"""The framework's gate, for every check declared `applies_to=Applies.WORKSPACE_NODES`: skipped
with `not_workspace_node` and nothing exported on a node without a workspace label, judged on a
workspace node, and judged with a note when the node's labels cannot be read. A check joins
this test by its declaration alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.checks import NODE_CHECKS
from exporter.context import Applies
from tests.conftest import run_check
from tests.hosts import Node, idle_socket
from tests.servers.kube_fake import FakeKube, node

GATED = [c.id for c in NODE_CHECKS if c.applies_to is Applies.WORKSPACE_NODES]
# What each needs to be judged at all (its settings are otherwise incomplete).
SETTINGS = {"node_registry_facade_trust": {"domain": "gitpod.example.com"}}


def test_the_gated_checks_are_the_workspace_data_plane() -> None:
    assert set(GATED) >= {
        "node_containerd_cri",
        "node_fs_shift",
        "node_kernel_features",
        "node_registry_facade_trust",
        "node_user_namespaces",
        "node_workspace_disk",
        "node_workspace_host_paths",
    }
    assert "node_kernel" not in GATED and "node_cpu" not in GATED


@pytest.mark.parametrize("check_id", GATED)
@pytest.mark.parametrize(
    "labels",
    [{"gitpod.io/workload_meta": "true"}, {}, {"gitpod.io/workload_workspace": "true"}],
    ids=["meta-node", "unlabelled", "old-label"],
)
def test_skipped_on_other_nodes_with_nothing_exported(
    check_id: str, labels: dict[str, str], kube_api: FakeKube, tmp_path: Path, pool
) -> None:
    kube_api.nodes["n1"] = node("n1", labels)
    kc = str(kube_api.kubeconfig(tmp_path / "kc"))
    root = Node().build(tmp_path / "host", idle_socket())
    record = run_check(check_id, root, pool, "n1", kc, **SETTINGS.get(check_id, {}))
    result = record.result
    assert (result.status, result.reason) == ("skipped", "not_workspace_node"), result
    assert result.samples == () and result.observed == ""


@pytest.mark.parametrize("check_id", GATED)
@pytest.mark.parametrize(
    "label", ["gitpod.io/workload_workspace_regular", "gitpod.io/workload_workspace_headless"]
)
def test_judged_on_workspace_nodes(
    check_id: str, label: str, kube_api: FakeKube, tmp_path: Path, pool
) -> None:
    kube_api.nodes["n1"] = node("n1", {label: "true"})
    kc = str(kube_api.kubeconfig(tmp_path / "kc"))
    root = Node().build(tmp_path / "host", idle_socket())
    result = run_check(check_id, root, pool, "n1", kc, **SETTINGS.get(check_id, {})).result
    assert result.reason != "not_workspace_node", result
    assert "labels are unknown" not in result.detail


@pytest.mark.parametrize("check_id", GATED)
def test_judged_with_a_note_when_the_labels_are_unknown(
    check_id: str, tmp_path: Path, pool
) -> None:
    root = Node().build(tmp_path / "host", idle_socket())
    result = run_check(check_id, root, pool, **SETTINGS.get(check_id, {})).result
    assert result.reason != "not_workspace_node", result
    assert "judged as a workspace node: its labels are unknown (NODE_NAME is not set)" in (
        result.detail
    ), result
