"""node_pod_network: node-role processes on 127.0.0.x addresses learn each other from the fake
API's EndpointSlices and probe each other's /healthz; a peer that accepts and never answers and
an address where nothing listens fail the requirement on every node that probes them, named;
a large Service costs each node at most `peers` probes a round and no more series."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from exporter.checks.node import pod_network
from exporter.checks.node.pod_network import Peer, choose, peers_of
from exporter.config import build
from exporter.context import CheckContext
from exporter.nodeapi import NodeApi
from exporter.scheduler import Job, run_job
from tests.conftest import check_by_id, run_check
from tests.helpers.exporter import Served, start
from tests.helpers.poll import until
from tests.servers.kube_fake import FakeKube, endpoint_slice

NS = "gitpod-requirements"
SERVICE = "gitpod-requirements-node"


@contextlib.contextmanager
def silent_listener(host: str) -> Iterator[int]:
    """Accepts connections and never answers: a peer whose pod network drops replies."""
    srv = socket.create_server((host, 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                conn, _ = srv.accept()
                held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        srv.close()
        for c in held:
            c.close()


def closed_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def value(served: Served, name: str, **labels: str) -> float | None:
    for s in served.samples():
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return None


def test_nodes_find_the_peers_that_do_not_answer(kube_api: FakeKube, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"checks": {"node_pod_network": {
        "interval": "1s", "timeout": "1s", "refresh": "1s", "peers": 5}}}))  # fmt: skip
    kc = kube_api.kubeconfig(tmp_path / "kubeconfig")
    processes: list[Served] = []
    with silent_listener("127.0.0.5") as silent:
        try:
            for i in (1, 2, 3):
                processes.append(start(
                    ["--role", "node", "--host-root", str(tmp_path), "--config", str(config),
                     "--kubeconfig", str(kc)],
                    {"NODE_NAME": f"node-{i}", "POD_NAMESPACE": NS}, host=f"127.0.0.{i + 1}",
                ))  # fmt: skip
            # One slice per process (each picked its own port), as the controller would put
            # endpoints with different ports; plus the silent peer and a closed port.
            for i, served in enumerate(processes, 1):
                host, port = served.url.removeprefix("http://").rsplit(":", 1)
                kube_api.endpointslices.append(endpoint_slice(
                    f"{SERVICE}-{i}", NS, SERVICE, int(port), [(host, f"node-{i}")]))  # fmt: skip
            kube_api.endpointslices += [
                endpoint_slice(f"{SERVICE}-silent", NS, SERVICE, silent,
                               [("127.0.0.5", "node-silent")]),
                endpoint_slice(f"{SERVICE}-closed", NS, SERVICE, closed_port("127.0.0.6"),
                               [("127.0.0.6", "node-closed")]),
                # Neither probed: not ready, terminating.
                endpoint_slice(f"{SERVICE}-going", NS, SERVICE, 1,
                               [("127.0.0.7", "node-starting"), ("127.0.0.8", "node-going")],
                               not_ready=("127.0.0.7",), terminating=("127.0.0.8",)),
            ]  # fmt: skip
            for served in processes:
                served.wait_ready(30)
            for served in processes:
                until(lambda s=served: value(s, "gitpod_node_peer_unreachable",
                                             peer_node="node-closed") == 1,
                      15, "the closed peer confirmed unreachable")  # fmt: skip
                until(lambda s=served: value(s, "gitpod_node_peer_unreachable",
                                             peer_node="node-silent") == 1,
                      15, "the silent peer confirmed unreachable")  # fmt: skip
                status, _, page = served.get("/")
                assert status == 200
                assert "node-silent (timeout then timeout)" in page
                assert "node-closed (refused then refused)" in page
                assert value(served, "gitpod_requirement_satisfied",
                             requirement="node_pod_network") == 0  # fmt: skip
                assert value(served, "gitpod_node_peers") == 4  # two processes, two bad peers
                assert value(served, "gitpod_node_peer_probes_total", result="success") > 0
                assert value(served, "gitpod_node_peer_probes_total", result="timeout") > 0
                assert value(served, "gitpod_node_peer_probes_total", result="refused") > 0
                assert value(served, "gitpod_node_peer_rtt_seconds_count") > 0
                # Never itself, never the endpoints that are not ready or terminating.
                for other in ("node-starting", "node-going"):
                    assert value(served, "gitpod_node_peer_unreachable", peer_node=other) is None
            # The healthy peers answer each other: none of them is named.
            for served in processes:
                for i in (1, 2, 3):
                    assert value(served, "gitpod_node_peer_unreachable",
                                 peer_node=f"node-{i}") is None  # fmt: skip

            # The bad peers leave the Service: every node passes again.
            kube_api.endpointslices = [s for s in kube_api.endpointslices
                                       if s["metadata"]["name"][-1].isdigit()]  # fmt: skip
            for served in processes:
                until(lambda s=served: value(s, "gitpod_requirement_satisfied",
                                             requirement="node_pod_network") == 1,
                      15, "healthy once the bad peers are gone")  # fmt: skip
        finally:
            for served in processes:
                served.proc.terminate()
                served.proc.wait(10)


def _large_service(n: int, port: int = 18110) -> list[dict]:
    ends = [(f"127.1.{i // 250}.{i % 250 + 1}", f"node-{i:04d}") for i in range(n)]
    return [endpoint_slice(f"{SERVICE}-{j}", NS, SERVICE, port, ends[j: j + 100])
            for j in range(0, n, 100)]  # fmt: skip


def test_each_node_is_probed_by_k_others_a_round_and_all_in_turn() -> None:
    peers = peers_of(_large_service(500), NS).peers
    assert len(peers) == 500
    k = 3
    for round_no in (0, 1, 7):
        probed_by = collections.Counter()
        for me in (p.node for p in peers):
            chosen = choose(peers, me, k, round_no, [])
            assert len(chosen) == k and all(p.node != me for p in chosen)
            probed_by.update(chosen)
        assert set(probed_by.values()) == {k}  # every node by exactly k others
    # Over (n - 1) / k rounds one node has probed every other.
    seen = set()
    for round_no in range(-(-499 // k)):
        seen.update(choose(peers, "node-0042", k, round_no, []))
    assert len(seen) == 499
    # A peer that failed is probed again first, within the same budget.
    failed = [peers[100], peers[200], peers[300]]
    again = choose(peers, "node-0042", k, 5, failed)
    assert again[:2] == failed[:2] and len(again) == k


def test_a_large_service_costs_k_probes_and_constant_series(
    kube_api: FakeKube, tmp_path: Path, pool, monkeypatch
) -> None:
    """500 endpoints in five EndpointSlices, listed page by page, none answering (loopback
    addresses on a closed port): each run probes at most `peers`, and the series the check
    exports do not grow with the cluster or the rounds."""
    monkeypatch.setenv("POD_NAMESPACE", NS)
    kube_api.endpointslices = _large_service(500, closed_port("127.0.0.1"))
    monkeypatch.setattr(pod_network, "SLICES_PER_PAGE", 2)  # five slices: three pages
    kc = kube_api.kubeconfig(tmp_path / "kubeconfig")

    check = check_by_id("node_pod_network")
    settings = build(check.settings, {"timeout": "0.5s", "peers": 3}, "checks.x")
    ctx = CheckContext(settings, tmp_path, pool, "node-0042", NodeApi(pool, str(kc)))
    sizes = []
    for _ in range(4):
        (record,) = asyncio.run(run_job(Job(check, ctx)))
        sizes.append(len(record.result.samples))
        probes = sum(s.value for s in record.result.samples
                     if s.name == "gitpod_node_peer_probes_total")  # fmt: skip
    assert probes == 4 * 3
    assert len(set(sizes)) <= 2 and max(sizes) <= 5 + 1 + 1 + 3  # probes, rtt, peers, named
    # Listed in three pages, then once more before the first failures are named (a peer
    # that left is not named); the list is reused after (for `refresh`).
    assert kube_api.calls[f"/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices"] == 6
    assert record.result.status == "fail", record.result


def test_without_a_namespace_or_node_name_it_is_skipped(tmp_path: Path, pool, monkeypatch):
    monkeypatch.delenv("POD_NAMESPACE", raising=False)
    result = run_check("node_pod_network", tmp_path, pool, "node-1").result
    assert (result.status, result.reason) == ("skipped", "not_configured")
    assert "POD_NAMESPACE" in result.detail
    monkeypatch.setenv("POD_NAMESPACE", NS)
    result = run_check("node_pod_network", tmp_path, pool).result
    assert "NODE_NAME" in result.detail


@pytest.mark.parametrize("ready", [True, None])
def test_ready_unset_counts_as_ready(ready) -> None:
    sl = endpoint_slice("s", NS, SERVICE, 18110, [("10.0.0.1", "a")])
    sl["endpoints"][0]["conditions"] = {} if ready is None else {"ready": ready}
    assert peers_of([sl], NS).peers == [Peer("a", "10.0.0.1", 18110)]


# --- a living cluster: churn, hostile slices, a path that drops full-size packets -----------


class Peers:
    """Stand-in peers on 127.0.0.x: each answers the full-size probe (or cuts it short, or
    stops answering) and counts the connections it took."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.connections: collections.Counter[str] = collections.Counter()
        self.mode: dict[str, str] = {}
        self.servers: list[asyncio.base_events.Server] = []

    def add(self, host: str, port: int = 0, mode: str = "full") -> int:
        self.mode[host] = mode

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections[host] += 1
            with contextlib.suppress(OSError):
                await reader.readuntil(b"\r\n\r\n")
                how = self.mode[host]
                if how == "silent":
                    await asyncio.sleep(30)
                    return
                size = pod_network.PROBE_BYTES
                writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
                # "cut": what a path dropping full-size packets delivers: the first bytes only.
                writer.write(b"." * (size if how == "full" else 1200))
                await writer.drain()
                if how == "cut":
                    await asyncio.sleep(30)
            writer.close()

        async def start() -> int:
            server = await asyncio.start_server(handle, host, port)
            self.servers.append(server)
            return int(server.sockets[0].getsockname()[1])

        return asyncio.run_coroutine_threadsafe(start(), self.loop).result(5)

    def close(self) -> None:
        async def stop() -> None:
            for server in self.servers:
                server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def stand_ins() -> Iterator[Peers]:
    peers = Peers()
    try:
        yield peers
    finally:
        peers.close()


