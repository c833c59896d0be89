"""node_workspace_sysctls: the kernel settings ws-daemon's "sysctl" init container sets on the
node hold (Gitpod 2022.11.3, install/installer/pkg/components/ws-daemon/daemonset.go). It runs
`sysctl -w ...` and swallows every failure (`|| echo "failed!"`), so a node where a setting
did not take (a read-only /proc/sys, a hardened image, a later tuning agent resetting it) runs
workspaces without it: inotify watches run out in large repositories, user faults are allowed.

Judged once ws-daemon runs here (its ready label). Of its six settings, three are the node's:
net.core.somaxconn, net.ipv4.ip_local_port_range and net.ipv4.tcp_tw_reuse belong to a network
namespace, and ws-daemon's pod has its own (it is not on the host network), so they only ever
changed ws-daemon's pod and are not judged here."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.checks.shared import sysctl, sysctl_path
from exporter.config import CheckSettings, Interval
from exporter.context import Applies, Check, CheckContext, Derive
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC, ready_label
from exporter.installation import Derived, Installation
from exporter.model import (
    NotConfigured,
    Reason,
    Requirement,
    Result,
    Scope,
    Severity,
    Status,
)

REQUIREMENT = Requirement(
    id="node_workspace_sysctls",
    title="The kernel settings ws-daemon sets on workspace nodes hold",
    severity=Severity.WARNING,
    scope=Scope.NODE,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Set what the detail names in /etc/sysctl.d/ on workspace nodes (ws-daemon's init "
    "container sets them at its start but ignores failures), or find what resets them.",
)
# key -> (what ws-daemon writes, whether more is as good)
SYSCTLS = {
    "fs.inotify.max_user_watches": ("1000000", True),
    "kernel.dmesg_restrict": ("1", False),
    "vm.unprivileged_userfaultfd": ("0", False),
}
# What ws-daemon also writes, in its own network namespace only.
POD_ONLY = ("net.core.somaxconn", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_tw_reuse")
HOST_PATHS = tuple(sysctl_path(key) for key in SYSCTLS)


@dataclass(frozen=True)
class Settings(CheckSettings):
    interval: Interval = 600.0
    namespace: str = "gitpod"  # Gitpod's: ws-daemon's ready label names it


async def from_installation(inst: Installation, s: Settings, timeout: float) -> Derived:
    return {"namespace": inst.namespace}, ""


def _holds(value: str, want: str, at_least: bool) -> bool:
    if at_least and value.isdigit():
        return int(value) >= int(want)
    return value == want


async def run(ctx: CheckContext[Settings]) -> Result:
    s = ctx.settings
    label = ready_label("ws-daemon", s.namespace)
    try:
        running = label in await ctx.node_labels()
    except NotConfigured as exc:
        raise NotConfigured(f"whether ws-daemon ran here is unknown ({exc}): the settings it "
                            "makes are not expected") from None  # fmt: skip
    if not running:
        return Result(Status.SKIPPED, "", Reason.NOT_INSTALLED,
                      f"ws-daemon is not ready here ({label}): the settings it makes are not "
                      "expected yet")  # fmt: skip
    seen, off = [], []
    for key, (want, at_least) in SYSCTLS.items():
        value = await sysctl(ctx, key)
        if value is None:
            seen.append(f"{key} absent (this kernel has no such setting)")
            continue
        seen.append(f"{key}={value}")
        if not _holds(value, want, at_least):
            more = " or more" if at_least else ""
            off.append(f"{key} is {value[:40]}, ws-daemon sets {want}{more}")
    observed = f"{len(off)} not as set" if off else "as ws-daemon sets them"
    pod_only = f"{', '.join(POD_ONLY)} are set in ws-daemon's network namespace only: not judged"
    if off:
        return Result.failed(Reason.MISMATCH, observed, f"{'; '.join(off)}; {pod_only}")
    return Result.passed(observed, detail=f"{', '.join(seen)}; {pod_only}")


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    host_paths=HOST_PATHS,
    installation=Derive(from_installation),
    applies_to=Applies.WORKSPACE_NODES,
)
