"""cluster_node_label:<label>: Ready, schedulable nodes carry each label Gitpod schedules on.

One requirement per configured label, all judged from the one shared node list.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated

from exporter import families
from exporter.config import CheckSettings, NonEmpty
from exporter.context import Check, CheckContext, Derive
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC, SEED_LABELS, labels_for_kind
from exporter.installation import Derived, Installation, stated_origin
from exporter.model import Reason, Requirement, Result, Scope, Severity
from exporter.parse import first

REQUIREMENT = Requirement(
    id="cluster_node_label",
    title="Ready, schedulable nodes carry the label",
    severity=Severity.CRITICAL,
    scope=Scope.CLUSTER,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Label at least one Ready node per workload, e.g. "
    "kubectl label node NAME gitpod.io/workload_meta=true.",
)


# The node cache: a node change wakes this check.
@dataclass(frozen=True)
class Settings(CheckSettings):
    labels: Annotated[list[str], NonEmpty()] = field(default_factory=lambda: list(SEED_LABELS))
    value: str = "true"


def requirement_id(label: str) -> str:
    return f"{REQUIREMENT.id}:{label}"


def requirement_for(requirement_id: str, settings: Settings) -> Requirement:
    """The label set may come from the installation's kind, known only at run time."""
    label = requirement_id.partition(":")[2]
    return dataclasses.replace(
        REQUIREMENT,
        id=requirement_id,
        title=f"Ready, schedulable nodes labelled {label}={settings.value}",
        remedy=f"Label at least one Ready node for this workload: kubectl label node NAME "
        f"{label}={settings.value}",
    )


def requirements(settings: Settings) -> tuple[Requirement, ...]:
    return tuple(requirement_for(requirement_id(label), settings) for label in settings.labels)


async def run(ctx: CheckContext[Settings]) -> Mapping[str, Result]:
    s = ctx.settings
    nodes = await ctx.nodes(s.timeout)
    results = {}
    for label in s.labels:
        carrying = [n for n in nodes if n.labels.get(label) == s.value]
        usable = [n for n in carrying if n.ready and n.schedulable]
        sample = families.CLUSTER_NODES.sample(float(len(usable)), label)
        observed = f"{len(usable)} node(s)"
        if usable:
            results[requirement_id(label)] = Result.passed(observed, sample)
        elif carrying:
            names = first([n.name for n in carrying])
            results[requirement_id(label)] = Result.failed(
                Reason.NOT_READY,
                observed,
                f"{len(carrying)} node(s) carry {label}={s.value} but none is Ready and "
                f"schedulable: {names}",
                sample,
            )
        else:
            results[requirement_id(label)] = Result.failed(
                Reason.MISSING, observed, f"no node carries {label}={s.value}", sample
            )
    return results


# The settings that name its target: when the config file sets one, the installation is
# not consulted.
async def from_installation(inst: Installation, s: Settings, timeout: float) -> Derived:
    cfg, where = await inst.stated(timeout)
    return {"labels": labels_for_kind(cfg.kind)}, stated_origin(where, f"kind {cfg.kind}")


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    requirements=requirements,
    requirement_for=requirement_for,
    installation=Derive(from_installation, frozenset({"labels"})),
    reads=frozenset({"nodes"}),
)
