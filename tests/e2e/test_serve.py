"""The real `serve` process: its /metrics as Prometheus parses it, its pages, its signals."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)

from exporter.checks import NODE_CHECKS
from tests.helpers.catalogue import requirements
from tests.helpers.exporter import Served, start
from tests.helpers.poll import until


def by_name(samples: list, name: str) -> dict[str, object]:
    return {s.labels.get("requirement", ""): s for s in samples if s.name == name}


def test_metrics_follow_the_contract(node_exporter: Served) -> None:
    node_exporter.wait_ready()
    samples = node_exporter.samples()
    ids = {r.id for r in requirements("node")}
    info = by_name(samples, "gitpod_requirement_info")
    assert set(info) == ids
    kernel_info = info["node_kernel"]
    assert kernel_info.labels["scope"] == "node"
    assert kernel_info.labels["node"] == "worker-7"
    assert kernel_info.labels["doc_url"].startswith("https://")
    satisfied = by_name(samples, "gitpod_requirement_satisfied")
    assert satisfied["node_kernel"].value == 0
    assert satisfied["node_kernel"].labels == {
        "requirement": "node_kernel",
        "severity": "critical",
        "node": "worker-7",
    }
    assert satisfied["node_memory"].value == 1
    # node_labels and node_pod_network are skipped (no API access, no namespace),
    # node_registry_facade_trust (no installation, no domain) and node_workspace_sysctls
    # (whether ws-daemon ran is unknown): no verdict, configured 0, no check_up.
    skipped = {"node_labels", "node_pod_network", "node_registry_facade_trust",
               "node_workspace_sysctls"}  # fmt: skip
    for rid in skipped:
        assert rid not in satisfied
        assert by_name(samples, "gitpod_requirement_configured")[rid].value == 0
        assert rid not in by_name(samples, "gitpod_requirement_check_up")
    up = by_name(samples, "gitpod_requirement_check_up")
    assert {k for k, s in up.items() if s.value == 1} == ids - skipped
    for name in (
        "gitpod_requirement_check_duration_seconds",
        "gitpod_requirement_last_check_timestamp_seconds",
    ):
        assert set(by_name(samples, name)) == ids - skipped
    last = by_name(samples, "gitpod_requirement_last_check_timestamp_seconds")
    assert abs(last["node_kernel"].value - time.time()) < 60
    reasons = by_name(samples, "gitpod_requirement_reason_info")
    assert reasons["node_kernel"].labels["reason"] == "below_minimum"
    names = {s.name for s in samples}
    for observed in (
        "gitpod_node_kernel_info",
        "gitpod_node_cpus",
        "gitpod_node_memory_bytes",
        "gitpod_node_os_info",
        "gitpod_node_containerd_info",
        "gitpod_node_cni_info",
        "gitpod_exporter_build_info",
        "process_resident_memory_bytes",
        "python_info",
    ):
        assert observed in names
    kernel = next(s for s in samples if s.name == "gitpod_node_kernel_info")
    assert kernel.labels == {"release": "4.19.0-26-cloud-amd64", "node": "worker-7"}


def test_openmetrics_by_accept_header(node_exporter: Served) -> None:
    node_exporter.wait_ready()
    status, ctype, body = node_exporter.get(
        "/metrics", "application/openmetrics-text; version=1.0.0"
    )
    assert status == 200 and ctype.startswith("application/openmetrics-text")
    assert body.rstrip().endswith("# EOF")
    names = {f.name for f in parse_openmetrics(body)}
    assert "gitpod_requirement_satisfied" in names
    status, ctype, _ = node_exporter.get("/metrics")
    assert ctype.startswith("text/plain")


def test_pages_health_and_readiness(node_exporter: Served) -> None:
    node_exporter.wait_ready()
    assert node_exporter.get("/healthz")[0] == 200
    status, ctype, page = node_exporter.get("/")
    assert status == 200 and ctype.startswith("text/html")
    for check in NODE_CHECKS:
        assert f'id="req-{check.id}"' in page
    assert 'data-requirement="node_kernel" data-status="fail"' in page
    assert "4.19.0-26-cloud-amd64" in page


def test_checks_keep_running_on_their_interval(node_exporter: Served) -> None:
    node_exporter.wait_ready()
    name = "gitpod_requirement_last_check_timestamp_seconds"
    first = by_name(node_exporter.samples(), name)

    def kernel_ran_again() -> dict | None:
        now = by_name(node_exporter.samples(), name)
        return now if now["node_kernel"].value > first["node_kernel"].value else None

    second = until(kernel_ran_again, 5, "a second node_kernel run (1 s interval)")
    assert second["node_cpu"].value == first["node_cpu"].value  # 10 min interval


def _single(served: Served, name: str) -> float:
    return next(s.value for s in served.samples() if s.name == name)


def test_sighup_with_a_broken_config_keeps_running(node_exporter: Served) -> None:
    node_exporter.wait_ready()
    loaded_at = _single(
        node_exporter, "gitpod_exporter_config_last_reload_success_timestamp_seconds"
    )
    node_exporter.config.write_text("checks:\n  node_kernel:\n    interval: never\n")  # type: ignore[attr-defined]
    node_exporter.proc.send_signal(signal.SIGHUP)
    until(lambda: _single(node_exporter, "gitpod_exporter_config_last_reload_successful") == 0,
          5, "the failed reload reported")  # fmt: skip
    # The old config keeps running: node_kernel (interval 1 s) keeps being checked.
    name = "gitpod_requirement_last_check_timestamp_seconds"
    last = by_name(node_exporter.samples(), name)["node_kernel"].value
    until(lambda: by_name(node_exporter.samples(), name)["node_kernel"].value > last, 5,
          "node_kernel running on the old config")  # fmt: skip
    assert loaded_at == _single(
        node_exporter, "gitpod_exporter_config_last_reload_success_timestamp_seconds"
    )
    node_exporter.config.write_text("checks:\n  node_kernel:\n    min_version: '4.0'\n")  # type: ignore[attr-defined]
    node_exporter.proc.send_signal(signal.SIGHUP)
    until(
        lambda: (
            by_name(node_exporter.samples(), "gitpod_requirement_satisfied")["node_kernel"].value
            == 1
        ),
        5,
        "the reloaded threshold applied",
    )
    assert _single(node_exporter, "gitpod_exporter_config_last_reload_successful") == 1
    assert loaded_at < _single(
        node_exporter, "gitpod_exporter_config_last_reload_success_timestamp_seconds"
    )
    node_exporter.proc.terminate()
    node_exporter.proc.wait(10)
    logs = node_exporter.logs()
    # The failed reload named the field and what was expected.
    assert "config reload failed" in logs and "checks.node_kernel.interval" in logs


def test_sigterm_stops_cleanly(node_exporter: Served) -> None:
    node_exporter.wait_ready()
    node_exporter.proc.send_signal(signal.SIGTERM)
    assert node_exporter.proc.wait(timeout=5) == 0
    assert "Traceback" not in node_exporter.logs()


def test_node_role_does_not_import_cluster_clients(tmp_path: Path) -> None:
    code = (
        "import sys; from exporter.cli import main; import exporter.daemon, exporter.server;"
        "bad = [m for m in ('kubernetes', 'boto3', 'pymysql', 'botocore', 'aiohttp', 'bcrypt')"
        " if m in sys.modules];"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.strip() == "[]"


def test_cluster_role_serves_its_verdicts(kube_api, tmp_path: Path) -> None:
    from tests import clusters

    clusters.gke_two_pools(kube_api)
    kc = kube_api.kubeconfig(tmp_path / "kubeconfig")
    served = start(["--role", "cluster", "--kubeconfig", str(kc)])
    try:
        served.wait_ready()
        samples = served.samples()
        satisfied = by_name(samples, "gitpod_requirement_satisfied")
        assert satisfied["cluster_node_label:gitpod.io/workload_meta"].value == 1
        assert satisfied["cluster_node_pools"].value == 0
        assert satisfied["cluster_distribution"].labels["severity"] == "info"
        assert "node" not in satisfied["cluster_namespace"].labels
        nodes = {s.labels["label"]: s.value for s in samples if s.name == "gitpod_cluster_nodes"}
        assert nodes["gitpod.io/workload_workspace_regular"] == 2
        version = next(s for s in samples if s.name == "gitpod_kubernetes_version_info")
        assert version.labels == {"git_version": "v1.27.3-gke.100"}
        dist = next(s for s in samples if s.name == "gitpod_cluster_distribution_info")
        assert dist.labels == {"distribution": "gke"}
        # One node LIST (the cache's; then it watches) and one /version served the first
        # round of every check.
        assert kube_api.calls["/api/v1/nodes"] - kube_api.watches_started == 1
        assert kube_api.calls["/version"] == 1
    finally:
        served.proc.terminate()
        assert served.proc.wait(5) == 0
