"""The monitoring mixin with a user's own _config: other job names, a cluster label for a
multi-cluster Prometheus, other durations and a Grafana URL. The rules still pass promtool and
their unit tests (tests/rules/custom/), and the dashboards select only the configured jobs and
the chosen cluster."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.monitoring.promql import ROOT, assert_queries_parse, promtool, substitute
from tests.monitoring.test_dashboards import build_module

CUSTOM = {
    "nodeExporterSelector": 'job="gre-node"',
    "clusterExporterSelector": 'job="gre-cluster"',
    "clusterLabel": "k8s_cluster",
    "showMultiCluster": True,
    "criticalFor": "2m",
    "grafanaURL": "https://grafana.example.com",
}
CUSTOM_TESTS = sorted((ROOT / "tests" / "rules" / "custom").glob("*.yaml"))


@pytest.fixture(scope="module")
def rendered() -> dict:
    return build_module().evaluate(CUSTOM)


@pytest.fixture
def rules_file(rendered: dict, tmp_path: Path) -> Path:
    path = tmp_path / "alerts.yaml"
    path.write_text(build_module().rules_file(rendered))
    return path


def test_promtool_accepts_the_custom_rules(rules_file: Path) -> None:
    out = promtool("check", "rules", str(rules_file))
    assert out.returncode == 0, out.stdout + out.stderr
    text = rules_file.read_text()
    assert "gitpod-requirements-node" not in text and "gitpod-requirements-cluster" not in text
    assert 'job="gre-node"' in text and 'job="gre-cluster"' in text


@pytest.mark.parametrize("unit", CUSTOM_TESTS, ids=lambda p: p.stem)
def test_promtool_unit_tests_of_the_custom_rules(unit: Path, rules_file: Path) -> None:
    shutil.copy(unit, rules_file.parent / unit.name)
    out = promtool("test", "rules", str(rules_file.parent / unit.name))
    assert out.returncode == 0, out.stdout + out.stderr


def test_custom_aggregations_keep_the_cluster_label(rendered: dict) -> None:
    groups = rendered["rules"]["groups"] + rendered["alerts"]["groups"]
    for rule in (r for g in groups for r in g["rules"]):
        for by in re.findall(r"\b(?:by|on) \(([^)]*)\)", rule["expr"]):
            if by != "instance":
                assert "k8s_cluster" in by.split(", "), (rule.get("alert") or rule["record"], by)
        if "alert" in rule:
            assert rule["annotations"]["dashboard_url"].startswith(
                "https://grafana.example.com/d/gitpod-requirements-overview?var-cluster="
            )
    critical = next(
        r for g in groups for r in g["rules"] if r.get("alert") == "GitpodCriticalRequirementUnmet"
    )
    assert critical["for"] == "2m"


# A selector of a metric this repository's dashboards read: name{matchers}.
SELECTOR = re.compile(r"\b([a-z_:]+)\{([^}]*)\}")


@pytest.mark.parametrize("name", ["overview.json", "node.json"])
def test_custom_dashboards_select_the_chosen_cluster_and_jobs(rendered: dict, name: str) -> None:
    doc = rendered["dashboards"][name]
    variables = [v["name"] for v in doc["templating"]["list"]]
    assert variables[:3] == ["datasource", "cluster", "job"]
    cluster = doc["templating"]["list"][1]
    assert cluster["query"]["query"] == "label_values(gitpod_requirement_info, k8s_cluster)"
    exprs = [t["expr"] for p in doc["panels"] for t in p["targets"]]
    selectors = [m for e in exprs for m in SELECTOR.finditer(e)]
    assert len(selectors) > 10
    for m in selectors:
        assert 'k8s_cluster="$cluster"' in m.group(2), m.group(0)
        assert re.search(r'job="gre-(node|cluster)"', m.group(2)), m.group(0)


def test_every_custom_dashboard_query_parses_with_promtool(rendered: dict, tmp_path: Path) -> None:
    exprs = [
        substitute(t["expr"])
        for doc in rendered["dashboards"].values()
        for p in doc["panels"]
        for t in p["targets"]
    ]
    assert_queries_parse(exprs, tmp_path)


def test_the_default_render_has_no_cluster_variable() -> None:
    for path in (ROOT / "dashboards").glob("*.json"):
        doc = json.loads(path.read_text())
        assert "cluster" not in [v["name"] for v in doc["templating"]["list"]]
        assert "$cluster" not in path.read_text()
