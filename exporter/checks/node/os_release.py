"""node_os: the node runs Ubuntu, the distribution Gitpod's workspace images are built for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from exporter import families
from exporter.config import CheckSettings, Interval, NonEmpty
from exporter.context import Check, CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.model import Reason, Requirement, Result, Scope, Severity
from exporter.parse import os_release

REQUIREMENT = Requirement(
    id="node_os",
    title="Ubuntu Linux on each node",
    severity=Severity.WARNING,
    scope=Scope.NODE,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Use an Ubuntu node image for Gitpod node pools "
    "(e.g. GKE UBUNTU_CONTAINERD, an Ubuntu EKS AMI).",
)
# os-release(5): /etc/os-release first, /usr/lib/os-release when the former is absent.
HOST_PATHS = ("/etc/os-release", "/usr/lib/os-release")


@dataclass(frozen=True)
class Settings(CheckSettings):
    interval: Interval = 600.0
    ids: Annotated[list[str], NonEmpty()] = field(default_factory=lambda: ["ubuntu"])
    # Empty means any version of an allowed distribution.
    version_ids: list[str] = field(default_factory=list)


async def run(ctx: CheckContext[Settings]) -> Result:
    path = HOST_PATHS[0] if ctx.host_kind(HOST_PATHS[0]) != "absent" else HOST_PATHS[1]
    info = os_release(await ctx.read_host(path))
    os_id, version_id = info["ID"], info.get("VERSION_ID", "")
    observed = info.get("PRETTY_NAME") or f"{os_id} {version_id}".strip()
    sample = families.NODE_OS_INFO.sample(1.0, os_id, version_id)
    s = ctx.settings
    if os_id not in s.ids:
        return Result.failed(
            Reason.UNSUPPORTED, observed, f"ID={os_id}; expected one of {', '.join(s.ids)}", sample
        )
    if s.version_ids and version_id not in s.version_ids:
        return Result.failed(
            Reason.UNSUPPORTED,
            observed,
            f"VERSION_ID={version_id}; expected one of {', '.join(s.version_ids)}",
            sample,
        )
    return Result.passed(observed, sample)


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    host_paths=HOST_PATHS,
)
