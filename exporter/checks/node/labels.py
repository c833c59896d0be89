"""node_labels: this node carries a gitpod.io/workload_* label, so Gitpod schedules here.

One GET of the node's own Node object per interval: the DaemonSet runs on every node, so it
never lists cluster objects.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import quote

from exporter import kubelite, metrics
from exporter.config import CheckSettings, Duration, NonEmpty
from exporter.context import CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.model import Reason, Requirement, Result, Scope, Severity

REQUIREMENT = Requirement(
    id="node_labels",
    title="The node carries a gitpod.io/workload_* label",
    severity=Severity.WARNING,
    scope=Scope.NODE,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Label the node for the Gitpod workloads it should run, e.g. "
    "kubectl label node NAME gitpod.io/workload_workspace_regular=true.",
)

DEFAULT_LABELS = [
    "gitpod.io/workload_meta",
    "gitpod.io/workload_ide",
    "gitpod.io/workload_workspace_services",
    "gitpod.io/workload_workspace_regular",
    "gitpod.io/workload_workspace_headless",
    "gitpod.io/workload_services",
]


@dataclass(frozen=True)
class Settings(CheckSettings):
    interval: Duration = 300.0
    labels: Annotated[list[str], NonEmpty()] = field(default_factory=lambda: list(DEFAULT_LABELS))
    value: str = "true"


_STATUS_REASON = {401: Reason.AUTH, 403: Reason.FORBIDDEN, 404: Reason.NOT_FOUND}


async def run(ctx: CheckContext[Settings]) -> Result:
    if not ctx.node_name:
        return Result.skipped(Reason.NOT_CONFIGURED, "NODE_NAME is not set")
    try:
        endpoint = await ctx.blocking(kubelite.resolve, ctx.kubeconfig)
    except (kubelite.KubeConfigError, OSError, ssl.SSLError) as exc:
        return Result.errored(Reason.AUTH, f"Kubernetes credentials unusable: {exc}")
    if endpoint is None:
        return Result.skipped(Reason.NOT_CONFIGURED, "no kubeconfig and not running in a pod")
    path = f"/api/v1/nodes/{quote(ctx.node_name, safe='')}"
    try:
        status, node = await ctx.blocking(kubelite.get_json, endpoint, path, ctx.settings.timeout)
    except ssl.SSLError as exc:
        return Result.errored(Reason.TLS, f"API server TLS: {exc}")
    except TimeoutError:
        return Result.errored(Reason.TIMEOUT, f"API server silent for {ctx.settings.timeout:g}s")
    except OSError as exc:
        return Result.errored(Reason.CONNECT, f"API server unreachable: {exc}")
    except ValueError as exc:
        return Result.errored(Reason.PROTOCOL, f"API server answered non-JSON: {exc}")
    if status != 200:
        reason = _STATUS_REASON.get(status, Reason.PROTOCOL)
        return Result.errored(reason, f"GET node {ctx.node_name}: HTTP {status}")
    labels = node.get("metadata", {}).get("labels") if isinstance(node, dict) else None
    if not isinstance(labels, dict):
        labels = {}
    s = ctx.settings
    carried = sorted(k for k in s.labels if labels.get(k) == s.value)
    sample = metrics.NODE_WORKLOAD_LABELS.sample(float(len(carried)))
    if not carried:
        return Result.failed(
            Reason.MISSING,
            "none",
            f"node {ctx.node_name} has none of {', '.join(s.labels)}",
            sample,
        )
    return Result.passed(", ".join(carried), sample)
