"""What several checks share: setting constraints, default thresholds and the small helpers
their verdicts use. Checks import from here, never from each other."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from exporter import metrics
from exporter.compat import Release, Verdict
from exporter.config import Pattern
from exporter.gitpod import COMPATIBILITY_DOC
from exporter.model import Reason, Requirement, Result, Scope, Severity

# A version setting such as min_version: "5.4.0".
VERSION = Pattern(r"v?\d+\.\d+(\.\d+)?", "a version such as 5.4.0")
# The same, or empty for "no bound".
OPTIONAL_VERSION = Pattern(r"(v?\d+\.\d+(\.\d+)?)?", "a version such as 1.30, or empty")

# 16 GB as the KOTS preflight reads "16G" (10^9), so a 16 GiB VM passes after the kernel's
# reservation (MemTotal ~15.2-15.7 GiB) while an 8 GiB VM fails.
MIN_NODE_MEMORY_BYTES = 16 * 10**9


def first(names: Sequence[str], limit: int = 10) -> str:
    """`a, b, c and 7 more`: a detail that stays short however many nodes fail."""
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def workspace_suffix(domain: str, prefix: str = "ws") -> str:
    """The zone workspaces live under: ws.D, or ws-<shortname>.D for a named installation."""
    return f"{prefix}.{domain}"


def probe_names(domain: str, workspace_prefix: str = "ws") -> dict[str, str]:
    """The three names Gitpod serves, pattern -> a concrete name to try: the domain, a fresh
    random name under it and one under the workspace zone (random, so no cache or explicit
    record can stand in for the wildcard)."""
    label = f"gre-{secrets.token_hex(4)}"
    ws = workspace_suffix(domain, workspace_prefix)
    return {domain: domain, f"*.{domain}": f"{label}.{domain}", f"*.{ws}": f"{label}.{ws}"}


def covers(pattern: str, name: str) -> bool:
    """RFC 6125 matching: a wildcard stands for exactly one leftmost label."""
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == name


def compatibility_requirement(component: str) -> Requirement:
    """cluster_compatibility:<component>: tested by Gitpod for the release judged against. A
    warning: the critical floors are requirements of their own."""
    return Requirement(
        id=f"cluster_compatibility:{component}" if component else "cluster_compatibility",
        title=f"{component.replace('_', '-') or 'The cluster'} is in Gitpod's compatibility matrix",
        severity=Severity.WARNING,
        scope=Scope.CLUSTER,
        doc_url=COMPATIBILITY_DOC,
        remedy="Move to a version or product Gitpod tested for this release (the detail names "
        "them), or pick the release you run with gitpod.release.",
    )


def compatibility_result(component: str, verdict: Verdict, release: Release, why: str) -> Result:
    sample = metrics.COMPATIBILITY_INFO.sample(1.0, component, verdict.observed, release.name)
    detail = f"{verdict.detail}; judged against {why}"
    if verdict.passed:
        return Result.passed(verdict.observed, sample, detail=detail)
    return Result.failed(Reason(verdict.reason), verdict.observed, detail, sample)
