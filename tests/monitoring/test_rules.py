"""The alert and recording rules, checked and unit-tested by Prometheus' own promtool, and the
runbook they link to."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.helpers.catalogue import families
from tests.monitoring.promql import promtool

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "dashboards" / "alerts.yaml"
RULE_TESTS = sorted((ROOT / "tests" / "rules").glob("*.yaml"))  # custom/: test_mixin.py
RUNBOOK = ROOT / "docs" / "runbook.md"


def rules() -> list[dict]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def test_promtool_accepts_the_rules() -> None:
    out = promtool("check", "rules", str(RULES))
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(rules())} rules found" in out.stdout


@pytest.mark.parametrize("unit", RULE_TESTS, ids=lambda p: p.stem)
def test_promtool_unit_tests(unit: Path) -> None:
    out = promtool("test", "rules", str(unit))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_every_alert_has_unit_tests_that_expect_it_both_firing_and_silent() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for unit in RULE_TESTS:
        for case in yaml.safe_load(unit.read_text())["tests"]:
            for a in case.get("alert_rule_test", []):
                (firing if a.get("exp_alerts") else silent).add(a["alertname"])
    alerts = {r["alert"] for r in rules() if "alert" in r}
    assert alerts - firing == set(), "alerts never proven to fire"
    assert alerts - silent == set(), "alerts never proven to stay silent"


def test_every_recording_rule_has_a_unit_test() -> None:
    tested = {
        e["expr"]
        for unit in RULE_TESTS
        for case in yaml.safe_load(unit.read_text())["tests"]
        for e in case.get("promql_expr_test", [])
    }
    for r in rules():
        if "record" in r:
            assert any(r["record"] in expr for expr in tested), r["record"]


def test_every_alert_is_annotated_for_the_person_paged() -> None:
    for r in (r for r in rules() if "alert" in r):
        ann = r["annotations"]
        assert set(ann) == {"summary", "description", "runbook_url", "dashboard_url"}, r["alert"]
        # A static headline: the same summary however many nodes or requirements fail.
        assert "{{" not in ann["summary"], r["alert"]
        assert ann["dashboard_url"].startswith("/d/gitpod-requirements-"), r["alert"]
        assert r["labels"]["severity"] in {"critical", "warning"}, r["alert"]
        if re.search(r"gitpod_requirement_(satisfied|check_up)", r["expr"]):
            # Grouped per requirement; the nodes (or the blocked flows) are named by a query
            # in the description.
            assert re.match(r"count by \(cluster, requirement\b", r["expr"]), r["alert"]
            assert "$labels.requirement" in ann["description"], r["alert"]
            assert "{{ with query" in ann["description"], r["alert"]
            assert re.search(r"\.Labels\.(node|flow)\b", ann["description"]), r["alert"]


def _anchors() -> set[str]:
    # GitHub's anchor of "### node_kernel" is "node_kernel": lower case, spaces to dashes.
    return {
        m.group(1).strip().lower().replace(" ", "-")
        for m in re.finditer(r"^#{2,4} (.+)$", RUNBOOK.read_text(), re.M)
    }


def test_runbook_has_a_section_for_every_requirement_of_both_roles() -> None:
    assert families() - _anchors() == set()


def test_every_runbook_url_points_at_a_section() -> None:
    anchors = _anchors()
    for r in (r for r in rules() if "alert" in r):
        url = r["annotations"]["runbook_url"]
        assert url.startswith(
            "https://github.com/gitpod-io/gitpod-requirements-exporter/blob/main/docs/runbook.md#"
        )
        fragment = url.split("#", 1)[1]
        if "$labels.requirement" in fragment:
            continue  # one section per requirement: proven by the test above
        assert fragment in anchors, r["alert"]
