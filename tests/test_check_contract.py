"""What "Adding a check" (docs/architecture.md) asks of a new check, held by tests: every module
is registered, every requirement has a row in docs/requirements.md and a runbook section
(tests/monitoring), and no check reaches into another check or the scheduler."""

from __future__ import annotations

import re
from pathlib import Path

from exporter.checks import ROLES
from tests.helpers.catalogue import families

ROOT = Path(__file__).resolve().parents[1]
CHECKS = ROOT / "exporter" / "checks"


def _modules(role: str) -> set[str]:
    return {p.stem for p in (CHECKS / role).glob("*.py") if p.stem != "__init__"}


def test_every_check_module_is_registered_in_its_role() -> None:
    for role in ("node", "cluster"):
        assert _modules(role) == {c.module for c in ROLES[role]}, role


def test_every_requirement_has_a_row_in_the_requirements_page() -> None:
    page = ROOT / "docs" / "requirements.md"
    text = page.read_text()
    rows = set(re.findall(r"^\| ([a-z_]+)(?::&lt;[a-z ]+&gt;)? \|", text, re.M))
    missing = families() - rows
    node_table = text.index("## Node requirements")
    line = text[:node_table].count("\n") + 1
    assert missing == set(), (
        f"{sorted(missing)}: add a row to the table under '## Node requirements' (line {line}) "
        f"or '## Cluster requirements' of {page.relative_to(ROOT)}"
    )


def test_checks_import_neither_each_other_nor_the_scheduler() -> None:
    for path in [*CHECKS.glob("node/*.py"), *CHECKS.glob("cluster/*.py")]:
        text = path.read_text()
        for bad in re.findall(r"^from exporter\.(checks\.(?:node|cluster)\S*|scheduler)", text,
                              re.M):  # fmt: skip
            raise AssertionError(f"{path.relative_to(ROOT)} imports exporter.{bad}")


def test_nothing_in_the_repository_points_at_a_file_outside_it() -> None:
    # The design notes the project started from are not in the repository: README and docs/
    # are the contract, and a reader of the code must find what it cites.
    outside = re.compile(r"\b(DESIGN|INFRA|GITPOD|STYLE)\.md\b|\.\./shared/")
    here = Path(__file__).resolve()
    tops = ("exporter", "tests", "docs", "deploy", "mixin", "benchmarks", "scripts", ".ci")
    files = [ROOT / "README.md", ROOT / "Dockerfile"] + [
        p for top in tops for p in (ROOT / top).rglob("*") if p.is_file() and p != here
    ]
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in files
        if path.suffix not in {".pyc", ".json"}
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if outside.search(line)
    ]
    assert not found, found
