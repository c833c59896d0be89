"""cluster_network_paths: the traffic Gitpod's components need is allowed by the cluster's
NetworkPolicies. A platform team's default-deny, an egress policy without DNS or a policy whose
named port the pod does not declare looks like a broken workspace, never like a policy
(gitpod-io/gitpod 1942, 2935, 8693, 11615, 12366); judged here from the API alone, read-only,
with the real pods of both ends, by Kubernetes' semantics (exporter/netpol.py).

The flows are Gitpod 2022.11.3's: what each component dials (its configmaps and Caddyfiles) to
the pods and container ports behind each Service, and every component's DNS."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from exporter import families, netpol
from exporter.config import CheckSettings, Max, Min
from exporter.context import Check, CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.kube import path
from exporter.model import Reason, Requirement, Result, Scope, Severity

REQUIREMENT = Requirement(
    id="cluster_network_paths",
    title="NetworkPolicies let Gitpod's components reach each other and DNS",
    severity=Severity.CRITICAL,
    scope=Scope.CLUSTER,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Allow each flow the report names in the NetworkPolicy it names (an ingress rule "
    "from the source's pods, or an egress rule to the destination's, on that port and "
    "protocol); for DNS, egress to k8s-app=kube-dns in kube-system on 53/UDP and 53/TCP.",
)
DNS = ("kube-system", {"k8s-app": "kube-dns"})


@dataclass(frozen=True)
class Flow:
    source: str  # component, or "*" for every app=gitpod component
    destination: str  # component, or "dns"
    port: int
    protocol: str = "TCP"

    def shown(self) -> str:
        dst = "kube-dns" if self.destination == "dns" else self.destination
        src = "every component" if self.source == "*" else self.source
        return f"{src} -> {dst}:{self.port}/{self.protocol}"


# Gitpod 2022.11.3: what each component dials, at the destination pod's port.
FLOWS = (
    Flow("*", "dns", 53, "UDP"),
    Flow("*", "dns", 53, "TCP"),
    Flow("proxy", "server", 3000),
    Flow("proxy", "dashboard", 80),
    Flow("proxy", "public-api-server", 9002),
    Flow("proxy", "ws-proxy", 9090),
    Flow("proxy", "openvsx-proxy", 8080),
    Flow("proxy", "ide-proxy", 80),
    Flow("ide-proxy", "blobserve", 32224),
    Flow("ide-proxy", "ide-metrics", 3000),
    Flow("server", "ws-manager", 8080),
    Flow("ws-manager-bridge", "ws-manager", 8080),
    Flow("ws-proxy", "ws-manager", 8080),
    Flow("image-builder-mk3", "ws-manager", 8080),
    Flow("server", "content-service", 8080),
    Flow("server", "image-builder-mk3", 8080),
    Flow("server", "ide-service", 9001),
    Flow("ws-manager", "ws-daemon", 8080),
    Flow("ws-proxy", "workspace", 23000),
    Flow("ws-proxy", "workspace", 22999),
    Flow("workspace", "proxy", 443),
    # In-cluster dependencies, where the installation runs them (their charts' labels).
    Flow("server", "mysql", 3306),
    Flow("content-service", "minio", 9000),
    Flow("image-builder-mk3", "docker-registry", 5000),
    Flow("server", "messagebus", 5671),
    Flow("ws-manager-bridge", "messagebus", 5671),
)
PER_NODE_OR_WORKSPACE = ("ws-daemon", "registry-facade", "workspace")
# Pods of the in-cluster dependencies carry their charts' labels, not component=.
DEPENDENCY_LABELS = {
    "mysql": {"app.kubernetes.io/name": "mysql"},
    "minio": {"app.kubernetes.io/name": "minio"},
    "docker-registry": {"app": "docker-registry"},
    "messagebus": {"app.kubernetes.io/name": "rabbitmq"},
}


@dataclass(frozen=True)
class Settings(CheckSettings):
    # Flows named in the report (the rest counted).
    max_listed: Annotated[int, Min(1), Max(50)] = 8
    # Pods of one component judged (the first by name): replicas share their labels.
    pods_per_component: Annotated[int, Min(1), Max(20)] = 3


def _pod(item: Mapping[str, Any]) -> netpol.Pod:
    meta, spec = item.get("metadata") or {}, item.get("spec") or {}
    status = item.get("status") or {}
    ports = []
    for c in (spec.get("containers") or [])[:32]:
        for p in ((c or {}).get("ports") or [])[:32] if isinstance(c, Mapping) else []:
            if isinstance(p, Mapping) and isinstance(p.get("containerPort"), int):
                ports.append((str(p.get("name") or ""), p["containerPort"],
                              str(p.get("protocol") or "TCP").upper()))  # fmt: skip
    labels = meta.get("labels")
    labels = labels if isinstance(labels, Mapping) else {}
    return netpol.Pod(str(meta.get("namespace", ""))[:253], str(meta.get("name", ""))[:253],
                      {str(k)[:317]: str(v)[:63] for k, v in list(labels.items())[:64]},
                      str(status.get("podIP") or "")[:45], tuple(ports))  # fmt: skip


def _members(pods: list[netpol.Pod], name: str) -> list[netpol.Pod]:
    wanted = DEPENDENCY_LABELS.get(name, {"app": "gitpod", "component": name})
    return [p for p in pods if all(p.labels.get(k) == v for k, v in wanted.items())]


async def run(ctx: CheckContext[Settings]) -> Result:
    s, kube, ns = ctx.settings, ctx.kube, ctx.namespace
    pods_path = path("/api/v1/namespaces/{ns}/pods", ns=ns)
    # The components but the per-node and per-workspace ones, which number in thousands on a
    # large cluster: of those, the first few.
    many = ",".join(f"component!={c}" for c in PER_NODE_OR_WORKSPACE)
    gitpod = await kube.list_all(pods_path, s.timeout, _pod, labelSelector=f"app=gitpod,{many}")
    if not any(p.ip for p in gitpod):
        return Result.skipped(Reason.NOT_INSTALLED, f"no Gitpod pod with an IP in {ns} yet")
    for component in PER_NODE_OR_WORKSPACE:
        page = await kube.get(pods_path, s.timeout, limit=str(s.pods_per_component),
                              labelSelector=f"app=gitpod,component={component}")  # fmt: skip
        gitpod += [_pod(i) for i in page.get("items") or [] if isinstance(i, Mapping)]
    # The in-cluster dependencies (their charts' labels, not app=gitpod): a few pods.
    gitpod += await kube.list_all(pods_path, s.timeout, _pod, labelSelector="app!=gitpod")
    gitpod = sorted((p for p in gitpod if p.ip), key=lambda p: p.name)
    listed = await kube.list_all("/apis/networking.k8s.io/v1/networkpolicies", s.timeout)
    policies = [netpol.policy(d) for d in listed if isinstance(d, Mapping)]
    if not policies:
        samples = [families.CLUSTER_NETWORK_PATHS.sample(float(len(FLOWS)), "allowed"),
                   families.CLUSTER_NETWORK_PATHS.sample(0.0, "blocked")]  # fmt: skip
        detail = "no NetworkPolicy in the cluster: nothing restricts traffic"
        return Result.passed("no NetworkPolicy", *samples, detail=detail)
    namespaces = {}
    for n in await kube.list_all("/api/v1/namespaces", s.timeout):
        meta = n.get("metadata") if isinstance(n, Mapping) else None
        if not isinstance(meta, Mapping):
            continue
        name = str(meta.get("name", ""))[:253]
        labels = meta.get("labels")
        labels = labels if isinstance(labels, Mapping) else {}
        namespaces[name] = {**{str(k): str(v) for k, v in list(labels.items())[:64]},
                            "kubernetes.io/metadata.name": name}  # fmt: skip
    dns_ns, dns_labels = DNS
    selected = ",".join(f"{k}={v}" for k, v in dns_labels.items())
    dns_path = path("/api/v1/namespaces/{ns}/pods", ns=dns_ns)
    dns = [p for p in await kube.list_all(dns_path, s.timeout, _pod, labelSelector=selected)
           if p.ip]  # fmt: skip
    allowed, blocked, unjudged = 0, [], []
    for flow in FLOWS:
        if flow.source == "*":
            components = sorted({p.labels.get("component", "") for p in gitpod
                                 if p.labels.get("app") == "gitpod"})  # fmt: skip
            sources = [_members(gitpod, c)[0] for c in components if c and _members(gitpod, c)]
        else:
            sources = _members(gitpod, flow.source)[: s.pods_per_component]
        destinations = dns if flow.destination == "dns" else _members(gitpod, flow.destination)
        destinations = destinations[: s.pods_per_component]
        if not sources or not destinations:
            unjudged.append(flow.shown())
            continue
        refused = None
        for src in sources:
            for dst in destinations:
                verdict = netpol.judge(src, dst, flow.port, flow.protocol, policies, namespaces)
                if not verdict.allowed:
                    refused = (src, dst, verdict)
                    break
            if refused:
                break
        if refused is None:
            allowed += 1
        else:
            blocked.append((flow, *refused))
    samples = [families.CLUSTER_NETWORK_PATHS.sample(float(allowed), "allowed"),
               families.CLUSTER_NETWORK_PATHS.sample(float(len(blocked)), "blocked")]  # fmt: skip
    notes = f"{allowed} flows allowed under {len(policies)} NetworkPolicies"
    if unjudged:
        notes += f"; {len(unjudged)} not judged, one end has no pod: {', '.join(unjudged[:5])}"
        notes += " ..." if len(unjudged) > 5 else ""
    if not blocked:
        return Result.passed(f"{allowed}/{allowed} allowed", *samples, detail=notes)
    shown = []
    for flow, src, dst, verdict in blocked[: s.max_listed]:
        samples.append(families.CLUSTER_NETWORK_PATH_BLOCKED.sample(1.0, flow.shown()))
        who = ", ".join(verdict.policies[:3])
        shown.append(f"{flow.shown()} ({src.namespace}/{src.name} -> {dst.namespace}/{dst.name}"
                     f"): refused by the {verdict.side} of {who}")  # fmt: skip
    more = f" and {len(blocked) - s.max_listed} more" if len(blocked) > s.max_listed else ""
    return Result.failed(
        Reason.DENIED,
        f"{len(blocked)} flow(s) blocked",
        f"NetworkPolicies block {len(blocked)} flow(s) Gitpod needs: {'; '.join(shown)}{more}"
        f" ({notes})",
        *samples,
    )


CHECK = Check(requirement=REQUIREMENT, settings=Settings, run=run)
