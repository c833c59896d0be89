"""node_containerd_cri: containerd on the node serves the CRI, the API the kubelet runs pods
through, and says how it is set up. Docker's own containerd ships with the CRI plugin disabled:
it answers its Version call (node_containerd passes) and refuses every pod."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Annotated, Any

from exporter import metrics
from exporter.checks.shared import (
    NotWorkspaceNode,
    client_timeout,
    not_workspace_node,
    with_note,
    workspace_node,
)
from exporter.config import CheckSettings, NonEmpty
from exporter.context import CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.grpc_unix import GrpcError, protobuf_fields, protobuf_strings, unary_call
from exporter.installation import Derived, Installation, stated_origin
from exporter.model import Reason, Requirement, Result, Scope, Severity

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
# runtime.v1 since containerd 1.6; 1.5 serves only v1alpha2.
API_VERSIONS = ("v1", "v1alpha2")
UNIMPLEMENTED = "grpc-status 12"


@dataclass(frozen=True)
class Settings(CheckSettings):
    sockets: Annotated[list[str], NonEmpty()] = field(default_factory=lambda: list(DEFAULT_SOCKETS))


def host_paths(settings: Settings) -> tuple[str, ...]:
    return tuple(settings.sockets)


INSTALLATION_TARGETS = frozenset({"sockets"})


async def from_installation(inst: Installation, s: Settings, timeout: float) -> Derived:
    cfg, where = await inst.stated(timeout)
    sockets = [cfg.containerd_socket] + [p for p in s.sockets if p != cfg.containerd_socket]
    return {"sockets": sockets}, stated_origin(where, "workspace.runtime.containerdSocket")


def cri_config(status: bytes) -> dict[str, Any]:
    """The effective CRI config from a verbose StatusResponse: its info map (field 2, entries
    of key 1 and value 2) holds it as JSON under "config"."""
    for number, entry in protobuf_fields(status):
        if number != 2:
            continue
        kv = protobuf_strings(entry)
        if kv.get(1) == "config":
            try:
                config = json.loads(kv.get(2, ""))
            except (ValueError, RecursionError):
                raise GrpcError("the CRI status' config is not JSON") from None
            return config if isinstance(config, dict) else {}
    return {}


async def run(ctx: CheckContext[Settings]) -> Result:
    s = ctx.settings
    try:
        note = await workspace_node(ctx)
    except NotWorkspaceNode:
        return not_workspace_node("")
    socket = next((p for p in s.sockets if ctx.host_kind(p) == "socket"), None)
    if socket is None:
        return Result.failed(
            Reason.NO_SOCKET, "absent", f"no containerd socket at {', '.join(s.sockets)}"
        )
    path = str(ctx.host_path(socket))
    budget = client_timeout(s.timeout, 3)
    try:
        for api in API_VERSIONS:
            try:
                call = unary_call(path, f"/runtime.{api}.RuntimeService/Version")
                version = protobuf_strings(await asyncio.wait_for(call, budget))
                break
            except GrpcError as exc:
                if UNIMPLEMENTED not in str(exc):
                    raise
        else:
            return with_note(
                Result.failed(Reason.UNSUPPORTED, "no CRI",
                              f"{socket}: containerd answers but serves no CRI (unknown service "
                              "runtime.v1.RuntimeService): Docker's containerd, or the CRI plugin "
                              "disabled in its config"),
                note,
            )  # fmt: skip
        status = await asyncio.wait_for(
            unary_call(path, f"/runtime.{api}.RuntimeService/Status", b"\x08\x01"), budget
        )  # verbose: true
        config = cri_config(status)
    except TimeoutError:
        return Result.failed(Reason.TIMEOUT, "unresponsive", f"{socket}: no CRI answer in time")
    except OSError as exc:
        return Result.failed(Reason.CONNECT, "unreachable", f"{socket}: {exc.strerror or exc}")
    except GrpcError as exc:
        return Result.failed(Reason.PROTOCOL, "unreachable", f"{socket}: {exc}")
    snapshotter = str((config.get("containerd") or {}).get("snapshotter", ""))[:64]
    config_path = str((config.get("registry") or {}).get("configPath", ""))[:256]
    sample = metrics.NODE_CONTAINERD_CRI_INFO.sample(1.0, snapshotter, config_path)
    observed = f"CRI {version.get(4, api)} ({version.get(2, '?')} {version.get(3, '?')})"
    detail = (f"snapshotter {snapshotter or 'unknown'}, registry config_path "
              f"{config_path or 'unset'}, via {socket}")  # fmt: skip
    return with_note(Result.passed(observed, sample, detail=detail), note)
