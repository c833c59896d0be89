"""An API server whose answers never end, or dribble: both roles read a bounded answer within
the check's timeout and report it, and their memory is not what the server decides."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from exporter.cli import main
from tests.conftest import run_check
from tests.helpers.process import peak_rss_mib
from tests.hosts import Node
from tests.servers.kube_fake import FakeKube, Fault, node
from tests.servers.realistic_nodes import realistic_node


@pytest.mark.parametrize(
    ("fault", "reason", "said"),
    [
        (Fault(dribble=0), "protocol", "over 4 MiB: refused"),  # endless, as fast as it goes
        # A byte at a time: the read ends at its deadline, the check's own timeout as well.
        (Fault(dribble=0.05), "timeout", "within"),
    ],
    ids=["endless", "dribbled"],
)
def test_the_node_roles_own_get(tmp_path: Path, pool, kube_api: FakeKube, fault, reason, said):
    kube_api.nodes["n1"] = node("n1", {"gitpod.io/workload_meta": "true"})
    kube_api.faults["/api/v1/nodes/n1"] = fault
    kc = kube_api.kubeconfig(tmp_path / "kubeconfig")
    before, started = peak_rss_mib(), time.monotonic()
    result = run_check("node_labels", Node().build(tmp_path / "h"), pool, "n1", str(kc),
                       timeout=2.0, interval=60.0).result  # fmt: skip
    assert (result.status, result.reason) == ("error", reason), result
    assert said in result.detail
    assert time.monotonic() - started < 4
    assert peak_rss_mib() - before < 64


@pytest.mark.parametrize(
    ("fault", "reason"),
    [(Fault(dribble=0), "protocol"), (Fault(dribble=0.05), "timeout")],
    ids=["endless", "dribbled"],
)
def test_the_cluster_roles_get(kube_api: FakeKube, tmp_path: Path, capsys, fault, reason):
    kube_api.faults["/version"] = fault
    kc = kube_api.kubeconfig(tmp_path / "kc")
    cfg = tmp_path / "config.yaml"
    cfg.write_text("checks:\n  cluster_kubernetes_version:\n    timeout: 3s\n")
    before, started = peak_rss_mib(), time.monotonic()
    main(["check", "--role", "cluster", "--kubeconfig", str(kc), "--config", str(cfg),
          "--output", "json", "--only", "cluster_kubernetes_version"])  # fmt: skip
    (result,) = json.loads(capsys.readouterr().out)["results"]
    assert (result["status"], result["reason"]) == ("error", reason), result
    assert time.monotonic() - started < 6
    assert peak_rss_mib() - before < 128


def _nodes_runtime(kube_api: FakeKube, tmp_path: Path, capsys, page_size: int) -> dict:
    kc = kube_api.kubeconfig(tmp_path / "kc")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"kubernetes:\n  page_size: {page_size}\n"
                   "checks:\n  cluster_nodes_runtime:\n    timeout: 20s\n")  # fmt: skip
    main(["check", "--role", "cluster", "--kubeconfig", str(kc), "--config", str(cfg),
          "--output", "json", "--only", "cluster_nodes_runtime"])  # fmt: skip
    (result,) = json.loads(capsys.readouterr().out)["results"]
    return result


def test_a_full_page_of_realistic_nodes_is_read(kube_api: FakeKube, tmp_path: Path, capsys):
    """The default page (2,000 Nodes of about 16 KiB each, 32 MiB) is larger than the 16 MiB
    bound of other answers: a list page is bounded by what it asked for."""
    for i in range(2000):
        kube_api.put_node(realistic_node(i))
    kube_api.cache_node_json = True
    result = _nodes_runtime(kube_api, tmp_path, capsys, 2000)
    assert result["status"] == "pass", (result["reason"], result["detail"])
    assert kube_api.calls["/api/v1/nodes"] == 1


def test_a_list_that_ignores_limit_is_refused(kube_api: FakeKube, tmp_path: Path, capsys):
    for i in range(1200):  # 19 MiB in one page, where 500 were asked for (16 MiB allowed)
        kube_api.put_node(realistic_node(i))
    kube_api.cache_node_json = True
    kube_api.ignore_limit = True
    before = peak_rss_mib()
    result = _nodes_runtime(kube_api, tmp_path, capsys, 500)
    assert (result["status"], result["reason"]) == ("error", "protocol"), result
    assert "over 16 MiB: refused" in result["detail"]
    assert peak_rss_mib() - before < 64
