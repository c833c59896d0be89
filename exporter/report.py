"""The human and machine views of a Store snapshot: text table, JSON document, JUnit XML and
the HTML page, all from one Summary so they never disagree about the verdict."""

from __future__ import annotations

import dataclasses
import html
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

from exporter import __version__
from exporter.model import Reason, Record, Requirement, Result, Severity, Status
from exporter.parse import first

RUNBOOK_URL = "https://github.com/gitpod-io/gitpod-requirements-exporter/blob/main/docs/runbook.md"

# What to do about a requirement that has no verdict: by why it has none, not by what it is.
REASON_REMEDY: dict[str, str] = {
    Reason.CONNECT: "The server could not be reached: check the address in the kubeconfig (or "
    "the check's settings), DNS, network policies and firewalls between here and there.",
    Reason.TIMEOUT: "No answer in time: the server is overloaded or hung, or a firewall drops "
    "the traffic; raise the check's timeout only if it is merely slow.",
    Reason.AUTH: "The credentials were refused: renew the kubeconfig's token or the service "
    "account's, or fix the credentials in the config.",
    Reason.FORBIDDEN: "RBAC refused a read this check needs: install the Helm chart, or apply "
    "deploy/base and, once Gitpod's namespaces exist, deploy/gitpod-rbac (docs/install.md "
    "lists the rule of every check); or add the rule to your own Role.",
    Reason.TLS: "TLS failed: give the CA that signed the server's certificate (kubeconfig "
    "certificate-authority, or the check's ca_file).",
    Reason.CONFIG: "A setting is present but unusable: fix what the detail names.",
    Reason.NOT_FOUND: "Something the check reads does not exist: see the detail.",
    Reason.PROTOCOL: "The server answered something unexpected: is the address the right service?",
    Reason.PARSE: "The input did not have the expected shape: see the detail.",
    Reason.IO: "A host file could not be read: see the detail (the DaemonSet's mounts?).",
    Reason.INTERNAL: "A bug in the exporter: please report it with the log's traceback.",
}
SKIPPED_ADVICE: dict[str, str] = {
    Reason.DISABLED: "Enabled again by removing enabled: false from its config section.",
    Reason.NOT_GITPOD_NODE: "Not judged: Gitpod schedules nothing on a node without a "
    "gitpod.io/workload_* label.",
}
# A shared cause is shown once when this many requirements share it.
SHARED_CAUSE = 3


@dataclass(frozen=True)
class Row:
    requirement: Requirement
    record: Record | None

    @property
    def result(self) -> Result | None:
        return self.record.result if self.record else None

    @property
    def status(self) -> str:
        return str(self.result.status) if self.result else "skipped"

    @property
    def reason(self) -> str:
        return str(self.result.reason) if self.result else "not_run"

    @property
    def critical(self) -> bool:
        return self.requirement.severity is Severity.CRITICAL

    def remedy(self, role: str = "") -> str:
        """What to do, fitting why the row is not a pass."""
        if self.status == "fail":
            return self.requirement.remedy
        if self.status == "error":
            return REASON_REMEDY.get(self.reason, self.requirement.remedy)
        if self.status == "skipped":
            if self.reason in SKIPPED_ADVICE:
                return SKIPPED_ADVICE[self.reason]
            family = self.requirement.id.split(":")[0]
            also = (
                ", or let it read Gitpod's installation (docs/configuration.md, Reading the "
                "Gitpod installation)"
                if role == "cluster"
                else ""
            )
            return f"To judge it, configure checks.{family}{also}; the detail says what is missing."
        return ""

    def runbook(self, base: str = RUNBOOK_URL) -> str:
        return f"{base}#{self.requirement.id.split(':')[0]}"


def rows(requirements: Iterable[Requirement], records: Mapping[str, Record]) -> list[Row]:
    return [Row(req, records.get(req.id)) for req in requirements]


def _rank(row: Row) -> tuple[int, int]:
    """Unmet criticals first, then errors, unmet warnings, passes, skipped."""
    order = {"fail": 0, "error": 1, "pass": 3, "skipped": 4}.get(row.status, 5)
    if row.status == "fail" and not row.critical:
        order = 2
    return order, 0 if row.critical else 1


def ordered(all_rows: list[Row]) -> list[Row]:
    return sorted(all_rows, key=_rank)


@dataclass(frozen=True)
class Cause:
    """Several requirements without a verdict for the same reason: shown once."""

    reason: str
    requirements: list[str]
    detail: str
    remedy: str


