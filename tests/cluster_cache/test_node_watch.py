"""The cluster role's node cache against the fake API server: one LIST, then a WATCH; node
changes reach the verdicts on /metrics without waiting for the checks' interval (set to an
hour here, so nothing but the watch can explain a change); bookmarks, 410 Gone, dropped streams
and RBAC without `watch` handled as client-go's informers handle them."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests import clusters
from tests.deploy.manifests import installed
from tests.deploy.test_rbac import WATCH_NODES, authorizer
from tests.helpers.exporter import Served, start
from tests.helpers.poll import until
from tests.servers.kube_fake import FakeKube

HOUR = "1h"
META = "cluster_node_label:gitpod.io/workload_meta"


def value(served: Served, name: str, **labels: str) -> float | None:
    for s in served.samples():
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return None


@pytest.fixture
def cluster(kube_api: FakeKube, tmp_path: Path) -> Iterator[Served]:
    clusters.gke_two_pools(kube_api)
    # The RBAC the chart grants, enforced: the watch is allowed and used.
    kube_api.rbac = authorizer(installed("base"), "gitpod-requirements-cluster")
    config = tmp_path / "config.yaml"
    checks = {c: {"interval": HOUR} for c in (
        "cluster_node_label", "cluster_node_pools", "cluster_nodes_runtime", "cluster_openshift",
        "cluster_kubernetes_version", "cluster_distribution", "cluster_compatibility",
    )}  # fmt: skip
    config.write_text(yaml.safe_dump({"kubernetes": {"namespace": "gitpod"}, "checks": checks}))
    kc = kube_api.kubeconfig(tmp_path / "kubeconfig")
    served = start(["--role", "cluster", "--config", str(config), "--kubeconfig", str(kc)])
    try:
        served.wait_ready(30)
        until(lambda: value(served, "gitpod_kubernetes_watch_up", resource="nodes") == 1,
              10, "the node watch up")  # fmt: skip
        yield served
        assert WATCH_NODES in kube_api.rbac.used and kube_api.rbac.denied == []
    finally:
        served.proc.terminate()
        served.proc.wait(10)


@contextlib.contextmanager
def relisting_cluster(kube_api: FakeKube, tmp_path: Path) -> Iterator[Served]:
    """A cluster role whose node checks run every second with a 1 s node cache ttl, so
    relisting (when the watch is not to be had) shows within seconds."""
    config = tmp_path / "config.yaml"
    config.write_text("kubernetes: {namespace: gitpod, node_cache_ttl: 1s}\n"
                      "checks: {cluster_node_label: {interval: 1s}}\n")  # fmt: skip
    kc = kube_api.kubeconfig(tmp_path / "kubeconfig")
    served = start(["--role", "cluster", "--config", str(config), "--kubeconfig", str(kc)])
    try:
        served.wait_ready(30)
        yield served
    finally:
        served.proc.terminate()
        served.proc.wait(10)


def node_lists(fake: FakeKube) -> int:
    return fake.calls["/api/v1/nodes"] - fake.watches_started


def satisfied(served: Served, requirement: str) -> float | None:
    return value(served, "gitpod_requirement_satisfied", requirement=requirement)


def unlabel(fake: FakeKube, label: str) -> None:
    for node in list(fake.nodes.values()):
        if label in node["metadata"]["labels"]:
            changed = copy.deepcopy(node)
            del changed["metadata"]["labels"][label]
            fake.put_node(changed)


def test_one_list_then_changes_reach_the_verdicts_through_the_watch(
    cluster: Served, kube_api: FakeKube
) -> None:
    assert value(cluster, "gitpod_kubernetes_cache_objects", resource="nodes") == 4
    assert until(lambda: satisfied(cluster, META) == 1, 10, "meta label met")
    lists = node_lists(kube_api)
    assert lists == 1

    unlabel(kube_api, "gitpod.io/workload_meta")  # MODIFIED
    until(lambda: satisfied(cluster, META) == 0, 10, "the label's removal judged")

    added = copy.deepcopy(next(iter(kube_api.nodes.values())))
    added["metadata"]["name"] = "gke-gitpod-services-new"
    added["metadata"]["labels"]["gitpod.io/workload_meta"] = "true"
    kube_api.put_node(added)  # ADDED
    until(lambda: satisfied(cluster, META) == 1, 10, "the new node judged")
    kube_api.delete_node("gke-gitpod-services-new")  # DELETED
    until(lambda: satisfied(cluster, META) == 0, 10, "the deletion judged")
    until(lambda: value(cluster, "gitpod_kubernetes_cache_objects", resource="nodes") == 4)

    assert node_lists(kube_api) == lists, "changes came by the watch, not by LISTs"
    assert value(cluster, "gitpod_kubernetes_relists_total", resource="nodes") == 0
    assert value(cluster, "gitpod_kubernetes_watch_events_total", resource="nodes") >= 4


def test_a_heartbeat_that_changes_nothing_judges_nothing_again(
    cluster: Served, kube_api: FakeKube
) -> None:
    def runs() -> float | None:
        return value(cluster, "gitpod_requirement_last_check_timestamp_seconds",
                     requirement=META)  # fmt: skip

    first = until(runs, 10, "a first run")
    for node in list(kube_api.nodes.values()):
        beat = copy.deepcopy(node)
        beat["status"]["conditions"] = [{"type": "Ready", "status": "True",
                                         "lastHeartbeatTime": "2026-11-25T12:00:00Z"}]  # fmt: skip
        kube_api.put_node(beat)
    until(lambda: value(cluster, "gitpod_kubernetes_watch_events_total", resource="nodes") >= 4)
    # The events are in; a change would have woken the checks within the debounce.
    unlabel(kube_api, "gitpod.io/workload_meta")
    until(lambda: satisfied(cluster, META) == 0, 10, "the real change judged")
    assert runs() > first


def test_a_bookmark_advances_the_version_the_watch_resumes_from(
    cluster: Served, kube_api: FakeKube
) -> None:
    kube_api.bookmark_interval = 0.2
    kube_api.end_watches()  # the next stream gets frequent bookmarks
    until(lambda: kube_api.watches_started >= 2, 10, "a second watch")
    kube_api.bump_version(50)
    target = kube_api.resource_version
    before = value(cluster, "gitpod_kubernetes_watch_events_total", resource="nodes")
    until(lambda: value(cluster, "gitpod_kubernetes_watch_events_total",
                        resource="nodes") > before, 10, "a bookmark")  # fmt: skip
    kube_api.end_watches()
    until(lambda: kube_api.watches_started >= 3, 10, "a third watch")
    assert kube_api.watch_versions[-1] == target
    assert node_lists(kube_api) == 1


def test_410_gone_relists_exactly_once(cluster: Served, kube_api: FakeKube) -> None:
    kube_api.bump_version()
    kube_api.compact()
    kube_api.end_watches()  # it resumes from a version the server no longer keeps
    until(lambda: value(cluster, "gitpod_kubernetes_relists_total", resource="nodes") == 1,
          10, "one relist")  # fmt: skip
    until(lambda: value(cluster, "gitpod_kubernetes_watch_up", resource="nodes") == 1)
    assert node_lists(kube_api) == 2
    unlabel(kube_api, "gitpod.io/workload_meta")
    until(lambda: satisfied(cluster, META) == 0, 10, "watching again after the relist")
    assert node_lists(kube_api) == 2


def test_a_dropped_stream_reconnects_without_a_relist(cluster: Served, kube_api: FakeKube) -> None:
    kube_api.cut_watch_after = 1  # a proxy that cuts each stream after one event
    unlabel(kube_api, "gitpod.io/workload_meta")
    until(lambda: satisfied(cluster, META) == 0, 10, "the change judged")
    until(lambda: kube_api.watches_started >= 3, 10, "reconnects")
    assert node_lists(kube_api) == 1
    assert value(cluster, "gitpod_kubernetes_relists_total", resource="nodes") == 0


def test_without_watch_rbac_it_relists_and_says_so(kube_api: FakeKube, tmp_path: Path) -> None:
    clusters.gke_two_pools(kube_api)
    auth = authorizer(installed("base"), "gitpod-requirements-cluster")
    auth.grants = [
        dataclasses.replace(g, verbs=tuple(v for v in g.verbs if v != "watch")) for g in auth.grants
    ]
    kube_api.rbac = auth
    with relisting_cluster(kube_api, tmp_path) as served:
        relists = "gitpod_kubernetes_relists_total"
        until(lambda: (value(served, relists, resource="nodes") or 0) >= 2, 15, "relisting")
        assert value(served, "gitpod_kubernetes_watch_up", resource="nodes") == 0
        assert satisfied(served, META) == 1
        unlabel(kube_api, "gitpod.io/workload_meta")
        until(lambda: satisfied(served, META) == 0, 10, "a change seen by relisting")
        assert any("watch" in str(d) for d in auth.denied)
    logs = served.logs()
    assert logs.count("cannot watch nodes") == 1, logs


@pytest.mark.parametrize(
    "body",
    [b"\x00garbage that is not JSON\n", b"{" * (5 << 20), b'{"type": "SURPRISE", "object": {}}\n'],
    ids=["not-json", "endless-line", "unknown-type"],
)
def test_a_hostile_watch_stream_costs_the_cache_not_the_verdicts(
    kube_api: FakeKube, tmp_path: Path, body: bytes
) -> None:
    clusters.gke_two_pools(kube_api)
    kube_api.watch_body = body
    with relisting_cluster(kube_api, tmp_path) as served:
        until(lambda: kube_api.watches_started >= 3, 30, "three attempts")
        until(lambda: value(served, "gitpod_kubernetes_watch_up", resource="nodes") == 0, 10)
        # The cache gave up; the checks list and judge as before.
        unlabel(kube_api, "gitpod.io/workload_meta")
        until(lambda: satisfied(served, META) == 0, 15, "judged by relisting")
        assert served.proc.poll() is None
    assert "cannot watch nodes" in served.logs()
