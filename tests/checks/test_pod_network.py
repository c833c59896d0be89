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
    peers = peers_of(_large_service(500))
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
    assert len(set(sizes)) <= 2 and max(sizes) <= 4 + 1 + 1 + 3  # probes, rtt, peers, named
    # Listed once (the list is reused for `refresh`), in three pages.
    assert kube_api.calls[f"/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices"] == 3
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
    assert peers_of([sl]) == [Peer("a", "10.0.0.1", 18110)]
