"""The exporter as its own process against each dependency whose answer never ends: the peak
RSS of the whole process (what the kernel's OOM killer judges) stays within the largest bound
(16 MiB) of the same check against a dependency that is simply gone, far below the chart's
memory limit, and the requirement ends with its reason. Figures printed with -s."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.faults.test_hostile_http_deps import endless, endless_registry
from tests.faults.test_hostile_mysql import greeting_server
from tests.helpers.exporter import EXE, start
from tests.servers.kube_fake import FakeKube, Fault, node
from tests.servers.tls import ca_file, leaf, server_context, serving

# The chart's limits (deploy/chart values: resources.limits.memory).
LIMIT_MIB = {"cluster": 512, "node": 128}
PEAKS: dict[str, tuple[float, float]] = {}


def measured(args: list[str], env: dict[str, str]) -> tuple[dict[str, dict], float, float]:
    """`check --output json` in a child process: results, its peak RSS in MiB, seconds taken.

    The peak is the child's VmHWM, read until it exits: the high-water mark of its own memory
    since exec. (wait4's ru_maxrss would count the parent's pages the child had before exec.)"""
    started = time.monotonic()
    proc = subprocess.Popen([str(EXE), "check", "--output", "json", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **env})  # fmt: skip
    out: list[bytes] = []
    readers = [threading.Thread(target=lambda s=s: out.append(s.read()), daemon=True)
               for s in (proc.stdout, proc.stderr)]  # fmt: skip
    for r in readers:
        r.start()
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, _hwm_mib(proc.pid))
        time.sleep(0.02)
    for r in readers:
        r.join(10)
    took = time.monotonic() - started
    stdout = next((o for o in out if o.lstrip().startswith(b"{")), b"{}")
    results = {r["requirement"]: r for r in json.loads(stdout).get("results", [])}
    return results, peak, took


def _hwm_mib(pid: int) -> float:
    """VmHWM of `pid` once it runs the exporter (before exec it is a copy of pytest's)."""
    try:
        if EXE.name.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return 0.0
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    # An exited process not yet reaped (a zombie) has no memory lines left.
    hwm = next((ln for ln in status.splitlines() if ln.startswith("VmHWM")), "VmHWM: 0 kB")
    return int(hwm.split()[1]) / 1024


@pytest.fixture(scope="module", autouse=True)
def print_peaks() -> Iterator[None]:
    yield
    for case, (peak, base) in sorted(PEAKS.items()):
        print(f"\npeak RSS {case}: {peak:.0f} MiB (the same check, its server gone: {base:.0f})")


def _judge(case: str, role: str, results: dict[str, dict], req: str, reason: str,
           peak: float, took: float, base: float) -> None:  # fmt: skip
    PEAKS[case] = (peak, base)
    assert req in results, results
    assert results[req]["reason"] == reason, results[req]
    assert results[req]["status"] in ("fail", "error"), results[req]
    # The bounds are 1 to 16 MiB; what is read is dropped as it is refused.
    assert peak - base < 20, f"{case}: {peak:.0f} MiB, {base:.0f} MiB without the server"
    assert peak < LIMIT_MIB[role] * 0.75
    assert took < 15


def test_cluster_role_dependencies(tmp_path: Path, tls_ca) -> None:
    env = {"GRE_TEST_PW": "pw-endless-1"}
    pw = {"env": "GRE_TEST_PW"}
    ca = ca_file(tls_ca, tmp_path)
    cases = {
        "mysql greeting": ("cluster_database", lambda: greeting_server("endless"),
                           lambda p: {"host": "127.0.0.1", "port": p}),
        "s3 listing": ("cluster_storage",
                       lambda: serving(endless(b"<?xml version='1.0'?><ListAllMyBucketsResult>")),
                       lambda p: {"endpoint": f"http://127.0.0.1:{p}",
                                  "access_key_id": pw, "secret_access_key": pw}),
        "registry token": ("cluster_registry", endless_registry,
                           lambda p: {"url": f"http://127.0.0.1:{p}", "username": "gitpod",
                                      "password": pw}),
        "scm api root": ("cluster_scm",
                         lambda: serving(endless(b'{"current_user_url": ['),
                                         server_context(leaf(tls_ca, "127.0.0.1"))),
                         lambda p: {"providers": [{"name": "corp", "type": "gitlab",
                                                   "url": f"https://127.0.0.1:{p}",
                                                   "ca_file": ca}]}),
    }  # fmt: skip
    for case, (req, server, settings) in cases.items():
        with server() as port:
            cfg = tmp_path / f"{req}.json"
            cfg.write_text(json.dumps({"checks": {req: {**settings(port), "timeout": "8s"}}}))
            args = ["--role", "cluster", "--config", str(cfg), "--only", req]
            results, peak, took = measured(args, env)
        _, base, _ = measured(args, env)
        _judge(case, "cluster", results, req, "protocol", peak, took, base)


def test_kubernetes_answers(tmp_path: Path, kube_api: FakeKube) -> None:
    kube_api.nodes["n1"] = node("n1", {"gitpod.io/workload_meta": "true"})
    kc = kube_api.kubeconfig(tmp_path / "kc")
    cfg = tmp_path / "config.yaml"
    cfg.write_text("defaults:\n  timeout: 8s\n")
    cluster = ["--role", "cluster", "--config", str(cfg), "--kubeconfig", str(kc),
               "--only", "cluster_kubernetes_version"]  # fmt: skip
    node_role = ["--role", "node", "--config", str(cfg), "--kubeconfig", str(kc),
                 "--host-root", str(tmp_path), "--only", "node_labels"]  # fmt: skip
    # The baseline here is a healthy answer.
    _, cluster_base, _ = measured(cluster, {})
    _, node_base, _ = measured(node_role, {"NODE_NAME": "n1"})
    kube_api.faults["/version"] = Fault(dribble=0)
    kube_api.faults["/api/v1/nodes/n1"] = Fault(dribble=0)
    results, peak, took = measured(cluster, {})
    _judge("api version", "cluster", results, "cluster_kubernetes_version", "protocol", peak,
           took, cluster_base)  # fmt: skip
    results, peak, took = measured(node_role, {"NODE_NAME": "n1"})
    _judge("node get", "node", results, "node_labels", "protocol", peak, took, node_base)


def test_served_among_endless_dependencies(tmp_path: Path, tls_ca) -> None:
    """The cluster role serving, its database, bucket, registry token and SCM all endless at
    once, each check every two seconds: /metrics answers every scrape within 1 s, every one of
    them reports protocol, and the process's high-water mark stays far below its limit."""
    ca = ca_file(tls_ca, tmp_path)
    pw = {"env": "GRE_TEST_PW"}
    # 2 s: reading up to an answer's bound takes most of a second on a loaded 2-core machine
    # (these endless servers share it); the verdict is about the bound, not the clock.
    every = {"interval": "2s", "timeout": "2s"}
    with (
        greeting_server("endless") as mysql,
        serving(endless(b"<?xml version='1.0'?><ListAllMyBucketsResult>")) as s3,
        endless_registry() as registry,
        serving(
            endless(b'{"current_user_url": ['), server_context(leaf(tls_ca, "127.0.0.1"))
        ) as scm,
    ):
        checks = {
            "cluster_database": {"host": "127.0.0.1", "port": mysql, **every},
            "cluster_storage": {"endpoint": f"http://127.0.0.1:{s3}", "access_key_id": pw,
                                "secret_access_key": pw, **every},
            "cluster_registry": {"url": f"http://127.0.0.1:{registry}", "username": "gitpod",
                                 "password": pw, **every},
            "cluster_scm": {"providers": [{"name": "corp", "type": "gitlab",
                                           "url": f"https://127.0.0.1:{scm}", "ca_file": ca}],
                            **every},
        }  # fmt: skip
        cfg = tmp_path / "serve.json"
        cfg.write_text(json.dumps({"checks": checks}))
        served = start(["--role", "cluster", "--config", str(cfg)], {"GRE_TEST_PW": "pw-2"})
        try:
            served.wait_ready()
            slowest, reasons = 0.0, {}
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                began = time.monotonic()
                status, _, text = served.get("/metrics")
                slowest = max(slowest, time.monotonic() - began)
                assert status == 200
                reasons = {
                    s.labels["requirement"]: s.labels["reason"]
                    for fam in text_string_to_metric_families(text)
                    for s in fam.samples
                    if s.name == "gitpod_requirement_reason_info"
                }
                time.sleep(0.2)
            status_text = Path(f"/proc/{served.proc.pid}/status").read_text()
            hwm = int(next(ln for ln in status_text.splitlines() if ln.startswith("VmHWM"))
                      .split()[1]) / 1024  # fmt: skip
        finally:
            served.proc.terminate()
            served.proc.wait(10)
    print(
        f"\nserved among endless dependencies: slowest scrape {slowest * 1000:.0f} ms, "
        f"high-water mark {hwm:.0f} MiB"
    )
    assert slowest < 1.0
    assert {req: reasons.get(req) for req in checks} == dict.fromkeys(checks, "protocol")
    # The same configuration with every dependency gone settles at about 155 MiB (boto3 and
    # the Kubernetes client in every pool thread): the endless answers add no more than noise.
    assert hwm < LIMIT_MIB["cluster"] / 2
