"""The report's wording: a shared cause is told once, and a list never hides one name behind
"and 1 more"."""

from __future__ import annotations

import pytest

from exporter import report
from exporter.model import Reason, Record, Requirement, Result, Scope, Severity
from exporter.parse import first

CAUSE = "HTTPConnectionPool(host='127.0.0.1', port=1): Failed to establish a new connection"


def _req(rid: str, severity: Severity = Severity.CRITICAL) -> Requirement:
    return Requirement(rid, f"title of {rid}", severity, Scope.CLUSTER, "https://docs", "fix it")


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (5, "n0, n1, n2, n3, n4"),
        (6, "n0, n1, n2, n3, n4, n5"),  # one more than the limit: named, not folded
        (7, "n0, n1, n2, n3, n4 and 2 more"),
    ],
)
def test_first_folds_only_two_or_more(count: int, expected: str) -> None:
    assert first([f"n{i}" for i in range(count)], 5) == expected


def test_the_verdict_line_names_every_unmet_requirement_up_to_one_over_the_limit() -> None:
    reqs = [_req(f"cluster_r{i}") for i in range(6)]
    failed = Result.failed(Reason.NONE, "bad", "")
    rows = report.rows(reqs, {r.id: Record(r, failed) for r in reqs})
    line = report.summarize(rows).line()
    assert "more" not in line and "cluster_r5" in line, line


def _api_down() -> tuple[list[Requirement], dict[str, Record]]:
    reqs = [_req(f"cluster_r{i}") for i in range(28)] + [_req("cluster_ok")]
    records = {r.id: Record(r, Result.errored(Reason.CONNECT, CAUSE)) for r in reqs[:-1]}
    records["cluster_ok"] = Record(reqs[-1], Result.passed("fine"))
    return reqs, records


def test_the_page_names_a_shared_cause_once() -> None:
    reqs, records = _api_down()
    page = report.as_html("cluster", reqs, records, ready=True)
    assert page.count("Failed to establish a new connection") == 1
    assert page.count("See the shared cause above.") == 28
    assert 'data-requirement="cluster_r27"' in page and "fine" in page


def test_the_text_report_names_a_shared_cause_once() -> None:
    reqs, records = _api_down()
    text = report.as_text("cluster", reqs, records)
    assert text.count("Failed to establish a new connection") == 1
    assert text.count("(the shared cause above)") == 28
