"""The Grafana dashboards: rendered from the mixin (mixin/build.py), provisioning-ready, every
query valid PromQL by Prometheus' own parser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.deploy.manifests import renderer
from tests.monitoring.promql import (
    DASHBOARDS,
    ROOT,
    assert_queries_parse,
    dashboard_exprs,
    metric_names,
    panels,
)

DS = {"type": "prometheus", "uid": "${datasource}"}


def build_module():
    return renderer().mixin()


def test_committed_files_are_the_mixins_default_render() -> None:
    build = build_module()
    files = build.outputs()
    # The same dashboards under dashboards/ and in the Helm chart's files/.
    rendered = sorted(p.name for p in files if p.suffix == ".json")
    assert rendered == sorted(2 * [p.name for p in DASHBOARDS])
    for path, text in files.items():
        assert path.read_text() == text, f"run python mixin/build.py ({path.name})"


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
    assert not any(v["hide"] for v in doc["templating"]["list"])
    for panel in panels(doc):
        for t in panel["targets"]:
            assert 'node="$node"' in t["expr"], panel["title"]


def test_uids_are_unique_across_dashboards() -> None:
    uids = [json.loads(p.read_text())["uid"] for p in DASHBOARDS]
    assert len(uids) == len(set(uids)) == 2


def test_every_query_parses_with_promtool(tmp_path: Path) -> None:
    exprs = [e for p in DASHBOARDS for e in dashboard_exprs(p)]
    assert len(exprs) > 20
    assert_queries_parse(exprs, tmp_path)


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


def _panel(title: str) -> dict:
    doc = json.loads((ROOT / "dashboards" / "overview.json").read_text())
    return next(p for p in panels(doc) if p["title"] == title)


STATE_WORDS = {"0": "Not configured", "1": "Met", "2": "Check failing", "3": "Unmet"}


def _mapped(mappings: list[dict]) -> dict[str, str]:
    return {v: o["text"] for m in mappings for v, o in m["options"].items()}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_requirement_state_is_shown_as_words(path: Path) -> None:
    doc = json.loads(path.read_text())
    shown = 0
    for panel in panels(doc):
        if panel["type"] == "state-timeline":
            assert _mapped(panel["fieldConfig"]["defaults"]["mappings"]) == STATE_WORDS
            shown += 1
        for o in panel["fieldConfig"]["overrides"]:
            if o["matcher"]["options"] == "State":
                props = {p["id"]: p["value"] for p in o["properties"]}
                assert _mapped(props["mappings"]) == STATE_WORDS
                shown += 1
    assert shown == 2, "a matrix and a history on each dashboard"


def test_unmet_counts_are_requirements_not_series() -> None:
    for title in ("Unmet critical requirements", "Unmet warnings", "Checks erroring"):
        expr = _panel(title)["targets"][0]["expr"]
        assert expr.startswith("count(count by (requirement) ("), title


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_requirement_names_link_to_their_runbook_section(path: Path) -> None:
    doc = json.loads(path.read_text())
    matrix = next(p for p in panels(doc) if p["type"] == "table")
    # The section is the id before ":" (cluster_gitpod_secret:x -> cluster_gitpod_secret).
    assert "label_replace(" in matrix["targets"][0]["expr"]
    assert '"section", "$1", "requirement", "([^:]+).*"' in matrix["targets"][0]["expr"]
    links = {
        o["matcher"]["options"]: o["properties"][0]["value"][0]["url"]
        for o in matrix["fieldConfig"]["overrides"]
        if o["properties"][0]["id"] == "links"
    }
    assert links["requirement"].endswith("/docs/runbook.md#${__data.fields.section}")


def test_failing_nodes_open_the_node_dashboard_with_the_node_selected() -> None:
    panel = _panel("Failing nodes")
    (override,) = panel["fieldConfig"]["overrides"]
    assert override["matcher"]["options"] == "node"
    url = override["properties"][0]["value"][0]["url"]
    node_uid = json.loads((ROOT / "dashboards" / "node.json").read_text())["uid"]
    assert url.startswith(f"/d/{node_uid}?var-node=${{__value.raw}}&")
    assert "${datasource:queryparam}" in url and "${__url_time_range}" in url
