"""The rules and dashboards against running exporters: every metric they read exists, and a
failing requirement becomes a page through real Prometheus and Alertmanager."""

from __future__ import annotations

import socket
from pathlib import Path

import yaml

from tests import clusters
from tests.helpers.exporter import Served, start
from tests.helpers.poll import until
from tests.hosts import Node
from tests.monitoring.promql import (
    DASHBOARDS,
    ROOT,
    RULES,
    dashboard_exprs,
    metric_names,
    recorded_names,
    rule_exprs,
)
from tests.servers.kube_fake import endpoint_slice, obj
from tests.servers.prometheus import Prometheus, alertmanager, prometheus, webhook

# Read by the rules but exported by others: Prometheus itself and kube-state-metrics.
EXTERNAL = {"up", "kube_node_info", "kube_node_spec_taint"}


def names_served(served: Served) -> set[str]:
    return {s.name for s in served.samples()}


def test_every_metric_the_rules_and_dashboards_read_is_exported(
    node_exporter: Served, stack, containerd, tmp_path: Path, kube_api
) -> None:
    config, kubeconfig, env, _ = stack
    # One ws-daemon pod stuck: the series that name such nodes exist only then.
    clusters.daemon_stuck(kube_api, "aks-headless-12345678-vmss000000")
    # Gitpod's proxy and ide-proxy running under a default-deny: a blocked flow is named.
    for i, component in enumerate(("proxy", "ide-proxy")):
        kube_api.pods.append(obj("Pod", "v1", f"{component}-1", "gitpod",
                                 status={"podIP": f"10.4.0.{i + 2}"},
                                 metadata={"labels": {"app": "gitpod",
                                                      "component": component}}))  # fmt: skip
    kube_api.networkpolicies.append(obj("NetworkPolicy", "networking.k8s.io/v1", "deny",
                                        "gitpod", spec={"podSelector": {},
                                                        "policyTypes": ["Ingress"]}))  # fmt: skip
    cluster = start(
        ["--role", "cluster", "--config", str(config), "--kubeconfig", str(kubeconfig)], env
    )
    # A node role that reads its Node from the API: the workload labels, sizing by role; and
    # its peers from the EndpointSlices, one of them closed, so it names an unreachable peer.
    root = Node().build(tmp_path / "labelled-host", containerd.socket)
    node_config = tmp_path / "node.yaml"
    node_config.write_text("checks: {node_pod_network: {interval: 1s, timeout: 1s}}\n")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    kube_api.endpointslices = [endpoint_slice("peers", "gitpod-requirements",
                                              "gitpod-requirements-node", port,
                                              [("127.0.0.1", "aks-headless")])]  # fmt: skip
    labelled = start(
        ["--role", "node", "--host-root", str(root), "--kubeconfig", str(kubeconfig),
         "--config", str(node_config)],
        {"NODE_NAME": "aks-regular-12345678-vmss000000", "POD_NAMESPACE": "gitpod-requirements"},
    )  # fmt: skip
    try:
        for served in (node_exporter, cluster, labelled):
            served.wait_ready(30)
        until(lambda: "gitpod_node_peer_unreachable" in names_served(labelled), 15,
              "a peer named unreachable")  # fmt: skip
        node = names_served(node_exporter) | names_served(labelled)
        both = names_served(cluster)
    finally:
        for served in (cluster, labelled):
            served.proc.terminate()
            served.proc.wait(10)
    assert "gitpod_node_workload_labels" in node
    both |= node
    known = both | recorded_names() | EXTERNAL

    node_dashboard = ROOT / "dashboards" / "node.json"
    for expr in dashboard_exprs(node_dashboard):
        assert metric_names(expr) <= node, f"node dashboard: {expr}"
    checked = 0
    for expr in rule_exprs() + [e for d in DASHBOARDS for e in dashboard_exprs(d)]:
        missing = metric_names(expr) - known
        assert not missing, f"{sorted(missing)} not exported (in {expr!r})"
        checked += 1
    assert checked > 30


def _test_rules(tmp_path: Path) -> Path:
    """The shipped rules, evaluated every second, with the critical alert's `for` shortened."""
    doc = yaml.safe_load(RULES.read_text())
    for group in doc["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            if rule.get("alert") == "GitpodCriticalRequirementUnmet":
                assert rule["for"] == "5m"
                rule["for"] = "3s"
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _wait(what: str, probe, timeout: float = 45.0):
    return until(probe, timeout, what)


def test_failing_kernel_pages_through_prometheus_and_alertmanager(
    node_exporter: Served, tmp_path: Path
) -> None:
    target = node_exporter.url.removeprefix("http://")
    with (
        webhook() as hook,
        alertmanager(tmp_path / "am", hook.url) as am_url,
        prometheus(
            tmp_path / "prom", {"gitpod-requirements-node": target}, [_test_rules(tmp_path)], am_url
        ) as prom,
    ):

        def kernel_alert() -> dict | None:
            return next(
                (a for a in hook.alerts()
                 if a["labels"]["alertname"] == "GitpodCriticalRequirementUnmet"
                 and a["labels"]["requirement"] == "node_kernel"),
                None,
            )  # fmt: skip

        alert = _wait("the node_kernel page reached the webhook", kernel_alert)
        assert alert["status"] == "firing"
        # One alert per requirement: the node is named in the description, not a label.
        assert alert["labels"] == {
            "alertname": "GitpodCriticalRequirementUnmet",
            "requirement": "node_kernel",
            "severity": "critical",
        }
        ann = alert["annotations"]
        assert ann["summary"] == "A critical Gitpod requirement is not met."
        assert " on 1 node(s): worker-7. " in ann["description"]
        assert ann["runbook_url"].endswith("/docs/runbook.md#node_kernel")
        assert ann["dashboard_url"] == "/d/gitpod-requirements-overview"
        # Requirements that hold never page.
        paged = {a["labels"].get("requirement") for a in hook.alerts()}
        assert "node_cpu" not in paged and "node_memory" not in paged
        _assert_queries_evaluate(prom)


def _assert_queries_evaluate(prom: Prometheus) -> None:
    """Parsing is not enough: vector matching errors (many-to-many, duplicate series) only show
    when Prometheus evaluates an expression against real series."""
    for expr in [e for d in DASHBOARDS for e in dashboard_exprs(d)]:
        answer = prom.query(expr)
        assert answer["status"] == "success", (expr, answer)
    node = prom.query('gitpod_requirement_satisfied{requirement="node_kernel"}')["data"]["result"]
    assert node and node[0]["value"][1] == "0"
    rules = prom.query("ALERTS")["data"]["result"]
    assert any(r["metric"]["alertname"] == "GitpodCriticalRequirementUnmet" for r in rules)
