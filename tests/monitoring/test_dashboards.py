"""The Grafana dashboards: generated from dashboards/build.py, provisioning-ready, every query
valid PromQL by Prometheus' own parser."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from tests.monitoring.promql import (
    DASHBOARDS,
    ROOT,
    dashboard_exprs,
    metric_names,
    panels,
    promtool,
)

DS = {"type": "prometheus", "uid": "${datasource}"}


def _build_module():
    spec = importlib.util.spec_from_file_location("build", ROOT / "dashboards" / "build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_files_are_what_build_py_generates() -> None:
    build = _build_module()
    assert sorted(build.DASHBOARDS) == [p.name for p in DASHBOARDS]
    for path, text in build.outputs().items():
        assert path.read_text() == text, f"run python dashboards/build.py ({path.name})"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_is_provisioning_ready(path: Path) -> None:
    doc = json.loads(path.read_text())
    assert doc["uid"].startswith("gitpod-requirements-") and len(doc["uid"]) <= 40
    assert doc["schemaVersion"] >= 39
    variables = {v["name"]: v for v in doc["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in panels(doc)]
    assert len(ids) == len(set(ids))
    for panel in panels(doc):
        assert panel["datasource"] == DS, panel["title"]
        assert all(t["datasource"] == DS for t in panel["targets"]), panel["title"]
        assert len(panel["description"]) > 40, panel["title"]
        assert panel["targets"], panel["title"]
        g = panel["gridPos"]
        assert g["x"] + g["w"] <= 24
    for var in variables.values():
        if var["type"] == "query":
            assert var["datasource"] == DS
    assert all(ds == DS for ds in _datasources(doc)), "a hard-coded datasource"


def _datasources(node: object) -> list[object]:
    """Every "datasource" value anywhere in the JSON."""
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k == "datasource"]
        return found + [d for v in node.values() for d in _datasources(v)]
    if isinstance(node, list):
        return [d for v in node for d in _datasources(v)]
    return []


def test_node_dashboard_has_job_and_node_variables() -> None:
    doc = json.loads((ROOT / "dashboards" / "node.json").read_text())
    assert [v["name"] for v in doc["templating"]["list"]] == ["datasource", "job", "node"]
    for panel in panels(doc):
        for t in panel["targets"]:
            assert 'node="$node"' in t["expr"], panel["title"]


def test_uids_are_unique_across_dashboards() -> None:
    uids = [json.loads(p.read_text())["uid"] for p in DASHBOARDS]
    assert len(uids) == len(set(uids)) == 2


def test_every_query_parses_with_promtool(tmp_path: Path) -> None:
    exprs = [e for p in DASHBOARDS for e in dashboard_exprs(p)]
    assert len(exprs) > 20
    # promtool parses every expr of a rule file: wrap each query as a recording rule.
    rules = [{"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(exprs)]
    f = tmp_path / "queries.yaml"
    f.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    out = promtool("check", "rules", str(f))
    assert out.returncode == 0, out.stdout + out.stderr


def test_metric_name_extraction() -> None:
    expr = (
        'sum by (requirement) (rate(process_cpu_seconds_total{job=~"a|b"}[5m]))'
        ' and on (instance) group by (instance) (gitpod_requirement_info{scope="node"})'
        " > 3 * (gitpod:x:count > 0) or vector(0)"
    )
    assert metric_names(expr) == {
        "process_cpu_seconds_total",
        "gitpod_requirement_info",
        "gitpod:x:count",
    }
