"""cluster_workspace_daemons against the fake API: a workspace node without ws-daemon's or
registry-facade's ready label takes no workspace, and the report says why its pod is not Ready
(the scheduler's message, a failed hostPath type check from the events, a crash loop)."""

from __future__ import annotations

import copy
import datetime
import json
from pathlib import Path

import yaml

from exporter.cli import main
from tests import clusters
from tests.helpers.exporter import start
from tests.helpers.poll import until
from tests.servers.kube_fake import FakeKube, Fault, obj

REQ = "cluster_workspace_daemons"
WS_LABEL = "gitpod.io/ws-daemon_ready_ns_gitpod"
RF_LABEL = "gitpod.io/registry-facade_ready_ns_gitpod"
REGULAR = "aks-regular-12345678-vmss000000"
HEADLESS = "aks-headless-12345678-vmss000000"


def judge(fake: FakeKube, tmp_path: Path, capsys, settings: dict | None = None) -> dict:
    kc = fake.kubeconfig(tmp_path / "kubeconfig")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"kubernetes": {"namespace": "gitpod"},
                                   "checks": {REQ: settings or {}}}))  # fmt: skip
    main(["check", "--role", "cluster", "--kubeconfig", str(kc), "--config", str(cfg),
          "--output", "json", "--only", REQ])  # fmt: skip
    (result,) = json.loads(capsys.readouterr().out)["results"]
    return result


def installed(fake: FakeKube) -> FakeKube:
    clusters.aks(fake)
    clusters.components(fake)
    clusters.gitpod_daemons(fake)
    return fake


def test_every_workspace_node_ready_passes(kube_api: FakeKube, tmp_path: Path, capsys) -> None:
    result = judge(installed(kube_api), tmp_path, capsys)
    assert (result["status"], result["observed"]) == ("pass", "2/2 workspace nodes ready"), result
    assert "ws-daemon: 2/2 pods ready" in result["detail"]
    # A healthy cluster costs two GETs: no pod or event is listed.
    assert kube_api.calls["/api/v1/namespaces/gitpod/pods"] == 0


def test_before_install_it_is_skipped(kube_api: FakeKube, tmp_path: Path, capsys) -> None:
    clusters.aks(kube_api)
    result = judge(kube_api, tmp_path, capsys)
    assert (result["status"], result["reason"]) == ("skipped", "not_installed"), result


def test_one_daemonset_missing_fails_naming_it(kube_api: FakeKube, tmp_path: Path, capsys):
    del installed(kube_api).daemonsets["gitpod/registry-facade"]
    result = judge(kube_api, tmp_path, capsys)
    assert (result["status"], result["reason"]) == ("fail", "missing"), result
    assert "DaemonSet registry-facade is missing in gitpod" in result["detail"]


def test_a_pod_pending_on_a_host_port_is_named(kube_api: FakeKube, tmp_path: Path, capsys):
    installed(kube_api)
    del kube_api.nodes[REGULAR]["metadata"]["labels"][WS_LABEL]
    message = ("0/3 nodes are available: 1 node(s) didn't have free ports for the requested "
               "pod ports, 2 node(s) didn't match Pod's node affinity/selector.")  # fmt: skip
    pending = {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "message": message}]}  # fmt: skip
    kube_api.pods = [p for p in kube_api.pods
                     if not (p["spec"].get("nodeName") == REGULAR
                             and p["metadata"]["labels"]["component"] == "ws-daemon")]  # fmt: skip
    kube_api.pods.append(clusters.daemon_pod("ws-daemon", REGULAR, status=pending, pending=True))
    result = judge(kube_api, tmp_path, capsys)
    assert (result["status"], result["reason"]) == ("fail", "not_ready"), result
    assert result["observed"] == "1/2 workspace nodes ready"
    assert (
        f"1 without a Ready ws-daemon ({WS_LABEL}): {REGULAR} (pod ws-daemon-00000: Pending: 0/3"
    ) in result["detail"]
    assert "didn't have free ports" in result["detail"]


