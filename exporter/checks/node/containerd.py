"""node_containerd: containerd is the node's runtime, recent enough, and answers its API."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Annotated

from exporter import families
from exporter.checks.shared import VERSION, client_timeout
from exporter.config import CheckSettings, NonEmpty
from exporter.context import Check, CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.grpc_unix import GrpcError, protobuf_strings, unary_call
from exporter.model import Reason, Requirement, Result, Scope, Severity
from exporter.parse import ParseError, format_version, version_tuple

REQUIREMENT = Requirement(
    id="node_containerd",
    title="containerd 1.5 or newer is the container runtime",
    severity=Severity.CRITICAL,
    scope=Scope.NODE,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Run containerd >= 1.5 as the node's runtime (not Docker/dockershim or CRI-O).",
)
DEFAULT_SOCKETS = ["/run/containerd/containerd.sock", "/run/k3s/containerd/containerd.sock"]
HOST_PATHS = tuple(DEFAULT_SOCKETS)
VERSION_METHOD = "/containerd.services.version.v1.Version/Version"


@dataclass(frozen=True)
class Settings(CheckSettings):
    # Tried in order; the first that exists is the node's containerd.
    sockets: Annotated[list[str], NonEmpty()] = field(default_factory=lambda: list(DEFAULT_SOCKETS))
    min_version: Annotated[str, VERSION] = "1.5"


def host_paths(settings: Settings) -> tuple[str, ...]:
    return tuple(settings.sockets)


async def run(ctx: CheckContext[Settings]) -> Result:
    s = ctx.settings
    socket = next((p for p in s.sockets if ctx.host_kind(p) == "socket"), None)
    if socket is None:
        return Result.failed(
            Reason.NO_SOCKET, "absent", f"no containerd socket at {', '.join(s.sockets)}"
        )
    started = time.perf_counter()
    try:
        reply = await asyncio.wait_for(
            unary_call(str(ctx.host_path(socket)), VERSION_METHOD), client_timeout(s.timeout)
        )
    except TimeoutError:
        return Result.failed(
            Reason.TIMEOUT, "unresponsive", f"{socket}: no answer to the Version call in time"
        )
    except OSError as exc:
        return Result.failed(
            Reason.CONNECT, "unreachable", f"{socket}: {exc.strerror or exc} (stale socket?)"
        )
    except GrpcError as exc:
        return Result.failed(Reason.PROTOCOL, "unreachable", f"{socket}: {exc}")
    latency = families.NODE_CONTAINERD_RPC_DURATION_SECONDS.sample(time.perf_counter() - started)
    try:
        fields = protobuf_strings(reply)
    except GrpcError as exc:
        return Result.errored(Reason.PROTOCOL, f"{socket}: {exc}")
    version, revision = fields.get(1, ""), fields.get(2, "")
    info = families.NODE_CONTAINERD_INFO.sample(1.0, version)
    try:
        found = version_tuple(version)
    except ParseError:
        return Result.errored(Reason.PARSE, f"unparsable containerd version {version!r}", version)
    observed = f"{version} ({revision[:12]})" if revision else version
    minimum = version_tuple(s.min_version)
    if found < minimum:
        return Result.failed(
            Reason.BELOW_MINIMUM,
            observed,
            f"containerd {format_version(found)} is older than {format_version(minimum)}",
            info,
            latency,
        )
    return Result.passed(observed, info, latency, detail=f"via {socket}")


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    host_paths=host_paths,
)
