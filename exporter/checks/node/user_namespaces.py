"""node_user_namespaces: the kernel lets workspaces create user namespaces. workspacekit, the
first process of every workspace, clones a user namespace as uid 33333; a node where that is
switched off starts no workspace. Ubuntu 23.10 and later (24.04 LTS included) also restrict
unprivileged user namespaces through AppArmor (kernel.apparmor_restrict_unprivileged_userns=1):
workspace pods run AppArmor-unconfined, so their CLONE_NEWUSER lands in the unprivileged_userns
profile with every capability denied, and workspacekit's mounts fail."""

from __future__ import annotations

from dataclasses import dataclass

from exporter import families
from exporter.checks.shared import sysctl_int, sysctl_path
from exporter.config import CheckSettings, Interval
from exporter.context import Applies, Check, CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.model import CheckError, Reason, Requirement, Result, Scope, Severity

REQUIREMENT = Requirement(
    id="node_user_namespaces",
    title="Workspaces may create user namespaces",
    severity=Severity.CRITICAL,
    scope=Scope.NODE,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Allow user namespaces on workspace nodes: sysctl user.max_user_namespaces above 0, "
    "kernel.unprivileged_userns_clone=1 where the kernel has that switch (Debian), and "
    "kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu 23.10 and later (persist each in "
    "/etc/sysctl.d/).",
)
MAX_USER_NAMESPACES = "user.max_user_namespaces"
UNPRIVILEGED_CLONE = "kernel.unprivileged_userns_clone"
APPARMOR_RESTRICT = "kernel.apparmor_restrict_unprivileged_userns"
HOST_PATHS = tuple(sysctl_path(k) for k in (MAX_USER_NAMESPACES, UNPRIVILEGED_CLONE,
                                            APPARMOR_RESTRICT))  # fmt: skip


@dataclass(frozen=True)
class Settings(CheckSettings):
    interval: Interval = 600.0


async def run(ctx: CheckContext[Settings]) -> Result:
    limit = await sysctl_int(ctx, MAX_USER_NAMESPACES)
    if limit is None:
        where = sysctl_path(MAX_USER_NAMESPACES)
        raise CheckError(Reason.IO, f"cannot read {where}: absent (no user namespaces?)")
    sample = families.NODE_MAX_USER_NAMESPACES.sample(float(limit))
    observed = f"max_user_namespaces={limit}"
    problems = []
    if limit <= 0:
        problems.append("user.max_user_namespaces is 0: no user namespace can be created")
    clone = await sysctl_int(ctx, UNPRIVILEGED_CLONE)
    if clone is not None:
        observed += f", unprivileged_userns_clone={clone}"
        if clone != 1:
            problems.append("kernel.unprivileged_userns_clone is 0: set it to 1")
    restrict = await sysctl_int(ctx, APPARMOR_RESTRICT)
    if restrict is not None:
        observed += f", apparmor_restrict_unprivileged_userns={restrict}"
        if restrict != 0:
            problems.append(
                "kernel.apparmor_restrict_unprivileged_userns is 1 (Ubuntu 23.10 and later): "
                "workspacekit, AppArmor-unconfined as uid 33333, gets a user namespace without "
                "capabilities and cannot mount; set it to 0 (sysctl -w, and in /etc/sysctl.d/)"
            )
    if problems:
        return Result.failed(Reason.UNSUPPORTED, observed, "; ".join(problems), sample)
    return Result.passed(observed, sample)


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    host_paths=HOST_PATHS,
    applies_to=Applies.WORKSPACE_NODES,
)
