"""node_workspace_host_paths: the host paths ws-daemon's DaemonSet mounts with a strict hostPath
type exist with that type, as the kubelet checks them. One that does not stops ws-daemon's pod
with "hostPath type check failed: <path> is not a directory", and no workspace starts here."""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from exporter import criconfig, hostfs
from exporter.checks.shared import client_timeout
from exporter.config import CheckSettings, Interval, NonEmpty
from exporter.context import Applies, Check, CheckContext, Derive
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.installation import Derived, Installation, stated_origin
from exporter.installation.gitpod_config import (
    DEFAULT_CONTAINERD_RUNTIME_DIR,
    DEFAULT_CONTAINERD_SOCKET,
)
from exporter.model import CheckError, Reason, Requirement, Result, Scope, Severity
from exporter.parse import ParseError

REQUIREMENT = Requirement(
    id="node_workspace_host_paths",
    title="The host paths ws-daemon mounts exist with their hostPath type",
    severity=Severity.CRITICAL,
    scope=Scope.NODE,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Set workspace.runtime.containerdSocket and containerdRuntimeDir in Gitpod's "
    "installer config to where this node's containerd has them (the detail names the value), "
    "or create what is missing; then re-deploy Gitpod.",
)
# What ws-daemon's DaemonSet mounts with a type beside the two containerd paths (Gitpod
# 2022.11, install/installer/pkg/components/ws-daemon/daemonset.go). /etc/hosts (File) is not
# looked at: mounting it to look would make the kubelet create it where it is missing.
FIXED = (("/proc/mounts", "file"), ("/sys/fs/cgroup", "directory"), ("/usr/src", "directory"))
# The containerd directories mounted for this check (the chart's node.hostPaths.containerd
# and .containerdTasks): what lies outside them cannot be seen, only judged by containerd.
VISIBLE = ["/run/containerd", "/var/lib/containerd/io.containerd.runtime.v2.task"]
# Where `gitpod-installer config files containerd` finds the runtime dir on K3s and Amazon Linux.
KNOWN_RUNTIME_DIRS = (
    "/run/k3s/containerd/io.containerd.runtime.v2.task/k8s.io",
    "/run/containerd/io.containerd.runtime.v2.task/k8s.io",
)
SHOWN = 5
# Where Gitpod's seccomp-profile-installer puts workspace_default_<version>.json (ws-daemon's
# DaemonSet mounts /var/lib/kubelet/seccomp): the kubelet reads profiles under its --root-dir.
KUBELET_ROOT = "/var/lib/kubelet"
# The kubelet's process name, alone or embedded (K3s' agent and server, MicroK8s' kubelite).
KUBELET_PROCESSES = ("kubelet", "k3s-agent", "k3s-server", "k3s", "kubelite")
MAX_PROCESSES = 4096


@dataclass(frozen=True)
class Settings(CheckSettings):
    interval: Interval = 300.0
    socket: str = DEFAULT_CONTAINERD_SOCKET  # workspace.runtime.containerdSocket
    runtime_dir: str = DEFAULT_CONTAINERD_RUNTIME_DIR  # workspace.runtime.containerdRuntimeDir
    visible: Annotated[list[str], NonEmpty()] = field(default_factory=lambda: list(VISIBLE))
    # containerd's config, read when containerd does not answer (K3s: its agent's).
    config_files: list[str] = field(default_factory=lambda: list(criconfig.CONFIG_FILES[:1]))


def host_paths(settings: Settings) -> tuple[str, ...]:
    # /proc: the kubelet's command line, for its root dir.
    return (*settings.visible, *(path for path, _ in FIXED), *settings.config_files, "/proc")


async def from_installation(inst: Installation, s: Settings, timeout: float) -> Derived:
    cfg, where = await inst.stated(timeout)
    values = {"socket": cfg.containerd_socket, "runtime_dir": cfg.containerd_runtime_dir}
    return values, stated_origin(where, "workspace.runtime.containerdSocket, containerdRuntimeDir")


def found(root: Path, path: str) -> str:
    """What the kubelet would find at `path`: a kind, or why there is none (blocking)."""
    kind = hostfs.kind(root, path)
    if kind != "absent":
        return kind
    # Absent: say whether a symlink points nowhere, the commonest surprise.
    parent, name = posixpath.split(posixpath.normpath(path))
    try:
        real_parent = hostfs.resolve(root, parent)
        target = os.readlink(real_parent / name)
    except OSError:
        return "absent"
    return f"a symlink to nowhere ({target[:80]!r})"


def kubelet_root_dir(root: Path) -> tuple[str | None, int]:
    """The running kubelet's --root-dir (its default when not given), from the host's /proc;
    None when no kubelet process is seen. Also how many processes were looked at. Blocking:
    at most MAX_PROCESSES, each name and command line bounded."""
    try:
        pids = [p for p in hostfs.listdir(root, "/proc") if p.isdigit()]
    except OSError:
        return None, 0
    pids = pids[:MAX_PROCESSES]
    for pid in pids:
        try:
            name = hostfs.read_text(root, f"/proc/{pid}/comm", 64).strip()
            if name not in KUBELET_PROCESSES:
                continue
            raw = hostfs.read_text(root, f"/proc/{pid}/cmdline", 64 << 10)
        except (OSError, CheckError, ParseError):
            continue  # gone, or not text: not the kubelet we are after
        args = raw.split("\0")
        if name.startswith("k3s") and not any(a in ("agent", "server") for a in args[:3]):
            continue
        for i, arg in enumerate(args):
            if arg.startswith("--root-dir="):
                return arg.split("=", 1)[1][:256] or KUBELET_ROOT, len(pids)
            if arg == "--root-dir" and i + 1 < len(args):
                return args[i + 1][:256] or KUBELET_ROOT, len(pids)
        return KUBELET_ROOT, len(pids)
    return None, len(pids)


