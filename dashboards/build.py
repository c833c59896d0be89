"""Generates the Grafana dashboards in this directory, and the Kubernetes objects that carry
them and alerts.yaml (deploy/grafana/, deploy/prometheus-operator/prometheusrule.yaml), so
alerts.yaml and this file stay the single source: `python dashboards/build.py`.

Plain Python dicts rather than hand-written JSON: every panel shares the datasource reference,
the description style and the grid arithmetic, so a new panel is one call, and the JSON stays
consistent. No library (grafanalib lags Grafana's schema; the foundation SDK is large) because
the JSON model is simple and stable. tests/monitoring/test_dashboards.py fails when the committed
JSON differs from what this script writes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
DEPLOY = HERE.parent / "deploy"
NAMESPACE = "gitpod-requirements"
SCHEMA_VERSION = 39  # Grafana 10.4 / 11.x
DS = {"type": "prometheus", "uid": "${datasource}"}
RUNBOOK = "https://github.com/gitpod-io/gitpod-requirements-exporter/blob/main/docs/runbook.md"

# Shared expressions. Those used by rules too are recording rules in alerts.yaml.
STALE = (
    "time() - gitpod_requirement_last_check_timestamp_seconds"
    " > 3 * (gitpod_requirement_check_interval_seconds > 0)"
)

Panel = dict[str, Any]


def target(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> dict:
    t: dict[str, Any] = {"datasource": DS, "expr": expr, "refId": ref}
    if legend:
        t["legendFormat"] = legend
    if instant:
        t.update(instant=True, range=False, format="table")
    return t


def instant(expr: str, ref: str) -> dict:
    return target(expr, "", ref, instant=True)


def thresholds(*steps: tuple[str, float | None]) -> dict:
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in steps]}


def stat(title: str, description: str, expr: str, steps: dict, unit: str = "none") -> Panel:
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": [target(expr)],
        "fieldConfig": {"defaults": {"unit": unit, "thresholds": steps}, "overrides": []},
        "options": {
            "colorMode": "background",
            "graphMode": "none",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        },
    }


def timeseries(title: str, description: str, targets: list[dict], unit: str) -> Panel:
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "right", "showLegend": True}},
    }


def table(
    title: str,
    description: str,
    targets: list[dict],
    rename: dict[str, str],
    hide: tuple[str, ...] = (),
) -> Panel:
    """An instant table: the queries joined on their common labels, `Time` and the `hide`
    columns hidden, the value columns renamed (Grafana calls them "Value #<refId>")."""
    return {
        "type": "table",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": targets,
        "transformations": [
            {"id": "merge", "options": {}},
            {
                "id": "organize",
                "options": {
                    "excludeByName": {c: True for c in ("Time", *hide)},
                    "renameByName": rename,
                },
            },
        ],
        "fieldConfig": {"defaults": {}, "overrides": []},
        "options": {"showHeader": True, "cellHeight": "sm"},
    }


def state_override(column: str, meaning: dict[str, tuple[str, str]]) -> dict:
    """Colour a 0/1 column as words, e.g. 1 -> Met (green)."""
    return {
        "matcher": {"id": "byName", "options": column},
        "properties": [
            {"id": "custom.cellOptions", "value": {"type": "color-background"}},
            {
                "id": "mappings",
                "value": [
                    {
                        "type": "value",
                        "options": {
                            v: {"text": text, "color": color, "index": i}
                            for i, (v, (text, color)) in enumerate(meaning.items())
                        },
                    }
                ],
            },
        ],
    }


MET = {"1": ("Met", "green"), "0": ("Unmet", "red")}
UP = {"1": ("OK", "green"), "0": ("Error", "orange")}


def layout(rows: list[list[tuple[Panel, int, int]]]) -> list[Panel]:
    """Rows of (panel, width, height) on Grafana's 24-column grid; ids in reading order."""
    panels, y = [], 0
    for row in rows:
        x = 0
        for panel, w, h in row:
            panels.append(
                {**panel, "id": len(panels) + 1, "gridPos": {"x": x, "y": y, "w": w, "h": h}}
            )
            x += w
        assert x <= 24, f"row too wide: {x}"
        y += max(h for _, _, h in row)
    return panels


def variable_datasource() -> dict:
    return {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
        "regex": "",
        "options": [],
    }


def variable_query(name: str, label: str, query: str, include_all: bool) -> dict:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "definition": query,
        "query": {"query": query, "refId": f"{name}-variable", "qryType": 1},
        "current": {},
        "hide": 0,
        "refresh": 2,
        "sort": 1,
        "regex": "",
        "includeAll": include_all,
        "multi": include_all,
        "options": [],
    }


