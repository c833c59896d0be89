"""node_user_namespaces: the kernel lets workspaces create user namespaces. workspacekit, the
first process of every workspace, clones a user namespace as uid 33333; a node where that is
switched off starts no workspace."""

from __future__ import annotations

from dataclasses import dataclass

from exporter import families
from exporter.config import CheckSettings, Interval
from exporter.context import Applies, Check, CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.model import Reason, Requirement, Result, Scope, Severity
from exporter.parse import ParseError

REQUIREMENT = Requirement(
    id="node_user_namespaces",
    title="Workspaces may create user namespaces",
    severity=Severity.CRITICAL,
    scope=Scope.NODE,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Allow user namespaces on workspace nodes: sysctl user.max_user_namespaces above 0, "
    "and kernel.unprivileged_userns_clone=1 where the kernel has that switch (Debian).",
)
MAX_USER_NAMESPACES = "/proc/sys/user/max_user_namespaces"
UNPRIVILEGED_CLONE = "/proc/sys/kernel/unprivileged_userns_clone"
APPARMOR_RESTRICT = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns"
HOST_PATHS = (MAX_USER_NAMESPACES, UNPRIVILEGED_CLONE, APPARMOR_RESTRICT)


@dataclass(frozen=True)
class Settings(CheckSettings):
    interval: Interval = 600.0


def _number(text: str, path: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ParseError(f"{path} is not a number: {text.strip()[:20]!r}") from None


async def _sysctl(ctx: CheckContext[Settings], path: str) -> int | None:
    if ctx.host_kind(path) == "absent":
        return None  # a switch this kernel does not have
    return _number(await ctx.read_host(path), path)


async def run(ctx: CheckContext[Settings]) -> Result:
    limit = _number(await ctx.read_host(MAX_USER_NAMESPACES), MAX_USER_NAMESPACES)
    sample = families.NODE_MAX_USER_NAMESPACES.sample(float(limit))
    observed = f"max_user_namespaces={limit}"
    problems = []
    if limit <= 0:
        problems.append("user.max_user_namespaces is 0: no user namespace can be created")
    clone = await _sysctl(ctx, UNPRIVILEGED_CLONE)
    if clone is not None:
        observed += f", unprivileged_userns_clone={clone}"
        if clone != 1:
            problems.append("kernel.unprivileged_userns_clone is 0: set it to 1")
    notes = []
    if await _sysctl(ctx, APPARMOR_RESTRICT) == 1:
        notes.append(
            "kernel.apparmor_restrict_unprivileged_userns is 1 (Ubuntu 23.10 and later): such "
            "nodes are outside Gitpod's tested matrix"
        )
    if problems:
        return Result.failed(Reason.UNSUPPORTED, observed, "; ".join(problems + notes), sample)
    return Result.passed(observed, sample, detail="; ".join(notes))


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    host_paths=HOST_PATHS,
    applies_to=Applies.WORKSPACE_NODES,
)