def _visible(s: Settings, path: str) -> bool:
    return any(posixpath.commonpath([v, path]) == v for v in s.visible) or path.startswith(
        tuple(p for p, _ in FIXED)
    )


async def run(ctx: CheckContext[Settings]) -> Result:
    s = ctx.settings
    refused: list[str] = []
    notes: list[str] = []
    for path, want in ((s.socket, "socket"), *FIXED):
        if not _visible(s, path):
            notes.append(f"{path} is not mounted here, not looked at")
            continue
        got = await ctx.blocking(found, ctx.host_root, path)
        if got != want:
            refused.append(f"{path} is {_a(got)}, not a {want}")
    try:
        runtime = await _runtime_dir(ctx)
    except _CannotTell as exc:
        notes.append(str(exc))
    else:
        if runtime:
            refused.append(runtime)
    kubelet_root, seen = await ctx.blocking(kubelet_root_dir, ctx.host_root)
    if kubelet_root is None:
        notes.append(f"no kubelet process among {seen} on the host: its root dir not judged")
    elif kubelet_root.rstrip("/") != KUBELET_ROOT:
        refused.append(
            f"the kubelet keeps its files in {kubelet_root} (--root-dir), not {KUBELET_ROOT}: "
            f"Gitpod installs its workspace seccomp profile under {KUBELET_ROOT}/seccomp, "
            "where this kubelet does not look"
        )
    observed = "ok" if not refused else f"{len(refused)} refused"
    detail_notes = "; ".join(notes)
    if refused:
        shown = "; ".join(refused[:SHOWN])
        more = f" (and {len(refused) - SHOWN} more)" if len(refused) > SHOWN else ""
        return Result.failed(
            Reason.MISSING,
            observed,
            f"ws-daemon's host paths are not as it needs them: {shown}{more}"
            + (f"; {detail_notes}" if detail_notes else ""),
        )
    checked = ", ".join([s.socket, s.runtime_dir, *(p for p, _ in FIXED)])
    if kubelet_root is not None:
        checked += f"; the kubelet's root dir {KUBELET_ROOT}"
    detail = f"as ws-daemon mounts them: {checked}" + (f"; {detail_notes}" if detail_notes else "")
    return Result.passed(observed, detail=detail)


async def _runtime_dir(ctx: CheckContext[Settings]) -> str:
    """Why the kubelet (or ws-daemon, looking for containers' root filesystems) would not find
    containerdRuntimeDir; '' when it would."""
    s = ctx.settings
    try:
        sockets = [s.socket, *(f"{v}/containerd.sock" for v in s.visible)]
        cri = await criconfig.effective(
            ctx, list(dict.fromkeys(sockets)), client_timeout(s.timeout, 3), s.config_files
        )
    except (CheckError, ParseError) as exc:
        cri, unknown = None, str(exc)
    else:
        unknown = ""
    ours: tuple[str, ...] = cri.task_dirs if cri else ()
    if _visible(s, s.runtime_dir):
        got = await ctx.blocking(found, ctx.host_root, s.runtime_dir)
    else:
        got = "unseen"
    mine = await ctx.blocking(_same, ctx.host_root, s.runtime_dir, ours)
    if got == "directory" and (not ours or mine):
        return ""
    if got == "unseen" and mine:
        return ""  # containerd's own, where this pod cannot look: it exists while pods run
    candidates = [*ours, *KNOWN_RUNTIME_DIRS]
    existing = []
    for path in dict.fromkeys(candidates):
        seen = path != s.runtime_dir and _visible(s, path)
        if seen and await ctx.blocking(found, ctx.host_root, path) == "directory":
            existing.append(path)
    if got == "directory":
        why = f"{s.runtime_dir} is a directory but not where containerd keeps its tasks ({ours[0]})"
    elif got == "unseen" and ours:
        why = f"{s.runtime_dir} is not where containerd keeps its tasks ({' or '.join(ours)})"
    elif got == "unseen":
        raise _CannotTell(f"{s.runtime_dir} is not mounted here and containerd cannot say "
                          f"where its tasks are ({unknown}): not judged")  # fmt: skip
    else:
        why = f"{s.runtime_dir} is {_a(got)}, not a directory"
    if existing:
        why += f": set workspace.runtime.containerdRuntimeDir to {existing[0]}"
    if cri is not None:
        why += f" (containerd's layout from {cri.source})"
    else:
        why += f" (containerd's layout unknown: {unknown})"
    return why


def _same(root: Path, path: str, others: tuple[str, ...]) -> bool:
    """Whether `path` is one of `others` on the node: the same after symlinks are followed
    inside the host root (/var/lib/containerd linked to a data disk is containerd's root
    still), else the same string. Blocking."""
    if path in others:
        return True
    try:
        real = hostfs.resolve(root, path)
    except OSError:
        return False
    for other in others:
        try:
            if hostfs.resolve(root, other) == real:
                return True
        except OSError:
            continue
    return False


class _CannotTell(Exception):
    pass


def _a(kind: str) -> str:
    if kind == "absent" or kind.startswith("a "):
        return kind
    return f"a {kind}"


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    host_paths=host_paths,
    installation=Derive(from_installation, frozenset({"socket", "runtime_dir"})),
    applies_to=Applies.WORKSPACE_NODES,
)
