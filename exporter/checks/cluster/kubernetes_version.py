"""cluster_kubernetes_version: the API server and every kubelet run a supported version."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from exporter import families
from exporter.checks.shared import OPTIONAL_VERSION, VERSION
from exporter.config import CheckSettings
from exporter.context import Check, CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.model import CheckError, Reason, Requirement, Result, Scope, Severity
from exporter.parse import ParseError, first, version_tuple

REQUIREMENT = Requirement(
    id="cluster_kubernetes_version",
    title="A supported Kubernetes version (1.21 or newer)",
    severity=Severity.CRITICAL,
    scope=Scope.CLUSTER,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Upgrade the control plane and every node pool to a Kubernetes version in the "
    "supported range.",
)


# The node cache: a node change wakes this check.
@dataclass(frozen=True)
class Settings(CheckSettings):
    min_version: Annotated[str, VERSION] = "1.21"
    # Highest supported minor, inclusive (e.g. "1.30"); empty means no upper bound.
    max_version: Annotated[str, OPTIONAL_VERSION] = ""


def _minor(text: str) -> tuple[int, int]:
    return version_tuple(text)[:2]


async def run(ctx: CheckContext[Settings]) -> Result:
    s = ctx.settings
    info = await ctx.kube.version(s.timeout)
    git_version = str(info.get("gitVersion", ""))
    try:
        server = _minor(git_version)
    except ParseError:
        raise CheckError(Reason.PARSE, f"unparsable server version {git_version!r}") from None
    low = _minor(s.min_version)
    high = _minor(s.max_version) if s.max_version else None

    def out_of_range(v: tuple[int, int]) -> bool:
        return v < low or (high is not None and v > high)

    # Judged once per distinct kubelet version (a cluster has a few), not per node.
    verdicts: dict[str, str] = {}
    bad_nodes = []
    for node in await ctx.nodes(s.timeout):
        version = node.kubelet_version
        why = verdicts.get(version)
        if why is None:
            try:
                why = verdicts[version] = version if out_of_range(_minor(version)) else ""
            except ParseError:
                why = verdicts[version] = f"unparsable {version!r}"
        if why:
            bad_nodes.append(f"{node.name} ({why})")
    samples = (
        families.KUBERNETES_VERSION_INFO.sample(1.0, git_version),
        families.CLUSTER_KUBELET_UNSUPPORTED_NODES.sample(float(len(bad_nodes))),
    )
    wanted = f">= {s.min_version}" + (f" and <= {s.max_version}" if s.max_version else "")
    if out_of_range(server):
        return Result.failed(
            Reason.UNSUPPORTED,
            git_version,
            f"API server {git_version}; expected {wanted}",
            *samples,
        )
    if bad_nodes:
        listed = first(bad_nodes)
        return Result.failed(
            Reason.UNSUPPORTED,
            git_version,
            f"{len(bad_nodes)} kubelet(s) outside {wanted}: {listed}",
            *samples,
        )
    return Result.passed(git_version, *samples)


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    reads=frozenset({"nodes"}),
)