def dashboard(uid: str, title: str, description: str, variables: list, panels: list) -> dict:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["gitpod", "gitpod-requirements"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "timezone": "",
        "templating": {"list": variables},
        "annotations": {"list": []},
        "links": [
            {"title": "Runbook", "type": "link", "url": RUNBOOK, "targetBlank": True},
            {
                "title": "Gitpod requirements",
                "type": "dashboards",
                "tags": ["gitpod-requirements"],
                "asDropdown": False,
            },
        ],
        "panels": panels,
    }


def overview() -> dict:
    unmet_critical = stat(
        "Unmet critical requirements",
        "Critical requirements not met anywhere in the cluster. Anything above 0 breaks Gitpod: "
        "find it in the matrix below and follow the runbook link of its alert.",
        'sum(gitpod:requirements_unmet:count{severity="critical"}) or vector(0)',
        thresholds(("green", None), ("red", 1)),
    )
    unmet_warning = stat(
        "Unmet warnings",
        "Recommendations not met (e.g. separate node pools, Ubuntu nodes). Gitpod runs, but may "
        "degrade; plan a fix.",
        'sum(gitpod:requirements_unmet:count{severity="warning"}) or vector(0)',
        thresholds(("green", None), ("orange", 1)),
    )
    erroring = stat(
        "Checks erroring",
        "Checks that reached no verdict (timeout, API or credential error). Their requirement "
        "is unknown: see the 'Check errors' table for the reason.",
        "count(gitpod_requirement_check_up == 0) or vector(0)",
        thresholds(("green", None), ("orange", 1)),
    )
    stale = stat(
        "Stale checks",
        "Checks whose last result is older than three intervals: the exporter is starved or "
        "stuck. Look at its pod's CPU throttling and log.",
        f"count({STALE}) or vector(0)",
        thresholds(("green", None), ("orange", 1)),
    )
    targets_down = stat(
        "Exporter targets down",
        "Scrape targets of the exporter Prometheus cannot reach. Their requirements are not "
        "watched: check the pods of the DaemonSet and the Deployment.",
        'count(up{job=~"gitpod-requirements-(node|cluster)"} == 0) or vector(0)',
        thresholds(("green", None), ("red", 1)),
    )
    tls_days = stat(
        "TLS certificate days left",
        "Days until the certificate the Gitpod proxy serves expires, per name. Below 14 warns, "
        "below 3 pages: renew it (with cert-manager, read the Certificate's events).",
        "gitpod:tls_certificate_expiry:days",
        thresholds(("red", None), ("orange", 3), ("green", 14)),
        unit="d",
    )
    tls_days["targets"][0]["legendFormat"] = "{{host}}"
    tls_days["options"]["textMode"] = "value_and_name"

    installation = stat(
        "Gitpod installation",
        "The installation the exporter guards, as its installer config states it (ConfigMap "
        "gitpod, or the file given with --gitpod-config): kind, domain and where it was read. "
        "Empty: no config was found; see the cluster_gitpod_config requirement.",
        "max by (kind, domain, source) (gitpod_installation_info)",
        thresholds(("blue", None)),
    )
    installation["targets"][0]["legendFormat"] = "{{kind}} {{domain}} (from {{source}})"
    installation["options"].update(textMode="name", colorMode="value")

    matrix = table(
        "Requirement matrix",
        "Every requirement with its severity and state. 'Failing' counts the nodes (node "
        "requirements) or pods (cluster ones) where it is unmet; 'Check' says whether the check "
        "reached a verdict. The runbook has a section named after each requirement.",
        [
            instant("max by (requirement, title, scope) (gitpod_requirement_info)", "A"),
            instant("min by (requirement, severity) (gitpod_requirement_satisfied)", "B"),
            instant("count by (requirement) (gitpod_requirement_satisfied == 0)", "C"),
            instant("min by (requirement) (gitpod_requirement_check_up)", "D"),
        ],
        {"Value #B": "State", "Value #C": "Failing", "Value #D": "Check"},
        hide=("Value #A",),
    )
    matrix["fieldConfig"]["overrides"] = [state_override("State", MET), state_override("Check", UP)]

    failing_nodes = {
        "type": "bargauge",
        "title": "Nodes failing each node requirement",
        "description": "How many nodes fail each node requirement. The per-node dashboard "
        "shows why on a given node; cluster_nodes_runtime lists the names in the report.",
        "datasource": DS,
        "targets": [target("gitpod:requirement_failing_nodes:count", "{{requirement}}")],
        "fieldConfig": {
            "defaults": {"unit": "none", "min": 0, "thresholds": thresholds(("red", None))},
            "overrides": [],
        },
        "options": {
            "orientation": "horizontal",
            "displayMode": "basic",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        },
    }
    errors = table(
        "Check errors",
        "Checks without a verdict and why (reason). timeout: raise the check's timeout or fix "
        "the slow dependency; auth/forbidden: credentials or RBAC; internal: a bug, report it.",
        [
            instant(
                "max by (requirement, node, reason) (gitpod_requirement_reason_info"
                " and on (requirement, instance) (gitpod_requirement_check_up == 0))",
                "A",
            )
        ],
        {},
        hide=("Value",),
    )

    latency = timeseries(
        "Component latency",
        "How long Gitpod's dependencies take to answer the cluster role's probes. A rising line "
        "warns before a timeout fails the requirement: look at the component's own metrics.",
        [
            target("max(gitpod_database_latency_seconds)", "database"),
            target(
                "max by (operation) (gitpod_storage_latency_seconds)", "storage {{operation}}", "B"
            ),
            target("max(gitpod_registry_latency_seconds)", "registry", "C"),
            target("max by (provider) (gitpod_scm_latency_seconds)", "scm {{provider}}", "D"),
            target("max by (name) (gitpod_dns_resolution_duration_seconds)", "dns {{name}}", "E"),
            target(
                "max by (service, port) (gitpod_cluster_loadbalancer_connect_duration_seconds)",
                "lb {{service}}:{{port}}",
                "F",
            ),
        ],
        "s",
    )
    durations = timeseries(
        "Check duration",
        "How long each check takes. A check near its timeout will soon error: raise the "
        "timeout or find why the dependency slowed down.",
        [
            target(
                "max by (requirement) (gitpod_requirement_check_duration_seconds)",
                "{{requirement}}",
            )
        ],
        "s",
    )
    age = timeseries(
        "Result age",
        "Seconds since each check last finished. It should saw-tooth below the check's "
        "interval; a line that keeps rising is a stuck check (see 'Stale checks').",
        [
            target(
                "max by (requirement) (time() - gitpod_requirement_last_check_timestamp_seconds)",
                "{{requirement}}",
            )
        ],
        "s",
    )
    panels = layout(
        [
            [(unmet_critical, 4, 4), (unmet_warning, 4, 4), (erroring, 4, 4), (stale, 4, 4),
             (targets_down, 4, 4), (tls_days, 4, 4)],
            [(installation, 24, 3)],
            [(matrix, 16, 14), (failing_nodes, 8, 14)],
            [(errors, 12, 8), (latency, 12, 8)],
            [(durations, 12, 8), (age, 12, 8)],
        ]
    )  # fmt: skip
    return dashboard(
        "gitpod-requirements-overview",
        "Gitpod requirements / Overview",
        "Whether the cluster meets Gitpod's requirements, from gitpod-requirements-exporter.",
        [variable_datasource()],
        panels,
    )


