"""The Helm chart, the single source of deploy/: linted and rendered by Helm's own engine
(helm-python-sdk), every values file's objects validated, the properties that make it start on
GKE-, EKS- and K3s-shaped clusters asserted, and the committed plain manifests equal to a fresh
render."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
import yaml
from helm_python.chart import lint

from exporter import __version__
from exporter.checks import settings_types
from exporter.config import load
from exporter.webconfig import load_web_config
from tests.deploy.manifests import CHART, DEPLOY, VALUES_FILES, chart, one, renderer
from tests.deploy.test_manifests import OLD_VALIDATOR, OPERATOR_KINDS, validate

ROOT = DEPLOY.parent
EXPORTER_NS = "gitpod-requirements"


def test_committed_plain_manifests_are_a_fresh_render_of_the_chart() -> None:
    r = renderer()
    for path, text in {**r.mixin_outputs(), **r.outputs()}.items():
        assert path.read_text() == text, f"run python deploy/render.py ({path.relative_to(ROOT)})"


@pytest.mark.parametrize("values", [None, *VALUES_FILES], ids=lambda p: p.name if p else "defaults")
def test_helm_lint_is_clean(values: Path | None) -> None:
    out = lint(CHART, yaml.safe_load(values.read_text()) if values else None, strict=True)
    assert out["errors"] == [], out
    assert [m for m in out["messages"] if m.get("severity", 0) >= 2] == [], out["messages"]


@pytest.mark.parametrize("values", [None, *VALUES_FILES], ids=lambda p: p.name if p else "defaults")
@pytest.mark.parametrize("version", ["1.21.0", "1.37.0"])
def test_every_values_file_renders_valid_objects(
    values: Path | None, version: str, tmp_path: Path
) -> None:
    objects = chart(None, *([values.name] if values else []))
    builtin = [o for o in objects if o["kind"] not in OPERATOR_KINDS]
    validate(builtin, version, OLD_VALIDATOR if version == "1.21.0" else None, tmp_path)


@pytest.mark.parametrize("values", VALUES_FILES, ids=lambda p: p.name)
def test_operator_objects_of_every_values_file_match_their_crds(values: Path) -> None:
    from cloudcoil.models.prometheus_operator import v1

    for obj in (o for o in chart(None, values.name) if o["kind"] in OPERATOR_KINDS):
        model = getattr(v1, obj["kind"]).model_validate(obj)
        assert model.model_dump(mode="json", by_alias=True, exclude_unset=True) == obj


def test_the_schema_rejects_a_misspelt_or_mistyped_value() -> None:
    bad_values = (
        {"nod": {"enabled": False}},
        {"node": {"enabeld": False}},
        {"port": "http"},
        {"gitpod": {"namespaceExists": "maybe"}},
        {"node": {"priorityClassName": 1}},
    )
    for bad in bad_values:
        with pytest.raises(Exception, match=r"values don't meet the specifications|schema"):
            chart(bad)


def _pod(objects: tuple[dict, ...], kind: str) -> dict:
    (workload,) = [o for o in objects if o["kind"] == kind]
    return workload["spec"]["template"]


def test_default_node_pods_run_on_every_real_linux_node_without_a_system_priority() -> None:
    objects = chart()
    spec = _pod(objects, "DaemonSet")["spec"]
    assert "priorityClassName" not in spec
    assert not [o for o in objects if o["kind"] == "ResourceQuota"]
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}
    (term,) = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    excluded = {e["key"]: e["values"] for e in term["matchExpressions"] if e["operator"] == "NotIn"}
    assert excluded == {"eks.amazonaws.com/compute-type": ["fargate"], "type": ["virtual-kubelet"]}
    assert spec["tolerations"] == [{"operator": "Exists"}]


def test_a_system_priority_class_brings_the_quota_gke_requires() -> None:
    objects = chart(None, "gke-values.yaml")
    assert _pod(objects, "DaemonSet")["spec"]["priorityClassName"] == "system-node-critical"
    quota = one(objects, "ResourceQuota", "gitpod-requirements-node-priority")
    assert quota["metadata"]["namespace"] == EXPORTER_NS
    (expr,) = quota["spec"]["scopeSelector"]["matchExpressions"]
    assert expr == {"operator": "In", "scopeName": "PriorityClass",
                    "values": ["system-node-critical"]}  # fmt: skip
    assert not [o for o in chart({"node": {"priorityClassName": "my-class"}})
                if o["kind"] == "ResourceQuota"]  # fmt: skip


@pytest.mark.parametrize("values", [None, "k3s-values.yaml"])
def test_a_missing_containerd_or_cni_never_stops_the_node_pod(values: str | None) -> None:
    objects = chart(None, *([values] if values else []))
    volumes = {v["name"]: v["hostPath"] for v in _pod(objects, "DaemonSet")["spec"]["volumes"]
               if "hostPath" in v}  # fmt: skip
    for name in ("containerd", "cni"):
        # Under /etc (the default CNI directory) it is seen through the /etc mount.
        if name in volumes:
            assert volumes[name]["type"] in ("", "DirectoryOrCreate"), name
        else:
            assert volumes["etc"]["path"] == "/etc" and name == "cni", volumes
    # Directories every Linux node has, typed so: the kubelet creates nothing there.
    for name in ("etc", "usr", "proc"):
        assert volumes[name]["type"] == "Directory", name
    text = one(objects, "ConfigMap", "gitpod-requirements-exporter")["data"]["config.yaml"]
    load(text, settings_types())
    checks = yaml.safe_load(text)["checks"]
    assert checks["node_containerd"]["sockets"] == [
        volumes["containerd"]["path"] + "/containerd.sock"
    ]
    cni = volumes["cni"]["path"] if "cni" in volumes else "/etc/cni/net.d"
    assert checks["node_cni_calico"]["directory"] == cni


def _checksum(values: dict) -> str:
    return _pod(chart(values), "Deployment")["metadata"]["annotations"]["checksum/config"]


def test_the_pods_roll_when_the_config_changes() -> None:
    before = _checksum({})
    after = _checksum({"config": {"checks": {"node_cpu": {"interval": "2m"}}}})
    assert re.fullmatch(r"[0-9a-f]{64}", before) and before != after
    assert _checksum({}) == before
    ds = _pod(chart({"config": {"checks": {"node_cpu": {"interval": "2m"}}}}), "DaemonSet")
    assert ds["metadata"]["annotations"]["checksum/config"] == after


def test_the_users_config_wins_over_what_the_chart_implies() -> None:
    mine = {"kubernetes": {"namespace": "gp"}, "checks": {"node_containerd": {"sockets": ["/x"]}}}
    objects = chart({"config": mine})
    config = yaml.safe_load(
        one(objects, "ConfigMap", "gitpod-requirements-exporter")["data"]["config.yaml"]
    )
    assert config["kubernetes"]["namespace"] == "gp"
    assert config["checks"]["node_containerd"]["sockets"] == ["/x"]
    assert config["checks"]["cluster_cert_manager"]["namespace"] == "cert-manager"


def test_kube_prometheus_stack_picks_up_monitors_and_rules_with_one_value() -> None:
    objects = chart({"monitoring": {"enabled": True}})
    kinds = {o["kind"]: o for o in objects if o["kind"] in OPERATOR_KINDS}
    assert set(kinds) == set(OPERATOR_KINDS)
    for obj in kinds.values():
        assert obj["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    (endpoint,) = kinds["PodMonitor"]["spec"]["podMetricsEndpoints"]
    assert endpoint["honorLabels"] is True
    assert {"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node"} in (
        endpoint["relabelings"]
    )
    rules = yaml.safe_load((ROOT / "dashboards" / "alerts.yaml").read_text())
    assert kinds["PrometheusRule"]["spec"] == rules


def test_dashboards_reach_the_grafana_sidecar() -> None:
    maps = [o for o in chart({"grafanaDashboards": {"enabled": True}}) if o["kind"] == "ConfigMap"
            and o["metadata"]["labels"].get("grafana_dashboard") == "1"]  # fmt: skip
    assert len(maps) == 2
    for cm in maps:
        ((name, text),) = cm["data"].items()
        assert json.loads(text) == json.loads((ROOT / "dashboards" / name).read_text())


def test_web_config_is_wired_to_the_pods_and_the_monitors(tmp_path: Path) -> None:
    objects = chart(None, "secure-values.yaml")
    web = one(objects, "Secret", "gitpod-requirements-exporter-web")
    text = base64.b64decode(web["data"]["web-config.yml"]).decode()
    doc = yaml.safe_load(text)
    assert doc["tls_server_config"] == {
        "cert_file": "/etc/gitpod-requirements-exporter-tls/tls.crt",
        "key_file": "/etc/gitpod-requirements-exporter-tls/tls.key",
    }
    # The exporter accepts the users part as it is (TLS needs the files, absent here).
    del doc["tls_server_config"]
    f = tmp_path / "web.yml"
    f.write_text(yaml.safe_dump(doc))
    assert set(load_web_config(str(f)).basic_auth_users) == {"prometheus"}
    for kind in ("DaemonSet", "Deployment"):
        pod = _pod(objects, kind)
        (c,) = pod["spec"]["containers"]
        assert "--web-config=/etc/gitpod-requirements-exporter-web/web-config.yml" in c["args"]
        assert c["livenessProbe"]["httpGet"]["scheme"] == "HTTPS"
        mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
        assert mounts["web-tls"] == "/etc/gitpod-requirements-exporter-tls"
        assert "checksum/web-config" in pod["metadata"]["annotations"]
    sm = one(objects, "ServiceMonitor", "gitpod-requirements-cluster")
    (endpoint,) = sm["spec"]["endpoints"]
    assert endpoint["scheme"] == "https"
    assert endpoint["basicAuth"]["password"] == {"name": "gitpod-requirements-exporter-scrape",
                                                 "key": "password"}  # fmt: skip
    policy = one(objects, "NetworkPolicy", "gitpod-requirements-exporter")
    assert policy["spec"]["ingress"][0]["ports"] == [{"port": "metrics", "protocol": "TCP"}]


def test_pods_carry_the_recommended_labels() -> None:
    for kind in ("DaemonSet", "Deployment"):
        labels = _pod(chart(), kind)["metadata"]["labels"]
        for key in ("name", "instance", "version", "component", "managed-by", "part-of"):
            assert f"app.kubernetes.io/{key}" in labels, (kind, key)


def test_before_gitpod_every_object_is_in_a_namespace_the_render_creates() -> None:
    """deploy/base, the overlays and deploy/preflight apply on a cluster without Gitpod or
    cert-manager: nothing targets a namespace they do not create."""
    from tests.deploy.manifests import render

    for directory in ("base", "overlays/k3s", "overlays/plain-prometheus", "preflight"):
        objects = render(directory)
        created = {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"}
        assert created == {EXPORTER_NS}, directory
        used = {o["metadata"]["namespace"] for o in objects if "namespace" in o["metadata"]}
        assert used <= created, (directory, used)
    # helm template cannot look the namespaces up: "auto" leaves their Roles out.
    assert not [o for o in chart() if o["metadata"].get("namespace") in ("gitpod", "cert-manager")]
    existing = chart({"gitpod": {"namespaceExists": True}})
    roles = {(o["kind"], o["metadata"]["namespace"]) for o in existing
             if o["kind"] in ("Role", "RoleBinding")}  # fmt: skip
    # The node role's own Role (its Service's EndpointSlices) is in the release namespace.
    # cluster_network_paths' Role to list kube-dns' pods is in kube-system, always there.
    assert roles == {("Role", "gitpod"), ("RoleBinding", "gitpod"),
                     ("Role", EXPORTER_NS), ("RoleBinding", EXPORTER_NS),
                     ("Role", "kube-system"), ("RoleBinding", "kube-system")}  # fmt: skip


def test_installation_rbac_follows_its_values() -> None:
    on = chart({"gitpod": {"namespaceExists": True, "extraSecretNames": ["github-oauth"]}})
    role = one(on, "Role", "gitpod-requirements-installation")
    names = role["rules"][1]["resourceNames"]
    assert "https-certificates" in names and names[-1] == "github-oauth"
    off = chart({"gitpod": {"namespaceExists": True, "readInstallation": False}})
    assert not [o for o in off if o["metadata"]["name"] == "gitpod-requirements-installation"]
    config = yaml.safe_load(
        one(off, "ConfigMap", "gitpod-requirements-exporter")["data"]["config.yaml"]
    )
    assert config["gitpod"] == {"source": "none"}


def test_secret_env_names_match_the_readme_and_the_examples() -> None:
    (c,) = _pod(chart(), "Deployment")["spec"]["containers"]
    env = {e["name"]: e["valueFrom"]["secretKeyRef"]["key"] for e in c["env"]}
    values = yaml.safe_load((CHART / "values.yaml").read_text())["secrets"]["values"]
    assert set(env.values()) == set(values)
    docs = "".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))
    named = set(re.findall(r"\{env: ([A-Z_]+)\}", docs)) - {"VAR"}
    assert named and named <= set(env), named - set(env)


def test_one_version_for_the_package_the_chart_and_the_image() -> None:
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert meta["version"] == meta["appVersion"] == __version__
    images = {c["image"] for o in chart() if o["kind"] in ("DaemonSet", "Deployment")
              for c in o["spec"]["template"]["spec"]["containers"]}  # fmt: skip
    assert images == {f"ghcr.io/gitpod-io/gitpod-requirements-exporter:{__version__}"}
    pinned = chart({"image": {"digest": "sha256:" + "a" * 64}})
    (c,) = _pod(pinned, "Deployment")["spec"]["containers"]
    assert c["image"].endswith(f":{__version__}@sha256:" + "a" * 64)


def test_platform_admission_rules_admit_every_pod() -> None:
    """The admission rules of the platforms Gitpod runs on, applied to the plain manifests and
    to each values file: PodSecurity admits the privileged node pod only in a namespace
    enforcing `privileged`; GKE admits a system priority class outside kube-system only with a
    ResourceQuota for it in the namespace."""
    from tests.deploy.manifests import render

    renders = {d: render(d) for d in ("base", "overlays/k3s", "overlays/plain-prometheus")}
    renders |= {f.name: chart({"namespace": {"create": True}}, f.name) for f in VALUES_FILES}
    for name, objects in renders.items():
        namespaces = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Namespace"}
        for workload in (o for o in objects if o["kind"] in ("DaemonSet", "Deployment", "Job")):
            ns = workload["metadata"]["namespace"]
            spec = workload["spec"]["template"]["spec"]
            if any(c.get("securityContext", {}).get("privileged") for c in spec["containers"]):
                labels = namespaces[ns]["metadata"]["labels"]
                assert labels["pod-security.kubernetes.io/enforce"] == "privileged", name
            cls = spec.get("priorityClassName", "")
            if cls.startswith("system-") and ns != "kube-system":
                quotas = [
                    o
                    for o in objects
                    if o["kind"] == "ResourceQuota"
                    and o["metadata"]["namespace"] == ns
                    and cls in o["spec"]["scopeSelector"]["matchExpressions"][0]["values"]
                ]
                assert quotas, (name, workload["metadata"]["name"], cls)


def test_many_clusters_the_monitors_label_the_cluster_and_the_pods_invite_agents() -> None:
    objects = chart(None, "many-clusters-values.yaml")
    label = {"targetLabel": "cluster", "replacement": "eu-west-1"}
    (svc_endpoint,) = one(objects, "ServiceMonitor", "gitpod-requirements-cluster")[
        "spec"]["endpoints"]  # fmt: skip
    (pod_endpoint,) = one(objects, "PodMonitor", "gitpod-requirements-node")["spec"][
        "podMetricsEndpoints"]  # fmt: skip
    assert label in svc_endpoint["relabelings"] and label in pod_endpoint["relabelings"]
    for kind, name in (("DaemonSet", "gitpod-requirements-node"),
                       ("Deployment", "gitpod-requirements-cluster")):  # fmt: skip
        ann = one(objects, kind, name)["spec"]["template"]["metadata"]["annotations"]
        assert {k: ann[k] for k in ann if k.startswith("prometheus.io/")} == {
            "prometheus.io/scrape": "true", "prometheus.io/port": "18110",
            "prometheus.io/path": "/metrics", "prometheus.io/scheme": "http"}  # fmt: skip
    # Without a value, no cluster label: the agent's external_labels set it.
    default = chart({"monitoring": {"enabled": True}})
    for obj in default:
        if obj["kind"] in ("ServiceMonitor", "PodMonitor"):
            assert '"targetLabel": "cluster"' not in json.dumps(obj["spec"]), obj["kind"]
