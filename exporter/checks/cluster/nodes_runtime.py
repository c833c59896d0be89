"""cluster_nodes_runtime: every node that Gitpod schedules on meets the node requirements,
as the API server sees them (the node role checks the same from inside each node)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from exporter import metrics
from exporter.checks.shared import MIN_NODE_MEMORY_BYTES, VERSION, first
from exporter.config import CheckSettings, Min, NonEmpty
from exporter.context import CheckContext
from exporter.gitpod import GITPOD_LABEL_PREFIX, GITPOD_REQUIREMENTS_DOC
from exporter.kube import NodeFacts
from exporter.model import Reason, Requirement, Result, Scope, Severity
from exporter.parse import ParseError, version_tuple

REQUIREMENT = Requirement(
    id="cluster_nodes_runtime",
    title="Gitpod nodes run containerd, Ubuntu, kernel >= 5.4, 4 CPU and 16 GB",
    severity=Severity.CRITICAL,
    scope=Scope.CLUSTER,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Replace the listed nodes with Ubuntu/containerd nodes of at least 4 vCPU and 16 GB.",
)
REASONS = ("runtime", "os", "kernel", "cpu", "memory")


@dataclass(frozen=True)
class Settings(CheckSettings):
    label_prefix: str = GITPOD_LABEL_PREFIX
    runtimes: Annotated[list[str], NonEmpty()] = field(default_factory=lambda: ["containerd"])
    os_images: Annotated[list[str], NonEmpty()] = field(default_factory=lambda: ["Ubuntu"])
    min_kernel: Annotated[str, VERSION] = "5.4.0"
    min_cpus: Annotated[float, Min(0)] = 4.0
    min_memory_bytes: Annotated[int, Min(0)] = MIN_NODE_MEMORY_BYTES


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
    if node.cpu is None or node.cpu < s.min_cpus:
        out.append("cpu")
    if node.memory is None or node.memory < s.min_memory_bytes:
        out.append("memory")
    return out


async def run(ctx: CheckContext[Settings]) -> Result:
    s = ctx.settings
    nodes = [
        n
        for n in await ctx.kube.nodes(s.timeout)
        if any(k.startswith(s.label_prefix) and v == "true" for k, v in n.labels.items())
    ]
    failing: dict[str, list[str]] = {r: [] for r in REASONS}
    for node in nodes:
        for problem in _problems(node, s):
            failing[problem].append(node.name)
    samples = [
        metrics.CLUSTER_NODES_FAILING.sample(float(len(names)), reason)
        for reason, names in failing.items()
    ]
    samples.append(metrics.CLUSTER_GITPOD_NODES.sample(float(len(nodes))))
    bad = {name for names in failing.values() for name in names}
    observed = f"{len(nodes) - len(bad)}/{len(nodes)} nodes ok"
    if bad:
        detail = "; ".join(
            f"{reason}: {first(names)}" for reason, names in failing.items() if names
        )
        return Result.failed(Reason.UNSUPPORTED, observed, detail, *samples)
    if not nodes:
        return Result.failed(
            Reason.MISSING, observed, f"no node carries a {s.label_prefix}* label", *samples
        )
    return Result.passed(observed, *samples)
