"""The metric contract is declared once, in exporter/families.py: docs/metrics.md's table lists
exactly those families (with their labels where it names them), and no other module names a
metric."""

from __future__ import annotations

import re
from pathlib import Path

from exporter import families

ROOT = Path(__file__).resolve().parents[1]


PAGE = ROOT / "docs" / "metrics.md"


def _readme_metrics() -> dict[str, set[str] | None]:
    text = PAGE.read_text()
    section = text.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    found: dict[str, set[str] | None] = {}
    for name, labels in re.findall(r"`(gitpod_[a-z_]+)(?:\{([a-z_,]*)\})?`", section):
        found[name] = set(labels.split(",")) if labels else None
    return found


def test_readme_lists_every_declared_family_and_nothing_else() -> None:
    declared = families.families()
    documented = _readme_metrics()
    line = PAGE.read_text().split("\n## Metrics\n", 1)[0].count("\n") + 2
    add, remove = sorted(set(declared) - set(documented)), sorted(set(documented) - set(declared))
    assert not add and not remove, (
        f"{PAGE.relative_to(ROOT)} line {line}, table '## Metrics': add {add}, remove {remove}"
    )
    for name, labels in documented.items():
        if labels is not None:
            assert labels == set(declared[name].labels), name


def test_no_module_but_families_names_a_metric() -> None:
    for path in (ROOT / "exporter").rglob("*.py"):
        if path.name == "families.py":
            continue
        names = re.findall(r"[\"']gitpod_[a-z_]+[\"']", path.read_text())
        assert names == [], f"{path.relative_to(ROOT)} names {names}: declare it in families.py"


def test_a_sample_must_carry_its_familys_labels() -> None:
    sample = families.SCM_UP.sample(1.0, "github")
    assert sample.labels == (("provider", "github"),)
    try:
        families.SCM_UP.sample(1.0)
    except ValueError as exc:
        assert "takes labels" in str(exc)
    else:
        raise AssertionError("a sample without its label was accepted")
