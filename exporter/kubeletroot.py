"""Where the node's kubelet keeps its files (its --root-dir), read through --host-root the ways a
node shows it, most trustworthy first:

1. The host's mount table (/proc/1/mounts): every pod volume is mounted under
   <root-dir>/pods/<uid>/volumes, this pod's own service-account token included, in the init
   mount namespace, where no workload can add a mount.
2. The kubelet's process: a process named kubelet, kubelite (MicroK8s) or k3s-agent/-server,
   running as root, whose executable is named so too, lowest PID first; its --root-dir, else
   MicroK8s' --kubelet-args-file, else K3s' --kubelet-arg root-dir from its systemd unit or its
   config.yaml (K3s blanks its arguments in /proc: its title is "k3s agent").

Everything blocks and is bounded: run it in the pool."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from exporter import hostfs
from exporter.model import CheckError
from exporter.parse import ParseError

DEFAULT = "/var/lib/kubelet"
NAMES = ("kubelet", "kubelite", "k3s-agent", "k3s-server")
MAX_PROCESSES = 65536
MAX_MOUNTS_BYTES = 8 << 20
MAX_ARGS_BYTES = 64 << 10
MAX_ROOT = 256
# MicroK8s' snap environment, as its args files spell it.
SNAP_VARS = {
    "${SNAP_COMMON}": "/var/snap/microk8s/common",
    "${SNAP_DATA}": "/var/snap/microk8s/current",
    "${SNAP}": "/snap/microk8s/current",
}
MICROK8S_ARGS = "/var/snap/microk8s/current/args/kubelet"
K3S_FILES = (
    "/etc/systemd/system/k3s.service",
    "/etc/systemd/system/k3s-agent.service",
    "/etc/rancher/k3s/config.yaml",
)
_POD_VOLUME = re.compile(r"^(/\S*?)/pods/[0-9a-f-]{36}/volumes/")


@dataclass(frozen=True)
class Found:
    root: str | None  # None: no evidence
    how: str  # where it was read, or why nothing was


def from_mounts(root: Path) -> str | None:
    """The root dir under which the host's pod volumes are mounted, the most frequent."""
    try:
        text = hostfs.read_text(root, "/proc/1/mounts", MAX_MOUNTS_BYTES)
    except (OSError, CheckError, ParseError):
        return None
    seen: dict[str, int] = {}
    for line in text.splitlines():
        fields = line.split(" ", 2)
        if len(fields) < 2:
            continue
        # The mount point, with the kernel's octal escapes (\040 for a space) left as they are.
        match = _POD_VOLUME.match(fields[1])
        if match:
            seen[match.group(1)] = seen.get(match.group(1), 0) + 1
    return max(seen, key=lambda k: seen[k])[:MAX_ROOT] if seen else None


def _uid(root: Path, pid: str) -> int | None:
    try:
        status = hostfs.read_text(root, f"/proc/{pid}/status", 16 << 10)
    except (OSError, CheckError, ParseError):
        return None
    for line in status.splitlines():
        if line.startswith("Uid:"):
            parts = line.split()
            return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    return None


def _exe(root: Path, pid: str) -> str:
    """The basename of the process' executable (its /proc link, read, never followed)."""
    try:
        target = os.readlink(hostfs.resolve(root, f"/proc/{pid}") / "exe")
    except OSError:
        return ""
    return target.removesuffix(" (deleted)").rsplit("/", 1)[-1]


def kubelet_process(root: Path) -> tuple[str, str, list[str]] | None:
    """(pid, name, arguments) of the kubelet: named as one, uid 0, its executable named as
    one (a workload can rename itself with prctl but neither become root nor change its
    executable's path), lowest PID first."""
    try:
        names, _ = hostfs.scan(root, "/proc", MAX_PROCESSES)
    except OSError:
        return None
    for pid in sorted((n for n in names if n.isdigit()), key=int):
        try:
            name = hostfs.read_text(root, f"/proc/{pid}/comm", 64).strip()
        except (OSError, CheckError, ParseError):
            continue  # gone, or not text
        if name not in NAMES or _uid(root, pid) != 0:
            continue
        exe = _exe(root, pid)
        if exe not in ("kubelet", "kubelite", "k3s") and not exe.startswith("k3s"):
            continue
        try:
            raw = hostfs.read_text(root, f"/proc/{pid}/cmdline", MAX_ARGS_BYTES)
        except (OSError, CheckError, ParseError):
            continue
        return pid, name, [a for a in raw.split("\0") if a]
    return None


def _flag(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
        if arg == name and i + 1 < len(args):
            return args[i + 1]
    return None


def _expand(value: str) -> str:
    for var, path in SNAP_VARS.items():
        value = value.replace(var, path)
    return value.strip().strip("'\"")


def _file_args(root: Path, path: str) -> list[str] | None:
    try:
        text = hostfs.read_text(root, path, MAX_ARGS_BYTES)
    except (OSError, CheckError, ParseError):
        return None
    return text.split()


def _k3s_root(root: Path) -> Found | None:
    """K3s' --kubelet-arg root-dir=X (or kubelet-arg: [root-dir=X] in config.yaml)."""
    for path in K3S_FILES:
        args = _file_args(root, path)
        if args is None:
            continue
        for i, arg in enumerate(args):
            value = arg.strip("'\",[]\\")
            if value.startswith("--kubelet-arg="):
                value = value.split("=", 1)[1].strip("'\"")
            elif value in ("--kubelet-arg", "kubelet-arg:") and i + 1 < len(args):
                value = args[i + 1].strip("'\",[]\\")
            if value.startswith("root-dir="):
                return Found(value.split("=", 1)[1][:MAX_ROOT], f"K3s' kubelet-arg in {path}")
    return None


def kubelet_root(root: Path, microk8s_args: str = MICROK8S_ARGS) -> tuple[Found, Found]:
    """(what the host's pod mounts show, what the kubelet's process and files say)."""
    mounted = from_mounts(root)
    mounts = Found(mounted, "the host's pod volume mounts (/proc/1/mounts)")
    process = kubelet_process(root)
    if process is None:
        return mounts, Found(None, "no kubelet process (named kubelet, kubelite or k3s, uid 0)")
    pid, name, args = process
    given = _flag(args, "--root-dir")
    if given is not None:
        return mounts, Found(given[:MAX_ROOT] or DEFAULT, f"--root-dir of {name} (pid {pid})")
    if name == "kubelite":
        path = _flag(args, "--kubelet-args-file") or microk8s_args
        file_args = _file_args(root, path)
        found = _flag(file_args or [], "--root-dir")
        if found is not None:
            return mounts, Found(_expand(found)[:MAX_ROOT], f"--root-dir in {path}")
        if file_args is None:
            return mounts, Found(None, f"MicroK8s' kubelet arguments ({path}) unreadable")
    if name.startswith("k3s"):
        k3s = _k3s_root(root)
        if k3s is not None:
            return mounts, k3s
    return mounts, Found(DEFAULT, f"{name} (pid {pid}) names no --root-dir: the default")
