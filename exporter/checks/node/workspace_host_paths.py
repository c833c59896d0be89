"""node_workspace_host_paths: the host paths ws-daemon's DaemonSet mounts with a strict hostPath
type exist with that type, as the kubelet checks them. One that does not stops ws-daemon's pod
with "hostPath type check failed: <path> is not a directory", and no workspace starts here.
Beside them, what ws-daemon's pod leaves on the node once it runs (Gitpod 2022.11.3,
install/installer/pkg/components/ws-daemon): the kubelet's root dir where the
seccomp-profile-installer copies workspace_default_<version>.json (under
/var/lib/kubelet/seccomp: a kubelet with another --root-dir never finds it, and no workspace pod
starts), that profile, and its /etc/hosts entry sending reg.<domain> to 127.0.0.1, where
containerd pulls workspace images from registry-facade."""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from exporter import criconfig, hostfs, kubeletroot
from exporter.checks.shared import client_timeout
from exporter.config import CheckSettings, Interval, NonEmpty
from exporter.context import Applies, Check, CheckContext, Derive
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC, ready_label
from exporter.installation import Derived, Installation, stated_origin
from exporter.installation.gitpod_config import (
    DEFAULT_CONTAINERD_RUNTIME_DIR,
    DEFAULT_CONTAINERD_SOCKET,
)
from exporter.model import CheckError, NotConfigured, Reason, Requirement, Result, Scope, Severity
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
# 2022.11, install/installer/pkg/components/ws-daemon/daemonset.go). /etc/hosts is seen through
# the chart's read-only /etc directory mount, so nothing is created to look at it.
HOSTS = "/etc/hosts"
FIXED = (
    ("/proc/mounts", "file"),
    ("/sys/fs/cgroup", "directory"),
    ("/usr/src", "directory"),
    (HOSTS, "file"),
)
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
KUBELET_ROOT = kubeletroot.DEFAULT
SECCOMP_DIR = f"{KUBELET_ROOT}/seccomp"
SECCOMP_PROFILE = re.compile(r"workspace_default_[^/]+\.json")
MAX_SECCOMP_FILES = 1024
MAX_HOSTS_BYTES = 1 << 20


@dataclass(frozen=True)
class Settings(CheckSettings):
    interval: Interval = 300.0
    socket: str = DEFAULT_CONTAINERD_SOCKET  # workspace.runtime.containerdSocket
    runtime_dir: str = DEFAULT_CONTAINERD_RUNTIME_DIR  # workspace.runtime.containerdRuntimeDir
    visible: Annotated[list[str], NonEmpty()] = field(default_factory=lambda: list(VISIBLE))
    # containerd's config, read when containerd does not answer (K3s: its agent's).
    config_files: list[str] = field(default_factory=lambda: list(criconfig.CONFIG_FILES[:1]))
    domain: str = ""  # Gitpod's: ws-daemon's /etc/hosts entry names reg.<domain>
    namespace: str = "gitpod"  # Gitpod's: ws-daemon's ready label names it
    seccomp_dir: str = SECCOMP_DIR  # where the chart mounts the kubelet's seccomp directory
    # MicroK8s' kubelet arguments (its args file; mounted by the chart's MicroK8s values).
    microk8s_args: str = ""


def host_paths(settings: Settings) -> tuple[str, ...]:
    # /proc: the kubelet's process and the host's mounts, for its root dir; K3s' unit files.
    extra = (settings.microk8s_args,) if settings.microk8s_args else ()
    return (*settings.visible, *(path for path, _ in FIXED), *settings.config_files, "/proc",
            settings.seccomp_dir, *kubeletroot.K3S_FILES, *extra)  # fmt: skip


