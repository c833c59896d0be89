"""Text that is not text: a lone surrogate (a valid JSON escape, valid YAML) in anything a
dependency answers, and JSON nested past the interpreter's recursion limit. Every view keeps
answering: /metrics in both formats and gzipped, the page, and check's text, JSON and JUnit."""

from __future__ import annotations

import asyncio
import json
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from exporter import report
from exporter.config import CheckSettings
from exporter.context import Check, CheckContext
from exporter.exposition import make_exposition
from exporter.families import INSTALLATION_INFO
from exporter.model import Reason, Requirement, Result, Scope, Severity
from exporter.scheduler import Job, run_job
from exporter.store import Store

# What json.loads makes of "\ud800" in a domain, an SCM name, a gitVersion.
HOSTILE = json.loads('"gitpod.\\ud800.example.com"')


def _requirement(rid: str) -> Requirement:
    return Requirement(rid, f"title {rid}", Severity.CRITICAL, Scope.CLUSTER, "https://d", "fix")


async def hostile(ctx: CheckContext[CheckSettings]) -> Result:
    sample = INSTALLATION_INFO.sample(1.0, HOSTILE, "kind", "source")
    return Result.failed(Reason.MISMATCH, HOSTILE, f"detail {HOSTILE}", sample)


async def learnt(ctx: CheckContext[CheckSettings]) -> dict[str, Result]:
    # A requirement id learnt from the installation (an SCM provider's name).
    return {f"cluster_scm:{HOSTILE}": Result.passed(HOSTILE)}


async def deep(ctx: CheckContext[CheckSettings]) -> Result:
    json.loads("[" * 100_000 + "]" * 100_000)  # an API answer nested 100,000 deep
    raise AssertionError("unreachable")


def _records() -> list:
    checks = [
        Check(_requirement("cluster_hostile"), CheckSettings, hostile),
        Check(_requirement("cluster_scm"), CheckSettings, learnt,
              requirement_for=lambda rid, s: _requirement(rid)),
        Check(_requirement("cluster_deep"), CheckSettings, deep),
    ]  # fmt: skip

    async def round_() -> list:
        with ThreadPoolExecutor(2) as pool:
            ctx = CheckContext(CheckSettings(), Path("/"), pool)
            runs = await asyncio.gather(*(run_job(Job(c, ctx)) for c in checks))
        return [r for batch in runs for r in batch]

    return asyncio.run(round_())


def test_a_lone_surrogate_and_deep_json_leave_every_view_answering() -> None:
    records = _records()
    by_id = {r.requirement.id: r for r in records}
    deep_result = by_id["cluster_deep"].result
    assert (deep_result.status, deep_result.reason) == ("error", "parse")
    assert "nested too deeply" in deep_result.detail

    store = Store([r.requirement for r in records])
    for record in records:
        store.put(record)
    exposition = make_exposition(store)
    for openmetrics in (False, True):
        plain = exposition.body(openmetrics, gzipped=False).decode()
        assert "gitpod.\ufffd.example.com" in plain
        assert zlib.decompress(exposition.body(openmetrics, gzipped=True), 31).decode() == plain
    reqs = [r.requirement for r in records]
    views = [
        report.as_html("cluster", reqs, by_id, True),
        report.as_text("cluster", reqs, by_id),
        report.as_json("cluster", reqs, by_id),
        report.as_junit("cluster", reqs, by_id),
    ]
    for view in views:
        view.encode("utf-8")  # what the server and print() do with it
        assert "\ufffd" in view or "\\ufffd" in view  # JSON escapes it
