"""cluster_workspace_daemons: every workspace node carries the labels ws-manager schedules
workspaces by, `gitpod.io/ws-daemon_ready_ns_<namespace>` and
`gitpod.io/registry-facade_ready_ns_<namespace>`. Those DaemonSets' sidecars set them while
their pod is Ready; a node without them takes no workspace ("didn't match Pod's node
affinity/selector"), however healthy the rest of the cluster looks."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from exporter import families
from exporter.config import CheckSettings, Duration, Max, Min
from exporter.context import Check, CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC, WORKSPACE_LABELS
from exporter.kube import KubeError, path
from exporter.model import Reason, Requirement, Result, Scope, Severity
from exporter.nodefacts import NodeFacts

REQUIREMENT = Requirement(
    id="cluster_workspace_daemons",
    title="ws-daemon and registry-facade are ready on every workspace node",
    severity=Severity.CRITICAL,
    scope=Scope.CLUSTER,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Look at the DaemonSets' pods on the nodes named: kubectl -n <namespace> get pods "
    "-o wide -l component=ws-daemon (and registry-facade); kubectl describe pod NAME shows the "
    "scheduler's message, a failed hostPath type check or the container's last termination.",
)
# The node cache: a node change wakes this check.
DAEMONS = ("ws-daemon", "registry-facade")


@dataclass(frozen=True)
class Settings(CheckSettings):
    # A node Ready for less than this is not judged yet: a node joining or a rollout is not
    # an outage.
    grace: Duration = 300.0
    # The nodes named in the report (and whose pods' events are read): the first few.
    max_listed: Annotated[int, Min(1), Max(50)] = 5


def ready_label(daemon: str, namespace: str) -> str:
    return f"gitpod.io/{daemon}_ready_ns_{namespace}"


def is_workspace_node(node: NodeFacts) -> bool:
    return any(label in node.labels for label in WORKSPACE_LABELS)


async def run(ctx: CheckContext[Settings]) -> Result:
    s, kube, ns = ctx.settings, ctx.kube, ctx.namespace
    daemonsets: dict[str, Mapping[str, Any] | None] = {}
    for daemon in DAEMONS:
        try:
            daemonsets[daemon] = await kube.get(
                path("/apis/apps/v1/namespaces/{ns}/daemonsets/{n}", ns=ns, n=daemon), s.timeout
            )
        except KubeError as exc:
            if exc.status != 404:
                raise
            daemonsets[daemon] = None
    present = [d for d in DAEMONS if daemonsets[d] is not None]
    if not present:
        return Result.skipped(
            Reason.NOT_INSTALLED, f"no DaemonSet {' or '.join(DAEMONS)} in {ns}: not installed"
        )
    counts = "; ".join(
        f"{d}: {_status(ds, 'numberReady')}/{_status(ds, 'desiredNumberScheduled')} pods ready"
        for d, ds in daemonsets.items()
        if ds is not None
    )
    absent = [d for d in DAEMONS if daemonsets[d] is None]
    if absent:
        return Result.failed(
            Reason.MISSING,
            "incomplete",
            f"DaemonSet {', '.join(absent)} is missing in {ns} while {', '.join(present)} "
            f"exists ({counts})",
        )

    now = time.time()
    candidates = [n for n in await ctx.nodes(s.timeout) if is_workspace_node(n)]
    usable = [n for n in candidates if n.ready and n.schedulable]
    judged = [n for n in usable if now - n.ready_since >= s.grace]
    joining = len(usable) - len(judged)
    lacking = {
        d: sorted(n.name for n in judged if ready_label(d, ns) not in n.labels) for d in DAEMONS
    }
    samples = [families.CLUSTER_WORKSPACE_NODES.sample(float(len(judged)))] + [
        families.CLUSTER_WORKSPACE_NODES_READY.sample(float(len(judged) - len(lacking[d])), d)
        for d in DAEMONS
    ]
    notes = [counts]
    if joining:
        notes.append(f"{joining} node(s) Ready for less than {s.grace:g}s, not judged yet")
    if not any(lacking.values()):
        observed = f"{len(judged)}/{len(judged)} workspace nodes ready"
        if not judged:
            notes.insert(0, "no Ready, schedulable workspace node to judge")
        return Result.passed(observed, *samples, detail="; ".join(notes))

    unready = {name for names in lacking.values() for name in names}
    samples += [
        families.CLUSTER_WORKSPACE_NODE_NOT_READY.sample(1.0, d, name)
        for d in DAEMONS
        for name in lacking[d][: s.max_listed]
    ]
    why = await _why(ctx, lacking)
    parts = []
    for daemon in DAEMONS:
        names = lacking[daemon]
        if not names:
            continue
        shown = [f"{n} ({why.get((daemon, n), 'unknown')})" for n in names[: s.max_listed]]
        more = f" and {len(names) - s.max_listed} more" if len(names) > s.max_listed else ""
        parts.append(f"{len(names)} without {ready_label(daemon, ns)}: {'; '.join(shown)}{more}")
    return Result.failed(
        Reason.NOT_READY,
        f"{len(judged) - len(unready)}/{len(judged)} workspace nodes ready",
        "workspaces cannot be scheduled there: " + " | ".join(parts) + f" ({'; '.join(notes)})",
        *samples,
    )


def _status(ds: Mapping[str, Any] | None, key: str) -> int:
    value = ((ds or {}).get("status") or {}).get(key, 0)
    return value if isinstance(value, int) else 0


async def _why(
    ctx: CheckContext[Settings], lacking: dict[str, list[str]]
) -> dict[tuple[str, str], str]:
    """Why the daemon's pod is not Ready on each of the first nodes named: from the pod's
    status, and from its events when the status does not say (a failed mount)."""
    s, kube, ns = ctx.settings, ctx.kube, ctx.namespace
    out: dict[tuple[str, str], str] = {}
    for daemon, names in lacking.items():
        wanted = set(names[: s.max_listed])
        if not wanted:
            continue
        try:
            pods = await kube.list_all(
                path("/api/v1/namespaces/{ns}/pods", ns=ns), s.timeout, _pod_facts,
                labelSelector=f"component={daemon}",
            )  # fmt: skip
        except KubeError as exc:
            if exc.status not in (401, 403):
                raise
            # The verdict stands on the labels; only the report says less.
            for name in wanted:
                out[daemon, name] = "why unknown: listing its pods is forbidden"
            continue
        by_node = {p["node"]: p for p in pods if p["node"] in wanted}
        for name in names[: s.max_listed]:
            pod = by_node.get(name)
            if pod is None:
                out[daemon, name] = (f"no {daemon} pod on the node: its taints or the "
                                     "DaemonSet's node affinity keep it away")  # fmt: skip
                continue
            said = pod["why"]
            if not said:
                said = await _events(ctx, pod["name"]) or f"pod {pod['phase']}, not Ready"
            out[daemon, name] = f"pod {pod['name']}: {said}"
    return out


def _pod_facts(item: Mapping[str, Any]) -> dict[str, str]:
    """What the report needs of a DaemonSet pod: its node (a Pending pod has no nodeName yet:
    the DaemonSet pins it with a matchFields term on metadata.name) and why it is not Ready."""
    meta, spec = item.get("metadata") or {}, item.get("spec") or {}
    status = item.get("status") or {}
    node = str(spec.get("nodeName") or _pinned_node(spec))
    return {"name": str(meta.get("name", "")), "node": node,
            "phase": str(status.get("phase", "")), "why": _status_reason(status)}  # fmt: skip


def _pinned_node(spec: Mapping[str, Any]) -> str:
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    for term in required.get("nodeSelectorTerms") or []:
        for field in (term or {}).get("matchFields") or []:
            if field.get("key") == "metadata.name" and field.get("values"):
                return str(field["values"][0])
    return ""


def _status_reason(status: Mapping[str, Any]) -> str:
    conditions = {c.get("type"): c for c in status.get("conditions") or [] if isinstance(c, dict)}
    scheduled = conditions.get("PodScheduled") or {}
    if scheduled.get("status") == "False":
        return f"Pending: {scheduled.get('message') or scheduled.get('reason') or 'unscheduled'}"
    for c in [*(status.get("initContainerStatuses") or []),
              *(status.get("containerStatuses") or [])]:  # fmt: skip
        if not isinstance(c, dict) or c.get("ready"):
            continue
        waiting = (c.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason", "")
        if reason in ("", "ContainerCreating", "PodInitializing"):
            continue  # the status does not say why: the events will
        last = (c.get("lastState") or {}).get("terminated") or {}
        ended = ""
        if last:
            ended = (f" (last ended: {last.get('reason', '?')}, "
                     f"exit code {last.get('exitCode', '?')})")  # fmt: skip
        message = f": {waiting['message']}" if waiting.get("message") else ""
        return f"container {c.get('name', '?')} {reason}{ended}{message}"
    return ""


async def _events(ctx: CheckContext[Settings], pod: str) -> str:
    """The pod's latest Warning event (a failed hostPath type check is only said there)."""
    try:
        page = await ctx.kube.get(
            path("/api/v1/namespaces/{ns}/events", ns=ctx.namespace),
            ctx.settings.timeout,
            fieldSelector=f"involvedObject.kind=Pod,involvedObject.name={pod}",
            limit="50",
        )
    except KubeError as exc:
        if exc.status in (401, 403):
            return ""  # the report says less; the verdict stands on the labels alone
        raise
    warnings = [e for e in page.get("items") or [] if isinstance(e, dict)
                and e.get("type") == "Warning"]  # fmt: skip
    if not warnings:
        return ""
    latest = max(warnings, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
    return f"{latest.get('reason', '')}: {latest.get('message', '')}".strip(": ")


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    reads=frozenset({"nodes"}),
)
