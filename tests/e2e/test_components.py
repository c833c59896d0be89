"""The cluster role end to end against real servers: `check --config C --output json` gives
the exact verdicts, `serve` exposes them, and no secret reaches any output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from tests import clusters
from tests.checks.test_components_http import ALL_NAMES, DOMAIN, scm_app
from tests.e2e.test_serve import EXE, start
from tests.servers.dns import dns_server
from tests.servers.registry import PASSWORD as REGISTRY_PASSWORD
from tests.servers.registry import USER as REGISTRY_USER
from tests.servers.tls import ca_file, leaf, server_context, serving

COMPONENTS = ("cluster_database", "cluster_storage", "cluster_registry", "cluster_scm",
              "cluster_tls", "cluster_tls_expiry", "cluster_dns")  # fmt: skip


@pytest.fixture
def stack(tmp_path: Path, kube_api, mariadb, s3, registry_server, tls_ca):
    """Every component up, a config pointing at them, and the secrets in env and files."""
    clusters.aks(kube_api)
    bucket = f"gitpod-{uuid.uuid4().hex[:10]}"
    s3.client().create_bucket(Bucket=bucket)
    reg = registry_server("htpasswd")
    ca = ca_file(tls_ca, tmp_path)
    secret_file = tmp_path / "s3-secret"
    secret_file.write_text(s3.secret + "\n")
    env = {
        "GRE_DB_PASSWORD": mariadb.password,
        "GRE_S3_KEY": s3.key_id,
        "GRE_REGISTRY_PASSWORD": REGISTRY_PASSWORD,
    }
    with (
        serving(scm_app(), server_context(leaf(tls_ca, "127.0.0.1"))) as scm_port,
        serving(scm_app(), server_context(leaf(tls_ca, *ALL_NAMES))) as proxy_port,
        dns_server({n: "127.0.0.1" for n in ALL_NAMES}) as dns_port,
    ):
        config = {
            "kubernetes": {"namespace": "gitpod"},
            "checks": {
                "cluster_database": {
                    "host": mariadb.host, "port": mariadb.port, "user": mariadb.user,
                    "database": mariadb.database, "password": {"env": "GRE_DB_PASSWORD"},
                },
                "cluster_storage": {
                    "endpoint": s3.endpoint, "bucket": bucket, "addressing_style": "path",
                    "round_trip": True, "access_key_id": {"env": "GRE_S3_KEY"},
                    "secret_access_key": {"file": str(secret_file)},
                },
                "cluster_registry": {
                    "url": reg.url, "username": REGISTRY_USER,
                    "password": {"env": "GRE_REGISTRY_PASSWORD"}, "push_check": True,
                },
                "cluster_scm": {"providers": [
                    {"name": "gitlab", "type": "gitlab", "url": f"https://127.0.0.1:{scm_port}",
                     "ca_file": ca},
                ]},
                "cluster_tls": {"domain": DOMAIN, "address": f"127.0.0.1:{proxy_port}",
                                "ca_file": ca},
                "cluster_dns": {"domain": DOMAIN, "nameserver": "127.0.0.1", "port": dns_port,
                                "addresses": ["127.0.0.1"]},
            },
        }  # fmt: skip
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        kubeconfig = kube_api.kubeconfig(tmp_path / "kubeconfig")
        secrets = [mariadb.password, s3.secret, REGISTRY_PASSWORD, "fake-token-for-tests"]
        yield path, kubeconfig, env, secrets


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
    text = config.read_text().replace("checks:", "log_level: debug\nchecks:", 1)
    config.write_text(text)
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
        names = {s.name for s in samples}
        for metric in ("gitpod_database_version_info", "gitpod_database_latency_seconds",
                       "gitpod_storage_latency_seconds", "gitpod_registry_latency_seconds",
                       "gitpod_scm_up", "gitpod_tls_certificate_expiry_timestamp_seconds",
                       "gitpod_dns_resolution_duration_seconds"):  # fmt: skip
            assert metric in names
    finally:
        served.proc.terminate()
        served.proc.wait(10)
    assert served.proc.stderr is not None
    logs = served.proc.stderr.read()
    assert "level=DEBUG" in logs
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
    assert (db["status"], db["reason"]) == ("error", "not_configured")
    assert "GRE_DB_PASSWORD" in db["detail"]