async def from_installation(inst: Installation, s: Settings, timeout: float) -> Derived:
    cfg, where = await inst.stated(timeout)
    values = {"socket": cfg.containerd_socket, "runtime_dir": cfg.containerd_runtime_dir,
              "domain": cfg.domain, "namespace": inst.namespace}  # fmt: skip
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
    kubelet_root, how = await _kubelet_root(ctx, notes)
    if kubelet_root is not None and kubelet_root != KUBELET_ROOT:
        refused.append(
            f"the kubelet keeps its files in {kubelet_root} ({how}), not {KUBELET_ROOT}: "
            f"Gitpod installs its workspace seccomp profile under {SECCOMP_DIR}, where this "
            "kubelet does not look"
        )
    refused += await _left_by_ws_daemon(ctx, notes, kubelet_root == KUBELET_ROOT)
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
        checked += f"; the kubelet's root dir {KUBELET_ROOT} ({how})"
    detail = f"as ws-daemon mounts them: {checked}" + (f"; {detail_notes}" if detail_notes else "")
    return Result.passed(observed, detail=detail)


async def _kubelet_root(ctx: CheckContext[Settings], notes: list[str]) -> tuple[str | None, str]:
    """The kubelet's root dir (cleaned) and how it was learnt: the host's pod mounts first (no
    workload can forge them), else the kubelet's process and files."""
    s = ctx.settings
    args = s.microk8s_args or kubeletroot.MICROK8S_ARGS
    mounts, process = await ctx.blocking(kubeletroot.kubelet_root, ctx.host_root, args)
    chosen = mounts if mounts.root else process
    if chosen.root is None:
        notes.append(f"the kubelet's root dir is not judged: {mounts.how} show no pod volume, "
                     f"and {process.how}")  # fmt: skip
        return None, ""
    root = posixpath.normpath(chosen.root)
    if chosen is mounts and process.root and posixpath.normpath(process.root) != root:
        notes.append(f"{process.how} says {process.root}, but pods are mounted under {root}")
    return root, chosen.how


async def _left_by_ws_daemon(
    ctx: CheckContext[Settings], notes: list[str], seccomp_seen: bool
) -> list[str]:
    """Once ws-daemon runs here (its ready label): the seccomp profile its init container
    copied, and its /etc/hosts entry for reg.<domain>."""
    s = ctx.settings
    label = ready_label("ws-daemon", s.namespace)
    try:
        running = label in await ctx.node_labels()
    except (NotConfigured, CheckError) as exc:
        notes.append(f"whether ws-daemon runs here is unknown ({exc}): its seccomp profile and "
                     "/etc/hosts entry not judged")  # fmt: skip
        return []
    if not running:
        notes.append("ws-daemon is not ready here yet: its seccomp profile and /etc/hosts "
                     "entry not expected")  # fmt: skip
        return []
    refused = []
    if seccomp_seen:
        profiles = await ctx.blocking(_profiles, ctx.host_root, s.seccomp_dir)
        if not profiles:
            refused.append(
                f"ws-daemon runs here but {SECCOMP_DIR} holds no workspace_default_<version>.json"
                " (its seccomp-profile-installer init container copies it): no workspace pod "
                "starts; check that container's log"
            )
        else:
            notes.append(f"seccomp profile {profiles[-1]}")
    if not s.domain:
        notes.append("no domain: ws-daemon's /etc/hosts entry not judged")
    elif ctx.host_kind(HOSTS) == "file":
        text = await ctx.blocking(hostfs.read_text, ctx.host_root, HOSTS, MAX_HOSTS_BYTES)
        name = f"reg.{s.domain}"
        if not _maps(text, name, "127.0.0.1"):
            refused.append(
                f"ws-daemon runs here but {HOSTS} does not send {name} to 127.0.0.1 (ws-daemon "
                "writes that entry; containerd pulls workspace images from registry-facade "
                "there): check ws-daemon's log"
            )
    return refused


def _profiles(root: Path, directory: str) -> list[str]:
    try:
        names, _ = hostfs.scan(root, directory, MAX_SECCOMP_FILES)
    except OSError:
        return []
    return [n for n in names if SECCOMP_PROFILE.fullmatch(n)]


def _maps(hosts: str, name: str, address: str) -> bool:
    """Whether an /etc/hosts text sends `name` to `address` (the first line naming it wins)."""
    for line in hosts.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) > 1 and name.lower() in (f.lower() for f in fields[1:]):
            return fields[0] == address
    return False


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