def test_a_crash_loop_says_how_the_container_last_ended(kube_api, tmp_path: Path, capsys):
    installed(kube_api)
    del kube_api.nodes[HEADLESS]["metadata"]["labels"][RF_LABEL]
    pod = next(p for p in kube_api.pods if p["spec"].get("nodeName") == HEADLESS
               and p["metadata"]["labels"]["component"] == "registry-facade")  # fmt: skip
    pod["status"] = {"phase": "Running", "containerStatuses": [{
        "name": "registry-facade", "ready": False, "restartCount": 7,
        "state": {"waiting": {"reason": "CrashLoopBackOff",
                              "message": "back-off 5m0s restarting failed container"}},
        "lastState": {"terminated": {"reason": "Error", "exitCode": 1}}}]}  # fmt: skip
    result = judge(kube_api, tmp_path, capsys)
    assert (result["status"], result["reason"]) == ("fail", "not_ready"), result
    assert (f"{HEADLESS} (pod registry-facade-00000: container registry-facade CrashLoopBackOff "
            "(last ended: Error, exit code 1)") in result["detail"]  # fmt: skip


def test_a_failed_host_path_check_comes_from_the_events(kube_api, tmp_path: Path, capsys):
    installed(kube_api)
    del kube_api.nodes[REGULAR]["metadata"]["labels"][WS_LABEL]
    pod = next(p for p in kube_api.pods if p["spec"].get("nodeName") == REGULAR
               and p["metadata"]["labels"]["component"] == "ws-daemon")  # fmt: skip
    pod["status"] = {"phase": "Pending", "containerStatuses": [{
        "name": "ws-daemon", "ready": False,
        "state": {"waiting": {"reason": "ContainerCreating"}}}]}  # fmt: skip
    failed = ("MountVolume.SetUp failed for volume \"containerd-runtime\" : hostPath type check "
              "failed: /var/lib/containerd/io.containerd.runtime.v2.task/k8s.io is not a "
              "directory")  # fmt: skip
    kube_api.events = [
        obj("Event", "v1", "e1", "gitpod", type="Normal", reason="Scheduled", message="assigned",
            involvedObject={"kind": "Pod", "name": pod["metadata"]["name"]},
            lastTimestamp="2024-05-01T10:00:00Z"),
        obj("Event", "v1", "e2", "gitpod", type="Warning", reason="FailedMount", message=failed,
            involvedObject={"kind": "Pod", "name": pod["metadata"]["name"]},
            lastTimestamp="2024-05-01T10:02:00Z"),
        obj("Event", "v1", "e3", "gitpod", type="Warning", reason="BackOff", message="other pod",
            involvedObject={"kind": "Pod", "name": "someone-else"},
            lastTimestamp="2024-05-01T10:03:00Z"),
    ]  # fmt: skip
    result = judge(kube_api, tmp_path, capsys)
    assert (result["status"], result["reason"]) == ("fail", "not_ready"), result
    assert "FailedMount: MountVolume.SetUp failed" in result["detail"]
    assert "k8s.io is not a directory" in result["detail"]
    assert "other pod" not in result["detail"]


