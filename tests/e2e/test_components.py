"""The cluster role end to end against real servers: `check --config C --output json` gives
the exact verdicts, `serve` exposes them, and no secret reaches any output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.helpers.exporter import EXE, start
from tests.helpers.poll import until

COMPONENTS = ("cluster_database", "cluster_storage", "cluster_registry", "cluster_scm",
              "cluster_tls", "cluster_tls_expiry", "cluster_dns")  # fmt: skip


def test_check_gives_exact_verdicts_against_real_servers(stack) -> None:
    config, kubeconfig, env, secrets = stack
    proc = subprocess.run(
        [str(EXE), "check", "--role", "cluster", "--config", str(config),
         "--kubeconfig", str(kubeconfig), "--output", "json"],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=60,
    )  # fmt: skip
    doc = json.loads(proc.stdout)
    got = {r["requirement"]: (r["status"], r["reason"]) for r in doc["results"]}
    assert {c: got[c] for c in COMPONENTS} == {c: ("pass", "") for c in COMPONENTS}, proc.stdout
    assert proc.returncode == 0
    for secret in secrets:
        assert secret not in proc.stdout
        assert secret not in proc.stderr


def test_serve_exposes_components_and_leaks_no_secret(stack, tmp_path: Path) -> None:
    config, kubeconfig, env, secrets = stack
    # Debug logs, and a 1 s interval for a quick check so that its second run logs at DEBUG.
    doc = yaml.safe_load(config.read_text())
    doc["log_level"] = "debug"
    doc["checks"]["cluster_namespace"] = {"interval": "1s"}
    config.write_text(yaml.safe_dump(doc))
    served = start(
        ["--role", "cluster", "--config", str(config), "--kubeconfig", str(kubeconfig)], env
    )
    try:
        served.wait_ready(30)
        metrics = served.get("/metrics")[2]
        page = served.get("/")[2]
        samples = served.samples()
        satisfied = {s.labels["requirement"]: s.value for s in samples
                     if s.name == "gitpod_requirement_satisfied"}  # fmt: skip
        assert all(satisfied[c] == 1 for c in COMPONENTS)
        # Requirements learnt at run time (one per Secret the Gitpod config references) are
        # served like the others, and /readyz waited for them.
        assert satisfied["cluster_gitpod_secret:https-certificates"] == 1
        assert satisfied["cluster_gitpod_config"] == 1
        assert "cluster_gitpod_secret" not in satisfied  # the placeholder is replaced
        names = {s.name for s in samples}
        for metric in ("gitpod_database_version_info", "gitpod_database_latency_seconds",
                       "gitpod_storage_latency_seconds", "gitpod_registry_latency_seconds",
                       "gitpod_scm_up", "gitpod_tls_certificate_expiry_timestamp_seconds",
                       "gitpod_dns_resolution_duration_seconds",
                       "gitpod_installation_info"):  # fmt: skip
            assert metric in names
        # The quick check's second run is logged at DEBUG (no change, so not at INFO).
        until(lambda: "level=debug" in served.logs(), 10, "a DEBUG line")
    finally:
        served.proc.terminate()
        served.proc.wait(10)
    logs = served.logs()
    assert "level=debug" in logs
    for secret in secrets:
        for where, content in (("metrics", metrics), ("page", page), ("logs", logs)):
            assert secret not in content, f"secret leaked into {where}"


def test_missing_secret_env_is_a_reasoned_error_not_a_crash(stack) -> None:
    config, kubeconfig, env, _ = stack
    env = {k: v for k, v in env.items() if k != "GRE_DB_PASSWORD"}
    clean = {k: v for k, v in os.environ.items() if k != "GRE_DB_PASSWORD"}
    proc = subprocess.run(
        [sys.executable, "-m", "exporter", "check", "--role", "cluster", "--config", str(config),
         "--kubeconfig", str(kubeconfig), "--output", "json"],
        capture_output=True, text=True, env={**clean, **env}, timeout=60,
    )  # fmt: skip
    db = next(
        r for r in json.loads(proc.stdout)["results"] if r["requirement"] == "cluster_database"
    )
    assert (db["status"], db["reason"]) == ("error", "config")
    assert "GRE_DB_PASSWORD" in db["detail"]
