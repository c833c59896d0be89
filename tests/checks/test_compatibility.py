"""cluster_compatibility:<component> against both matrix entries, on clusters with the version
strings real providers report, Calico and cert-manager as their installers deploy them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.cli import main
from tests import clusters, gitpod_install
from tests.helpers.cluster import check_cluster
from tests.servers.kube_fake import FakeKube, configmap, node, obj
from tests.servers.mariadb import MariaDB

COMPAT = "cluster_compatibility:"


def cert_manager_version(fake: FakeKube, version: str, as_label: bool = True) -> None:
    controller = fake.deployments[0]
    if as_label:
        controller["metadata"]["labels"] = {"app.kubernetes.io/version": version}
    controller["spec"]["template"] = {
        "spec": {
            "containers": [
                {
                    "name": "cert-manager-controller",
                    "image": f"quay.io/jetstack/cert-manager-controller:{version}",
                }
            ]
        }
    }


def gke_122(fake: FakeKube) -> None:
    """A cluster the 2022.11 matrix tested throughout."""
    fake.git_version = "v1.24.10-gke.2300"
    for i, labels in enumerate((clusters.SERVICES, clusters.WORKSPACES)):
        name = f"gke-gitpod-pool-{i}"
        fake.nodes[name] = node(
            name,
            {**labels, "cloud.google.com/gke-nodepool": f"pool-{i}"},
            kubelet="v1.23.17-gke.1700",
            kernel="5.4.0-1098-gke",
            os_image="Ubuntu 20.04.6 LTS",
            runtime="containerd://1.6.18",
        )
    clusters.components(fake)
    clusters.calico(fake)
    cert_manager_version(fake, "v1.11.0")


def eks_bottlerocket(fake: FakeKube) -> None:
    fake.git_version = "v1.25.10-eks-c12679a"
    fake.nodes["ip-10-0-1-17"] = node(
        "ip-10-0-1-17",
        clusters.ALL_LABELS,
        kubelet="v1.24.13-eks-0a21954",
        kernel="5.15.108",
        os_image="Bottlerocket OS 1.14.0 (aws-k8s-1.25)",
        runtime="containerd://1.6.20+bottlerocket",
        provider_id="aws:///eu-west-1a/i-0abc",
    )
    clusters.components(fake)
    clusters.calico(fake, "v3.21.4", mode="ipip")
    cert_manager_version(fake, "v1.5.3", as_label=False)


def run(fake: FakeKube, tmp_path: Path, capsys, config: dict[str, Any] | None = None):
    results = check_cluster(fake, tmp_path, capsys, config)
    return {k: r for k, r in results.items() if k.startswith(COMPAT)}


def verdicts(results: dict) -> dict[str, tuple[str, str]]:
    return {k.removeprefix(COMPAT): (r["status"], r["reason"]) for k, r in results.items()}


NOT_JUDGED_HERE = {
    "database": ("skipped", "not_configured"),
    "registry": ("skipped", "not_configured"),
}


def test_a_tested_cluster_passes_every_component(kube_api, tmp_path, capsys) -> None:
    gke_122(kube_api)
    results = run(kube_api, tmp_path, capsys)
    assert (
        verdicts(results)
        == {
            c: ("pass", "")
            for c in (
                "kubernetes",
                "platform",
                "os",
                "kernel",
                "containerd",
                "calico",
                "cert_manager",
            )
        }
        | NOT_JUDGED_HERE
    )
    assert "judged against release 2022.11 (the newest" in results[f"{COMPAT}os"]["detail"]


@pytest.mark.parametrize(
    ("release", "kubernetes", "os"),
    [
        ("2022.11", ("fail", "untested"), ("fail", "untested")),
        ("2022.06", ("fail", "untested"), ("fail", "untested")),
    ],
)
def test_outside_the_matrix_says_what_is_untested(
    kube_api, tmp_path, capsys, release, kubernetes, os
) -> None:
    eks_bottlerocket(kube_api)
    results = run(kube_api, tmp_path, capsys, {"gitpod": {"release": release}})
    got = verdicts(results)
    assert got["kubernetes"] == kubernetes
    assert "1.25 on the API server" in results[f"{COMPAT}kubernetes"]["detail"]
    assert got["platform"] == ("pass", "")  # EKS is supported
    assert got["os"] == os and "Bottlerocket" in results[f"{COMPAT}os"]["detail"]
    assert got["kernel"] == ("fail", "untested")  # 5.15: above the tested range
    assert got["calico"] == ("fail", "untested")  # IPIP, not VXLAN
    assert got["cert_manager"] == ("fail", "untested")  # 1.5.3 is not > 1.5
    assert f"release {release} (gitpod.release)" in results[f"{COMPAT}kernel"]["detail"]


def test_the_two_releases_differ_on_kubernetes_minors(kube_api, tmp_path, capsys) -> None:
    gke_122(kube_api)
    kube_api.git_version = "v1.21.14-gke.700"
    for n in kube_api.nodes.values():
        n["status"]["nodeInfo"]["kubeletVersion"] = "v1.21.14-gke.700"
    newest = verdicts(run(kube_api, tmp_path, capsys))
    mid_2022 = verdicts(run(kube_api, tmp_path, capsys, {"gitpod": {"release": "2022.06"}}))
    assert newest["kubernetes"] == ("fail", "untested")
    assert mid_2022["kubernetes"] == ("pass", "")


def test_the_installed_release_is_read_from_versions_json(kube_api, tmp_path, capsys) -> None:
    gke_122(kube_api)
    gitpod_install.install(kube_api, gitpod_install.config(), {})
    kube_api.configmaps["gitpod/gitpod"]["data"]["versions.json"] = json.dumps(
        {"version": "release-2022.06.1", "components": {}}
    )
    results = run(kube_api, tmp_path, capsys)
    assert "release 2022.06 (installed release-2022.06.1)" in results[f"{COMPAT}os"]["detail"]


def test_platforms_gitpod_cannot_run_on(kube_api, tmp_path, capsys) -> None:
    gke_122(kube_api)
    kube_api.daemonsets["kube-system/anetd"] = obj("DaemonSet", "apps/v1", "anetd", "kube-system")
    assert verdicts(run(kube_api, tmp_path, capsys))["platform"] == ("fail", "unsupported")
    clusters.openshift(kube_api)
    assert verdicts(run(kube_api, tmp_path, capsys))["platform"] == ("fail", "incompatible")


def test_k3s_is_untested_but_no_warning(kube_api, tmp_path, capsys) -> None:
    clusters.k3s_single(kube_api)
    results = run(kube_api, tmp_path, capsys)
    assert verdicts(results)["platform"] == ("pass", "")
    assert "not tested by Gitpod" in results[f"{COMPAT}platform"]["detail"]


def test_no_calico_and_unreadable_pools(kube_api, tmp_path, capsys) -> None:
    gke_122(kube_api)
    kube_api.ippools = []
    results = run(kube_api, tmp_path, capsys)
    assert verdicts(results)["calico"] == ("pass", "")
    assert "not judged" in results[f"{COMPAT}calico"]["detail"]
    kube_api.daemonsets.clear()
    assert verdicts(run(kube_api, tmp_path, capsys))["calico"] == ("fail", "missing")


def test_a_custom_matrix_file_changes_the_verdict(kube_api, tmp_path, capsys) -> None:
    eks_bottlerocket(kube_api)
    matrix = yaml.safe_load(Path("exporter/compat/matrix.yaml").read_text())
    entry = matrix["releases"]["2022.11"]
    entry["kubernetes"]["tested"] += ["1.24", "1.25"]
    entry["kernel"]["below"] = "6.2"
    entry["os"]["tested"].append("Bottlerocket OS 1.14")
    matrix["releases"] = {"2023.01-patched": entry}
    path = tmp_path / "matrix.yaml"
    path.write_text(yaml.safe_dump(matrix))
    got = verdicts(run(kube_api, tmp_path, capsys, {"compatibility": {"file": str(path)}}))
    assert (got["kubernetes"], got["kernel"], got["os"]) == (("pass", ""),) * 3


def test_a_broken_matrix_file_stops_start_up(tmp_path, capsys) -> None:
    path = tmp_path / "matrix.yaml"
    path.write_text("releases:\n  '2023.01':\n    kubernets: {tested: ['1.25']}\n")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"compatibility": {"file": str(path)}}))
    assert main(["check", "--role", "cluster", "--config", str(cfg)]) == 2
    assert "releases.2023.01.kubernets: unknown component" in capsys.readouterr().err


def test_ecr_is_not_supported_even_while_unreachable(kube_api, tmp_path, capsys) -> None:
    gke_122(kube_api)
    url = "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    # Nothing answers there from this machine: the V2 check fails, the matrix still judges.
    kube_api.configmaps["gitpod/gitpod"] = configmap("gitpod", "gitpod", {})
    results = run(
        kube_api, tmp_path, capsys, {"checks": {"cluster_registry": {"url": url, "timeout": "2s"}}}
    )
    assert verdicts(results)["registry"] == ("fail", "unsupported")


def test_mariadb_is_untested_by_gitpod(
    kube_api, tmp_path, capsys, mariadb: MariaDB, monkeypatch
) -> None:
    gke_122(kube_api)
    monkeypatch.setenv("GRE_DB_PASSWORD", mariadb.password)
    config = {
        "checks": {
            "cluster_database": {
                "host": mariadb.host,
                "port": mariadb.port,
                "user": mariadb.user,
                "password": {"env": "GRE_DB_PASSWORD"},
            }
        }
    }
    results = run(kube_api, tmp_path, capsys, config)
    assert verdicts(results)["database"] == ("fail", "untested")
    assert "mariadb 10." in results[f"{COMPAT}database"]["observed"]
