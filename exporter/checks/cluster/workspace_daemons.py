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
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC, WORKSPACE_LABELS, ready_label
from exporter.kube import KubeError, path
from exporter.model import Reason, Requirement, Result, Scope, Severity
from exporter.nodefacts import NodeFacts
from exporter.parse import timestamp

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
    failing: dict[str, dict[str, str]] = {d: {} for d in DAEMONS}
    rolling: dict[str, set[str]] = {d: set() for d in DAEMONS}
    for daemon in DAEMONS:
        await _judge(ctx, daemon, daemonsets[daemon], judged, now, failing[daemon],
                     rolling[daemon])  # fmt: skip
    ready = {d: len(judged) - len(failing[d]) - len(rolling[d]) for d in DAEMONS}
    samples = [families.CLUSTER_WORKSPACE_NODES.sample(float(len(judged)))] + [
        families.CLUSTER_WORKSPACE_NODES_READY.sample(float(ready[d]), d) for d in DAEMONS
    ]
    notes = [counts]
    if joining:
        notes.append(f"{joining} node(s) Ready for less than {s.grace:g}s, not judged yet")
    settling = set().union(*rolling.values())
    if settling:
        notes.append(f"{len(settling)} node(s) with a daemon pod younger than {s.grace:g}s (a "
                     "rollout or a restart), not judged yet")  # fmt: skip
    unready = set().union(*(set(f) for f in failing.values()))
    whole = len(judged) - len(unready | settling)
    observed = f"{whole}/{len(judged)} workspace nodes ready"
    if not unready:
        if not judged:
            notes.insert(0, "no Ready, schedulable workspace node to judge")
        return Result.passed(observed, *samples, detail="; ".join(notes))
    parts = []
    for daemon in DAEMONS:
        names = sorted(failing[daemon])
        if not names:
            continue
        samples += [families.CLUSTER_WORKSPACE_NODE_NOT_READY.sample(1.0, daemon, name)
                    for name in names[: s.max_listed]]  # fmt: skip
        shown = [f"{n} ({failing[daemon][n]})" for n in names[: s.max_listed]]
        more = f" and {len(names) - s.max_listed} more" if len(names) > s.max_listed else ""
        parts.append(f"{len(names)} without a Ready {daemon} ({ready_label(daemon, ns)}): "
                     f"{'; '.join(shown)}{more}")  # fmt: skip
    return Result.failed(
        Reason.NOT_READY,
        observed,
        "workspaces cannot start there: " + " | ".join(parts) + f" ({'; '.join(notes)})",
        *samples,
    )


async def _judge(
    ctx: CheckContext[Settings],
    daemon: str,
    daemonset: Mapping[str, Any] | None,
    judged: list[NodeFacts],
    now: float,
    failing: dict[str, str],
    rolling: set[str],
) -> None:
    """Each judged node's `daemon`: its ready label and, when the label is missing or the
    DaemonSet counts a pod not Ready, its pod. In 2022.11.3 the ready-probe-labeler sets the
    label once and removes it only in its preStop hook, so a crash-looping daemon keeps it: the
    label alone is no verdict. A pod younger than the grace period (a rollout replacing it, the
    installer's RollingUpdate with maxUnavailable 1) or not Ready for less than it is not
    judged yet; past it, the node fails naming why."""
    s, label = ctx.settings, ready_label(daemon, ctx.namespace)
    lacking = [n.name for n in judged if label not in n.labels]
    unready_pods = _status(daemonset, "numberReady") < _status(daemonset, "desiredNumberScheduled")
    if not lacking and not unready_pods:
        return  # the healthy case costs no list
    pods = await _pods(ctx, daemon)
    if pods is None:  # forbidden: the verdict stands on the labels, the report says less
        failing.update({n: "why unknown: listing its pods is forbidden" for n in lacking})
        return
    by_node = {p.node: p for p in pods if p.node}
    for node in judged:
        pod, labelled = by_node.get(node.name), label in node.labels
        if pod is None:
            if not labelled:
                failing[node.name] = (f"no {daemon} pod on the node: its taints or the "
                                      "DaemonSet's node affinity keep it away")  # fmt: skip
            continue
        if pod.ready:
            if labelled:
                continue
            if now - pod.since < s.grace:
                rolling.add(node.name)
            else:
                failing[node.name] = (f"pod {pod.name} is Ready but the node lacks {label}: its "
                                      "ready-probe-labeler container did not set it")  # fmt: skip
            continue
        if now - pod.since < s.grace:
            rolling.add(node.name)
            continue
        failing[node.name] = f"{pod.why}{pod.how_long(now)}"
    # The reasons the status does not give (a failed mount) come from the first few's events.
    for name in sorted(failing)[: s.max_listed]:
        pod = by_node.get(name)
        if pod is not None and not pod.ready and not pod.said:
            said = await _events(ctx, pod.name) or f"pod {pod.phase}, not Ready"
            failing[name] = f"pod {pod.name}: {said}{pod.how_long(now)}"


@dataclass(frozen=True)
class PodFacts:
    """What the verdict needs of a DaemonSet pod."""

    name: str
    node: str
    phase: str
    ready: bool
    since: float  # since when Ready (or not Ready): the Ready condition's last transition
    said: str  # why it is not Ready, as its status says

    @property
    def why(self) -> str:
        return f"pod {self.name}: {self.said}" if self.said else f"pod {self.name}"

    def how_long(self, now: float) -> str:
        return f", not Ready for {int((now - self.since) // 60)}m" if self.since else ""


async def _pods(ctx: CheckContext[Settings], daemon: str) -> list[PodFacts] | None:
    s, ns = ctx.settings, ctx.namespace
    try:
        found: list[PodFacts] = await ctx.kube.list_all(
            path("/api/v1/namespaces/{ns}/pods", ns=ns), s.timeout, _pod_facts,
            labelSelector=f"component={daemon}",
        )  # fmt: skip
    except KubeError as exc:
        if exc.status not in (401, 403):
            raise
        return None
    return found


def _status(ds: Mapping[str, Any] | None, key: str) -> int:
    value = ((ds or {}).get("status") or {}).get(key, 0)
    return value if isinstance(value, int) else 0


def _pod_facts(item: Mapping[str, Any]) -> PodFacts:
    """A DaemonSet pod's facts: its node (a Pending pod has no nodeName yet: the DaemonSet pins
    it with a matchFields term on metadata.name), readiness and since when, and why not."""
    meta, spec = item.get("metadata") or {}, item.get("spec") or {}
    status = item.get("status") or {}
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    ready = next((c for c in conditions if c.get("type") == "Ready"), {})
    is_ready = ready.get("status") == "True"
    # Since the last change of readiness, else since the pod was created (0: unknown, old).
    since = timestamp(ready.get("lastTransitionTime")) or timestamp(meta.get("creationTimestamp"))
    said = "" if is_ready else _status_reason(status)
    if not is_ready and not said and status.get("phase") == "Running":
        said = "Running but not Ready (its readiness probe fails)"
    node = str(spec.get("nodeName") or _pinned_node(spec))[:253]
    return PodFacts(str(meta.get("name", ""))[:253], node, str(status.get("phase", ""))[:32],
                    is_ready, since, said)  # fmt: skip


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
