from __future__ import annotations

from pathlib import Path

from tests.conftest import run_check
from tests.hosts import Node
from tests.servers.kube_fake import Fault, node


def test_labelled_node_passes_with_one_get(tmp_path: Path, pool, kube_api) -> None:
    kube_api.nodes["gke-ws-1"] = node("gke-ws-1", {"gitpod.io/workload_workspace_regular": "true"})
    kc = kube_api.kubeconfig(tmp_path / "kubeconfig")
    record = run_check("node_labels", Node().build(tmp_path / "h"), pool, "gke-ws-1", str(kc))
    assert record.result.status == "pass"
    assert record.result.observed == "gitpod.io/workload_workspace_regular"
    assert dict(kube_api.calls) == {"/api/v1/nodes/gke-ws-1": 1}


def test_label_with_another_value_does_not_count(tmp_path: Path, pool, kube_api) -> None:
    kube_api.nodes["n1"] = node("n1", {"gitpod.io/workload_meta": "false", "role": "x"})
    kc = kube_api.kubeconfig(tmp_path / "kubeconfig")
    result = run_check("node_labels", Node().build(tmp_path / "h"), pool, "n1", str(kc)).result
    assert (result.status, result.reason) == ("fail", "missing")


def test_without_node_name_the_check_is_skipped(tmp_path: Path, pool, kube_api) -> None:
    kc = kube_api.kubeconfig(tmp_path / "kubeconfig")
    result = run_check("node_labels", Node().build(tmp_path / "h"), pool, "", str(kc)).result
    assert (result.status, result.reason) == ("skipped", "not_configured")


def test_without_api_access_the_check_is_skipped(tmp_path: Path, pool, monkeypatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    result = run_check("node_labels", Node().build(tmp_path / "h"), pool, "n1", None).result
    assert (result.status, result.reason) == ("skipped", "not_configured")


def test_forbidden_is_an_error_with_reason_forbidden(tmp_path: Path, pool, kube_api) -> None:
    kube_api.faults["/api/v1/nodes/n1"] = Fault(status=403)
    kc = kube_api.kubeconfig(tmp_path / "kubeconfig")
    result = run_check("node_labels", Node().build(tmp_path / "h"), pool, "n1", str(kc)).result
    assert (result.status, result.reason) == ("error", "forbidden")


def test_wrong_token_is_an_auth_error(tmp_path: Path, pool, kube_api) -> None:
    kc = kube_api.kubeconfig(tmp_path / "kubeconfig", token="wrong")
    result = run_check("node_labels", Node().build(tmp_path / "h"), pool, "n1", str(kc)).result
    assert (result.status, result.reason) == ("error", "auth")


def test_unknown_node_is_not_found(tmp_path: Path, pool, kube_api) -> None:
    kc = kube_api.kubeconfig(tmp_path / "kubeconfig")
    result = run_check("node_labels", Node().build(tmp_path / "h"), pool, "ghost", str(kc)).result
    assert (result.status, result.reason) == ("error", "not_found")


def test_slow_api_server_times_out(tmp_path: Path, pool, kube_api) -> None:
    kube_api.faults["/api/v1/nodes/n1"] = Fault(delay=3)
    kc = kube_api.kubeconfig(tmp_path / "kubeconfig")
    result = run_check(
        "node_labels", Node().build(tmp_path / "h"), pool, "n1", str(kc), timeout=0.5
    ).result
    assert (result.status, result.reason) == ("error", "timeout")


def test_unreachable_api_server_is_a_connect_error(tmp_path: Path, pool, kube_api) -> None:
    url = kube_api.url
    kube_api.url = "http://127.0.0.1:1"
    kc = kube_api.kubeconfig(tmp_path / "kubeconfig")
    kube_api.url = url
    result = run_check("node_labels", Node().build(tmp_path / "h"), pool, "n1", str(kc)).result
    assert (result.status, result.reason) == ("error", "connect")