def test_a_node_without_a_pod_and_a_joining_node(kube_api: FakeKube, tmp_path: Path, capsys):
    installed(kube_api)
    # A node whose DaemonSet pods never came (a taint), Ready for an hour.
    del kube_api.nodes[REGULAR]["metadata"]["labels"][WS_LABEL]
    kube_api.pods = [p for p in kube_api.pods if p["spec"].get("nodeName") != REGULAR
                     or p["metadata"]["labels"]["component"] != "ws-daemon"]  # fmt: skip
    # A node that joined a minute ago, labels not yet set: not judged.
    now = datetime.datetime.now(datetime.UTC)
    joined = copy.deepcopy(kube_api.nodes[HEADLESS])
    joined["metadata"]["name"] = "aks-headless-12345678-vmss000001"
    joined["metadata"]["labels"].pop(WS_LABEL)
    joined["metadata"]["labels"].pop(RF_LABEL)
    ready = next(c for c in joined["status"]["conditions"] if c["type"] == "Ready")
    ready["lastTransitionTime"] = (now - datetime.timedelta(minutes=1)).isoformat()
    kube_api.put_node(joined)
    result = judge(kube_api, tmp_path, capsys)
    assert (result["status"], result["reason"]) == ("fail", "not_ready"), result
    assert f"{REGULAR} (no ws-daemon pod on the node" in result["detail"]
    assert "1 node(s) Ready for less than 300s, not judged yet" in result["detail"]
    assert "vmss000001" not in result["detail"].split("(")[0]
    # With a shorter grace the new node is judged too.
    result = judge(kube_api, tmp_path, capsys, {"grace": "30s"})
    assert result["observed"] == "1/3 workspace nodes ready"


def test_many_nodes_are_counted_and_a_few_named(kube_api: FakeKube, tmp_path: Path, capsys):
    clusters.many_nodes(kube_api, 300)
    clusters.gitpod_daemons(kube_api)
    for n in kube_api.nodes.values():
        n["metadata"]["labels"].pop(RF_LABEL, None)
    kube_api.pods = [p for p in kube_api.pods
                     if p["metadata"]["labels"]["component"] != "registry-facade"]  # fmt: skip
    result = judge(kube_api, tmp_path, capsys)
    assert result["observed"] == "0/200 workspace nodes ready", result
    assert f"200 without a Ready registry-facade ({RF_LABEL})" in result["detail"]
    assert "and 195 more" in result["detail"]
    assert result["detail"].count("no registry-facade pod on the node") == 5
    assert kube_api.calls["/api/v1/namespaces/gitpod/pods"] == 1


def test_a_label_removed_is_judged_through_the_watch(kube_api: FakeKube, tmp_path: Path):
    installed(kube_api)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"kubernetes": {"namespace": "gitpod"},
                                      "checks": {REQ: {"interval": "1h"}}}))  # fmt: skip
    kc = kube_api.kubeconfig(tmp_path / "kubeconfig")
    served = start(["--role", "cluster", "--config", str(config), "--kubeconfig", str(kc),
                    ])  # fmt: skip
    try:
        served.wait_ready(30)

        def value(name: str, **labels: str) -> float | None:
            for s in served.samples():
                if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                    return s.value
            return None

        def satisfied() -> float | None:
            return value("gitpod_requirement_satisfied", requirement=REQ)

        until(lambda: satisfied() == 1, 15, "the daemons judged ready")
        # The services node carries no workspace label: not counted.
        assert value("gitpod_cluster_workspace_nodes") == 2
        assert value("gitpod_cluster_workspace_nodes_ready", daemon="ws-daemon") == 2
        changed = copy.deepcopy(kube_api.nodes[REGULAR])
        del changed["metadata"]["labels"][WS_LABEL]
        kube_api.put_node(changed)
        until(lambda: satisfied() == 0, 5, "the label's removal judged within seconds")
        assert value("gitpod_cluster_workspace_nodes_ready", daemon="ws-daemon") == 1
        assert value("gitpod_cluster_workspace_nodes_ready", daemon="registry-facade") == 2
    finally:
        served.proc.terminate()
        served.proc.wait(10)


def test_without_leave_to_list_pods_the_verdict_stands(kube_api: FakeKube, tmp_path, capsys):
    installed(kube_api)
    del kube_api.nodes[REGULAR]["metadata"]["labels"][WS_LABEL]
    kube_api.faults["/api/v1/namespaces/gitpod/pods"] = Fault(status=403)
    result = judge(kube_api, tmp_path, capsys)
    assert (result["status"], result["reason"]) == ("fail", "not_ready"), result
    assert f"{REGULAR} (why unknown: listing its pods is forbidden)" in result["detail"]


