"""node_workspace_disk: the filesystems workspaces live on have room, in bytes and in inodes.
The kubelet evicts pods, workspaces included, below its hard eviction thresholds (Linux
defaults: nodefs.available<10%, nodefs.inodesFree<5%, imagefs.available<15%,
imagefs.inodesFree<5%): the workspace filesystem is the kubelet's nodefs, containerd's root its
imagefs. ws-daemon's disk guard labels the node gitpod.io/diskPressure below 20 GiB free on the
workspace filesystem (its MinBytesAvail), but nothing in Gitpod 2022.11.3 reads that label: the
20 GiB floor is the headroom Gitpod's installer asks for, the kubelet's thresholds are what
stops workspaces."""

from __future__ import annotations

import errno
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from exporter import families, hostfs
from exporter.config import CheckSettings, Interval, Max, Min
from exporter.context import Applies, Check, CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.model import CheckError, Reason, Requirement, Result, Scope, Severity

REQUIREMENT = Requirement(
    id="node_workspace_disk",
    title="The workspace and containerd filesystems have room (ws-daemon's 20 GiB floor)",
    severity=Severity.WARNING,
    scope=Scope.NODE,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Free space or inodes on the node's disk (prune unused images: crictl rmi --prune; "
    "remove stopped workspaces' leftovers under /var/gitpod) or give workspace nodes larger "
    "disks; past the kubelet's eviction thresholds it evicts running workspaces.",
)


def format_bytes(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


# ws-daemon's MinBytesAvail (install/installer/pkg/components/ws-daemon/configmap.go).
MIN_FREE_BYTES = 21474836480


# The kubelet's default hard eviction thresholds on Linux (pkg/kubelet/eviction/defaults_linux.go).
NODEFS_MIN_FREE = 0.10
IMAGEFS_MIN_FREE = 0.15
MIN_FREE_INODES = 0.05


@dataclass(frozen=True)
class Settings(CheckSettings):
    interval: Interval = 120.0
    min_free_bytes: Annotated[int, Min(0)] = MIN_FREE_BYTES
    # The kubelet's eviction thresholds, as fractions of each filesystem (set them to the
    # node's --eviction-hard when it differs from the kubelet's defaults).
    nodefs_min_free: Annotated[float, Min(0), Max(1)] = NODEFS_MIN_FREE
    imagefs_min_free: Annotated[float, Min(0), Max(1)] = IMAGEFS_MIN_FREE
    min_free_inodes: Annotated[float, Min(0), Max(1)] = MIN_FREE_INODES
    workspaces: str = "/var/gitpod/workspaces"  # ws-daemon's workspace location
    # containerd's root, measured where the chart mounts it (its runtime v2 task directory,
    # which lies on the same filesystem unless mounted apart).
    containerd_root: str = "/var/lib/containerd/io.containerd.runtime.v2.task"


def host_paths(s: Settings) -> tuple[str, ...]:
    return (posixpath.dirname(s.workspaces.rstrip("/")) or "/", s.containerd_root)


@dataclass(frozen=True)
class Space:
    at: str  # the nearest existing ancestor measured
    free: int  # bytes free to unprivileged users
    size: int  # bytes in the filesystem
    free_inodes: int
    inodes: int  # 0: the filesystem has no fixed inode count (btrfs)


def free_space(root: Path, path: str, floor: str) -> Space:
    """The filesystem holding `path` (its nearest existing ancestor, not above `floor`), as an
    unprivileged user sees it. Blocking."""
    at = posixpath.normpath(path)
    while True:
        try:
            real = hostfs.resolve(root, at)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise CheckError(Reason.IO, f"{at}: a loop of symbolic links") from None
            real = None
        if real is not None:
            st = os.statvfs(real)
            return Space(at, st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize,
                         st.f_favail, st.f_files)  # fmt: skip
        if at == floor or at == "/":
            raise CheckError(Reason.MISSING, f"neither {path} nor {floor} exists")
        at = posixpath.dirname(at)


async def run(ctx: CheckContext[Settings]) -> Result:
    s = ctx.settings
    samples, low, seen = [], [], []
    for label, floor, share, fs in (
        (s.workspaces, host_paths(s)[0], s.nodefs_min_free, "nodefs"),
        (s.containerd_root, s.containerd_root, s.imagefs_min_free, "imagefs"),
    ):
        space = await ctx.blocking(free_space, ctx.host_root, label, floor)
        samples.append(families.NODE_FILESYSTEM_FREE_BYTES.sample(float(space.free), label))
        if space.inodes:
            inodes = families.NODE_FILESYSTEM_FREE_INODES.sample(float(space.free_inodes), label)
            samples.append(inodes)
        where = space.at if space.at == label else f"{label} (measured at {space.at})"
        need = max(s.min_free_bytes, int(space.size * share))
        why = (f"the kubelet's {fs}.available<{share:.0%}" if need > s.min_free_bytes
               else "ws-daemon's floor")  # fmt: skip
        seen.append(f"{format_bytes(space.free)} free for {where}")
        if space.free < need:
            low.append(f"{where}: {format_bytes(space.free)} free, {format_bytes(need)} needed "
                       f"({why})")  # fmt: skip
        if space.inodes and space.free_inodes < space.inodes * s.min_free_inodes:
            evicts = f"{fs}.inodesFree<{s.min_free_inodes:.0%}"
            low.append(f"{where}: {space.free_inodes} inodes free of {space.inodes} (the "
                       f"kubelet evicts below {evicts})")  # fmt: skip
    least = min(sample.value for sample in samples if sample.family is samples[0].family)
    observed = f"{format_bytes(least)} free"
    if low:
        return Result.failed(Reason.BELOW_MINIMUM, observed, "; ".join(low), *samples)
    floor_text = format_bytes(s.min_free_bytes)
    detail = (f"at least {floor_text}, the kubelet's eviction thresholds and "
              f"{s.min_free_inodes:.0%} of inodes each: {'; '.join(seen)}")  # fmt: skip
    return Result.passed(observed, *samples, detail=detail)


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    host_paths=host_paths,
    applies_to=Applies.WORKSPACE_NODES,
)
