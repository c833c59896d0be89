"""Cluster scenarios through the real `check --role cluster` against the fake API server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from exporter.cli import main
from tests import clusters
from tests.helpers.catalogue import requirements
from tests.servers.kube_fake import FakeKube, Fault

LABELS = [
    "gitpod.io/workload_meta",
    "gitpod.io/workload_ide",
    "gitpod.io/workload_workspace_services",
    "gitpod.io/workload_workspace_regular",
    "gitpod.io/workload_workspace_headless",
]
PASS = ("pass", "")
COMPONENTS = [
    "cluster_database",
    "cluster_storage",
    "cluster_registry",
    "cluster_scm",
    "cluster_tls",
    "cluster_tls_expiry",
    "cluster_dns",
    # judged by the database and registry checks, with what they connect to
    "cluster_compatibility:database",
    "cluster_compatibility:registry",
]


def healthy(distribution: str = "gke") -> dict[str, tuple[str, str]]:
    """Every cluster requirement of the catalogue passes on a healthy cluster (a new check is
    expected to, with nothing to add here), except these; the compatibility matrix's are
    tests/checks/test_compatibility.py's."""
    verdicts = {
        req.id: PASS
        for req in requirements("cluster")
        if not req.id.startswith("cluster_compatibility:")
    }
    verdicts |= {
        # Gitpod's components: not configured, and no Gitpod installed yet (no ConfigMap).
        **{
            c: ("skipped", "not_configured")
            for c in COMPONENTS
            if not c.startswith("cluster_compatibility:")
        },
        "cluster_gitpod_config": ("skipped", "not_configured"),
        "cluster_gitpod_secret": ("skipped", "not_configured"),
        # No ws-daemon or registry-facade DaemonSet yet.
        "cluster_workspace_daemons": ("skipped", "not_installed"),
        # No Gitpod pod running yet, whose traffic NetworkPolicies could cut.
        "cluster_network_paths": ("skipped", "not_installed"),
    }
    return verdicts


def run_cluster(fake: FakeKube, tmp_path: Path, capsys, *extra: str) -> tuple[int, dict]:
    kc = fake.kubeconfig(tmp_path / "kubeconfig")
    rc = main(["check", "--role", "cluster", "--kubeconfig", str(kc), "--output", "json", *extra])
    doc = json.loads(capsys.readouterr().out)
    return rc, {r["requirement"]: r for r in doc["results"]}


def verdicts(results: dict) -> dict[str, tuple[str, str]]:
    """Every verdict but the compatibility matrix's (tests/checks/test_compatibility.py)."""
    return {
        k: (r["status"], r["reason"])
        for k, r in results.items()
        if not k.startswith("cluster_compatibility:")
    }


def with_changes(base: Callable[[FakeKube], None], change: Callable[[FakeKube], None]):
    def build(fake: FakeKube) -> None:
        base(fake)
        change(fake)

    return build


def _headless_missing(fake: FakeKube) -> None:
    for n in fake.nodes.values():
        n["metadata"]["labels"].pop("gitpod.io/workload_workspace_headless", None)


def _headless_not_ready(fake: FakeKube) -> None:
    for n in fake.nodes.values():
        if "gitpod.io/workload_workspace_headless" in n["metadata"]["labels"]:
            n["status"]["conditions"][-1].update(status="Unknown", reason="NodeStatusUnknown")


def _docker_runtime(fake: FakeKube) -> None:
    next(iter(fake.nodes.values()))["status"]["nodeInfo"]["containerRuntimeVersion"] = (
        "docker://20.10.7"
    )


def _kernel_419(fake: FakeKube) -> None:
    for n in fake.nodes.values():
        n["status"]["nodeInfo"]["kernelVersion"] = "4.19.0-26-cloud-amd64"


def _pod_security_restricted(fake: FakeKube) -> None:
    fake.admission = lambda ns, pod: (
        'violates PodSecurity "baseline:latest": privileged (container "probe" must not set '
        "securityContext.privileged=true)"
    )


def _daemons_ready(fake: FakeKube) -> None:
    clusters.gitpod_daemons(fake)


def _ws_daemon_stuck(fake: FakeKube) -> None:
    clusters.gitpod_daemons(fake)
    clusters.daemon_stuck(fake, next(n for n in fake.nodes if "headless" in n))


def _lb_pending(fake: FakeKube) -> None:
    fake.services[0]["status"] = {"loadBalancer": {}}


