"""serve --node-condition end to end: the node role on a host tree, its Node in the suite's
fake API. A critical requirement broken on the host while serving turns the condition False
within a few rounds with one Warning Event; restored, True with one Normal Event; without the
flag nothing is written at all."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.exporter import start
from tests.helpers.poll import until
from tests.hosts import Node
from tests.servers.kube_fake import FakeKube, node

NODE = "meta-node-1"
# What a host tree cannot run (containerd) is left out; every other check runs each second.
CONFIG = {"defaults": {"interval": "1s", "timeout": "1s"},
          "checks": {"node_containerd": {"enabled": False}}}  # fmt: skip


def _serve(kube_api: FakeKube, tmp_path: Path, *flags: str):
    kube_api.nodes[NODE] = node(NODE, {"gitpod.io/workload_meta": "true"})
    root = Node().build(tmp_path / "host")
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(CONFIG))
    env = {"NODE_NAME": NODE, "KUBECONFIG": str(kube_api.kubeconfig(tmp_path / "kc"))}
    served = start(["--role", "node", "--host-root", str(root), "--config", str(cfg), *flags],
                   env)  # fmt: skip
    return served, root


def _condition(kube_api: FakeKube) -> dict:
    conditions = kube_api.nodes[NODE].get("status", {}).get("conditions", [])
    return next((c for c in conditions if c["type"] == "GitpodRequirementsMet"), {})


def _events(kube_api: FakeKube, kind: str) -> list[dict]:
    return [e for e in kube_api.events if e["type"] == kind
            and e["source"]["component"] == "gitpod-requirements-exporter"]  # fmt: skip


def test_the_condition_follows_the_host_while_serving(kube_api: FakeKube, tmp_path: Path):
    served, root = _serve(kube_api, tmp_path, "--node-condition",
                          "--node-condition-heartbeat", "1h")  # fmt: skip
    try:
        until(lambda: _condition(kube_api).get("status") == "True", 15, "condition True")
        assert _condition(kube_api)["reason"] == "RequirementsMet"
        (root / "proc/sys/kernel/osrelease").write_text("4.19.0-26-cloud-amd64\n")
        until(lambda: _condition(kube_api).get("status") == "False", 10, "condition False")
        c = _condition(kube_api)
        assert c["reason"] == "NodeKernel" and "node_kernel: below_minimum" in c["message"]
        until(lambda: len(_events(kube_api, "Warning")) == 1, 5, "one Warning Event")
        (root / "proc/sys/kernel/osrelease").write_text("5.15.0-1051-gke\n")
        until(lambda: _condition(kube_api).get("status") == "True", 10, "condition True again")
        until(lambda: len(_events(kube_api, "Normal")) == 2, 5, "a Normal Event")
        assert len(_events(kube_api, "Warning")) == 1
        samples = {(s.name, s.labels.get("result")): s.value for s in served.samples()
                   if s.name.startswith("gitpod_node_condition_updates")}  # fmt: skip
        assert samples[("gitpod_node_condition_updates_total", "ok")] >= 6
        assert samples[("gitpod_node_condition_updates_total", "error")] == 0
    finally:
        served.proc.terminate()
        served.proc.wait(10)


def test_without_the_flag_nothing_is_written(kube_api: FakeKube, tmp_path: Path) -> None:
    served, _ = _serve(kube_api, tmp_path)
    try:
        served.wait_ready()
        assert "gitpod_node_condition_updates_total" not in served.get("/metrics")[2]
    finally:
        served.proc.terminate()
        served.proc.wait(10)
    assert kube_api.status_patches == [] and kube_api.events == []
    # No write of any kind: of the node's paths only reads were made.
    assert kube_api.calls[f"/api/v1/nodes/{NODE}/status"] == 0
