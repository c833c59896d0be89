"""The PromQL this repository ships (alert rules, dashboards) and the metric names it reads."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "dashboards" / "alerts.yaml"
DASHBOARDS = sorted((ROOT / "dashboards").glob("*.json"))

# Grafana's template variables, replaced by values that keep the expression valid PromQL.
GRAFANA_VARIABLES = {
    "$__rate_interval": "5m",
    "$job": ".+",
    "$node": "worker-1",
    "$cluster": "a",
}

_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "inf", "nan",
    "sum", "min", "max", "avg", "count", "group", "stddev", "stdvar", "topk", "bottomk",
    "quantile", "count_values",
}  # fmt: skip


def rule_exprs() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [r["expr"] for g in groups for r in g["rules"]]


def recorded_names() -> set[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {r["record"] for g in groups for r in g["rules"] if "record" in r}


def panels(dashboard: dict) -> Iterator[dict]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # collapsed rows


def dashboard_exprs(path: Path) -> list[str]:
    """Every query of the dashboard, panels and variables, with the variables substituted."""
    return [substitute(e) for e in raw_exprs(json.loads(path.read_text()))]


def raw_exprs(doc: dict, skip_variables: tuple[str, ...] = ()) -> list[str]:
    """Every panel and variable query of a dashboard document, Grafana's variables left in;
    the variables named in `skip_variables` left out."""
    raw = [t["expr"] for p in panels(doc) for t in p.get("targets", [])]
    for var in doc["templating"]["list"]:
        if var["type"] == "query" and var["name"] not in skip_variables:
            # label_values(<selector>, <label>) is Grafana's, not PromQL: keep the selector.
            m = re.fullmatch(r"label_values\((.+),\s*\w+\)", var["query"]["query"])
            assert m, var["query"]
            raw.append(m.group(1))
    return raw


def substitute(expr: str) -> str:
    for var, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(var, value)
    # $labels in templates and $1 in label_replace's replacement are not Grafana's.
    assert not re.search(r"\$(?!labels\b|\d)", expr), f"unknown variable in {expr!r}"
    return expr


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects: identifiers outside strings, label matchers,
    grouping clauses and range brackets that are neither functions nor keywords."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][\w:]*)\b(\s*\()?", e):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in _KEYWORDS or re.fullmatch(r"\d+[smhdwy]", word):
            continue
        names.add(word)
    return names


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    """Prometheus' promtool, run from the repository root."""
    from tests.servers.procs import require_binary

    exe = require_binary("promtool", "prometheus")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=60, cwd=ROOT)


def assert_queries_parse(exprs: list[str], tmp: Path) -> None:
    """promtool parses every expr of a rule file: each query wrapped as a recording rule."""
    rules = [{"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(exprs)]
    f = tmp / "queries.yaml"
    f.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    out = promtool("check", "rules", str(f))
    assert out.returncode == 0, out.stdout + out.stderr