def _cert_manager_unavailable(fake: FakeKube) -> None:
    fake.deployments[0] = clusters.deployment("cert-manager", "cert-manager", available=False)


def _no_default_storage_class(fake: FakeKube) -> None:
    fake.storage_classes = [clusters.storage_class("standard", False)]


def _forbid_storage_classes(fake: FakeKube) -> None:
    fake.faults["/apis/storage.k8s.io/v1/storageclasses"] = Fault(status=403)


def expect(base: dict, **changes: tuple[str, str]) -> dict:
    out = dict(base)
    for key, value in changes.items():
        out[key.replace("__", ":").replace("_colon_", ":")] = value
    return out


def label(name: str) -> str:
    return f"cluster_node_label:gitpod.io/{name}"


SCENARIOS = {
    "gke_two_pools": (
        clusters.gke_two_pools,
        {**healthy(), "cluster_node_pools": ("fail", "overlap")},
        0,
    ),
    "eks_amazon_linux": (
        clusters.eks_amazon_linux,
        {**healthy(), "cluster_nodes_runtime": ("fail", "unsupported")},
        1,
    ),
    "aks": (clusters.aks, healthy(), 0),
    "k3s_single_node": (
        clusters.k3s_single,
        {**healthy(), "cluster_node_pools": ("fail", "overlap")},
        0,
    ),
    "openshift": (
        clusters.openshift,
        {
            **healthy(),
            "cluster_distribution": ("fail", "unsupported"),
            "cluster_openshift": ("fail", "unsupported"),
            "cluster_nodes_runtime": ("fail", "unsupported"),
        },
        1,
    ),
    "missing_headless_label": (
        with_changes(clusters.aks, _headless_missing),
        {**healthy(), label("workload_workspace_headless"): ("fail", "missing")},
        1,
    ),
    "labelled_node_not_ready": (
        with_changes(clusters.aks, _headless_not_ready),
        {**healthy(), label("workload_workspace_headless"): ("fail", "not_ready")},
        1,
    ),
    "docker_runtime_node": (
        with_changes(clusters.aks, _docker_runtime),
        {**healthy(), "cluster_nodes_runtime": ("fail", "unsupported")},
        1,
    ),
    "kernel_4_19_nodes": (
        with_changes(clusters.aks, _kernel_419),
        {**healthy(), "cluster_nodes_runtime": ("fail", "unsupported")},
        1,
    ),
    "pod_security_denies_privileged": (
        with_changes(clusters.aks, _pod_security_restricted),
        {**healthy(), "cluster_privileged_pods": ("fail", "denied")},
        1,
    ),
    "loadbalancer_pending": (
        with_changes(clusters.aks, _lb_pending),
        {
            **healthy(),
            "cluster_loadbalancer": ("fail", "pending"),
            "cluster_proxy_service": ("fail", "pending"),
        },
        1,
    ),
    "cert_manager_unavailable": (
        with_changes(clusters.aks, _cert_manager_unavailable),
        {**healthy(), "cluster_cert_manager": ("fail", "unavailable")},
        1,
    ),
    "no_default_storage_class": (
        with_changes(clusters.aks, _no_default_storage_class),
        {**healthy(), "cluster_storage_class": ("fail", "missing")},
        0,
    ),
    "gitpod_daemons_ready": (
        with_changes(clusters.aks, _daemons_ready),
        {**healthy(), "cluster_workspace_daemons": PASS},
        0,
    ),
    "ws_daemon_stuck_on_a_node": (
        with_changes(clusters.aks, _ws_daemon_stuck),
        {**healthy(), "cluster_workspace_daemons": ("fail", "not_ready")},
        1,
    ),
    "storage_classes_forbidden": (
        with_changes(clusters.aks, _forbid_storage_classes),
        {**healthy(), "cluster_storage_class": ("error", "forbidden")},
        0,
    ),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_cluster_scenario_verdicts(name: str, kube_api: FakeKube, tmp_path: Path, capsys) -> None:
    build, expected, code = SCENARIOS[name]
    build(kube_api)
    rc, results = run_cluster(kube_api, tmp_path, capsys)
    assert verdicts(results) == expected
    assert rc == code
    # A dry run, always: nothing was ever created for real.
    assert kube_api.created == []


def test_detected_distribution_per_cluster(kube_api: FakeKube, tmp_path: Path, capsys) -> None:
    found = {}
    for name, build in [("gke", clusters.gke_two_pools), ("eks", clusters.eks_amazon_linux),
                        ("aks", clusters.aks), ("k3s", clusters.k3s_single),
                        ("openshift", clusters.openshift)]:  # fmt: skip
        fake = FakeKube(url=kube_api.url)
        build(fake)
        kube_api.__dict__.update({k: v for k, v in fake.__dict__.items() if k != "url"})
        kube_api.calls.clear()
        _, results = run_cluster(kube_api, tmp_path, capsys)
        found[name] = results["cluster_distribution"]["observed"]
    assert found == {n: n for n in found}


def test_privileged_denial_message_reaches_the_report(kube_api: FakeKube, tmp_path, capsys) -> None:
    with_changes(clusters.aks, _pod_security_restricted)(kube_api)
    _, results = run_cluster(kube_api, tmp_path, capsys)
    assert 'violates PodSecurity "baseline:latest"' in results["cluster_privileged_pods"]["detail"]
    assert len(kube_api.dry_run_bodies) == 4 and kube_api.created == []  # one per shape
    body = kube_api.dry_run_bodies[0]
    assert body["spec"]["containers"][0]["securityContext"]["privileged"] is True


def test_runtime_report_names_the_failing_nodes(kube_api: FakeKube, tmp_path, capsys) -> None:
    with_changes(clusters.aks, _docker_runtime)(kube_api)
    _, results = run_cluster(kube_api, tmp_path, capsys)
    detail = results["cluster_nodes_runtime"]["detail"]
    assert detail == "runtime: aks-services-12345678-vmss000000"


def test_eks_kubelet_version_strings_parse(kube_api: FakeKube, tmp_path, capsys) -> None:
    clusters.eks_amazon_linux(kube_api)
    _, results = run_cluster(kube_api, tmp_path, capsys)
    assert results["cluster_kubernetes_version"]["observed"] == "v1.26.6-eks-a5565ad"


def test_old_kubelets_fail_the_version_floor(kube_api: FakeKube, tmp_path, capsys) -> None:
    clusters.aks(kube_api)
    next(iter(kube_api.nodes.values()))["status"]["nodeInfo"]["kubeletVersion"] = "v1.20.15"
    _, results = run_cluster(kube_api, tmp_path, capsys)
    r = results["cluster_kubernetes_version"]
    assert (r["status"], r["reason"]) == ("fail", "unsupported")
    assert "v1.20.15" in r["detail"]


def test_missing_namespace_fails_and_privileged_probe_errors(kube_api, tmp_path, capsys) -> None:
    clusters.aks(kube_api)
    kube_api.namespaces.discard("gitpod")
    _, results = run_cluster(kube_api, tmp_path, capsys)
    assert verdicts(results)["cluster_namespace"] == ("fail", "not_found")
    assert verdicts(results)["cluster_privileged_pods"] == ("error", "not_found")


def test_wrong_token_makes_every_check_an_auth_error(kube_api, tmp_path, capsys) -> None:
    clusters.aks(kube_api)
    kc = kube_api.kubeconfig(tmp_path / "kubeconfig", token="wrong")
    rc = main(["check", "--role", "cluster", "--kubeconfig", str(kc), "--output", "json"])
    results = json.loads(capsys.readouterr().out)["results"]
    kube = [r for r in results if r["requirement"] not in COMPONENTS]
    assert {(r["status"], r["reason"]) for r in kube} == {("error", "auth")}
    assert rc == 1


def test_unreachable_api_server_is_a_connect_error(kube_api, tmp_path, capsys) -> None:
    kc = kube_api.kubeconfig(tmp_path / "kubeconfig", server="http://127.0.0.1:1")
    main(["check", "--role", "cluster", "--kubeconfig", str(kc), "--output", "json"])
    results = json.loads(capsys.readouterr().out)["results"]
    kube = [r for r in results if r["requirement"] not in COMPONENTS]
    assert {(r["status"], r["reason"]) for r in kube} == {("error", "connect")}


def test_slow_api_server_times_out_within_the_check_timeout(kube_api, tmp_path, capsys) -> None:
    clusters.aks(kube_api)
    kube_api.faults["/api/v1/namespaces/gitpod"] = Fault(delay=5)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("checks:\n  cluster_namespace:\n    timeout: 0.5s\n")
    _, results = run_cluster(kube_api, tmp_path, capsys, "--config", str(cfg))
    assert verdicts(results)["cluster_namespace"] == ("error", "timeout")
    assert verdicts(results)["cluster_storage_class"] == PASS


def test_garbage_answer_is_a_protocol_error(kube_api, tmp_path, capsys) -> None:
    clusters.aks(kube_api)
    kube_api.faults["/apis/storage.k8s.io/v1/storageclasses"] = Fault(body=b"<html>oops</html>")
    _, results = run_cluster(kube_api, tmp_path, capsys)
    assert verdicts(results)["cluster_storage_class"] == ("error", "protocol")


def test_configured_certificate_not_ready(kube_api, tmp_path, capsys) -> None:
    clusters.aks(kube_api)
    cert = clusters.ready_issuer("Certificate", "https-certificates", "gitpod")
    cert["status"]["conditions"][0]["status"] = "False"
    kube_api.certificates = [cert]
    cfg = tmp_path / "c.yaml"
    cfg.write_text("checks:\n  cluster_cert_manager:\n    certificates: [https-certificates]\n")
    _, results = run_cluster(kube_api, tmp_path, capsys, "--config", str(cfg))
    assert verdicts(results)["cluster_cert_manager"] == ("fail", "not_ready")


def test_no_ready_issuer_is_only_a_warning(kube_api, tmp_path, capsys) -> None:
    clusters.aks(kube_api)
    kube_api.cluster_issuers = []
    rc, results = run_cluster(kube_api, tmp_path, capsys)
    assert verdicts(results)["cluster_cert_manager_issuer"] == ("fail", "not_ready")
    assert verdicts(results)["cluster_cert_manager"] == PASS
    assert rc == 0


def test_configured_labels_replace_the_seed_list(kube_api, tmp_path, capsys) -> None:
    clusters.aks(kube_api)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("checks:\n  cluster_node_label:\n    labels: [gitpod.io/workload_services]\n")
    _, results = run_cluster(kube_api, tmp_path, capsys, "--config", str(cfg))
    labels = {k: v for k, v in verdicts(results).items() if k.startswith("cluster_node_label:")}
    assert labels == {"cluster_node_label:gitpod.io/workload_services": ("fail", "missing")}


def test_5000_nodes_cost_at_most_23_api_calls_per_round(kube_api, tmp_path, capsys) -> None:
    clusters.many_nodes(kube_api, 5000)
    clusters.components(kube_api)
    clusters.gitpod_daemons(kube_api)
    _, results = run_cluster(kube_api, tmp_path, capsys)
    assert verdicts(results)["cluster_workspace_daemons"] == PASS
    assert verdicts(results)["cluster_nodes_runtime"] == PASS
    assert verdicts(results)["cluster_cert_manager"] == PASS
    assert results[label("workload_meta")]["observed"] == "1667 node(s)"
    assert kube_api.calls["/api/v1/nodes"] == 3  # 5,000 / limit 2,000
    assert kube_api.calls["/version"] == 1
    # Every check of the round, not only the node-derived ones: the Gitpod installation (its
    # ConfigMap, absent here, and the proxy Service) and cert-manager's Deployments are read
    # once for all checks; the compatibility matrix adds Calico's DaemonSet (two namespaces
    # probed) and, on GKE, Dataplane V2's; admission is tried with Gitpod's four workload
    # shapes (dry-run creates); Gitpod's two DaemonSets are read by name.
    assert kube_api.calls["/api/v1/namespaces/gitpod/configmaps/gitpod"] == 1
    assert kube_api.calls["/api/v1/namespaces/gitpod/services/proxy"] == 1
    assert kube_api.calls["/apis/apps/v1/namespaces/cert-manager/deployments"] == 1
    # Admission's four dry-run creates, and cluster_network_paths' list of Gitpod's pods (no
    # pod running yet: its NetworkPolicies, namespaces and kube-dns are not listed).
    assert kube_api.calls["/api/v1/namespaces/gitpod/pods"] == 4 + 1
    assert kube_api.calls["/apis/apps/v1/namespaces/gitpod/daemonsets/ws-daemon"] == 1
    assert kube_api.total_calls <= 23, sorted(kube_api.calls.items())


def test_expired_continue_token_restarts_the_list(kube_api, tmp_path, capsys) -> None:
    clusters.many_nodes(kube_api, 1200)
    kube_api.expire_continue = 1
    cfg = tmp_path / "config.yaml"
    cfg.write_text("kubernetes:\n  page_size: 500\n")
    _, results = run_cluster(kube_api, tmp_path, capsys, "--config", str(cfg))
    assert results["cluster_nodes_runtime"]["observed"] == "1200/1200 nodes ok"
    assert kube_api.calls["/api/v1/nodes"] == 2 + 3  # 2 pages, then 410, then 3 pages
