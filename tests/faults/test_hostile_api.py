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


def test_refused_pages_leave_nothing_behind(kube_api: FakeKube, tmp_path: Path) -> None:
    """A server that ignores `limit`, its node page 72 MB where 2,000 Nodes (62.5 MiB) were
    asked for: each LIST is refused at that bound. Retried by the watch and by every check of
    every round, the refused bytes stayed in the process (cyclic garbage, and an allocator
    arena per pool thread): 946 MiB of its 512 MiB limit within a minute. Now a failed LIST is
    shared for the ttl and what a refusal read is given back."""
    from tests.helpers.exporter import start

    for i in range(4_500):
        kube_api.put_node(realistic_node(i))
    kube_api.cache_node_json = True
    kube_api.ignore_limit = True
    kc = kube_api.kubeconfig(tmp_path / "kc")
    cfg = tmp_path / "config.yaml"
    every = "{interval: 2s, timeout: 2s}"
    checks = ("cluster_node_label", "cluster_nodes_runtime", "cluster_node_pools",
              "cluster_kubernetes_version")  # fmt: skip
    cfg.write_text("checks:\n" + "".join(f"  {c}: {every}\n" for c in checks))
    served = start(["--role", "cluster", "--config", str(cfg), "--kubeconfig", str(kc)])
    try:
        served.wait_ready(30)
        time.sleep(20)
        status = Path(f"/proc/{served.proc.pid}/status").read_text()
    finally:
        served.proc.terminate()
        served.proc.wait(10)
    lines = [ln.split(":", 1) for ln in status.splitlines() if ln.startswith(("VmHWM", "VmRSS"))]
    mib = {k: int(v.split()[0]) >> 10 for k, v in lines}
    lists = kube_api.calls["/api/v1/nodes"]
    print(
        f"\nrefused 72 MB node pages for 20 s: {lists} LISTs, peak {mib['VmHWM']} MiB, "
        f"resident at the end {mib['VmRSS']} MiB"
    )
    # One page's bound at a time, and given back: resident near the idle role's ~65 MiB.
    assert mib["VmHWM"] < 256, mib
    assert mib["VmRSS"] < 128, mib
    # The watch backs off; the checks share one failed LIST per ttl (15 s): 4 checks every
    # 2 s for 20 s made 40 before.
    assert lists <= 12, lists