def node() -> dict:
    sel = 'job=~"$job", node="$node"'
    matrix = table(
        "Node requirements",
        "The node requirements on this node. An unmet one names what to change in the runbook "
        "section of the same name; 'Reason' says why, 'Check' whether it reached a verdict.",
        [
            instant(f"max by (requirement, title) (gitpod_requirement_info{{{sel}}})", "A"),
            instant(f"min by (requirement, severity) (gitpod_requirement_satisfied{{{sel}}})", "B"),
            instant(f"min by (requirement) (gitpod_requirement_check_up{{{sel}}})", "C"),
            instant(f"max by (requirement, reason) (gitpod_requirement_reason_info{{{sel}}})", "D"),
        ],
        {"Value #B": "State", "Value #C": "Check", "reason": "Reason"},
        hide=("Value #A", "Value #D"),
    )  # fmt: skip
    matrix["fieldConfig"]["overrides"] = [state_override("State", MET), state_override("Check", UP)]

    def info(title: str, description: str, expr: str, legend: str) -> Panel:
        p = stat(title, description, expr, thresholds(("blue", None)))
        p["targets"][0]["legendFormat"] = legend
        p["options"].update(textMode="name", colorMode="value")
        return p

    kernel = info("Kernel", "The running kernel release; Gitpod needs 5.4 or newer.",
                  f"gitpod_node_kernel_info{{{sel}}}", "{{release}}")  # fmt: skip
    os_info = info("OS", "The node's OS from /etc/os-release; Gitpod is tested on Ubuntu.",
                   f"gitpod_node_os_info{{{sel}}}", "{{id}} {{version_id}}")  # fmt: skip
    containerd = info(
        "containerd",
        "containerd's version from its Version API; Gitpod needs 1.5 or newer.",
        f"gitpod_node_containerd_info{{{sel}}}",
        "{{version}}",
    )
    cni = info("CNI", "The active CNI network and plugin type; Gitpod is tested with Calico.",
               f"gitpod_node_cni_info{{{sel}}}", "{{type}}")  # fmt: skip
    cpus = stat("CPUs", "Online CPUs; below 4 fails node_cpu: use a larger machine type.",
                f"gitpod_node_cpus{{{sel}}}", thresholds(("red", None), ("green", 4)))  # fmt: skip
    memory = stat(
        "Memory",
        "MemTotal; below 16 GB fails node_memory: use a machine type with more memory.",
        f"gitpod_node_memory_bytes{{{sel}}}",
        thresholds(("red", None), ("green", 16e9)),
        unit="bytes",
    )
    durations = timeseries(
        "Check duration",
        "How long each node check takes on this node; one close to its timeout will error "
        "soon (a slow containerd socket, a loaded node).",
        [target(f"gitpod_requirement_check_duration_seconds{{{sel}}}", "{{requirement}}")],
        "s",
    )
    # process_* metrics carry no node label: pick the exporter instance that reports this node.
    on_node = f"and on (instance) group by (instance) (gitpod_requirement_info{{{sel}}})"
    footprint = timeseries(
        "Exporter memory and CPU",
        "The exporter's own cost on this node. Memory that keeps growing is a leak: report it "
        "with the exporter's version.",
        [
            target(f'process_resident_memory_bytes{{job=~"$job"}} {on_node}', "RSS"),
            target(
                f'rate(process_cpu_seconds_total{{job=~"$job"}}[$__rate_interval]) {on_node}',
                "CPU (cores)",
                "B",
            ),
        ],
        "bytes",
    )
    footprint["fieldConfig"]["overrides"] = [
        {
            "matcher": {"id": "byName", "options": "CPU (cores)"},
            "properties": [
                {"id": "unit", "value": "none"},
                {"id": "custom.axisPlacement", "value": "right"},
            ],
        }
    ]
    panels = layout(
        [
            [(kernel, 4, 4), (os_info, 4, 4), (containerd, 4, 4), (cni, 4, 4), (cpus, 4, 4),
             (memory, 4, 4)],
            [(matrix, 24, 10)],
            [(durations, 12, 8), (footprint, 12, 8)],
        ]
    )  # fmt: skip
    return dashboard(
        "gitpod-requirements-node",
        "Gitpod requirements / Node",
        "One node's Gitpod requirements and observed facts, from the exporter's node role.",
        [
            variable_datasource(),
            variable_query(
                "job", "Job", 'label_values(gitpod_requirement_info{scope="node"}, job)', True
            ),
            variable_query(
                "node",
                "Node",
                'label_values(gitpod_requirement_info{scope="node", job=~"$job"}, node)',
                False,
            ),
        ],
        panels,
    )