def _ago(seconds: float) -> str:
    when = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=seconds)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _pod_on(fake: FakeKube, daemon: str, node_name: str) -> dict:
    return next(p for p in fake.pods if p["spec"].get("nodeName") == node_name
                and p["metadata"]["labels"]["component"] == daemon)  # fmt: skip


def _unready(fake: FakeKube, daemon: str, node_name: str, since: float, created: float,
             container: dict) -> None:  # fmt: skip
    pod = _pod_on(fake, daemon, node_name)
    pod["metadata"]["creationTimestamp"] = _ago(created)
    pod["status"] = {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "False", "lastTransitionTime": _ago(since)}],
        "containerStatuses": [{"name": daemon, "ready": False, **container}]}  # fmt: skip
    ds = fake.daemonsets[f"gitpod/{daemon}"]["status"]
    ds["numberReady"] = ds["desiredNumberScheduled"] - 1


CRASH_LOOP = {"restartCount": 9, "state": {"waiting": {"reason": "CrashLoopBackOff",
              "message": "back-off 5m0s restarting failed container"}},
              "lastState": {"terminated": {"reason": "Error", "exitCode": 1}}}  # fmt: skip


def test_a_stale_label_does_not_hide_a_crash_looping_daemon(kube_api, tmp_path, capsys) -> None:
    installed(kube_api)  # both nodes keep both labels, as the 2022.11.3 labeler leaves them
    _unready(kube_api, "ws-daemon", REGULAR, since=25 * 60, created=3600, container=CRASH_LOOP)
    _unready(kube_api, "registry-facade", HEADLESS, since=12 * 60, created=3600,
             container={"restartCount": 0, "state": {"running": {}}})  # fmt: skip
    result = judge(kube_api, tmp_path, capsys)
    assert (result["status"], result["reason"]) == ("fail", "not_ready"), result
    assert result["observed"] == "0/2 workspace nodes ready"
    detail = result["detail"]
    assert f"{REGULAR} (pod ws-daemon-00000: container ws-daemon CrashLoopBackOff (last ended: " \
           "Error, exit code 1)" in detail  # fmt: skip
    assert "not Ready for 25m" in detail
    assert (f"{HEADLESS} (pod registry-facade-00000: Running but not Ready (its readiness probe "
            "fails), not Ready for 12m)") in detail  # fmt: skip


def test_a_rollout_is_not_an_outage_until_it_is_stuck(kube_api, tmp_path, capsys) -> None:
    installed(kube_api)
    # The rollout replaced ws-daemon on the regular node 40 s ago: the old pod's preStop took
    # the label away, the new one is not Ready yet.
    del kube_api.nodes[REGULAR]["metadata"]["labels"][WS_LABEL]
    _unready(kube_api, "ws-daemon", REGULAR, since=40, created=40,
             container={"state": {"waiting": {"reason": "PodInitializing"}}})  # fmt: skip
    result = judge(kube_api, tmp_path, capsys)
    assert result["status"] == "pass", result
    assert (
        "1 node(s) with a daemon pod younger than 300s (a rollout or a restart)"
        in (result["detail"])
    )
    # Stuck for 10 minutes: named.
    _unready(kube_api, "ws-daemon", REGULAR, since=600, created=600,
             container={"state": {"waiting": {"reason": "ImagePullBackOff",
                                              "message": "Back-off pulling image"}}})  # fmt: skip
    result = judge(kube_api, tmp_path, capsys)
    assert (result["status"], result["reason"]) == ("fail", "not_ready"), result
    assert f"{REGULAR} (pod ws-daemon-00000: container ws-daemon ImagePullBackOff: Back-off " \
           "pulling image, not Ready for 10m)" in result["detail"]  # fmt: skip
