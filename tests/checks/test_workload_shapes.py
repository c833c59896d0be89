"""cluster_privileged_pods dry-runs the pods Gitpod really runs; the report names the shape,
the admission controller that refused it and its message."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.cli import main
from tests import clusters
from tests.helpers.cluster import check_cluster
from tests.servers.kube_fake import FakeKube


def run(fake: FakeKube, tmp_path: Path, capsys, config: dict | None = None) -> dict:
    return check_cluster(fake, tmp_path, capsys, config)["cluster_privileged_pods"]


def test_every_shape_is_admitted_on_a_permissive_cluster(kube_api, tmp_path, capsys) -> None:
    clusters.aks(kube_api)
    r = run(kube_api, tmp_path, capsys)
    assert (r["status"], r["observed"]) == ("pass", "admitted")
    shapes = {b["metadata"]["generateName"] for b in kube_api.dry_run_bodies}
    assert shapes == {
        f"gitpod-requirements-{s}-" for s in ("probe", "ws-daemon", "registry-facade", "proxy")
    }
    ws_daemon = next(b for b in kube_api.dry_run_bodies if "ws-daemon" in str(b["metadata"]))
    assert ws_daemon["spec"]["hostPID"] is True
    assert ws_daemon["spec"]["priorityClassName"] == "system-node-critical"
    assert kube_api.created == []


@pytest.mark.parametrize(
    ("admission", "refused", "controller", "words"),
    [
        (
            clusters.pod_security_baseline,
            {"privileged", "ws-daemon", "registry-facade", "proxy"},
            "PodSecurity",
            'violates PodSecurity "baseline:latest": host namespaces (hostPID=true)',
        ),
        (clusters.gatekeeper_host_ports, {"registry-facade"}, "Gatekeeper", "[psp-host-ports]"),
        (
            clusters.gke_critical_priority_quota,
            {"ws-daemon"},
            "ResourceQuota",
            "insufficient quota to match these scopes",
        ),
    ],
)
def test_refusals_name_the_shape_and_the_controller(
    kube_api, tmp_path, capsys, admission, refused, controller, words
) -> None:
    clusters.aks(kube_api)
    kube_api.admission = admission
    r = run(kube_api, tmp_path, capsys)
    assert (r["status"], r["reason"]) == ("fail", "denied")
    assert r["observed"] == f"{len(refused)} of 4 denied"
    for shape in refused:
        assert f"{shape}: refused by {controller}" in r["detail"]
    assert words in r["detail"]


def test_shapes_are_configurable_and_unknown_ones_refused(kube_api, tmp_path, capsys) -> None:
    clusters.aks(kube_api)
    kube_api.admission = clusters.gatekeeper_host_ports
    r = run(
        kube_api,
        tmp_path,
        capsys,
        {"checks": {"cluster_privileged_pods": {"shapes": ["ws-daemon", "proxy"]}}},
    )
    assert r["status"] == "pass"
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("checks:\n  cluster_privileged_pods:\n    shapes: [ws-deamon]\n")
    assert main(["check", "--role", "cluster", "--config", str(cfg)]) == 2
    assert "checks.cluster_privileged_pods.shapes: unknown shape 'ws-deamon'" in (
        capsys.readouterr().err
    )
