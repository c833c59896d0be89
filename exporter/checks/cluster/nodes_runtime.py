"""cluster_nodes_runtime: every node that Gitpod schedules on meets the node requirements,
as the API server sees them (the node role checks the same from inside each node)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated

from exporter import families
from exporter.checks.shared import VERSION, recommended_requirement
from exporter.config import CheckSettings, NonEmpty
from exporter.context import Check, CheckContext
from exporter.gitpod import GITPOD_LABEL_PREFIX, GITPOD_REQUIREMENTS_DOC
from exporter.model import Reason, Requirement, Result, Scope, Severity
from exporter.nodefacts import NodeFacts
from exporter.parse import ParseError, first, version_tuple
from exporter.sizing import CPU_BY_ROLE, MEMORY_BY_ROLE, Size, roles, strictest

REQUIREMENT = Requirement(
    id="cluster_nodes_runtime",
    title="Gitpod nodes run containerd, Ubuntu, kernel >= 5.4, sized for their role",
    severity=Severity.CRITICAL,
    scope=Scope.CLUSTER,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Replace the listed nodes with Ubuntu/containerd nodes sized for their Gitpod role "
    "(workspace: 4 vCPU, 16 GB; meta: 2 vCPU, 8 GB; IDE: 2 vCPU, 4 GB).",
)
# The node cache: a node change wakes this check.
RECOMMENDED = recommended_requirement(
    REQUIREMENT,
    "Gitpod nodes have the size recommended for their role",
    "Meta nodes run better with 4 vCPU and 16 GB: use a larger machine type for that pool.",
)
REASONS = ("runtime", "os", "kernel", "cpu", "memory")


@dataclass(frozen=True)
class Settings(CheckSettings):
    label_prefix: str = GITPOD_LABEL_PREFIX
    runtimes: Annotated[list[str], NonEmpty()] = field(default_factory=lambda: ["containerd"])
    os_images: Annotated[list[str], NonEmpty()] = field(default_factory=lambda: ["Ubuntu"])
    min_kernel: Annotated[str, VERSION] = "5.4.0"
    # By the role a node's labels give it (the strictest when several): workspace, meta, ide.
    cpu_by_role: dict[str, Size] = field(default_factory=lambda: dict(CPU_BY_ROLE))
    memory_by_role: dict[str, Size] = field(default_factory=lambda: dict(MEMORY_BY_ROLE))


def requirements(settings: Settings) -> tuple[Requirement, ...]:
    return (REQUIREMENT, RECOMMENDED)


def _problems(node: NodeFacts, s: Settings) -> list[str]:
    out = []
    if node.runtime.partition("://")[0] not in s.runtimes:
        out.append("runtime")
    if not any(node.os_image.startswith(p) for p in s.os_images):
        out.append("os")
    try:
        if version_tuple(node.kernel) < version_tuple(s.min_kernel):
            out.append("kernel")
    except ParseError:
        out.append("kernel")
    node_roles = roles(node.labels)
    cpu, memory = strictest(node_roles, s.cpu_by_role), strictest(node_roles, s.memory_by_role)
    if node.cpu is None or node.cpu < cpu.minimum:
        out.append("cpu")
    if node.memory is None or node.memory < memory.minimum:
        out.append("memory")
    return out


def _below_recommended(node: NodeFacts, s: Settings) -> list[str]:
    node_roles = roles(node.labels)
    cpu, memory = strictest(node_roles, s.cpu_by_role), strictest(node_roles, s.memory_by_role)
    out = []
    if node.cpu is not None and node.cpu < cpu.recommended:
        out.append("cpu")
    if node.memory is not None and node.memory < memory.recommended:
        out.append("memory")
    return out


def _judged(nodes: list[NodeFacts], s: Settings) -> list[tuple[NodeFacts, list[str], list[str]]]:
    """Each Gitpod node (a `label_prefix` label set to "true") with its problems and what is
    below the recommended. Nodes of one pool share every fact judged here: each distinct shape
    is judged once, in one pass over the labels (20,000 nodes judged one by one held the event
    loop, and every scrape with it, for a second)."""
    judged: dict[tuple[object, ...], tuple[list[str], list[str]]] = {}
    prefix = s.label_prefix
    out = []
    # NodeFacts sets the gitpod.io/workload_* labels apart; another prefix scans every label.
    own = prefix.startswith(GITPOD_LABEL_PREFIX)
    for node in nodes:
        pairs = node.workload if own else node.labels.items()
        gitpod = tuple(k for k, v in pairs if v == "true" and k.startswith(prefix))
        if not gitpod:
            continue
        shape = (node.runtime, node.os_image, node.kernel, node.cpu, node.memory, gitpod)
        found = judged.get(shape)
        if found is None:
            found = judged[shape] = (_problems(node, s), _below_recommended(node, s))
        out.append((node, *found))
    return out


def _recommended(judged: list[tuple[NodeFacts, list[str], list[str]]]) -> Result:
    small: dict[str, list[str]] = {"cpu": [], "memory": []}
    for node, _, below in judged:
        for problem in below:
            small[problem].append(node.name)
    observed = f"{len(judged)} Gitpod nodes"
    if any(small.values()):
        detail = "; ".join(f"{k} below the recommended: {first(v)}" for k, v in small.items() if v)
        return Result.failed(Reason.BELOW_MINIMUM, observed, detail)
    return Result.passed(observed)


async def run(ctx: CheckContext[Settings]) -> Mapping[str, Result]:
    s = ctx.settings
    judged = _judged(await ctx.nodes(s.timeout), s)
    nodes = [node for node, _, _ in judged]
    failing: dict[str, list[str]] = {r: [] for r in REASONS}
    for node, problems, _ in judged:
        for problem in problems:
            failing[problem].append(node.name)
    samples = [
        families.CLUSTER_NODES_FAILING.sample(float(len(names)), reason)
        for reason, names in failing.items()
    ]
    samples.append(families.CLUSTER_GITPOD_NODES.sample(float(len(nodes))))
    bad = {name for names in failing.values() for name in names}
    observed = f"{len(nodes) - len(bad)}/{len(nodes)} nodes ok"
    if not nodes:
        missing = f"no node carries a {s.label_prefix}* label"
        main = Result.failed(Reason.MISSING, observed, missing, *samples)
        return {REQUIREMENT.id: main, RECOMMENDED.id: Result.failed(Reason.MISSING, "", missing)}
    if bad:
        detail = "; ".join(
            f"{reason}: {first(names)}" for reason, names in failing.items() if names
        )
        main = Result.failed(Reason.UNSUPPORTED, observed, detail, *samples)
    else:
        main = Result.passed(observed, *samples)
    return {REQUIREMENT.id: main, RECOMMENDED.id: _recommended(judged)}


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    requirements=requirements,
    reads=frozenset({"nodes"}),
)
