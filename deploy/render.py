"""Renders everything generated in this repository: the monitoring mixin (mixin/build.py),
then the Helm chart into the plain manifests kubectl users apply (deploy/base, the overlays,
deploy/gitpod-rbac, deploy/preflight, deploy/prometheus-operator, deploy/grafana). The chart is
the single source; `python deploy/render.py` after changing it or the mixin, and
tests/deploy fails when a committed file differs from a fresh render.

Helm's own engine renders the chart (helm-python-sdk embeds it), so no helm binary is needed.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from helm_python.chart import Chart

DEPLOY = Path(__file__).resolve().parent
ROOT = DEPLOY.parent
CHART = DEPLOY / "helm" / "gitpod-requirements-exporter"
RELEASE = "gitpod-requirements-exporter"
NAMESPACE = "gitpod-requirements"

# kubectl users apply these files whether or not Gitpod and cert-manager are installed yet, so
# they hold no object in a namespace they do not create: the Roles in those namespaces are
# in deploy/gitpod-rbac, applied once the namespaces exist.
PLAIN: dict[str, Any] = {
    "namespace": {"create": True},
    "gitpod": {"namespaceExists": False},
    "certManager": {"namespaceExists": False},
    "cluster": {"kubeDnsRole": False},
}
OPERATOR_KINDS = ("ServiceMonitor", "PodMonitor", "PrometheusRule")

# The order kubectl should create objects in when applying a file (Helm's install order).
ORDER = (
    "Namespace", "NetworkPolicy", "ResourceQuota", "ServiceAccount", "Secret", "ConfigMap",
    "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Service", "DaemonSet",
    "Deployment", "Job", "PodDisruptionBudget", *OPERATOR_KINDS,
)  # fmt: skip


@dataclass(frozen=True)
class Render:
    path: str  # under deploy/
    values_files: tuple[str, ...] = ()  # under the chart's ci/
    values: dict[str, Any] = field(default_factory=dict)
    kinds: tuple[str, ...] = ()  # empty: every kind
    label: str = ""  # only objects carrying this label
    # Only objects in other namespaces than the exporter's own (those are in base/ already).
    elsewhere: bool = False
    about: str = ""


RENDERS = (
    Render("base/gitpod-requirements-exporter.yaml", values=PLAIN,
           about="Both roles with their RBAC, config and Services."),
    Render("overlays/k3s/gitpod-requirements-exporter.yaml", ("k3s-values.yaml",), PLAIN,
           about="Both roles on K3s (its containerd and CNI paths)."),
    Render("overlays/plain-prometheus/gitpod-requirements-exporter.yaml",
           ("plain-prometheus-values.yaml",), PLAIN,
           about="Both roles, pods annotated for Prometheus without the Operator."),
    Render("preflight/gitpod-requirements-preflight.yaml", ("preflight-values.yaml",), PLAIN,
           about="The preflight Job with the cluster role's RBAC."),
    Render("gitpod-rbac/gitpod-requirements-rbac.yaml",
           values={"gitpod": {"namespaceExists": True},
                   "certManager": {"namespaceExists": True}},
           kinds=("Role", "RoleBinding"), elsewhere=True,
           about="The cluster role's Roles in the gitpod, cert-manager and kube-system "
                 "namespaces: apply once they exist."),
    Render("prometheus-operator/gitpod-requirements-monitoring.yaml",
           ("kube-prometheus-stack-values.yaml",), kinds=OPERATOR_KINDS,
           about="ServiceMonitor, PodMonitor and PrometheusRule."),
    Render("grafana/gitpod-requirements-dashboards.yaml",
           ("kube-prometheus-stack-values.yaml",), kinds=("ConfigMap",),
           label="grafana_dashboard",
           about="The dashboards as ConfigMaps for the Grafana sidecar."),
)  # fmt: skip


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def values_for(render: Render) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in render.values_files:
        values = merge(values, yaml.safe_load((CHART / "ci" / name).read_text()) or {})
    return merge(values, render.values)


def documents(values: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(template, text, object) of every object the chart renders with these values."""
    rendered = Chart.load(CHART).render(values, name=RELEASE, namespace=NAMESPACE)
    docs = []
    for template, text in sorted(rendered.items()):
        if not template.endswith((".yaml", ".yml")):
            continue  # NOTES.txt
        for part in text.split("\n---\n"):
            obj = yaml.safe_load(part)
            if obj:
                docs.append((template.split("/", 1)[1], part.strip("\n-") + "\n", obj))
    return docs


def render_file(render: Render) -> str:
    docs = documents(values_for(render))
    if render.kinds:
        docs = [d for d in docs if d[2]["kind"] in render.kinds]
    if render.label:
        docs = [d for d in docs if render.label in d[2]["metadata"].get("labels", {})]
    if render.elsewhere:
        docs = [d for d in docs if d[2]["metadata"].get("namespace") != NAMESPACE]
    docs.sort(key=lambda d: ORDER.index(d[2]["kind"]))
    header = (
        f"# {render.about}\n"
        "# Rendered by deploy/render.py from the Helm chart deploy/helm/gitpod-requirements-"
        "exporter\n"
        f"# (values: {', '.join('ci/' + f for f in render.values_files) or 'defaults'}"
        f"{' + deploy/render.py PLAIN' if render.values is PLAIN else ''}): do not edit.\n"
    )
    return header + "".join(f"---\n# Source: {t}\n{text}" for t, text, _ in docs)


@functools.cache
def mixin() -> Any:
    """mixin/build.py as a module (mixin/ is not a package)."""
    spec = importlib.util.spec_from_file_location("mixin_build", ROOT / "mixin" / "build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mixin_outputs() -> dict[Path, str]:
    return mixin().outputs()


def outputs() -> dict[Path, str]:
    return {DEPLOY / r.path: render_file(r) for r in RENDERS}


def main() -> int:
    for path, text in mixin_outputs().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for path, text in outputs().items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
