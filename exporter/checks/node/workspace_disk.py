"""node_workspace_disk: the filesystems workspaces live on have room. ws-daemon's disk guard
labels a node gitpod.io/diskPressure below 20 GiB free on the workspace filesystem (its
MinBytesAvail), and ws-manager then schedules no workspace there; images are unpacked onto
containerd's root."""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from exporter import families, hostfs
from exporter.config import CheckSettings, Interval, Min
from exporter.context import Applies, Check, CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.model import CheckError, Reason, Requirement, Result, Scope, Severity

REQUIREMENT = Requirement(
    id="node_workspace_disk",
    title="The workspace and containerd filesystems have room (ws-daemon's 20 GiB floor)",
    severity=Severity.WARNING,
    scope=Scope.NODE,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Free space on the node's disk (prune unused images: crictl rmi --prune) or give "
    "workspace nodes larger disks; below the floor ws-daemon marks the node diskPressure and "
    "no workspace starts there.",
)


def format_bytes(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


# ws-daemon's MinBytesAvail (install/installer/pkg/components/ws-daemon/configmap.go).
MIN_FREE_BYTES = 21474836480


@dataclass(frozen=True)
class Settings(CheckSettings):
    interval: Interval = 120.0
    min_free_bytes: Annotated[int, Min(0)] = MIN_FREE_BYTES
    workspaces: str = "/var/gitpod/workspaces"  # ws-daemon's workspace location
    # containerd's root, measured where the chart mounts it (its runtime v2 task directory,
    # which lies on the same filesystem unless mounted apart).
    containerd_root: str = "/var/lib/containerd/io.containerd.runtime.v2.task"


def host_paths(s: Settings) -> tuple[str, ...]:
    return (posixpath.dirname(s.workspaces.rstrip("/")) or "/", s.containerd_root)


def free_bytes(root: Path, path: str, floor: str) -> tuple[str, int]:
    """(the nearest existing ancestor of `path`, not above `floor`; its free bytes as an
    unprivileged user sees them). Blocking."""
    at = posixpath.normpath(path)
    while True:
        try:
            real = hostfs.resolve(root, at)
        except OSError:
            real = None
        if real is not None:
            st = os.statvfs(real)
            return at, st.f_bavail * st.f_frsize
        if at == floor or at == "/":
            raise CheckError(Reason.MISSING, f"neither {path} nor {floor} exists")
        at = posixpath.dirname(at)


async def run(ctx: CheckContext[Settings]) -> Result:
    s = ctx.settings
    samples, low, seen = [], [], []
    for label, path, floor in (
        (s.workspaces, s.workspaces, host_paths(s)[0]),
        (s.containerd_root, s.containerd_root, s.containerd_root),
    ):
        at, free = await ctx.blocking(free_bytes, ctx.host_root, path, floor)
        samples.append(families.NODE_FILESYSTEM_FREE_BYTES.sample(float(free), label))
        where = at if at == path else f"{path} (measured at {at})"
        seen.append(f"{format_bytes(free)} free for {where}")
        if free < s.min_free_bytes:
            low.append(f"{where}: {format_bytes(free)} free")
    least = min(sample.value for sample in samples)
    observed = f"{format_bytes(least)} free"
    floor_text = format_bytes(s.min_free_bytes)
    if low:
        detail = f"below {floor_text}: {'; '.join(low)}"
        return Result.failed(Reason.BELOW_MINIMUM, observed, detail, *samples)
    detail = f"at least {floor_text} each: {'; '.join(seen)}"
    return Result.passed(observed, *samples, detail=detail)


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    host_paths=host_paths,
    applies_to=Applies.WORKSPACE_NODES,
)
