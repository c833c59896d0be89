"""The human and machine views of a Store snapshot: text table, JSON document, HTML page."""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

from exporter import __version__
from exporter.model import Record, Requirement, Severity, Status


def _rows(
    requirements: Iterable[Requirement], records: Mapping[str, Record]
) -> Iterable[tuple[Requirement, Record | None]]:
    for req in requirements:
        yield req, records.get(req.id)


def as_dict(
    role: str, requirements: Iterable[Requirement], records: Mapping[str, Record]
) -> dict[str, Any]:
    """The `check --output json` document (DESIGN.md section 3)."""
    results = []
    for req, rec in _rows(requirements, records):
        res = rec.result if rec else None
        results.append(
            {
                "requirement": req.id,
                "title": req.title,
                "severity": str(req.severity),
                "scope": str(req.scope),
                "status": str(res.status) if res else "skipped",
                "observed": res.observed if res else "",
                "reason": str(res.reason) if res else "not_run",
                "detail": res.detail if res else "",
                "remedy": req.remedy,
                "doc_url": req.doc_url,
                "duration_seconds": round(rec.duration_seconds, 6) if rec else 0.0,
            }
        )
    return {"role": role, "results": results}


def exit_code(requirements: Iterable[Requirement], records: Mapping[str, Record]) -> int:
    """0 when every configured critical requirement is met; 1 when one failed or errored."""
    for req, rec in _rows(requirements, records):
        if (
            req.severity is Severity.CRITICAL
            and rec
            and rec.result.status
            in (
                Status.FAIL,
                Status.ERROR,
            )
        ):
            return 1
    return 0


def as_json(role: str, requirements: Iterable[Requirement], records: Mapping[str, Record]) -> str:
    return json.dumps(as_dict(role, requirements, records), indent=2)


def _summary(records: Iterable[Record | None]) -> dict[str, int]:
    counts = {s.value: 0 for s in Status}
    for rec in records:
        counts[(rec.result.status if rec else Status.SKIPPED).value] += 1
    return counts


# C0 and C1 controls (and DEL): a host value must not drive the reader's terminal.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _printable(text: str) -> str:
    return _CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def as_text(role: str, requirements: Iterable[Requirement], records: Mapping[str, Record]) -> str:
    rows = list(_rows(requirements, records))
    table = [("STATUS", "SEVERITY", "REQUIREMENT", "OBSERVED", "DETAIL")]
    for req, rec in rows:
        res = rec.result if rec else None
        status = str(res.status) if res else "skipped"
        if status in ("fail", "error"):
            status = status.upper()
        detail = res.detail if res else ""
        if res and res.reason and res.status is not Status.PASS:
            detail = f"[{res.reason}] {detail}"
        observed = res.observed if res else ""
        table.append((status, str(req.severity), req.id, _printable(observed), _printable(detail)))
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    lines = [f"Gitpod requirements, {role} role"]
    for r in table:
        lines.append(
            "  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4]
        )
    counts = _summary(rec for _, rec in rows)
    lines.append("")
    lines.append(
        "Summary: {pass} pass, {fail} fail, {error} error, {skipped} skipped".format(**counts)
    )
    todo = [
        (req, rec) for req, rec in rows if rec and rec.result.status in (Status.FAIL, Status.ERROR)
    ]
    if todo:
        lines.append("To fix:")
        for req, _ in todo:
            lines.append(f"  {req.id}: {req.remedy} ({req.doc_url})")
    return "\n".join(lines) + "\n"


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.4em .6em;border-bottom:1px solid #ddd;vertical-align:top}
.pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}
.error{color:#9a6700;font-weight:600}.skipped{color:#6e7781}
.muted{color:#6e7781;font-size:.9em}
"""


def as_html(
    role: str, requirements: Iterable[Requirement], records: Mapping[str, Record], ready: bool
) -> str:
    e = html.escape
    rows = list(_rows(requirements, records))
    counts = _summary(rec for _, rec in rows)
    body = []
    for req, rec in rows:
        res = rec.result if rec else None
        status = str(res.status) if res else ("skipped" if ready else "pending")
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(rec.finished_at)) if rec else "-"
        todo = res is not None and res.status in (Status.FAIL, Status.ERROR)
        body.append(
            f'<tr id="req-{e(req.id)}" data-requirement="{e(req.id)}" data-status="{e(status)}">'
            f'<td class="{e(status)}">{e(status)}</td>'
            f"<td>{e(req.severity)}</td>"
            f'<td><a href="{e(req.doc_url)}">{e(req.id)}</a><br>'
            f'<span class="muted">{e(req.title)}</span></td>'
            f"<td>{e(res.observed if res else '')}</td>"
            f"<td>{e(str(res.reason) if res else '')}</td>"
            f"<td>{e(res.detail if res else '')}</td>"
            f"<td>{e(req.remedy) if todo else ''}</td>"
            f'<td class="muted">{e(when)}</td></tr>'
        )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta http-equiv="refresh" content="30">'
        f"<title>Gitpod requirements ({e(role)})</title><style>{_STYLE}</style></head><body>"
        f"<h1>Gitpod requirements: {e(role)} role</h1>"
        f'<p id="summary">{counts["pass"]} pass, {counts["fail"]} fail, {counts["error"]} error, '
        f"{counts['skipped']} skipped{'' if ready else ' (first round still running)'}.</p>"
        "<table><thead><tr><th>Status</th><th>Severity</th><th>Requirement</th>"
        "<th>Observed</th><th>Reason</th><th>Detail</th><th>What to do</th><th>Checked</th>"
        f"</tr></thead><tbody>{''.join(body)}</tbody></table>"
        f'<p class="muted"><a href="metrics">metrics</a> · '
        f"gitpod-requirements-exporter {e(__version__)}</p></body></html>"
    )
