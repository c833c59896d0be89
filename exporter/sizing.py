"""How big a node must be for the Gitpod role its labels give it (the KOTS preflight's
thresholds; the requirements page's 4 vCPU / 16 GB stays the floor where workspaces run)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated

from exporter.config import Min
from exporter.gitpod import (
    WORKLOAD_IDE,
    WORKLOAD_META,
    WORKLOAD_SERVICES,
    WORKLOAD_WORKSPACE_HEADLESS,
    WORKLOAD_WORKSPACE_REGULAR,
    WORKLOAD_WORKSPACE_SERVICES,
)

ROLE_LABELS: dict[str, tuple[str, ...]] = {
    "workspace": (
        WORKLOAD_WORKSPACE_SERVICES,
        WORKLOAD_WORKSPACE_REGULAR,
        WORKLOAD_WORKSPACE_HEADLESS,
    ),
    "meta": (WORKLOAD_META, WORKLOAD_SERVICES),
    "ide": (WORKLOAD_IDE,),
}
GB = 10**9


@dataclass(frozen=True)
class Size:
    """Below `minimum` the role's requirement fails; below `recommended`, its warning does."""

    minimum: Annotated[float, Min(0)] = 0.0
    recommended: Annotated[float, Min(0)] = 0.0


CPU_BY_ROLE = {"workspace": Size(4, 4), "meta": Size(2, 4), "ide": Size(2, 2)}
MEMORY_BY_ROLE = {
    "workspace": Size(16 * GB, 16 * GB),
    "meta": Size(8 * GB, 16 * GB),
    "ide": Size(4 * GB, 4 * GB),
}


def roles(labels: Mapping[str, str], value: str = "true") -> list[str]:
    """The Gitpod roles a node's labels give it, in ROLE_LABELS order."""
    return [r for r, names in ROLE_LABELS.items() if any(labels.get(n) == value for n in names)]


def strictest(node_roles: Iterable[str], by_role: Mapping[str, Size]) -> Size:
    """A node serving several roles must meet the largest threshold of each kind."""
    sizes = [by_role[r] for r in node_roles if r in by_role]
    return Size(
        max((s.minimum for s in sizes), default=0.0),
        max((s.recommended for s in sizes), default=0.0),
    )
