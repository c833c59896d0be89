"""`check` as a preflight: its exit code, its verdict line, its JSON summary, JUnit for CI
systems, --strict and --only/--skip, and a cause many requirements share said once."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import pytest

from exporter.cli import main
from tests import clusters
from tests.servers.dns import dns_server
from tests.servers.kube_fake import TOKEN, FakeKube, Fault


def check(fake: FakeKube, tmp_path: Path, capsys, *args: str) -> tuple[int, str]:
    kc = fake.kubeconfig(tmp_path / "kubeconfig")
    rc = main(["check", "--role", "cluster", "--kubeconfig", str(kc), *args])
    return rc, capsys.readouterr().out


def test_a_ready_cluster_says_so_last_and_exits_0(kube_api, tmp_path, capsys) -> None:
    clusters.aks(kube_api)
    rc, out = check(kube_api, tmp_path, capsys, "--skip", "cluster_compatibility")
    assert rc == 0
    assert out.strip().splitlines()[-1].startswith("READY: ")


def test_unmet_criticals_come_first_and_the_verdict_names_them(kube_api, tmp_path, capsys):
    clusters.aks(kube_api)
    for n in kube_api.nodes.values():
        n["metadata"]["labels"].pop("gitpod.io/workload_workspace_headless", None)
    rc, out = check(kube_api, tmp_path, capsys)
    lines = out.strip().splitlines()
    assert rc == 1
    first_row = next(line for line in lines if line.startswith(("FAIL", "ERROR", "pass")))
    assert first_row.startswith("FAIL") and "critical" in first_row
    assert lines[-1].startswith(
        "NOT READY: 1 critical unmet (cluster_node_label:gitpod.io/workload_workspace_headless)"
    )
    remedy = next(line for line in lines if "workload_workspace_headless: Label" in line)
    assert "gitpod.io/workload_workspace_headless=true" in remedy  # its own label, not meta's
    assert "runbook.md#cluster_node_label" in remedy


def test_json_summary(kube_api, tmp_path, capsys) -> None:
    clusters.aks(kube_api)
    kube_api.storage_classes = [clusters.storage_class("standard", False)]
    rc, out = check(kube_api, tmp_path, capsys, "--output", "json")
    summary = json.loads(out)["summary"]
    assert summary["verdict"] == "ready" and rc == 0
    assert "cluster_storage_class" in summary["warnings_unmet"]
    assert "cluster_database" in summary["skipped"]
    assert summary["critical_unmet"] == [] and summary["errors"] == []


def test_strict_counts_skipped_criticals(kube_api, tmp_path, capsys) -> None:
    clusters.aks(kube_api)
    rc, out = check(kube_api, tmp_path, capsys, "--strict", "--output", "json")
    summary = json.loads(out)["summary"]
    assert rc == 1
    assert "cluster_database" in summary["critical_unmet"]  # not configured: unmet when strict


def test_junit_for_ci_systems(kube_api, tmp_path, capsys) -> None:
    clusters.aks(kube_api)
    kube_api.services[0]["status"] = {"loadBalancer": {}}
    rc, out = check(kube_api, tmp_path, capsys, "--output", "junit")
    suite = ElementTree.fromstring(out.encode())
    assert suite.tag == "testsuite" and suite.get("name") == "gitpod-requirements-cluster"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert int(suite.get("tests")) == len(cases)
    assert int(suite.get("failures")) == sum(c.find("failure") is not None for c in cases.values())
    failure = cases["cluster_loadbalancer"].find("failure")
    assert failure is not None and failure.get("type") == "pending"
    assert "load-balancer controller" in failure.text
    assert cases["cluster_database"].find("skipped") is not None
    assert cases["cluster_namespace"].find("failure") is None
    assert rc == 1


@pytest.mark.parametrize(
    ("args", "judged"),
    [
        (["--only", "cluster_namespace"], {"cluster_namespace"}),
        (
            ["--only", "cluster_node_label"],
            {
                f"cluster_node_label:gitpod.io/workload_{w}"
                for w in (
                    "meta",
                    "ide",
                    "workspace_services",
                    "workspace_regular",
                    "workspace_headless",
                )
            },
        ),
        (
            ["--only", "cluster_node_label:*headless"],
            {"cluster_node_label:gitpod.io/workload_workspace_headless"},
        ),
        (
            ["--only", "cluster_n*", "--skip", "cluster_node*", "--skip", "cluster_network*"],
            {"cluster_namespace"},
        ),
    ],
)
def test_only_and_skip(args, judged, kube_api, tmp_path, capsys) -> None:
    clusters.aks(kube_api)
    _, out = check(kube_api, tmp_path, capsys, "--output", "json", *args)
    assert {r["requirement"] for r in json.loads(out)["results"]} == judged
    assert kube_api.calls["/api/v1/namespaces/gitpod/pods"] == 0  # unselected checks never ran


def test_a_selection_of_nothing_is_a_usage_error(kube_api, tmp_path, capsys) -> None:
    rc, _ = check(kube_api, tmp_path, capsys, "--only", "no_such_requirement")
    assert rc == 2


def test_one_cause_one_message(kube_api, tmp_path, capsys) -> None:
    kc = kube_api.kubeconfig(tmp_path / "kc", server="http://127.0.0.1:1")
    rc = main(["check", "--role", "cluster", "--kubeconfig", str(kc)])
    out = capsys.readouterr().out
    assert rc == 1
    assert out.count("have no verdict for one reason, connect") == 1
    assert "check the address in the kubeconfig" in out
    assert "Upgrade the control plane" not in out and "Install cert-manager" not in out


@pytest.mark.parametrize("output", ["text", "json"])
def test_the_api_down_is_said_once_in_text_and_json(output, kube_api, tmp_path, capsys) -> None:
    kc = kube_api.kubeconfig(tmp_path / "kc", server="http://127.0.0.1:1")
    main(["check", "--role", "cluster", "--kubeconfig", str(kc), "--output", output])
    out = capsys.readouterr().out
    assert out.count("Connection refused") == 1, out
    if output == "json":
        doc = json.loads(out)
        (cause,) = doc["summary"]["shared_causes"]
        assert cause["reason"] == "connect" and len(cause["requirements"]) > 20
        # The components, configured by nothing but the unreadable installation: no verdict,
        # for that cause, not skipped.
        byid = {r["requirement"]: r for r in doc["results"]}
        assert (byid["cluster_database"]["status"], byid["cluster_database"]["reason"]) == (
            "error",
            "connect",
        )


def test_a_missing_kubeconfig_is_said_missing_not_unconfigured(tmp_path, capsys) -> None:
    main(["check", "--role", "cluster", "--kubeconfig", str(tmp_path / "nope"),
          "--output", "json"])  # fmt: skip
    doc = json.loads(capsys.readouterr().out)
    skipped = [r["requirement"] for r in doc["results"] if r["status"] == "skipped"]
    assert skipped == [], skipped
    (cause,) = doc["summary"]["shared_causes"]
    assert cause["reason"] == "not_found" and "nope does not exist" in cause["detail"]


def test_a_missing_kubeconfig_is_not_found(tmp_path, capsys) -> None:
    rc = main(
        [
            "check",
            "--role",
            "cluster",
            "--kubeconfig",
            str(tmp_path / "nope"),
            "--only",
            "cluster_namespace",
            "--output",
            "json",
        ]
    )
    r = json.loads(capsys.readouterr().out)["results"][0]
    assert (r["status"], r["reason"]) == ("error", "not_found")
    assert rc == 1


def test_a_laptop_with_only_dns_and_tls_judges_both(tmp_path, capsys, monkeypatch) -> None:
    # Before the cluster exists: no kubeconfig, the zone and the certificate configured by
    # hand. Both are judged (here: the records are missing, nothing serves TLS), never skipped.
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with dns_server({}) as port:
        cfg = tmp_path / "laptop.yaml"
        cfg.write_text(
            "checks:\n"
            "  cluster_dns: {domain: gitpod.example.com, nameserver: 127.0.0.1, "
            f"port: {port}, addresses: [10.0.0.9]}}\n"
            "  cluster_tls: {domain: gitpod.example.com, address: '127.0.0.1:1'}\n"
        )
        rc = main(["check", "--role", "cluster", "--config", str(cfg), "--output", "json",
                   "--only", "cluster_dns", "--only", "cluster_tls"])  # fmt: skip
    results = {r["requirement"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    assert {k: r["status"] for k, r in results.items() if k in ("cluster_dns", "cluster_tls")} == {
        "cluster_dns": "fail", "cluster_tls": "fail"}  # fmt: skip
    assert "not derived from the Gitpod installation" in results["cluster_dns"]["detail"]
    assert rc == 1


@pytest.mark.parametrize(
    ("padding", "said"),
    [(500_000, "denied for Bearer <redacted>"), (5_000_000, "the answer is over 1 MiB: refused")],
)
def test_an_api_server_echoing_the_token_at_length_leaks_nothing(
    kube_api: FakeKube, tmp_path, capsys, padding: int, said: str
) -> None:
    # A 403 whose body quotes the bearer token, then 0.5 or 5 MB: neither the token nor the
    # bulk reaches the report or the log (the larger is not even read past 1 MiB).
    kube_api.faults["/version"] = Fault(status=403, echo_auth=padding)
    kc = kube_api.kubeconfig(tmp_path / "kc")
    rc = main(["check", "--role", "cluster", "--kubeconfig", str(kc), "--output", "json",
               "--only", "cluster_kubernetes_version"])  # fmt: skip
    out = capsys.readouterr()
    (result,) = json.loads(out.out)["results"]
    assert result["status"] == "error" and said in result["detail"]
    assert TOKEN not in out.out and TOKEN not in out.err
    assert len(out.out) < 10_000 and len(out.err) < 10_000
    assert rc == 1