DASHBOARDS = {"overview.json": overview, "node.json": node}


def render(build: Any) -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (dashboard JSON) as literal blocks, readable in `kubectl get -o yaml`."""


_Dumper.add_representer(
    str,
    lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", v, style="|" if "\n" in v else None),
)


def _dump(docs: list[dict]) -> str:
    return yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, width=100)


GENERATED = "# Generated by dashboards/build.py from dashboards/: edit those, then run it.\n"


def prometheus_rule() -> str:
    groups = yaml.safe_load((HERE / "alerts.yaml").read_text())["groups"]
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "gitpod-requirements-exporter",
            "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/name": "gitpod-requirements-exporter"},
        },
        "spec": {"groups": groups},
    }
    return GENERATED + _dump([rule])


def grafana_configmaps() -> str:
    """One ConfigMap per dashboard, labelled for the Grafana sidecar to pick up."""
    docs = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": f"gitpod-requirements-dashboard-{name.removesuffix('.json')}",
                "namespace": NAMESPACE,
                "labels": {"grafana_dashboard": "1"},
                "annotations": {"grafana_folder": "Gitpod"},
            },
            "data": {name: render(build)},
        }
        for name, build in DASHBOARDS.items()
    ]
    return GENERATED + _dump(docs)


def outputs() -> dict[Path, str]:
    files = {HERE / name: render(build) for name, build in DASHBOARDS.items()}
    files[DEPLOY / "prometheus-operator" / "prometheusrule.yaml"] = prometheus_rule()
    files[DEPLOY / "grafana" / "dashboards.yaml"] = grafana_configmaps()
    return files


def main() -> int:
    for path, text in outputs().items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
