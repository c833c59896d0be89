"""node_pod_network: this node reaches the other nodes' pods over the pod network, measured
by the node role itself, as Goldpinger does, but bounded for large clusters.

Each node-role pod learns its peers from the EndpointSlices of its own headless Service and
probes a few of them each round (`peers`), chosen so that every node is probed by about that
many others per round and the choice rotates through all of them. A peer whose last two probes
by this node both failed fails the requirement: ws-manager dials ws-daemon on its pod IP, and
a pod network that drops traffic between nodes (VXLAN's UDP 4789 or BGP's TCP 179 blocked)
starts workspaces that nobody can reach.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import time
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from exporter import families, kubelite
from exporter.config import CheckSettings, Duration, Interval, Max, Min, OneOf
from exporter.context import Check, CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.model import NotConfigured, Reason, Requirement, Result, Scope, Severity

REQUIREMENT = Requirement(
    id="node_pod_network",
    title="This node reaches the pods on other nodes",
    severity=Severity.CRITICAL,
    scope=Scope.NODE,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    remedy="Check what carries pod traffic between nodes: security groups or firewalls for "
    "the CNI's encapsulation (Calico VXLAN: UDP 4789; BGP: TCP 179; IP-in-IP: protocol 4), the "
    "MTU, and NetworkPolicies in the exporter's namespace.",
)

RESULTS = ("success", "timeout", "refused", "error")
# Upper bounds of the round-trip histogram: a pod network answers in well under 10 ms; seconds
# mean something queues or retransmits.
RTT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
SLICES_PER_PAGE = 50  # an EndpointSlice holds at most 100 endpoints, about 30 KiB


@dataclass(frozen=True)
class Settings(CheckSettings):
    interval: Interval = 30.0
    # The node role's headless Service (the chart's), whose EndpointSlices list the peers.
    service: str = "gitpod-requirements-node"
    # The Service's namespace; empty: POD_NAMESPACE, else the service account's namespace.
    namespace: str = ""
    # Peers probed per round by this node (and about as many probe it).
    peers: Annotated[int, Min(1), Max(20)] = 3
    # How the peers serve /healthz: https when their web config serves TLS (reachability is
    # checked, not identity: the certificate is not verified).
    scheme: Annotated[str, OneOf(("http", "https"))] = "http"
    # How long a peer list is used before the EndpointSlices are listed again.
    refresh: Duration = 300.0


@dataclass(frozen=True, order=True)
class Peer:
    node: str
    ip: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{host}:{self.port} on {self.node}"


def _namespace(s: Settings) -> str:
    if s.namespace:
        return s.namespace
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    try:
        return (kubelite.SERVICE_ACCOUNT / "namespace").read_text()[:253].strip()
    except OSError:
        return ""


def peers_of(slices: list[Any]) -> list[Peer]:
    """Every ready, not terminating endpoint of the slices with a node, on the slice's only
    port or the one named metrics; sorted, so every node orders them alike."""
    found: set[Peer] = set()
    for sl in slices:
        if not isinstance(sl, dict):
            continue
        ports = [p for p in sl.get("ports") or [] if isinstance(p, dict)]
        port = next((p for p in ports if p.get("name") == "metrics"), ports[0] if ports else {})
        number = port.get("port")
        if not isinstance(number, int) or not 0 < number < 65536:
            continue
        for ep in sl.get("endpoints") or []:
            if not isinstance(ep, dict):
                continue
            cond = ep.get("conditions") or {}
            # ready unset means ready (the API's own rule); terminating endpoints are going.
            if cond.get("ready") is False or cond.get("terminating") is True:
                continue
            addresses = ep.get("addresses") or []
            node = ep.get("nodeName")
            if addresses and isinstance(addresses[0], str) and isinstance(node, str) and node:
                found.add(Peer(node, addresses[0], number))
    return sorted(found)


async def _list_peers(ctx: CheckContext[Settings], namespace: str) -> list[Peer]:
    s = ctx.settings
    # A large Service's endpoints are spread over many slices: all of them, page by page.
    slices = await ctx.node_api.list_all(
        f"/apis/discovery.k8s.io/v1/namespaces/{quote(namespace, safe='')}/endpointslices",
        s.timeout,
        limit=SLICES_PER_PAGE,
        labelSelector=f"kubernetes.io/service-name={s.service}",
    )
    return peers_of(slices)


def choose(peers: list[Peer], me: str, k: int, round_no: int, retry: list[Peer]) -> list[Peer]:
    """At most k peers on other nodes: first those that failed last round (so a failure is
    confirmed or cleared by the next probe, at most k - 1 of them when k > 1), then peers at
    rotating offsets from this node's place in the common order. For one offset every node
    probes a different peer, so each node is probed by about k others per round."""
    others = [p for p in peers if p.node != me]
    m = len(others)
    # This node's place: how many peers sort before it (its own endpoint, when listed, sits
    # there), so the offsets below map the nodes onto each other one to one.
    at = sum(1 for p in peers if p.node < me)
    chosen = [p for p in retry if p in others][: max(k - 1, 1)]
    for j in range(m):
        if len(chosen) >= k:
            break
        candidate = others[(at + (round_no * k + j) % m) % m]
        if candidate not in chosen:
            chosen.append(candidate)
    return chosen[:k]


def _insecure() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def probe(peer: Peer, scheme: str, timeout: float) -> tuple[str, float]:
    """GET /healthz on the peer: (result, seconds). Any HTTP answer is reachability."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                peer.ip, peer.port, ssl=_insecure() if scheme == "https" else None
            )
            try:
                host = f"[{peer.ip}]" if ":" in peer.ip else peer.ip
                writer.write(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close"
                             "\r\n\r\n".encode())  # fmt: skip
                line = await reader.readline()
            finally:
                writer.transport.abort()
    except TimeoutError:
        return "timeout", time.perf_counter() - started
    except ConnectionRefusedError:
        return "refused", time.perf_counter() - started
    except (OSError, ssl.SSLError, ValueError):
        return "error", time.perf_counter() - started
    took = time.perf_counter() - started
    return ("success" if line.startswith(b"HTTP/1.") else "error"), took