def shared_causes(all_rows: list[Row]) -> list[Cause]:
    by_reason: dict[str, list[Row]] = {}
    for row in all_rows:
        if row.status == "error":
            by_reason.setdefault(row.reason, []).append(row)
    return [
        Cause(
            reason,
            [r.requirement.id for r in group],
            # The common core: a row may add its own words around the cause.
            min((r.result.detail for r in group if r.result), key=len, default=""),
            REASON_REMEDY.get(reason, ""),
        )
        for reason, group in by_reason.items()
        if len(group) >= SHARED_CAUSE
    ]


@dataclass(frozen=True)
class Summary:
    verdict: str  # ready | not_ready | nothing_judged
    critical_unmet: list[str] = field(default_factory=list)
    warnings_unmet: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    critical_met: int = 0
    hint: str = ""

    def line(self) -> str:
        warnings = f"{len(self.warnings_unmet)} warning" + (
            "s" if len(self.warnings_unmet) != 1 else ""
        )
        if self.verdict == "nothing_judged":
            return f"NOTHING JUDGED: every requirement was skipped. {self.hint}".strip()
        if self.verdict == "ready":
            return f"READY: {self.critical_met} critical requirements met; {warnings}" + (
                f" ({first(self.warnings_unmet, 5)})" if self.warnings_unmet else ""
            )
        unmet = first(self.critical_unmet, 5)
        return f"NOT READY: {len(self.critical_unmet)} critical unmet ({unmet}); {warnings}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "critical_unmet": self.critical_unmet,
            "warnings_unmet": self.warnings_unmet,
            "errors": self.errors,
            "skipped": self.skipped,
        }


SEE_ABOVE = "(the shared cause above)"


def without_causes(text: str, causes: list[Cause]) -> str:
    """A row's text with a shared cause's text, said once above, referred to instead."""
    for cause in causes:
        if len(cause.detail) >= 20 and cause.detail in text:
            text = text.replace(cause.detail, SEE_ABOVE)
    return text


def summarize(all_rows: list[Row], strict: bool = False, role: str = "") -> Summary:
    """The verdict. Critical failures and critical errors are unmet (an unknown requirement is
    not a met one); with `strict`, so are skipped criticals. Nothing judged at all is its own
    verdict: a preflight must not pass having checked nothing."""

    def ids(test: Callable[[Row], bool]) -> list[str]:
        return [r.requirement.id for r in all_rows if test(r)]

    unmet = ids(
        lambda r: (
            r.critical and (r.status in ("fail", "error") or (strict and r.status == "skipped"))
        )
    )
    summary = Summary(
        "not_ready" if unmet else "ready",
        critical_unmet=unmet,
        warnings_unmet=ids(lambda r: not r.critical and r.status == "fail"),
        errors=ids(lambda r: r.status == "error"),
        skipped=ids(lambda r: r.status == "skipped"),
        critical_met=sum(1 for r in all_rows if r.critical and r.status == "pass"),
    )
    if all(r.status == "skipped" for r in all_rows):
        hint = (
            "Give it Kubernetes access: --kubeconfig FILE, KUBECONFIG, or run it in a pod "
            "with a service account."
            if role == "cluster"
            else ""
        )
        return dataclasses.replace(summary, verdict="nothing_judged", hint=hint)
    return summary


def exit_code(summary: Summary) -> int:
    """0 ready, 1 not ready, 2 nothing judged (as for a usage or config error)."""
    return {"ready": 0, "not_ready": 1}.get(summary.verdict, 2)


def as_dict(
    role: str,
    requirements: Iterable[Requirement],
    records: Mapping[str, Record],
    strict: bool = False,
) -> dict[str, Any]:
    """The `check --output json` document (README, "Preflight"), with its summary."""
    all_rows = rows(requirements, records)
    causes = shared_causes(all_rows)
    results = []
    for row in all_rows:
        res, rec = row.result, row.record
        # The shared cause's text once, in summary.shared_causes; what a row adds stays.
        detail = without_causes(res.detail if res else "", causes)
        results.append(
            {
                "requirement": row.requirement.id,
                "title": row.requirement.title,
                "severity": str(row.requirement.severity),
                "scope": str(row.requirement.scope),
                "status": row.status,
                "observed": res.observed if res else "",
                "reason": row.reason,
                "detail": detail,
                "remedy": row.requirement.remedy,
                "doc_url": row.requirement.doc_url,
                "duration_seconds": round(rec.duration_seconds, 6) if rec else 0.0,
            }
        )
    summary = summarize(all_rows, strict, role).as_dict()
    summary["shared_causes"] = [dataclasses.asdict(c) for c in causes]
    return {"role": role, "summary": summary, "results": results}


def as_json(
    role: str,
    requirements: Iterable[Requirement],
    records: Mapping[str, Record],
    strict: bool = False,
) -> str:
    return json.dumps(as_dict(role, requirements, records, strict), indent=2)


