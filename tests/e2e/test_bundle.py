"""`bundle` against the suite's fake API with Gitpod installed and node-role processes on
127.0.0.x (one stopped): every file there, each node's report or why not, and none of the
secrets planted everywhere support could meet them (a literal env value and an argument of a
Gitpod pod, inline credentials in the installer config, a bearer token and a Secret's value in
event messages, the Secrets' values), raw or base64; no Secret listed."""

from __future__ import annotations

import base64
import datetime
import json
import tarfile
from pathlib import Path

from exporter.cli import main
from tests import clusters, gitpod_install
from tests.helpers.exporter import start
from tests.hosts import Node
from tests.servers.kube_fake import FakeKube, endpoint_slice, obj

NODE_NS, SERVICE = "gitpod-requirements", "gitpod-requirements-node"
DB_PASSWORD = "Db-Secret-7f3a91"
PLANTED = {
    "env": "Env-Literal-5c2e8d",
    "arg": "Arg-Secret-9b1d44",
    "inline_password": "Inline-Pw-31e7aa",
    "inline_token": "Inline-Token-88c2f0",
    "jwt": "Jwt-Secret-4d9e2b",
    "bearer": "eyJhbGciOiJSUzI1NiJ9.bearer-token-body",
    "db": DB_PASSWORD,
}


def _now(minutes_ago: float = 0) -> str:
    when = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=minutes_ago)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _install(kube_api: FakeKube) -> None:
    clusters.aks(kube_api)
    doc = gitpod_install.config(
        database={"inCluster": False, "external": {"certificate": gitpod_install.ref("mysql")},
                  "password": PLANTED["inline_password"]},
        experimental={"webapp": {"token": PLANTED["inline_token"],
                                 "server": {"jwtSecret": PLANTED["jwt"]}}},
    )  # fmt: skip
    gitpod_install.install(kube_api, doc, {"mysql": {"host": "db.internal", "port": "3306",
                                                      "username": "gitpod",
                                                      "password": DB_PASSWORD}})  # fmt: skip
    pod = obj("Pod", "v1", "server-7f9c", "gitpod",
              metadata={"labels": {"app": "gitpod", "component": "server"}},
              spec={"nodeName": "aks-services-1", "containers": [{
                  "name": "server", "image": "eu.gcr.io/gitpod/server",
                  "args": [f"--password={PLANTED['arg']}"],
                  "env": [{"name": "SESSION_SECRET", "value": PLANTED["env"]}]}]},
              status={"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                      "containerStatuses": [{"name": "server", "ready": True, "restartCount": 2,
                                             "state": {"running": {}}}]})  # fmt: skip
    kube_api.pods.append(pod)
    for n, (message, age) in enumerate([
        (f"Failed to pull: Authorization: Bearer {PLANTED['bearer']}", 5),
        (f"connect failed for gitpod:{DB_PASSWORD}@db", 10),
        ("an old event, out of the window", 180),
    ]):  # fmt: skip
        kube_api.events.append(obj("Event", "v1", f"ev-{n}", "gitpod", type="Warning",
                                   reason="Failed", message=message, count=1,
                                   involvedObject={"kind": "Pod", "name": "server-7f9c"},
                                   lastTimestamp=_now(age)))  # fmt: skip


def test_a_bundle_has_everything_but_the_secrets(kube_api: FakeKube, tmp_path: Path) -> None:
    _install(kube_api)
    nodes, slices = [], []
    for i, host in enumerate(("127.0.0.2", "127.0.0.3", "127.0.0.4")):
        root = Node().build(tmp_path / f"host{i}")
        served = start(["--role", "node", "--host-root", str(root)],
                       {"NODE_NAME": f"node-{i}", "KUBECONFIG": ""}, host=host)  # fmt: skip
        nodes.append(served)
        port = int(served.url.rsplit(":", 1)[1])
        slices.append(endpoint_slice(f"s{i}", NODE_NS, SERVICE, port, [(host, f"node-{i}")]))
    kube_api.endpointslices = slices
    try:
        for served in nodes:
            served.wait_ready()
        nodes[2].proc.terminate()
        nodes[2].proc.wait(10)
        out = tmp_path / "bundle.tar.gz"
        kc = kube_api.kubeconfig(tmp_path / "kc")
        rc = main(["bundle", "--kubeconfig", str(kc), "--output", str(out)])
    finally:
        for served in nodes[:2]:
            served.proc.terminate()
            served.proc.wait(10)
    assert rc == 0
    with tarfile.open(out) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    assert set(files) == {"cluster/report.json", "gitpod/config.yaml", "gitpod/pods.json",
                          "gitpod/events.json", "versions.json", "nodes/node-0.json",
                          "nodes/node-1.json", "nodes/node-2.error.txt"}  # fmt: skip
    assert json.loads(files["nodes/node-0.json"])["role"] == "node"
    assert json.loads(files["cluster/report.json"])["role"] == "cluster"
    assert "127.0.0.4" in files["nodes/node-2.error.txt"].decode()
    pods = json.loads(files["gitpod/pods.json"])
    server = next(p for p in pods if p["name"] == "server-7f9c")
    assert server["containers"][0]["restartCount"] == 2 and server["node"] == "aks-services-1"
    events = json.loads(files["gitpod/events.json"])
    assert len(events) == 2 and "Bearer <redacted>" in events[0]["message"]
    config = files["gitpod/config.yaml"].decode()
    assert "password: <redacted>" in config and "jwtSecret: <redacted>" in config
    assert "domain: gitpod.test" in config
    assert json.loads(files["versions.json"])["kubernetes"]["gitVersion"]
    everything = b"\n".join(files.values())
    for name, value in PLANTED.items():
        for form in (value, base64.b64encode(value.encode()).decode()):
            assert form.encode() not in everything, f"{name} ({form}) is in the bundle"
    assert kube_api.calls["/api/v1/namespaces/gitpod/secrets"] == 0  # never a list
