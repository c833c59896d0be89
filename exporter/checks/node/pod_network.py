"""node_pod_network: this node reaches the other nodes' pods over the pod network, measured
by the node role itself, as Goldpinger does, but bounded for large clusters.

Each node-role pod learns its peers from the EndpointSlices of its own headless Service and
probes a few of them each round (`peers`), chosen so that every node is probed by about that
many others per round and the choice rotates through all of them. A peer whose last two probes
by this node both failed fails the requirement: ws-manager dials ws-daemon on its pod IP, and
a pod network that drops traffic between nodes (VXLAN's UDP 4789 or BGP's TCP 179 blocked)
starts workspaces that nobody can reach. Each probe fetches a full-size answer (64 KiB from
the peer's /pod-network-probe), so a path that drops full-size packets (an MTU mismatch
between nodes) fails too, where a few bytes of /healthz would pass.

Only endpoints the EndpointSlice controller wrote for pods of this Service are probed (its
managed-by label, an IP address, a Pod in the Service's namespace, the Service's port named
`port_name`): anyone able to write an EndpointSlice in the namespace could otherwise make every
node dial any address. Before a peer is named unreachable the slices are listed again: a peer
that left (a rollout, a node scaled away) is dropped, never named.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import ssl
import time
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from exporter import families, kubelite
from exporter.config import CheckSettings, Duration, Interval, Max, Min, OneOf
from exporter.context import Check, CheckContext
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.model import KubeError, NotConfigured, Reason, Requirement, Result, Scope, Severity
from exporter.pager import Pager

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

RESULTS = ("success", "timeout", "refused", "error", "truncated")
# The peer's full-size answer (exporter/server.py serves it): 64 KiB, over 40 full-size
# packets of a 1500-byte MTU, so one that never arrives shows.
PROBE_PATH = "/pod-network-probe"
PROBE_BYTES = 65536
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
CONTROLLER = "endpointslice-controller.k8s.io"
# A node name as the API allows it (a DNS subdomain): a label value, so bounded.
NODE_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
# Upper bounds of the round-trip histogram: a pod network answers in well under 10 ms; seconds
# mean something queues or retransmits.
RTT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
SLICES_PER_PAGE = 50  # an EndpointSlice holds at most 100 endpoints, about 30 KiB
# Endpoints looked at per listing: one per node of a 25,000-node cluster. Beyond, the list is
# not read further (anyone who may write EndpointSlices in the namespace can add millions).
MAX_ENDPOINTS = 25_000


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
    # How long a peer list is used before the EndpointSlices are listed again (sooner when a
    # probe fails: a peer that left is not judged).
    refresh: Duration = 300.0
    # The Service's port the peers serve on (the chart's is metrics).
    port_name: str = "metrics"


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


@dataclass(frozen=True)
class Listed:
    peers: list[Peer]
    ignored: dict[str, int]  # why -> endpoints ignored
    truncated: bool = False  # MAX_ENDPOINTS looked at: the rest of the list was not read


class PeerList:
    """The peers as the slices arrive, page by page: only what the choice needs is kept (a
    Peer per endpoint, counts of the rest), never the slices, so 157 MB of hostile slices cost
    a page at a time, not all of them at once. At most MAX_ENDPOINTS endpoints are looked at."""

    def __init__(self, namespace: str, port_name: str = "metrics") -> None:
        self.namespace, self.port_name = namespace, port_name
        self.found: set[Peer] = set()
        self.ignored: dict[str, int] = {}
        self.seen = 0

    @property
    def full(self) -> bool:
        return self.seen >= MAX_ENDPOINTS

    def listed(self) -> Listed:
        return Listed(sorted(self.found), dict(self.ignored), self.full)

    def _ignore(self, why: str, n: int = 1) -> None:
        self.ignored[why] = self.ignored.get(why, 0) + n

    def add(self, slices: Any) -> None:
        """Every ready, not terminating endpoint the EndpointSlice controller wrote for a pod
        in the namespace, on the port named `port_name`. What else the slices hold is counted
        by why it is not probed."""
        for sl in slices if isinstance(slices, list) else ():
            if self.full:
                return
            if isinstance(sl, dict):
                self._slice(sl)

    def _slice(self, sl: dict[str, Any]) -> None:
        endpoints = sl.get("endpoints")
        endpoints = endpoints[: MAX_ENDPOINTS - self.seen] if isinstance(endpoints, list) else []
        self.seen += len(endpoints)
        labels = (sl.get("metadata") or {}).get("labels") or {}
        if not isinstance(labels, dict) or labels.get(MANAGED_BY) != CONTROLLER:
            self._ignore("not written by the EndpointSlice controller", len(endpoints))
            return
        if sl.get("addressType") not in ("IPv4", "IPv6"):
            self._ignore("not IP addresses", len(endpoints))
            return
        ports = [p for p in sl.get("ports") or [] if isinstance(p, dict)]
        number = next((p.get("port") for p in ports if p.get("name") == self.port_name), None)
        if not isinstance(number, int) or not 0 < number < 65536:
            self._ignore(f"no port named {self.port_name}", len(endpoints))
            return
        for ep in endpoints:
            if isinstance(ep, dict):
                self._endpoint(ep, number)

    def _endpoint(self, ep: dict[str, Any], number: int) -> None:
        cond = ep.get("conditions") or {}
        # ready unset means ready (the API's own rule); terminating endpoints are going.
        if not isinstance(cond, dict) or cond.get("ready") is False or \
                cond.get("terminating") is True:  # fmt: skip
            return
        ref = ep.get("targetRef") or {}
        if not isinstance(ref, dict) or ref.get("kind") != "Pod" or \
                ref.get("namespace", self.namespace) != self.namespace:  # fmt: skip
            self._ignore(f"not a Pod in {self.namespace}")
            return
        addresses = ep.get("addresses") or []
        address = addresses[0] if addresses and isinstance(addresses[0], str) else ""
        try:
            ip = str(ipaddress.ip_address(address[:45]))
        except ValueError:
            self._ignore("not an IP address")
            return
        node = ep.get("nodeName")
        if not isinstance(node, str) or not NODE_NAME.fullmatch(node):
            self._ignore("no valid node name")
            return
        self.found.add(Peer(node, ip, number))


def peers_of(slices: list[Any], namespace: str, port_name: str = "metrics") -> Listed:
    """The peers of a whole list of slices; sorted, so every node orders them alike."""
    found = PeerList(namespace, port_name)
    found.add(slices)
    return found.listed()


async def _list_peers(ctx: CheckContext[Settings], namespace: str) -> Listed:
    """A large Service's endpoints are spread over many slices: page by page, each page
    folded into the PeerList in the pool and dropped before the next is asked for."""
    s = ctx.settings
    path = f"/apis/discovery.k8s.io/v1/namespaces/{quote(namespace, safe='')}/endpointslices"
    found = PeerList(namespace, s.port_name)
    pager = Pager(SLICES_PER_PAGE, {"labelSelector": f"kubernetes.io/service-name={s.service}"})
    while not found.full and (params := pager.next()) is not None:
        try:
            page = await ctx.node_api.get(path, s.timeout, **params)
        except KubeError as exc:
            pager.failed(exc)  # an expired continue token: the list starts over
            found = PeerList(namespace, s.port_name)
            continue
        await ctx.blocking(found.add, page.get("items"))
        pager.took(page)
        del page
    return found.listed()


def choose(peers: list[Peer], me: str, k: int, round_no: int, retry: list[Peer]) -> list[Peer]:
    """At most k peers on other nodes: first those that failed last round (so a failure is
    confirmed or cleared by the next probe; at most k - 1 of them, and with k = 1 every other
    round, so a dead peer never holds every slot), then peers at rotating offsets from this
    node's place in the common order. For one offset every node probes a different peer, so
    each node is probed by about k others per round."""
    others = [p for p in peers if p.node != me]
    m = len(others)
    # This node's place: how many peers sort before it (its own endpoint, when listed, sits
    # there), so the offsets below map the nodes onto each other one to one.
    at = sum(1 for p in peers if p.node < me)
    retried = [p for p in retry if p in others]
    base = round_no * k
    if k == 1 and retried:
        # One slot: the failed peer every other round, the rotation in between (its own
        # count of rounds, so it still reaches every peer).
        retried, base = retried[: 1 - round_no % 2], round_no // 2
    chosen = retried[: max(k - 1, 1)]
    for j in range(m):
        if len(chosen) >= k:
            break
        candidate = others[(at + (base + j) % m) % m]
        if candidate not in chosen:
            chosen.append(candidate)
    return chosen[:k]


def _insecure() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def probe(peer: Peer, scheme: str, timeout: float) -> tuple[str, float]:
    """GET the peer's full-size answer: (result, seconds to its last byte). The status line
    with the body cut short is `truncated` (full-size packets dropped); a peer without the
    route (an older exporter during a rollout: 404) counts as reached."""
    started = time.perf_counter()
    got = -1  # bytes of the body received; -1: no status line yet
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                peer.ip, peer.port, ssl=_insecure() if scheme == "https" else None
            )
            try:
                host = f"[{peer.ip}]" if ":" in peer.ip else peer.ip
                writer.write(f"GET {PROBE_PATH} HTTP/1.1\r\nHost: {host}\r\nConnection: "
                             "close\r\n\r\n".encode())  # fmt: skip
                line = await reader.readline()
                if not line.startswith(b"HTTP/1."):
                    return "error", time.perf_counter() - started
                if line.split(b" ", 2)[1:2] != [b"200"]:
                    return "success", time.perf_counter() - started  # reached, no probe route
                while (await reader.readline()).strip():  # the headers, bounded by the timeout
                    pass
                got = 0
                while got < PROBE_BYTES:
                    chunk = await reader.read(PROBE_BYTES - got)
                    if not chunk:
                        break
                    got += len(chunk)
            finally:
                writer.transport.abort()
    except TimeoutError:
        return ("truncated" if got >= 0 else "timeout"), time.perf_counter() - started
    except ConnectionRefusedError:
        return "refused", time.perf_counter() - started
    except (OSError, ssl.SSLError, ValueError):
        return ("truncated" if got >= 0 else "error"), time.perf_counter() - started
    took = time.perf_counter() - started
    return ("success" if got >= PROBE_BYTES else "truncated"), took


async def run(ctx: CheckContext[Settings]) -> Result:
    s, state = ctx.settings, ctx.state
    me = ctx.node_name
    if not me:
        raise NotConfigured("NODE_NAME is not set: no way to tell this node's peers apart")
    namespace = _namespace(s)
    if not namespace:
        raise NotConfigured("no namespace: POD_NAMESPACE unset and no service account")
    now = time.time()
    listed_at, listed = state.get("peers", (0.0, Listed([], {})))
    fresh = now - listed_at >= s.refresh or not listed.peers
    if fresh:
        listed = await _list_peers(ctx, namespace)
        state["peers"] = (now, listed)
    peers = listed.peers
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
        failing: dict[Peer, float] = state.setdefault("failing", {})  # peer -> since when
        for peer, (result, _) in zip(chosen, outcomes, strict=True):
            if result == "success":
                failing.pop(peer, None)
            else:
                failing.setdefault(peer, now)
        confirmed = [p for p in state["retry"] if "success" not in history[p][-2:]
                     and len(history[p]) == 2]  # fmt: skip
        if not fresh and any(failing.get(p, 0.0) >= listed_at for p in confirmed):
            # Before a failure is named, who the peers are now: one that left since the list
            # (a rollout, a node scaled away) is dropped, never named. Once per failure, so a
            # partition does not make every node list every round.
            listed = await _list_peers(ctx, namespace)
            state["peers"] = (now, listed)
            others = [p for p in listed.peers if p.node != me]
            state["retry"] = [p for p in state["retry"] if p in set(others)]
        present = set(others)
        for gone in [p for p in history if p not in present]:
            del history[gone]  # a peer that left the Service is forgotten
            failing.pop(gone, None)
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
    ignored = "; ".join(f"{n} endpoint(s) ignored: {why}" for why, n in listed.ignored.items())
    if listed.truncated:
        cut = f"the Service's slices were read up to {MAX_ENDPOINTS} endpoints, the rest not"
        ignored = f"{ignored}; {cut}" if ignored else cut
    if unreachable:
        shown = ", ".join(f"{p} ({' then '.join(history[p])})" for p in unreachable[:10])
        more = f" and {len(unreachable) - 10} more" if len(unreachable) > 10 else ""
        mtu = ""
        if any("truncated" in history[p] for p in unreachable):
            mtu = (f"; truncated: the {PROBE_BYTES // 1024} KiB answer stopped short, as when "
                   "full-size packets are dropped (an MTU mismatch between nodes)")  # fmt: skip
        return Result.failed(
            Reason.CONNECT,
            f"{len(unreachable)} peer(s) unreachable",
            f"cannot reach over the pod network, twice in a row: {shown}{more}{mtu}"
            + (f"; {ignored}" if ignored else ""),
            *samples,
        )
    last = state.get("retry", [])
    detail = f"{len(others)} peer(s) on other nodes, {min(s.peers, len(others))} probed a round"
    if last:
        detail += f"; failed once, probed again next round: {', '.join(map(str, last))}"
    if ignored:
        detail += f"; {ignored}"
    return Result.passed(f"{answered}/{probed} probed peers answered", *samples, detail=detail)


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
)