def _rounds(kube_api: FakeKube, tmp_path: Path, pool, monkeypatch, n: int, between=None,
            **settings):  # fmt: skip
    """n runs of node_pod_network on node-0 (one context: its state carries over), calling
    between(i) after each; the last Result."""
    monkeypatch.setenv("POD_NAMESPACE", NS)
    kc = kube_api.kubeconfig(tmp_path / "kubeconfig")
    check = check_by_id("node_pod_network")
    values = {"timeout": "1s", "interval": "1s", "peers": 3, **settings}
    ctx = CheckContext(build(check.settings, values, "checks.x"), tmp_path, pool, "node-0",
                       NodeApi(pool, str(kc)))  # fmt: skip
    result = None
    for i in range(n):
        (record,) = asyncio.run(run_job(Job(check, ctx)))
        result = record.result
        if between:
            between(i)
    return result


def test_hostile_slices_are_never_dialled(kube_api, stand_ins, tmp_path, pool, monkeypatch):
    good = stand_ins.add("127.0.0.2")
    bad = {h: stand_ins.add(h, good) for h in ("127.0.0.3", "127.0.0.4", "127.0.0.5",
                                                "127.0.0.6", "127.0.0.7")}  # fmt: skip
    ours = endpoint_slice("a", NS, SERVICE, good, [("127.0.0.2", "node-1")])
    other_controller = endpoint_slice("b", NS, SERVICE, good, [("127.0.0.3", "node-3")])
    other_controller["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] = "me"
    unmanaged = endpoint_slice("c", NS, SERVICE, good, [("127.0.0.4", "node-4")])
    del unmanaged["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"]
    fqdn = endpoint_slice("d", NS, SERVICE, good, [("localhost", "node-5")])
    fqdn["addressType"] = "FQDN"
    no_ref = endpoint_slice("e", NS, SERVICE, good, [("127.0.0.5", "node-6")])
    del no_ref["endpoints"][0]["targetRef"]
    elsewhere = endpoint_slice("f", NS, SERVICE, good, [("127.0.0.6", "node-7")])
    elsewhere["endpoints"][0]["targetRef"]["namespace"] = "kube-system"
    node_ref = endpoint_slice("g", NS, SERVICE, good, [("127.0.0.7", "node-8")])
    node_ref["endpoints"][0]["targetRef"] = {"kind": "Node", "name": "node-8"}
    kube_api.endpointslices = [ours, other_controller, unmanaged, fqdn, no_ref, elsewhere,
                               node_ref]  # fmt: skip
    result = _rounds(kube_api, tmp_path, pool, monkeypatch, 3)
    assert result.status == "pass", result
    assert stand_ins.connections["127.0.0.2"] == 3
    assert all(stand_ins.connections[h] == 0 for h in bad), stand_ins.connections
    for said in ("2 endpoint(s) ignored: not written by the EndpointSlice controller",
                 "1 endpoint(s) ignored: not IP addresses",
                 f"3 endpoint(s) ignored: not a Pod in {NS}"):  # fmt: skip
        assert said in result.detail, result.detail


@pytest.mark.integration  # waits out probe timeouts on purpose
def test_peers_that_leave_are_never_named_and_one_that_stays_silent_is(
    kube_api, stand_ins, tmp_path, pool, monkeypatch
) -> None:
    ports = {h: stand_ins.add(h) for h in ("127.0.0.2", "127.0.0.3", "127.0.0.4")}
    port = ports["127.0.0.2"]
    for h in ports:
        stand_ins.mode[h] = "full"
    # Every stand-in listens on its own port; the slice names one port, so give all the same.
    stand_ins.add("127.0.0.5", port)
    stand_ins.add("127.0.0.6", port)
    ends = [("127.0.0.5", "node-1"), ("127.0.0.6", "node-2")]
    kube_api.endpointslices = [endpoint_slice("a", NS, SERVICE, port, ends)]

    def churn(i: int) -> None:
        if i == 0:  # node-1's exporter is rolled out: terminating, then gone; its pod stops
            stand_ins.mode["127.0.0.5"] = "silent"
            kube_api.endpointslices = [endpoint_slice("a", NS, SERVICE, port, ends,
                                                      terminating=("127.0.0.5",))]  # fmt: skip
        if i == 1:  # replaced on a new node, and node-2 scaled away
            stand_ins.mode["127.0.0.6"] = "silent"
            stand_ins.add("127.0.0.8", port)
            kube_api.endpointslices = [endpoint_slice("a", NS, SERVICE, port,
                                                      [("127.0.0.8", "node-9")])]  # fmt: skip

    result = _rounds(kube_api, tmp_path, pool, monkeypatch, 5, churn, refresh="1h")
    assert result.status == "pass", result
    assert "node-1" not in result.detail and "node-2" not in result.detail
    # The replacement stops answering while still listed: named.
    stand_ins.mode["127.0.0.8"] = "silent"
    (tmp_path / "b").mkdir()
    result = _rounds(kube_api, tmp_path / "b", pool, monkeypatch, 3, refresh="1h")
    assert (result.status, result.reason) == ("fail", "connect"), result
    assert "on node-9 (timeout then timeout)" in result.detail
    gauges = [s for s in result.samples if s.name == "gitpod_node_peer_unreachable"]
    assert [dict(s.labels)["peer_node"] for s in gauges] == ["node-9"]


@pytest.mark.integration  # waits out probe timeouts on purpose
def test_a_path_that_drops_full_size_packets_fails(kube_api, stand_ins, tmp_path, pool,
                                                     monkeypatch) -> None:  # fmt: skip
    port = stand_ins.add("127.0.0.2", mode="cut")
    kube_api.endpointslices = [endpoint_slice("a", NS, SERVICE, port, [("127.0.0.2", "node-1")])]
    result = _rounds(kube_api, tmp_path, pool, monkeypatch, 2)
    assert (result.status, result.reason) == ("fail", "connect"), result
    assert "(truncated then truncated)" in result.detail
    assert "an MTU mismatch between nodes" in result.detail
    probes = {dict(s.labels)["result"]: s.value for s in result.samples
              if s.name == "gitpod_node_peer_probes_total"}  # fmt: skip
    assert probes["truncated"] == 2


@pytest.mark.parametrize("n", [10, 11])
def test_with_one_slot_a_dead_peer_does_not_stop_the_rotation(n: int) -> None:
    peers = peers_of(_large_service(n), NS).peers
    dead = peers[5]
    chosen = [choose(peers, "node-0000", 1, round_no, [dead]) for round_no in range(2 * n)]
    assert all(len(c) == 1 for c in chosen)
    assert [c[0] for c in chosen[::2]] == [dead] * n  # re-probed every other round
    rotated = {c[0] for c in chosen[1::2]}
    assert rotated == set(peers[1:])  # and every other peer in turn between
