"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml

from tests import clusters, gitpod_install
from tests.helpers.apps import ALL_NAMES, DOMAIN, scm_app
from tests.servers.dns import dns_server
from tests.servers.registry import PASSWORD as REGISTRY_PASSWORD
from tests.servers.registry import USER as REGISTRY_USER
from tests.servers.tls import ca_file, leaf, server_context, serving


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
        # The proxy's LoadBalancer address is the local TLS server standing in for Gitpod's proxy.
        clusters.components(kube_api, lb_ingress=[{"ip": "127.0.0.1"}])
        clusters.gitpod_daemons(kube_api)  # ws-daemon and registry-facade Ready everywhere
        # Gitpod installed: its config and certificate Secret. The components are configured
        # by hand below, so the installation is consulted only where the config is silent.
        gitpod_install.install(
            kube_api, gitpod_install.config(domain=DOMAIN),
            {"https-certificates": gitpod_install.https_secret(tls_ca, *ALL_NAMES)},
        )  # fmt: skip
        kube_api.services[0]["spec"]["ports"][0]["port"] = proxy_port
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
                "cluster_loadbalancer": {"connect": True, "ports": [proxy_port]},
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
