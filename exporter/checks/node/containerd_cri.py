"""node_containerd_cri: containerd on the node serves the CRI, the API the kubelet runs pods
through, and says how it is set up. Docker's own containerd ships with the CRI plugin disabled:
it answers its Version call (node_containerd passes) and refuses every pod."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from exporter import criconfig, families
from exporter.checks.shared import client_timeout, socket_first
from exporter.config import CheckSettings, NonEmpty
from exporter.context import Applies, Check, CheckContext, Derive
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.grpc_unix import GrpcError
from exporter.installation import Derived, Installation, stated_origin
from exporter.model import CheckError, Reason, Requirement, Result, Scope, Severity
from exporter.parse import ParseError

REQUIREMENT = Requirement(
    id="node_containerd_cri",
    title="containerd serves the CRI (not Docker's containerd)",
    severity=Severity.CRITICAL,
    scope=Scope.NODE,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Run the containerd the kubelet uses with its CRI plugin enabled: remove "
    '"io.containerd.grpc.v1.cri" from disabled_plugins in /etc/containerd/config.toml (Docker '
    "installs one that disables it) and restart containerd.",
)
DEFAULT_SOCKETS = ["/run/containerd/containerd.sock", "/run/k3s/containerd/containerd.sock"]


@dataclass(frozen=True)
class Settings(CheckSettings):
    sockets: Annotated[list[str], NonEmpty()] = field(default_factory=lambda: list(DEFAULT_SOCKETS))


def host_paths(settings: Settings) -> tuple[str, ...]:
    return tuple(settings.sockets)


async def from_installation(inst: Installation, s: Settings, timeout: float) -> Derived:
    cfg, where = await inst.stated(timeout)
    sockets = socket_first(cfg.containerd_socket, s.sockets)
    return {"sockets": sockets}, stated_origin(where, "workspace.runtime.containerdSocket")


async def run(ctx: CheckContext[Settings]) -> Result:
    s = ctx.settings
    socket = next((p for p in s.sockets if ctx.host_kind(p) == "socket"), None)
    if socket is None:
        return Result.failed(
            Reason.NO_SOCKET, "absent", f"no containerd socket at {', '.join(s.sockets)}"
        )
    path = str(ctx.host_path(socket))
    budget = client_timeout(s.timeout, 3)
    try:
        api, version = await criconfig.version(path, budget)
        config = await criconfig.from_containerd(path, api, budget, socket, version.get(3, ""))
    except criconfig.NoCri:
        why = await _disabled_in_file(ctx)
        return Result.failed(
            Reason.UNSUPPORTED,
            "no CRI",
            f"{socket}: containerd answers but serves no CRI (unknown service "
            f"runtime.v1.RuntimeService): {why}",
        )
    except TimeoutError:
        return Result.failed(Reason.TIMEOUT, "unresponsive", f"{socket}: no CRI answer in time")
    except OSError as exc:
        return Result.failed(Reason.CONNECT, "unreachable", f"{socket}: {exc.strerror or exc}")
    except GrpcError as exc:
        return Result.failed(Reason.PROTOCOL, "unreachable", f"{socket}: {exc}")
    if not config.registry_known:
        # containerd 2.x reports neither its registry nor its images plugin's snapshotter.
        config = await criconfig.with_file_registry(ctx, config, list(criconfig.CONFIG_FILES))
    snapshotter = config.snapshotter or (
        criconfig.DEFAULT_SNAPSHOTTER if config.registry_known else "unknown"
    )
    sample = families.NODE_CONTAINERD_CRI_INFO.sample(1.0, snapshotter, config.config_path)
    observed = f"CRI {version.get(4, api)} ({version.get(2, '?')} {version.get(3, '?')})"
    registry = config.config_path or "unset" if config.registry_known else "unknown"
    detail = f"snapshotter {snapshotter}, registry config_path {registry}; {config.source}"
    return Result.passed(observed, sample, detail=detail)


async def _disabled_in_file(ctx: CheckContext[Settings]) -> str:
    """Why, when its config file says: Docker installs one that disables the CRI plugin."""
    for path in criconfig.CONFIG_FILES:
        if ctx.host_kind(path) != "file":
            continue
        try:
            config = await ctx.blocking(criconfig.read_file, ctx.host_root, path)
        except (CheckError, ParseError) as exc:
            return f"Docker's containerd, or the CRI plugin disabled ({path}: {exc})"
        named = [p for p in criconfig.CRI_PLUGINS if p in config.disabled]
        if named:
            return f"{path} lists {named[0]} in disabled_plugins"
    return "Docker's containerd, or the CRI plugin disabled in its config"


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    host_paths=host_paths,
    installation=Derive(from_installation, frozenset({"sockets"})),
    applies_to=Applies.WORKSPACE_NODES,
)
