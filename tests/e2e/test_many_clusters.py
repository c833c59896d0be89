"""Many Gitpod clusters, one view: in each cluster a node role and a cluster role, scraped by a
Prometheus in agent mode that remote-writes with `external_labels: {cluster: NAME}` to one
central Prometheus; the central one evaluates the mixin's multi-cluster rules and sends to
Alertmanager. All real processes on 127.0.0.1.

The two clusters share one fake API server and one set of component servers: what tells them
apart here is what tells them apart in a fleet, the agent's external label."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.exporter import Served, start
from tests.helpers.poll import until
from tests.hosts import Node
from tests.monitoring.promql import raw_exprs, substitute
from tests.monitoring.test_dashboards import build_module
from tests.servers.procs import stop
from tests.servers.prometheus import (
    Prometheus,
    agent,
    alertmanager,
    prometheus_process,
    webhook,
)

CLUSTERS = ("east", "west")
BROKEN = "east"  # its workspace node runs a kernel older than Gitpod supports
# Each cluster's workspace node (Nodes of the fake API: the node roles read their labels).
NODES = {"east": "aks-regular-12345678-vmss000000", "west": "aks-headless-12345678-vmss000000"}
# Read by a dashboard panel, exported by a check this test turns off (below).
# Disabled here (the database; node_pod_network, whose node roles have no POD_NAMESPACE), or
# exported only for what fails (a workspace node without its daemons).
# Not set up in the fleet: no database, no stuck daemon, no peers, and no Gitpod pod running
# whose traffic cluster_network_paths could judge.
OFF = ("gitpod_database_latency_seconds", "gitpod_cluster_workspace_node_not_ready",
       "gitpod_node_peer", "gitpod_cluster_network_path")  # fmt: skip
MULTI_CLUSTER = {
    "clusterLabel": "cluster",
    "showMultiCluster": True,
    "criticalFor": "2s",
    "warningFor": "2s",
    "clusterExporterAbsentFor": "2s",
}
# Series older than this are stale in the central Prometheus: a cluster whose agent stopped
# sending is seen gone within seconds, not Prometheus' default 5 minutes.
LOOKBACK = "10s"


def _rules(rendered: dict[str, Any], path: Path) -> Path:
    text = build_module().rules_file(rendered)
    doc = yaml.safe_load(text)
    for group in doc["groups"]:
        group["interval"] = "1s"
    path.write_text(yaml.safe_dump(doc))
    return path


def _dashboard_exprs(rendered: dict[str, Any], cluster: str) -> list[str]:
    """Every panel and variable query of the multi-cluster dashboards, with the cluster variable
    set to `cluster` and the node variable to its node."""
    return [
        substitute(e.replace("$cluster", cluster).replace("$node", NODES[cluster]))
        for doc in rendered["dashboards"].values()
        # The cluster variable lists every cluster: the one query meant to span them.
        for e in raw_exprs(doc, skip_variables=("cluster",))
    ]


@pytest.fixture
def fleet(stack, containerd, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Both clusters' exporters, agents, the central Prometheus and Alertmanager."""
    stack_config, kubeconfig, env, _ = stack
    # The fake cluster and the test's MariaDB are newer than Gitpod's 2022 matrix lists: those
    # warnings would fire in both clusters alike and are not what this test is about.
    doc = yaml.safe_load(stack_config.read_text())
    doc["checks"]["cluster_compatibility"] = {"enabled": False}
    doc["checks"]["cluster_database"]["enabled"] = False
    config = tmp_path / "fleet-config.yaml"
    config.write_text(yaml.safe_dump(doc))
    rendered = build_module().evaluate(MULTI_CLUSTER)
    with ExitStack() as es:
        hook = es.enter_context(webhook())
        am = es.enter_context(alertmanager(tmp_path / "am", hook.url, ("alertname", "cluster")))
        central = es.enter_context(
            prometheus_process(
                tmp_path / "central",
                {
                    "global": {"evaluation_interval": "1s"},
                    "rule_files": [str(_rules(rendered, tmp_path / "rules.yaml"))],
                    "alerting": {
                        "alertmanagers": [
                            {"static_configs": [{"targets": [am.removeprefix("http://")]}]}
                        ]
                    },
                },
                ("--web.enable-remote-write-receiver", f"--query.lookback-delta={LOOKBACK}"),
            )
        )
        exporters: list[Served] = []
        es.callback(lambda: [stop(s.proc) for s in exporters])  # type: ignore[arg-type]
        agents: dict[str, Prometheus] = {}
        for name in CLUSTERS:
            kernel = "4.19.0-26-cloud-amd64" if name == BROKEN else "5.15.0-1034-azure"
            # The installation asks for shiftfs: the nodes have the headers to build it.
            root = Node(kernel=kernel, kernel_headers=True).build(
                tmp_path / f"{name}-host", containerd.socket
            )
            node = start(
                ["--role", "node", "--host-root", str(root), "--kubeconfig", str(kubeconfig)],
                {"NODE_NAME": NODES[name]},
            )
            cluster = start(
                ["--role", "cluster", "--config", str(config), "--kubeconfig", str(kubeconfig)],
                env,
            )
            exporters += [node, cluster]
            for served in (node, cluster):
                served.wait_ready(30)
            agents[name] = es.enter_context(
                agent(
                    tmp_path / f"{name}-agent",
                    {
                        "gitpod-requirements-node": node.url.removeprefix("http://"),
                        "gitpod-requirements-cluster": cluster.url.removeprefix("http://"),
                    },
                    {"cluster": name},
                    f"{central.url}/api/v1/write",
                )
            )
        yield {"central": central, "agents": agents, "hook": hook, "rendered": rendered}


