"""node_fs_shift: the installation's fsShiftMethod works on this node. Workspaces see their
files as uid 33333 through it: fuse (the installer's default) needs the fuse filesystem and
/dev/fuse; shiftfs needs the module, or the kernel headers Gitpod's loader builds it from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from exporter.checks.shared import kernel_modules, kernel_release
from exporter.config import CheckSettings, Interval, OneOf
from exporter.context import Applies, Check, CheckContext, Derive
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.installation import Derived, Installation, stated_origin
from exporter.model import Reason, Requirement, Result, Scope, Severity

REQUIREMENT = Requirement(
    id="node_fs_shift",
    title="The installation's fsShiftMethod (fuse or shiftfs) works on the node",
    severity=Severity.CRITICAL,
    scope=Scope.NODE,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="fuse: load the fuse module (modprobe fuse) so /dev/fuse exists. shiftfs: load the "
    "module, or install the kernel headers (linux-headers-$(uname -r)) for Gitpod's loader; "
    "or set workspace.runtime.fsShiftMethod to fuse.",
)
HOST_PATHS = (
    "/proc/sys/kernel/osrelease",
    "/proc/modules",
    "/proc/filesystems",
    "/lib/modules",
    "/dev/fuse",
    "/sys/module/shiftfs",
    "/usr/src",
)


@dataclass(frozen=True)
class Settings(CheckSettings):
    interval: Interval = 600.0
    # workspace.runtime.fsShiftMethod; fuse is the installer's default.
    method: Annotated[str, OneOf(("fuse", "shiftfs"))] = "fuse"


async def from_installation(inst: Installation, s: Settings, timeout: float) -> Derived:
    cfg, where = await inst.stated(timeout)
    return {"method": cfg.fs_shift_method}, stated_origin(where, "workspace.runtime.fsShiftMethod")


async def run(ctx: CheckContext[Settings]) -> Result:
    s = ctx.settings
    release = await kernel_release(ctx)
    if s.method == "fuse":
        modules, filesystems, _ = await kernel_modules(ctx, release)
        problems = []
        if "fuse" not in filesystems and "fuse" not in modules:
            problems.append("the kernel has no fuse filesystem, loaded or loadable")
        device = ctx.host_kind("/dev/fuse")
        if device != "device":
            problems.append(f"/dev/fuse is {'absent' if device == 'absent' else 'a ' + device}")
        if problems:
            return Result.failed(Reason.MISSING, "fuse", "; ".join(problems))
        return Result.passed("fuse", detail="fuse filesystem and /dev/fuse")
    if ctx.host_kind("/sys/module/shiftfs") == "directory":
        return Result.passed("shiftfs", detail="the shiftfs module is loaded")
    headers = f"/usr/src/linux-headers-{release}"
    if ctx.host_kind(headers) == "directory":
        return Result.passed("shiftfs", detail=f"not loaded; {headers} to build it from")
    return Result.failed(
        Reason.MISSING,
        "shiftfs",
        f"the shiftfs module is not loaded and there is no {headers} to build it from",
    )


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    host_paths=HOST_PATHS,
    installation=Derive(from_installation, frozenset({"method"})),
    applies_to=Applies.WORKSPACE_NODES,
)
