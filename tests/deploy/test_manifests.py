"""Every kustomization renders and validates offline: built-in objects against the Kubernetes
schemas of 1.21 and of the newest release kubernetes-validate ships, the Prometheus Operator's
objects against models generated from its CRDs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from exporter.checks import settings_types
from exporter.config import load
from tests.deploy.manifests import KUSTOMIZATIONS, WORKLOADS, config_text, one, render

# kubernetes-validate 1.37 ships the schemas of 1.25-1.37; 1.28.0 is the newest that still
# ships 1.21's, so scripts/test installs it beside the venv's (a --target directory).
OLD_VALIDATOR = Path(sys.prefix) / "kubernetes-validate-1.28"
OPERATOR_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}


def validate(objects: list[dict], version: str, validator_path: Path | None, tmp: Path) -> None:
    f = tmp / f"objects-{version}.yaml"
    f.write_text(yaml.safe_dump_all(objects))
    env = dict(os.environ)
    if validator_path is not None:
        if not (validator_path / "kubernetes_validate").is_dir():
            pytest.fail(f"{validator_path} missing: scripts/test installs kubernetes-validate 1.28")
        env["PYTHONPATH"] = str(validator_path)
    out = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", version, str(f)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("INFO") == len(objects), out.stdout  # one "validated" line each


def test_every_kustomization_is_covered() -> None:
    assert set(KUSTOMIZATIONS) == {
        "base", "gitpod-rbac", "preflight", "overlays/k3s", "overlays/plain-prometheus",
        "prometheus-operator", "grafana",
    }  # fmt: skip
    # The installation's RBAC is on by default, with the other Roles in Gitpod's namespaces.
    roles = {o["metadata"]["name"] for o in render("gitpod-rbac") if o["kind"] == "Role"}
    assert roles == {"gitpod-requirements-cluster", "gitpod-requirements-installation",
                     "gitpod-requirements-installation-node",
                     "gitpod-requirements-cluster-dns"}  # fmt: skip


@pytest.mark.parametrize("directory", KUSTOMIZATIONS)
@pytest.mark.parametrize("version", ["1.21.0", "1.37.0"])
def test_builtin_objects_validate(directory: str, version: str, tmp_path: Path) -> None:
    objects = [o for o in render(directory) if o["kind"] not in OPERATOR_KINDS]
    if not objects:
        return  # prometheus-operator holds custom resources only: validated below
    validate(objects, version, OLD_VALIDATOR if version == "1.21.0" else None, tmp_path)


def test_operator_objects_validate_against_their_crds() -> None:
    # Pydantic models generated from the published CRDs. They ignore unknown fields, so a
    # round trip that loses a field means the field is not in the CRD's schema.
    from cloudcoil.models.prometheus_operator import v1

    objects = [o for o in render("prometheus-operator") if o["kind"] in OPERATOR_KINDS]
    assert sorted(o["kind"] for o in objects) == sorted(OPERATOR_KINDS)
    for obj in objects:
        model = getattr(v1, obj["kind"]).model_validate(obj)
        dumped = model.model_dump(mode="json", by_alias=True, exclude_unset=True)
        assert dumped == obj, obj["kind"]


def test_round_trip_catches_a_misspelt_field() -> None:
    from cloudcoil.models.prometheus_operator import v1

    obj = dict(one(render("prometheus-operator"), "PodMonitor", "gitpod-requirements-node"))
    obj["spec"] = {**obj["spec"], "podMetricEndpoints": obj["spec"]["podMetricsEndpoints"]}
    dumped = v1.PodMonitor.model_validate(obj).model_dump(
        mode="json", by_alias=True, exclude_unset=True
    )
    assert dumped != obj


@pytest.mark.parametrize("directory", WORKLOADS)
def test_config_map_is_a_valid_config(directory: str) -> None:
    load(config_text(render(directory)), settings_types())


def test_example_component_config_is_valid_and_its_env_is_wired() -> None:
    root = Path(__file__).resolve().parents[2]
    text = (root / "deploy/examples/config-components.yaml").read_text()
    load(text, settings_types())
    env = {e["name"]: e for e in _container(render("base"), "Deployment")["env"]}
    secret = yaml.safe_load((root / "deploy/examples/secret.yaml").read_text())
    for name in ("GRE_DB_PASSWORD", "GRE_STORAGE_ACCESS_KEY_ID",
                 "GRE_STORAGE_SECRET_ACCESS_KEY", "GRE_REGISTRY_PASSWORD"):  # fmt: skip
        assert f"{{env: {name}}}" in text
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == secret["metadata"]["name"]
        assert ref["key"] in secret["stringData"]


def _container(objects: tuple[dict, ...], kind: str) -> dict:
    (workload,) = [o for o in objects if o["kind"] == kind]
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return container


@pytest.mark.parametrize("directory", WORKLOADS)
def test_workloads_are_hardened_as_their_role_allows(directory: str) -> None:
    objects = render(directory)
    deployment = one(objects, "Deployment", "gitpod-requirements-cluster")["spec"]["template"]
    pod_sc = deployment["spec"]["securityContext"]
    assert pod_sc["runAsNonRoot"] is True
    assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = _container(objects, "Deployment")["securityContext"]
    assert sc == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    daemonset = one(objects, "DaemonSet", "gitpod-requirements-node")["spec"]["template"]
    assert daemonset["spec"]["tolerations"] == [{"operator": "Exists"}]
    node = _container(objects, "DaemonSet")
    assert node["securityContext"]["privileged"] is True
    assert "--host-root=/host" in node["args"]
    env = {e["name"]: e for e in node["env"]}
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    for c in (node, _container(objects, "Deployment")):
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert "memory" in c["resources"]["limits"]
    # Job names the alert rules select on.
    assert daemonset["metadata"]["labels"]["gitpod-requirements/job"] == "gitpod-requirements-node"
    assert (deployment["metadata"]["labels"]["gitpod-requirements/job"]
            == "gitpod-requirements-cluster")  # fmt: skip


def test_monitors_name_the_jobs_the_alerts_expect() -> None:
    base = render("base")
    ops = render("prometheus-operator")
    sm = one(ops, "ServiceMonitor", "gitpod-requirements-cluster")
    services = [o for o in base if o["kind"] == "Service"
                and all(o["metadata"]["labels"].get(k) == v
                        for k, v in sm["spec"]["selector"]["matchLabels"].items())]  # fmt: skip
    assert [s["metadata"]["name"] for s in services] == ["gitpod-requirements-cluster"]
    (endpoint,) = sm["spec"]["endpoints"]
    assert {"targetLabel": "job", "replacement": "gitpod-requirements-cluster"} in endpoint[
        "relabelings"
    ]
    pm = one(ops, "PodMonitor", "gitpod-requirements-node")
    ds = one(base, "DaemonSet", "gitpod-requirements-node")
    labels = ds["spec"]["template"]["metadata"]["labels"]
    assert pm["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (endpoint,) = pm["spec"]["podMetricsEndpoints"]
    assert {"targetLabel": "job", "replacement": "gitpod-requirements-node"} in endpoint[
        "relabelings"
    ]
    ports = {p["name"] for p in _container(base, "DaemonSet")["ports"]}
    assert endpoint["port"] in ports


def test_grafana_config_maps_carry_the_sidecar_label() -> None:
    maps = render("grafana")
    assert len(maps) == 2
    for cm in maps:
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"


def test_the_preflight_job_runs_check_once_with_the_cluster_roles_rbac() -> None:
    objects = render("preflight")
    job = one(objects, "Job", "gitpod-requirements-preflight")
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"][:2] == ["check", "--role=cluster"]
    assert (job["spec"]["backoffLimit"], pod["restartPolicy"]) == (0, "Never")
    assert pod["serviceAccountName"] == "gitpod-requirements-cluster"
    assert container["image"].startswith("ghcr.io/gitpod-io/gitpod-requirements-exporter:")
    # The same RBAC as the exporter's cluster role, nothing of the DaemonSet.
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert ("ClusterRole", "gitpod-requirements-cluster") in kinds
    assert not any(k == "DaemonSet" for k, _ in kinds)


def test_plain_prometheus_scrape_config_is_valid_and_labels_nodes(tmp_path: Path) -> None:
    from tests.monitoring.promql import promtool

    path = Path(__file__).resolve().parents[2] / "deploy/overlays/plain-prometheus"
    doc = yaml.safe_load((path / "prometheus-scrape-config.yaml").read_text())
    jobs = {j["job_name"]: j for j in doc["scrape_configs"]}
    # Debian's promtool is built without Kubernetes discovery: promtool checks the rest (the
    # relabelings, honor_labels) with the discovery swapped for a static target.
    for job in jobs.values():
        (sd,) = job.pop("kubernetes_sd_configs")
        assert sd == {"role": "pod", "namespaces": {"names": ["gitpod-requirements"]}}
        job["static_configs"] = [{"targets": ["127.0.0.1:18110"]}]
    checked = tmp_path / "prometheus.yml"
    checked.write_text(yaml.safe_dump(doc))
    out = promtool("check", "config", str(checked))
    assert out.returncode == 0, out.stdout + out.stderr
    assert set(jobs) == {"gitpod-requirements-node", "gitpod-requirements-cluster"}
    node = jobs["gitpod-requirements-node"]
    assert node["honor_labels"] is True
    assert {"source_labels": ["__meta_kubernetes_pod_node_name"], "target_label": "node"} in (
        node["relabel_configs"]
    )
    pods = render("overlays/plain-prometheus")
    for kind in ("DaemonSet", "Deployment"):
        annotations = _pod_annotations(pods, kind)
        assert annotations["prometheus.io/scrape"] == "true"


def _pod_annotations(objects: tuple[dict, ...], kind: str) -> dict:
    (workload,) = [o for o in objects if o["kind"] == kind]
    return workload["spec"]["template"]["metadata"]["annotations"]