def _generic(expr: str, cluster: str) -> str:
    """The query with its cluster and node put back as variables, to compare across clusters."""
    return expr.replace(NODES[cluster], "$node").replace(cluster, "$cluster")


def _series(prom: Prometheus, expr: str) -> list[dict[str, Any]]:
    answer = prom.query(expr)
    assert answer["status"] == "success", (expr, answer)
    return answer["data"]["result"]


def test_one_cluster_breaks_one_alert_group_names_it_and_the_dashboards_split_by_cluster(
    fleet,
) -> None:
    central, hook = fleet["central"], fleet["hook"]

    def both_arrived() -> bool:
        got = _series(central, 'count by (cluster) (up{job="gitpod-requirements-cluster"} == 1)')
        return {s["metric"].get("cluster") for s in got} == set(CLUSTERS)

    until(both_arrived, 60, "both clusters' series in the central Prometheus")

    def page() -> list[dict[str, Any]]:
        return [
            n for n in hook.notifications
            if n["groupLabels"].get("alertname") == "GitpodCriticalRequirementUnmet"
        ]  # fmt: skip

    until(page, 60, "the critical page reached Alertmanager's webhook")
    # The other cluster's series arrived with these: once the page has been active for a few
    # `for`s, anything of west's would have fired too.
    until(
        lambda: _series(central, 'time() - ALERTS_FOR_STATE{alertname="GitpodCriticalRequirement'
                        f'Unmet",cluster="{BROKEN}"}} > 8'),
        30,
        "the page active for 8 s",
    )  # fmt: skip
    groups = {json.dumps(n["groupLabels"], sort_keys=True) for n in page()}
    assert groups == {json.dumps({"alertname": "GitpodCriticalRequirementUnmet",
                                  "cluster": BROKEN}, sort_keys=True)}, groups  # fmt: skip
    alerts = [a for n in page() for a in n["alerts"] if a["status"] == "firing"]
    assert {a["labels"]["requirement"] for a in alerts} == {"node_kernel"}, alerts
    (kernel,) = alerts
    assert kernel["labels"]["cluster"] == BROKEN
    assert f"in cluster {BROKEN} on 1 node(s): {NODES[BROKEN]}." in kernel["annotations"][
        "description"]  # fmt: skip
    quiet = [a for a in hook.alerts() if a["labels"].get("cluster") != BROKEN]
    assert quiet == [], sorted(
        {a["labels"].get("requirement", a["labels"]["alertname"]) for a in quiet}
    )

    listed = _series(central, "group by (cluster) (gitpod_requirement_info)")
    assert {s["metric"]["cluster"] for s in listed} == set(CLUSTERS)  # the cluster variable
    # Every dashboard query answers from the central store, for each cluster only that
    # cluster's series, and between them every query returns data.
    answered: dict[str, set[str]] = {}
    rendered = fleet["rendered"]
    for name in CLUSTERS:
        for expr in _dashboard_exprs(rendered, name):
            result = _series(central, expr)
            others = {s["metric"].get("cluster") for s in result} - {name, None}
            assert not others, (name, expr, others)
            if result:
                answered.setdefault(_generic(expr, name), set()).add(name)
    first = CLUSTERS[0]
    all_exprs = {_generic(e, first) for e in _dashboard_exprs(rendered, first)}
    silent = {
        e for e in all_exprs - set(answered)
        if not any(m in e for m in OFF)
        # The table of checks in error: no check errors in either cluster here.
        and not ("gitpod_requirement_check_up" in e and e.endswith("== 0))"))
    }  # fmt: skip
    assert not silent, silent
    one_sided = {e: c for e, c in answered.items() if c != set(CLUSTERS)}
    # Only the failing node's rows are one-sided: the healthy cluster has no failing node.
    assert all(c == {BROKEN} for c in one_sided.values()), one_sided

    # What a fleet owner sizes the central store by (docs/metrics.md, "Many clusters").
    for job, extra in (("node", ""), ("cluster", ""), ("cluster", ',node!=""')):
        sel = f'job="gitpod-requirements-{job}",cluster="west"{extra}'
        count = _series(central, f"count({{{sel}}})")
        print(f"series {{{sel}}}: {count[0]['value'][1] if count else 0}")


def test_a_cluster_whose_agent_stops_sending_is_reported_absent(fleet) -> None:
    central, hook = fleet["central"], fleet["hook"]
    until(
        lambda: len(_series(central, 'up{job="gitpod-requirements-cluster"} == 1')) == 2,
        60,
        "both clusters' cluster roles up in the central Prometheus",
    )
    stop(fleet["agents"]["west"].proc)

    def absent() -> list[dict[str, Any]]:
        return [
            a for a in hook.alerts()
            if a["labels"]["alertname"] == "GitpodRequirementsClusterExporterAbsent"
            and a["status"] == "firing"
        ]  # fmt: skip

    alerts = until(absent, 60, "ClusterExporterAbsent for the silent cluster")
    assert {a["labels"].get("cluster") for a in alerts} == {"west"}, alerts
    assert "in cluster west" in alerts[0]["annotations"]["description"]