# C0 and C1 controls (and DEL): a host value must not drive the reader's terminal.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _printable(text: str) -> str:
    return _CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def as_text(
    role: str,
    requirements: Iterable[Requirement],
    records: Mapping[str, Record],
    strict: bool = False,
) -> str:
    all_rows = ordered(rows(requirements, records))
    causes = shared_causes(all_rows)
    shared = {rid for c in causes for rid in c.requirements}
    table = [("STATUS", "SEVERITY", "REQUIREMENT", "OBSERVED", "DETAIL")]
    for row in all_rows:
        res = row.result
        status = row.status.upper() if row.status in ("fail", "error") else row.status
        detail = res.detail if res else ""
        observed = res.observed if res else ""
        if row.requirement.id in shared:
            detail, observed = SEE_ABOVE, ""
        else:
            detail = without_causes(detail, causes)
            if res and res.reason and res.status is not Status.PASS:
                detail = f"[{res.reason}] {detail}"
        table.append(
            (
                status,
                str(row.requirement.severity),
                row.requirement.id,
                _printable(observed),
                _printable(detail),
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    lines = [f"Gitpod requirements, {role} role"]
    for cause in causes:
        lines.append(
            f"! {len(cause.requirements)} requirements have no verdict for one reason, "
            f"{cause.reason}: {_printable(cause.detail[:300])}"
        )
        lines.append(f"  What to do: {cause.remedy}")
    lines.append("")
    for r in table:
        lines.append(
            "  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4]
        )
    todo = [r for r in all_rows if r.status in ("fail", "error") and r.requirement.id not in shared]
    if todo:
        lines.append("")
        lines.append("To fix (critical first):")
        for row in todo:
            lines.append(f"  {row.requirement.id}: {row.remedy(role)} ({row.runbook()})")
    lines.append("")
    lines.append(summarize(all_rows, strict, role).line())
    return "\n".join(lines) + "\n"


def as_junit(
    role: str,
    requirements: Iterable[Requirement],
    records: Mapping[str, Record],
    strict: bool = False,
) -> str:
    """One testsuite, one testcase per requirement: failure for an unmet requirement, error for
    one without a verdict, skipped for a skipped one (a failure for a critical with --strict)."""
    all_rows = rows(requirements, records)
    counts = {k: 0 for k in ("failures", "errors", "skipped")}
    suite = ElementTree.Element("testsuite", name=f"gitpod-requirements-{role}")
    for row in all_rows:
        res = row.result
        case = ElementTree.SubElement(
            suite,
            "testcase",
            classname=f"gitpod.{role}.{row.requirement.severity}",
            name=row.requirement.id,
            time=f"{row.record.duration_seconds:.6f}" if row.record else "0",
        )
        message = f"[{row.reason}] {res.detail if res else ''}"
        if row.status == "fail" or (strict and row.critical and row.status == "skipped"):
            counts["failures"] += 1
            el = ElementTree.SubElement(case, "failure", message=message[:1000], type=row.reason)
            el.text = f"observed: {res.observed if res else ''}\nremedy: {row.remedy(role)}"
        elif row.status == "error":
            counts["errors"] += 1
            el = ElementTree.SubElement(case, "error", message=message[:1000], type=row.reason)
            el.text = f"remedy: {row.remedy(role)}"
        elif row.status == "skipped":
            counts["skipped"] += 1
            ElementTree.SubElement(case, "skipped", message=message[:1000])
    suite.set("tests", str(len(all_rows)))
    for key, value in counts.items():
        suite.set(key, str(value))
    ElementTree.indent(suite)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(suite, "unicode") + "\n"
    )


_STYLE = """
*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:1400px;
overflow-wrap:anywhere}
h1{font-size:1.4em;margin:.2em 0 .6em}
.banner{padding:.8em 1em;border-radius:6px;margin-bottom:1em;font-size:1.1em}
.banner.ready{background:#dafbe1;border:1px solid #1a7f37}
.banner.not_ready{background:#ffebe9;border:2px solid #cf222e}
.banner.nothing_judged,.banner.pending{background:#fff8c5;border:1px solid #9a6700}
.cause{background:#fff8c5;border:1px solid #d4a72c;padding:.6em 1em;border-radius:6px;margin:.5em 0}
table{border-collapse:collapse;width:100%;table-layout:fixed}
th,td{text-align:left;padding:.45em .6em;border-bottom:1px solid #ddd;vertical-align:top;
overflow-wrap:anywhere;word-break:break-word}
th:nth-child(1){width:9em}th:nth-child(2){width:30%}th:nth-child(3){width:33%}
tr.critical.fail td:first-child{background:#cf222e;color:#fff}
tr.critical.error td:first-child{background:#9a6700;color:#fff}
tr.critical.fail td:first-child .muted,tr.critical.error td:first-child .muted{color:#fff}
td.pass{color:#1a7f37;font-weight:600}td.fail{color:#cf222e;font-weight:600}
td.error{color:#9a6700;font-weight:600}td.skipped,td.pending{color:#6e7781}
.sev{font-size:.8em;padding:0 .35em;border-radius:3px;border:1px solid #aaa}
.sev.critical{border-color:#cf222e;color:#cf222e}
.muted{color:#6e7781;font-size:.9em}
@media (max-width:700px){body{margin:.6em}table,thead,tbody,tr,td{display:block;width:100%}
thead{display:none}tr{border-bottom:2px solid #ccc;padding:.3em 0}td{border:0;padding:.2em 0}}
"""


def as_html(
    role: str,
    requirements: Iterable[Requirement],
    records: Mapping[str, Record],
    ready: bool,
    runbook_url: str = RUNBOOK_URL,
    refresh: int = 0,
) -> str:
    """One self-contained page (no scripts, no external assets; every value escaped) that
    answers: is this cluster ready for Gitpod, and if not, what first?"""
    e = html.escape
    all_rows = ordered(rows(requirements, records))
    summary = summarize(all_rows, role=role)
    causes = shared_causes(all_rows)
    shared = {rid for c in causes for rid in c.requirements}
    verdict = summary.verdict if ready else "pending"
    headline = summary.line() if ready else "First round of checks still running."
    body = []
    for row in all_rows:
        res, req = row.result, row.requirement
        status = row.status if (row.record or ready) else "pending"
        when = (
            time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(row.record.finished_at))
            if row.record
            else "-"
        )
        # A row whose error is a banner's cause says so and nothing more: the cause's text
        # once on the page, not once per requirement.
        seen = res if req.id not in shared else None
        if req.id in shared:
            todo = "See the shared cause above."
        elif status in ("fail", "error", "skipped"):
            todo = row.remedy(role)
        else:
            todo = ""
        reason = f" <span class=muted>({e(row.reason)})</span>" if res and res.reason else ""
        shown = without_causes(seen.detail, causes) if seen else ""
        detail = f"<br><span class=muted>{e(shown)}</span>" if shown else ""
        body.append(
            f'<tr id="req-{e(req.id)}" data-requirement="{e(req.id)}" data-status="{e(status)}" '
            f'class="{e(str(req.severity))} {e(status)}">'
            f'<td class="{e(status)}">{e(status)}{reason}</td>'
            f'<td><b>{e(req.id)}</b> <span class="sev {e(str(req.severity))}">'
            f"{e(str(req.severity))}</span><br><span class=muted>{e(req.title)}</span></td>"
            f"<td>{e(seen.observed if seen else '')}{detail}"
            f"</td><td>{e(todo)}<br><span class=muted>"
            f'<a href="{e(row.runbook(runbook_url))}">runbook</a> · '
            f'<a href="{e(req.doc_url)}">Gitpod docs</a> · {e(when)}</span></td></tr>'
        )
    banner_causes = "".join(
        f'<div class="cause" data-cause="{e(c.reason)}"><b>{len(c.requirements)} requirements '
        f"have no verdict for one reason: {e(c.reason)}</b>: {e(c.detail[:400])}<br>"
        f"What to do: {e(c.remedy)}<br><span class=muted>{e(', '.join(c.requirements))}"
        "</span></div>"
        for c in causes
    )
    counts = (
        f"critical unmet {len(summary.critical_unmet)} · warnings {len(summary.warnings_unmet)}"
        f" · errors {len(summary.errors)} · skipped {len(summary.skipped)}"
    )
    meta_refresh = f'<meta http-equiv="refresh" content="{refresh}">' if refresh > 0 else ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"{meta_refresh}<title>Gitpod requirements ({e(role)})</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>Gitpod requirements: {e(role)} role</h1>"
        f'<div id="verdict" class="banner {e(verdict)}" data-verdict="{e(verdict)}">'
        f"<b>{e(headline)}</b><br><span class=muted>{e(counts)}</span></div>"
        f"{banner_causes}"
        "<table><thead><tr><th>Status</th><th>Requirement</th><th>Observed</th>"
        f"<th>What to do</th></tr></thead><tbody>{''.join(body)}</tbody></table>"
        f'<p class="muted"><a href="metrics">metrics</a> · <a href="?refresh=30">refresh every '
        f"30 s</a> · gitpod-requirements-exporter {e(__version__)}</p></body></html>"
    )
