"""node_privileged: privileged containers really run here (workspaces need CAP_SYS_ADMIN).

The agent itself runs as a privileged container, so its own effective capabilities are the
proof: if admission or the runtime stripped privileges, they are missing here too.
"""

from __future__ import annotations

from dataclasses import dataclass

from exporter import families
from exporter.config import CheckSettings, Interval
from exporter.context import Check, CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.model import Reason, Requirement, Result, Scope, Severity
from exporter.parse import CAP_SYS_ADMIN, ParseError, cap_eff

REQUIREMENT = Requirement(
    id="node_privileged",
    title="Privileged containers run on the node",
    severity=Severity.CRITICAL,
    scope=Scope.NODE,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Allow privileged pods on Gitpod nodes (PodSecurity 'privileged' for the namespace, "
    "no policy stripping capabilities).",
)
# Under --host-root the host's /proc resolves `self` to this process, as it does at /proc.
HOST_PATHS = ("/proc/self/status", "/proc/sys/kernel/cap_last_cap")


@dataclass(frozen=True)
class Settings(CheckSettings):
    interval: Interval = 600.0


async def run(ctx: CheckContext[Settings]) -> Result:
    mask = cap_eff(await ctx.read_host(HOST_PATHS[0]))
    count = bin(mask).count("1")
    full = None
    if ctx.host_kind(HOST_PATHS[1]) != "absent":
        try:
            last = int((await ctx.read_host(HOST_PATHS[1])).strip())
            full = mask & ((1 << (last + 1)) - 1) == (1 << (last + 1)) - 1
        except ValueError:
            raise ParseError("cap_last_cap is not a number") from None
    sample = families.NODE_EFFECTIVE_CAPABILITIES.sample(float(count))
    observed = f"CapEff {mask:016x} ({count} capabilities" + (", full set)" if full else ")")
    if not mask >> CAP_SYS_ADMIN & 1:
        return Result.failed(
            Reason.MISSING,
            observed,
            "CAP_SYS_ADMIN is not effective: the container is not running privileged",
            sample,
        )
    return Result.passed(observed, sample)


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    host_paths=HOST_PATHS,
)
