"""Nodes sized by the role Gitpod's labels give them (KOTS' thresholds; 4 vCPU / 16 GB stays
the floor where workspaces run), in the node role and in cluster_nodes_runtime."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from exporter.cli import main
from exporter.compat import load as load_matrix
from exporter.config import Config
from exporter.exposition import make_registry
from exporter.runtime import Loaded, Options, build
from exporter.scheduler import run_job
from exporter.store import Store
from tests import clusters
from tests.hosts import Node
from tests.servers.kube_fake import FakeKube, node

META = {"gitpod.io/workload_meta": "true"}
IDE = {"gitpod.io/workload_ide": "true"}
WORKSPACE = {"gitpod.io/workload_workspace_regular": "true"}
SIZES = ("node_cpu", "node_cpu_recommended", "node_memory", "node_memory_recommended")
PASS, LOW = ("pass", ""), ("fail", "below_minimum")
GB8_KIB, GB4_KIB = 8_136_000, 4_000_000  # MemTotal of an 8 GB and a 4 GB VM


@pytest.mark.parametrize(
    ("labels", "mem_kib", "expected"),
    [
        (META, GB8_KIB, (PASS, LOW, PASS, LOW)),  # meta: 2 vCPU and 8 GB pass, 4/16 warn
        (IDE, GB4_KIB, (PASS, PASS, PASS, PASS)),  # IDE: 2 vCPU and 4 GB are enough
        (WORKSPACE, GB8_KIB, (LOW, LOW, LOW, LOW)),  # workspaces: 4 vCPU, 16 GB
        ({**META, **WORKSPACE}, GB8_KIB, (LOW, LOW, LOW, LOW)),  # the strictest role wins
    ],
)
def test_node_role_sizes_by_role(
    labels, mem_kib, expected, kube_api: FakeKube, tmp_path: Path, capsys, monkeypatch
) -> None:
    kube_api.nodes["n1"] = node("n1", labels)
    monkeypatch.setenv("NODE_NAME", "n1")
    monkeypatch.setenv("KUBECONFIG", str(kube_api.kubeconfig(tmp_path / "kc")))
    root = Node(cpus=2, mem_kib=mem_kib).build(tmp_path / "host")
    main(["check", "--role", "node", "--host-root", str(root), "--output", "json"])
    got = {
        r["requirement"]: (r["status"], r["reason"])
        for r in json.loads(capsys.readouterr().out)["results"]
    }
    assert tuple(got[s] for s in SIZES) == expected
    # One GET of the node for node_labels, node_cpu and node_memory together.
    assert kube_api.calls["/api/v1/nodes/n1"] == 1


def test_an_unlabelled_node_is_not_judged_but_reports_its_size(
    kube_api: FakeKube, tmp_path: Path
) -> None:
    kube_api.nodes["system-1"] = node("system-1", {})
    kc = kube_api.kubeconfig(tmp_path / "kc")
    root = Node(cpus=2, mem_kib=GB8_KIB).build(tmp_path / "host")
    config = Config(node_name="system-1")

    async def one_round() -> str:
        with ThreadPoolExecutor(2) as pool:
            jobs = [
                j
                for j in build(
                    Options("node", root, str(kc)), Loaded(config, load_matrix()), pool
                ).jobs
                if j.check.id in ("node_cpu", "node_memory")
            ]
            store = Store([r for j in jobs for r in j.requirements])
            for job in jobs:
                for record in await run_job(job):
                    store.put(record)
            return generate_latest(make_registry(store, "system-1")).decode()

    text = asyncio.run(one_round())
    for req in SIZES:
        assert (
            f'gitpod_requirement_reason_info{{node="system-1",reason="not_gitpod_node",'
            f'requirement="{req}"}} 1.0'
        ) in text
        assert f'gitpod_requirement_satisfied{{node="system-1",requirement="{req}"' not in text
    assert 'gitpod_node_cpus{node="system-1"} 2.0' in text
    assert text.count("gitpod_node_memory_bytes{") == 1  # shared by two requirements, once


def test_without_its_labels_a_node_is_judged_by_the_floor(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.delenv("NODE_NAME", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    root = Node(cpus=2, mem_kib=GB8_KIB).build(tmp_path / "host")
    main(["check", "--role", "node", "--host-root", str(root), "--output", "json"])
    cpu = next(
        r for r in json.loads(capsys.readouterr().out)["results"] if r["requirement"] == "node_cpu"
    )
    assert (cpu["status"], cpu["reason"]) == LOW
    assert (
        cpu["detail"]
        == "2 vCPU: a node of unknown Gitpod role (NODE_NAME is not set) needs at least 4 vCPU"
    )


def test_cluster_nodes_runtime_sizes_by_role(kube_api: FakeKube, tmp_path: Path, capsys) -> None:
    clusters.components(kube_api)
    for name, labels, cpu, memory in (
        ("meta-small", META, "2", f"{GB8_KIB}Ki"),
        ("ide-small", IDE, "2", f"{GB4_KIB}Ki"),
        ("system", {}, "2", f"{GB4_KIB}Ki"),  # no Gitpod label: not judged
    ):
        kube_api.nodes[name] = node(name, labels, cpu=cpu, memory=memory)
    kc = kube_api.kubeconfig(tmp_path / "kc")

    def verdicts() -> dict:
        main(["check", "--role", "cluster", "--kubeconfig", str(kc), "--output", "json"])
        results = json.loads(capsys.readouterr().out)["results"]
        return {
            r["requirement"]: r for r in results if r["requirement"].startswith("cluster_nodes")
        }

    got = verdicts()
    assert got["cluster_nodes_runtime"]["status"] == "pass"
    low = got["cluster_nodes_runtime_recommended"]
    assert (low["status"], low["reason"]) == LOW
    assert "cpu below the recommended: meta-small" in low["detail"]
    assert "ide-small" not in low["detail"]
    kube_api.nodes["ws-small"] = node("ws-small", WORKSPACE, cpu="2")
    got = verdicts()
    assert (got["cluster_nodes_runtime"]["status"], got["cluster_nodes_runtime"]["reason"]) == (
        "fail",
        "unsupported",
    )
    assert "cpu: ws-small" in got["cluster_nodes_runtime"]["detail"]
