"""node_cgroup: which cgroup version the node runs. Gitpod's 2022 releases run on v1 and v2,
later ones need v2: a release that needs v2 on a v1 node fails here, by `versions`. Its severity
follows the matrix: critical when the versions come from the release the installation states
(gitpod.release, or the installed version), so a release that needs v2 pages on a v1 node; info
while the release is only assumed (the newest in the matrix), or set `critical` by hand."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from exporter import families
from exporter.config import CheckSettings, Interval
from exporter.context import Check, CheckContext, Derive
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.installation import Derived, Installation
from exporter.model import CheckError, Reason, Requirement, Result, Scope, Severity

REQUIREMENT = Requirement(
    id="node_cgroup",
    title="A cgroup version the Gitpod release supports",
    severity=Severity.INFO,
    scope=Scope.NODE,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Boot the node with the cgroup version the release needs (systemd.unified_cgroup_"
    "hierarchy=1 for v2), or a node image that uses it by default (Ubuntu 22.04 and later).",
)
CGROUP = "/sys/fs/cgroup"
HOST_PATHS = (CGROUP,)


@dataclass(frozen=True)
class Settings(CheckSettings):
    interval: Interval = 600.0
    # The versions the release runs on: 2022 releases both; later ones [2].
    versions: list[int] = field(default_factory=lambda: [1, 2])
    # Whether a node outside `versions` pages (critical) or only informs.
    critical: bool = False


def requirement_for(requirement_id: str, s: Settings) -> Requirement:
    severity = Severity.CRITICAL if s.critical else Severity.INFO
    return dataclasses.replace(REQUIREMENT, severity=severity)


def requirements(s: Settings) -> tuple[Requirement, ...]:
    return (requirement_for(REQUIREMENT.id, s),)


async def from_installation(inst: Installation, s: Settings, timeout: float) -> Derived:
    release, why = await inst.release(timeout)
    versions = release.rule("cgroup").get("versions")
    if not versions:
        return None
    # The newest entry is a guess when nothing states the release: no page on a guess.
    stated = "the newest in" not in why
    return {"versions": versions, "critical": stated}, f"from the compatibility matrix: {why}"


async def run(ctx: CheckContext[Settings]) -> dict[str, Result]:
    return {REQUIREMENT.id: await _judged(ctx)}


async def _judged(ctx: CheckContext[Settings]) -> Result:
    if ctx.host_kind(CGROUP) != "directory":
        raise CheckError(Reason.MISSING, f"no {CGROUP} on the host")
    # The unified hierarchy's root has cgroup.controllers; v1 mounts one directory per
    # controller there instead.
    version = 2 if ctx.host_kind(f"{CGROUP}/cgroup.controllers") == "file" else 1
    sample = families.NODE_CGROUP_VERSION.sample(float(version))
    if version not in ctx.settings.versions:
        wanted = " or ".join(f"v{v}" for v in ctx.settings.versions)
        return Result.failed(
            Reason.UNSUPPORTED, f"v{version}", f"cgroup v{version}; the release needs {wanted}",
            sample,
        )  # fmt: skip
    return Result.passed(f"v{version}", sample)


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    host_paths=HOST_PATHS,
    requirements=requirements,
    requirement_for=requirement_for,
    installation=Derive(from_installation, frozenset({"versions", "critical"})),
)
