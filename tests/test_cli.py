"""The command line as a contract: flags, environment, exit codes, JSON shape, config errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from exporter.cli import main
from tests.helpers.catalogue import requirements
from tests.hosts import Node

BROKEN_CONFIGS = [
    # (YAML, the field the message must name, a word of what was expected)
    ("checks:\n  node_kernel:\n    min_version: five\n", "checks.node_kernel.min_version", "5.4.0"),
    ("checks:\n  node_cpu:\n    min_cpus: four\n", "checks.node_cpu.min_cpus", "integer"),
    ("checks:\n  node_cpu:\n    min_cpus: 0\n", "checks.node_cpu.min_cpus", "at least 1"),
    ("checks:\n  node_memory:\n    min_bytes: -5\n", "checks.node_memory.min_bytes", "at least"),
    ("checks:\n  node_kernel:\n    interval: soon\n", "checks.node_kernel.interval", "duration"),
    ("checks:\n  node_kernel:\n    timeout: 0s\n", "checks.node_kernel.timeout", "greater than 0"),
    (
        "checks:\n  node_kernel:\n    interval: 10s\n    timeout: 1m\n",
        "checks.node_kernel.timeout",
        "at most the interval",
    ),
    ("checks:\n  node_os:\n    enabled: yes please\n", "checks.node_os.enabled", "true or false"),
    ("checks:\n  node_kernal: {}\n", "checks.node_kernal", "unknown check"),
    ("checks:\n  node_kernel:\n    minimum: 5.4\n", "checks.node_kernel.minimum", "unknown key"),
    ("log_level: loud\n", "log_level", "one of debug"),
    ("thread_pool_size: 1000\n", "thread_pool_size", "at most 64"),
    ("listen: 1.2.3.4:9\n", "listen", "unknown key"),
    (
        "checks:\n  node_containerd:\n    sockets: /run/c.sock\n",
        "checks.node_containerd.sockets",
        "list",
    ),
    (
        "checks:\n  node_containerd:\n    sockets: []\n",
        "checks.node_containerd.sockets",
        "at least one",
    ),
    ("defaults:\n  interval: -1\n", "defaults.interval", "duration"),
    ("checks: [node_kernel]\n", "checks", "mapping"),
    ("- just\n- a list\n", "top level", "mapping"),
    ("checks:\n  node_kernel:\n   min_version: [\n", "line", "YAML"),
]


@pytest.mark.parametrize(("text", "field", "expected"), BROKEN_CONFIGS)
def test_broken_config_exits_2_naming_the_field(
    text: str, field: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(text)
    rc = main(["check", "--role", "node", "--config", str(cfg), "--host-root", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2
    assert field in err
    assert expected in err
    assert str(cfg) in err


def test_missing_config_file_exits_2(tmp_path: Path, capsys) -> None:
    rc = main(["check", "--role", "node", "--config", str(tmp_path / "nope.yaml")])
    assert rc == 2
    assert "cannot read config file" in capsys.readouterr().err


def test_bad_listen_address_exits_2(tmp_path: Path, capsys) -> None:
    rc = main(["serve", "--role", "node", "--listen", "localhost", "--host-root", str(tmp_path)])
    assert rc == 2
    assert "--listen" in capsys.readouterr().err


def test_usage_error_exits_2() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["check", "--role", "bogus"])
    assert exc.value.code == 2


def test_help_explains_every_flag() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "exporter", "serve", "--help"], capture_output=True, text=True
    ).stdout
    for flag in ("--role", "--config", "--listen", "--host-root", "--kubeconfig"):
        assert flag in out
    for env in ("GRE_CONFIG", "GRE_LISTEN", "GRE_HOST_ROOT", "KUBECONFIG"):
        assert env in out
    out = subprocess.run(
        [sys.executable, "-m", "exporter", "check", "--help"], capture_output=True, text=True
    ).stdout
    assert "--output" in out and "exit 0" in out


def test_json_lists_every_node_requirement_with_the_contract_fields(
    tmp_path: Path, capsys, containerd
) -> None:
    root = Node().build(tmp_path / "h", containerd.socket)
    rc = main(["check", "--role", "node", "--host-root", str(root), "--output", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert doc["role"] == "node"
    assert [r["requirement"] for r in doc["results"]] == [r.id for r in requirements("node")]
    contract = {
        "requirement", "title", "severity", "status", "observed", "reason", "remedy",
        "doc_url", "duration_seconds",
    }  # fmt: skip
    for r in doc["results"]:
        assert contract <= set(r)
        assert r["status"] in ("pass", "fail", "error", "skipped")
        assert r["severity"] in ("critical", "warning", "info")
        assert isinstance(r["duration_seconds"], float)


def test_environment_variables_stand_in_for_flags(tmp_path: Path, containerd) -> None:
    root = Node(cpus=2).build(tmp_path / "h", containerd.socket)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("checks:\n  node_cpu:\n    min_cpus: 2\n")
    env = {"GRE_ROLE": "node", "GRE_HOST_ROOT": str(root), "GRE_CONFIG": str(cfg),
           "GRE_OUTPUT": "json", "PATH": "/usr/bin:/bin"}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "exporter", "check"], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    cpu = next(r for r in json.loads(proc.stdout)["results"] if r["requirement"] == "node_cpu")
    assert cpu["status"] == "pass"


def test_exit_code_1_on_a_critical_failure_and_a_readable_report(tmp_path: Path, containerd):
    root = Node(kernel="4.19.0-26-cloud-amd64").build(tmp_path / "h", containerd.socket)
    proc = subprocess.run(
        [sys.executable, "-m", "exporter", "check", "--role", "node", "--host-root", str(root)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    line = next(x for x in proc.stdout.splitlines() if "node_kernel" in x and "FAIL" in x)
    assert "4.19.0-26-cloud-amd64" in line
    assert "below_minimum" in line
    assert "To fix (critical first):" in proc.stdout
    verdict = proc.stdout.strip().splitlines()[-1]
    assert verdict.startswith("NOT READY: 1 critical unmet (node_kernel)")


def test_warnings_never_change_the_exit_code(tmp_path: Path, capsys, containerd) -> None:
    root = Node(cni=None, os_release='ID=amzn\nVERSION_ID="2"\n').build(
        tmp_path / "h", containerd.socket
    )
    assert main(["check", "--role", "node", "--host-root", str(root)]) == 0


def test_disabled_check_is_skipped(tmp_path: Path, capsys, containerd) -> None:
    root = Node(cpus=2).build(tmp_path / "h", containerd.socket)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("checks:\n  node_cpu:\n    enabled: false\n")
    rc = main(["check", "--role", "node", "--host-root", str(root), "--config", str(cfg),
               "--output", "json"])  # fmt: skip
    cpu = next(
        r for r in json.loads(capsys.readouterr().out)["results"] if r["requirement"] == "node_cpu"
    )
    assert (cpu["status"], cpu["reason"], rc) == ("skipped", "disabled", 0)


def test_a_cluster_check_without_a_cluster_judges_nothing_and_exits_2(capsys, monkeypatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    rc = main(["check", "--role", "cluster", "--output", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 2  # a preflight must not pass having checked nothing
    assert doc["role"] == "cluster"
    assert doc["summary"]["verdict"] == "nothing_judged"
    assert main(["check", "--role", "cluster"]) == 2
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("NOTHING JUDGED") and "--kubeconfig" in last


def test_every_config_problem_is_reported_at_once(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "log_level: loud\nthread_pool_size: 0\ndefaults:\n  interval: .nan\nchecks:\n"
        "  node_kernal: {}\n  node_cpu: {min_cpus: four}\n"
        "  cluster_database: {port: 70000, password: {env: X, file: /y}}\n"
    )
    assert main(["check", "--role", "node", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "7 problems:" in err
    for field in (
        "log_level",
        "thread_pool_size",
        "defaults.interval",
        "checks.node_kernal",
        "checks.node_cpu.min_cpus",
        "checks.cluster_database.port",
        "checks.cluster_database.password",
    ):
        assert f"  {field}" in err, field
    assert "checks.node_os.interval" not in err  # a broken default is reported once


def test_config_check_prints_the_effective_config_without_secret_values(tmp_path, capsys):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("checks:\n  cluster_database: {host: db, password: {env: DB_PASSWORD}}\n")
    assert main(["config", "check", str(cfg)]) == 0
    doc = yaml.safe_load(capsys.readouterr().out)
    db = doc["checks"]["cluster_database"]
    assert (db["host"], db["port"], db["password"]["env"]) == ("db", 3306, "DB_PASSWORD")
    assert doc["checks"]["node_kernel"]["min_version"] == "5.4.0"  # defaults filled in
    cfg.write_text("log_level: loud\n")
    assert main(["config", "check", str(cfg)]) == 2
