"""What several checks share: setting constraints, default thresholds and the small helpers
their verdicts use. Checks import from here, never from each other."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from exporter.config import Pattern

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
