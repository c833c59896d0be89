"""EndpointSlices by the hundred megabytes: anyone allowed to write EndpointSlices in the
node role's namespace can add them to its Service. The peer list is folded page by page and
stops at MAX_ENDPOINTS, so the node role's memory is a page's, not the list's (157 MB of slices
took it to 805 MiB, 771 MiB kept for the refresh period)."""

from __future__ import annotations

from pathlib import Path

from exporter.checks.node.pod_network import MAX_ENDPOINTS, SLICES_PER_PAGE
from tests.faults.test_hostile_memory import LIMIT_MIB, measured
from tests.servers.kube_fake import FakeKube, endpoint_slice, node

NS = "gitpod-requirements"
SERVICE = "gitpod-requirements-node"


def test_a_service_of_half_a_million_endpoints(tmp_path: Path, kube_api: FakeKube) -> None:
    kube_api.nodes["n1"] = node("n1", {"gitpod.io/workload_workspace_regular": "true"})
    # 540,000 endpoints in slices of 100 as the controller writes them: 5,400 slices, 157 MB.
    ends = [(f"127.9.{i // 250}.{i % 250 + 1}", f"node-{i:06d}") for i in range(100)]
    template = endpoint_slice(f"{SERVICE}-0", NS, SERVICE, 9, ends)
    for j in range(5_400):
        kube_api.endpointslices.append(
            {**template, "metadata": {**template["metadata"], "name": f"{SERVICE}-{j}"}}
        )
    kc = kube_api.kubeconfig(tmp_path / "kc")
    cfg = tmp_path / "config.yaml"
    cfg.write_text("checks:\n  node_pod_network:\n    timeout: 20s\n")
    root = tmp_path / "host"
    root.mkdir()
    args = ["--role", "node", "--config", str(cfg), "--kubeconfig", str(kc),
            "--host-root", str(root), "--only", "node_pod_network"]  # fmt: skip
    results, peak, took = measured(args, {"NODE_NAME": "n1", "POD_NAMESPACE": NS})
    pages = kube_api.calls[f"/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices"]
    print(f"\n540,000 endpoints: {pages} pages read, peak {peak:.0f} MiB in {took:.1f} s")
    detail = results["node_pod_network"]["detail"]
    assert f"read up to {MAX_ENDPOINTS} endpoints" in detail, detail
    assert pages == MAX_ENDPOINTS // (100 * SLICES_PER_PAGE)
    assert peak < LIMIT_MIB["node"] * 0.5