async def run(ctx: CheckContext[Settings]) -> Result:
    s, state = ctx.settings, ctx.state
    me = ctx.node_name
    if not me:
        raise NotConfigured("NODE_NAME is not set: no way to tell this node's peers apart")
    namespace = _namespace(s)
    if not namespace:
        raise NotConfigured("no namespace: POD_NAMESPACE unset and no service account")
    now = time.time()
    listed_at, peers = state.get("peers", (0.0, []))
    if now - listed_at >= s.refresh or not peers:
        peers = await _list_peers(ctx, namespace)
        state["peers"] = (now, peers)
    others = [p for p in peers if p.node != me]
    counts: dict[str, int] = state.setdefault("counts", dict.fromkeys(RESULTS, 0))
    rtt: list[int] = state.setdefault("rtt", [0] * (len(RTT_BUCKETS) + 1))
    history: dict[Peer, list[str]] = state.setdefault("history", {})
    samples: list[Any] = []
    answered = probed = 0
    if others:
        chosen = choose(peers, me, s.peers, int(now // s.interval), state.get("retry", []))
        timeout = min(2.0, 0.8 * s.timeout)
        outcomes = await asyncio.gather(*(probe(p, s.scheme, timeout) for p in chosen))
        probed = len(chosen)
        for peer, (result, took) in zip(chosen, outcomes, strict=True):
            counts[result] += 1
            answered += result == "success"
            history[peer] = [*history.get(peer, [])[-1:], result]
            if result == "success":
                rtt[next((i for i, b in enumerate(RTT_BUCKETS) if took <= b), -1)] += 1
                state["rtt_sum"] = state.get("rtt_sum", 0.0) + took
        state["retry"] = [p for p, (r, _) in zip(chosen, outcomes, strict=True) if r != "success"]
        present = set(others)
        for gone in [p for p in history if p not in present]:
            del history[gone]  # a peer that left the Service is forgotten
    samples += [families.NODE_PEER_PROBES.sample(float(counts[r]), r) for r in RESULTS]
    cumulative, total = [], 0
    for bound, n in zip([*(f"{b:g}" for b in RTT_BUCKETS), "+Inf"], rtt, strict=True):
        total += n
        cumulative.append((bound, float(total)))
    samples.append(families.NODE_PEER_RTT.histogram(tuple(cumulative), state.get("rtt_sum", 0.0)))
    samples.append(families.NODE_PEERS.sample(float(len(others))))
    if not others:
        return Result.passed(
            "no peers", *samples,
            detail=f"no ready endpoint of Service {namespace}/{s.service} on another node",
        )  # fmt: skip
    unreachable = sorted(p for p, h in history.items() if len(h) == 2 and "success" not in h)
    samples += [families.NODE_PEER_UNREACHABLE.sample(1.0, p.node) for p in unreachable[: s.peers]]
    if unreachable:
        shown = ", ".join(f"{p} ({' then '.join(history[p])})" for p in unreachable[:10])
        more = f" and {len(unreachable) - 10} more" if len(unreachable) > 10 else ""
        return Result.failed(
            Reason.CONNECT,
            f"{len(unreachable)} peer(s) unreachable",
            f"cannot reach over the pod network, twice in a row: {shown}{more}",
            *samples,
        )
    last = state.get("retry", [])
    detail = f"{len(others)} peer(s) on other nodes, {min(s.peers, len(others))} probed a round"
    if last:
        detail += f"; failed once, probed again next round: {', '.join(map(str, last))}"
    return Result.passed(f"{answered}/{probed} probed peers answered", *samples, detail=detail)


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
)
