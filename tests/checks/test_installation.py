"""The exporter reads the Gitpod installation it guards: with only a kubeconfig (or only the
installer's file before install) every component requirement reaches its verdict against real
servers: MariaDB, the S3 server, docker-registry (in-cluster with TLS from Gitpod's CA, or
external with htpasswd), a TLS proxy, an SCM and a DNS server, all on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml

from exporter.cli import main
from tests import clusters
from tests.gitpod_install import (
    config,
    dockerconfig,
    https_secret,
    install,
    provider,
    ref,
    ssh_host_key,
)
from tests.helpers.apps import scm_app
from tests.helpers.exporter import with_causes
from tests.servers.dns import dns_server
from tests.servers.kube_fake import FakeKube, Fault
from tests.servers.mariadb import MariaDB
from tests.servers.registry import PASSWORD as REGISTRY_PASSWORD
from tests.servers.registry import USER as REGISTRY_USER
from tests.servers.s3 import S3
from tests.servers.tls import leaf, server_context, serving

D = "gitpod.test"
SERVED = (D, f"*.{D}", f"*.ws.{D}", f"*.ws-eu.{D}")
COMPONENTS = ("cluster_database", "cluster_storage", "cluster_registry", "cluster_scm",
              "cluster_tls", "cluster_dns")  # fmt: skip
PASS = ("pass", "")


@dataclass
class Stack:
    fake: FakeKube
    tmp: Path
    ca: trustme.CA
    db: MariaDB
    s3: S3
    bucket: str
    registry_tls: str
    registry_plain: str
    scm_host: str
    services: dict[str, str]
    dns_port: int
    secrets: list[str] = field(default_factory=list)

    def in_cluster(self, doc: dict[str, Any] | None = None, **extra: dict[str, Any]) -> None:
        """The default installation: in-cluster MySQL, MinIO and registry."""
        secrets = {
            "https-certificates": https_secret(self.ca, D, f"*.{D}", f"*.ws.{D}"),
            "custom-ca": {"ca.crt": self.ca.cert_pem.bytes()},
            "mysql": {"database": "gitpod", "host": "db", "port": "3306",
                      "username": self.db.user, "password": self.db.password,
                      "encryptionKeys": '[{"name":"general","version":1,"primary":true,'
                                        '"material":"4uGh1q8y2DYryJwrVMHs0kWXJlqvHWWt/KJuNi04edI="}]'},
            "minio": {"root-user": self.s3.key_id, "root-password": self.s3.secret},
            "builtin-registry-auth": {
                ".dockerconfigjson": dockerconfig(f"registry.{D}", REGISTRY_USER, REGISTRY_PASSWORD)
            },
            "builtin-registry-certs": {"ca.crt": self.ca.cert_pem.bytes()},
            **extra,
        }  # fmt: skip
        install(self.fake, doc or config(customCACert=ref("custom-ca")), secrets)

    def external(self, **changes: Any) -> dict[str, Any]:
        """Everything external: database, S3, registry, an SCM, the SSH gateway."""
        doc = config(
            customCACert=ref("custom-ca"),
            database={"inCluster": False, "external": {"certificate": ref("database")}},
            objectStorage={"inCluster": False, "s3": {
                "endpoint": self.s3.endpoint.removeprefix("http://"), "bucket": self.bucket,
                "allowInsecureConnection": True, "credentials": ref("storage-s3")}},
            containerRegistry={"inCluster": False, "external": {
                "url": self.registry_plain, "certificate": ref("container-registry")}},
            authProviders=[ref("corp-gitlab")],
            sshGatewayHostKey=ref("ssh-gateway-host-key"),
            **changes,
        )  # fmt: skip
        registry_host = self.registry_plain.removeprefix("http://")
        secrets = {
            "https-certificates": https_secret(self.ca, D, f"*.{D}", f"*.ws.{D}"),
            "custom-ca": {"ca.crt": self.ca.cert_pem.bytes()},
            "database": {"host": self.db.host, "port": str(self.db.port),
                         "username": self.db.user, "password": self.db.password,
                         "encryptionKeys": "[]"},
            "storage-s3": {"accessKeyId": self.s3.key_id, "secretAccessKey": self.s3.secret},
            "container-registry": {".dockerconfigjson": dockerconfig(
                registry_host, REGISTRY_USER, REGISTRY_PASSWORD)},
            "corp-gitlab": {"provider": provider(self.scm_host)},
            "ssh-gateway-host-key": {"host-key": ssh_host_key()},
        }  # fmt: skip
        install(self.fake, doc, secrets)
        return doc

    def check(self, capsys, *extra: str, services: bool = True) -> tuple[int, dict[str, Any]]:
        cfg: dict[str, Any] = {"checks": {"cluster_dns": {"nameserver": "127.0.0.1",
                                                          "port": self.dns_port}}}  # fmt: skip
        if services:
            cfg["gitpod"] = {"services": self.services}
        path = self.tmp / "config.yaml"
        path.write_text(yaml.safe_dump(cfg))
        kc = self.fake.kubeconfig(self.tmp / "kubeconfig")
        rc = main(["check", "--role", "cluster", "--kubeconfig", str(kc), "--config", str(path),
                   "--output", "json", *extra])  # fmt: skip
        out = capsys.readouterr()
        for value in self.secrets:
            assert value not in out.out and value not in out.err, "a secret value leaked"
        # Each row whole, a shared cause's text put back where the row refers to it.
        return rc, {r["requirement"]: r for r in with_causes(json.loads(out.out))}


def verdicts(results: dict[str, Any], prefix: str = "") -> dict[str, tuple[str, str]]:
    return {k: (r["status"], r["reason"]) for k, r in results.items() if k.startswith(prefix)}


@pytest.fixture
def stack(tmp_path, kube_api, mariadb, s3, registry_server, tls_ca) -> Iterator[Stack]:
    clusters.aks(kube_api)
    bucket = f"gitpod-{uuid.uuid4().hex[:10]}"
    s3.client().create_bucket(Bucket=bucket)
    reg_tls = registry_server("htpasswd", tls=True)
    reg_plain = registry_server("htpasswd")
    with (
        serving(scm_app(), server_context(leaf(tls_ca, "127.0.0.1"))) as scm_port,
        serving(scm_app(), server_context(leaf(tls_ca, *SERVED))) as proxy_port,
        dns_server({n: "127.0.0.1" for n in SERVED}) as dns_port,
    ):
        clusters.components(kube_api, lb_ingress=[{"ip": "127.0.0.1"}])
        services = {
            "db": f"127.0.0.1:{mariadb.port}",
            "minio": s3.endpoint.removeprefix("http://"),
            "registry": reg_tls.url.removeprefix("https://"),
            "proxy": f"127.0.0.1:{proxy_port}",
        }
        yield Stack(
            kube_api,
            tmp_path,
            tls_ca,
            mariadb,
            s3,
            bucket,
            reg_tls.url,
            reg_plain.url,
            f"127.0.0.1:{scm_port}",
            services,
            dns_port,
            [mariadb.password, s3.secret, REGISTRY_PASSWORD, "client-secret-9c1e"],
        )


def test_default_installation_is_judged_from_the_kubeconfig_alone(stack, capsys) -> None:
    stack.in_cluster()
    rc, results = stack.check(capsys)
    got = verdicts(results)
    for c in ("cluster_database", "cluster_storage", "cluster_registry", "cluster_tls",
              "cluster_dns", "cluster_gitpod_config", "cluster_proxy_service"):  # fmt: skip
        assert got[c] == PASS, results[c]
    assert got["cluster_scm"] == ("skipped", "not_configured")  # no authProviders
    assert verdicts(results, "cluster_gitpod_secret:") == {
        "cluster_gitpod_secret:https-certificates": PASS,
        "cluster_gitpod_secret:custom-ca": PASS,
    }
    assert "from Gitpod config: database.inCluster, Service db, Secret mysql" in \
        results["cluster_database"]["detail"]  # fmt: skip
    assert "Secret builtin-registry-auth" in results["cluster_registry"]["detail"]
    assert "expected addresses from Service gitpod/proxy" in results["cluster_dns"]["detail"]
    assert len(verdicts(results, "cluster_node_label:")) == 5  # kind Full
    assert rc == 0


def test_external_components_and_every_secret_pass(stack, capsys) -> None:
    stack.external()
    stack.fake.services[0]["spec"]["ports"].append({"name": "ssh", "port": 22})
    _, results = stack.check(capsys, services=False)
    got = verdicts(results)
    assert {c: got[c] for c in COMPONENTS} == {c: PASS for c in COMPONENTS} | {
        # No override for the proxy: the TLS check goes to gitpod.test:443, which is nowhere.
        "cluster_tls": got["cluster_tls"]
    }
    assert verdicts(results, "cluster_gitpod_secret:") == {
        f"cluster_gitpod_secret:{n}": PASS
        for n in (
            "https-certificates",
            "database",
            "storage-s3",
            "container-registry",
            "corp-gitlab",
            "ssh-gateway-host-key",
            "custom-ca",
        )
    }
    assert results["cluster_scm"]["observed"].startswith("corp-gitlab")
    assert "Secret database" in results["cluster_database"]["detail"]


def test_tls_against_the_proxy_when_external(stack, capsys) -> None:
    stack.external()
    _, results = stack.check(capsys)
    assert verdicts(results)["cluster_tls"] == PASS


def test_a_secret_without_encryption_keys_fails_by_name(stack, capsys) -> None:
    stack.external()
    db = stack.fake.secrets["gitpod/database"]
    del db["data"]["encryptionKeys"]
    rc, results = stack.check(capsys)
    r = results["cluster_gitpod_secret:database"]
    assert (r["status"], r["reason"]) == ("fail", "missing")
    assert "lacks encryptionKeys" in r["detail"]
    assert rc == 1


@pytest.mark.parametrize(("port", "expected"), [
    ("70000", "expected a value of at most 65535, got 70000"),
    ("db", "expected an integer, got 'db'"),
])  # fmt: skip
def test_a_derived_setting_is_validated_as_the_config_files(stack, capsys, port, expected) -> None:
    stack.external()
    stack.fake.secrets["gitpod/database"]["data"]["port"] = base64.b64encode(port.encode()).decode()
    _, results = stack.check(capsys)
    r = results["cluster_database"]
    assert (r["status"], r["reason"]) == ("error", "config")
    # Named by where the value came from, then the field, as a bad file names its field.
    assert "Secret database" in r["detail"] and f"port: {expected}" in r["detail"], r["detail"]
    assert verdicts(results)["cluster_storage"] == PASS


def test_certificate_without_workspace_wildcard_fails(stack, capsys) -> None:
    stack.in_cluster(**{"https-certificates": https_secret(stack.ca, D, f"*.{D}")})
    _, results = stack.check(capsys)
    r = results["cluster_gitpod_secret:https-certificates"]
    assert (r["status"], r["reason"]) == ("fail", "mismatch")
    assert f"*.ws.{D}" in r["detail"]


def test_key_not_matching_its_certificate_fails(stack, capsys) -> None:
    bad = https_secret(stack.ca, D, f"*.{D}", f"*.ws.{D}", other_key=True)
    stack.in_cluster(**{"https-certificates": bad})
    _, results = stack.check(capsys)
    r = results["cluster_gitpod_secret:https-certificates"]
    assert (r["status"], r["reason"]) == ("fail", "mismatch")
    assert "does not belong" in r["detail"]


def test_kind_meta_needs_two_labels(stack, capsys) -> None:
    stack.in_cluster(config(kind="Meta", customCACert=ref("custom-ca")))
    _, results = stack.check(capsys)
    assert verdicts(results, "cluster_node_label:") == {
        "cluster_node_label:gitpod.io/workload_meta": PASS,
        "cluster_node_label:gitpod.io/workload_ide": PASS,
    }


def test_shortname_moves_the_workspace_wildcard(stack, capsys) -> None:
    doc = config(metadata={"region": "local", "shortname": "eu"},
                 customCACert=ref("custom-ca"))  # fmt: skip
    # Covers *.ws-eu.D, not *.ws.D: right for an installation named eu.
    cert = https_secret(stack.ca, D, f"*.{D}", f"*.ws-eu.{D}")
    stack.in_cluster(doc, **{"https-certificates": cert})
    _, results = stack.check(capsys)
    assert verdicts(results)["cluster_gitpod_secret:https-certificates"] == PASS
    assert verdicts(results)["cluster_tls"] == PASS
    assert f"*.ws-eu.{D}" in results["cluster_dns"]["observed"]


def test_wildcard_resolving_elsewhere_than_the_proxy_fails(stack, capsys) -> None:
    stack.in_cluster()
    stack.fake.services[0]["status"]["loadBalancer"]["ingress"] = [{"ip": "203.0.113.7"}]
    _, results = stack.check(capsys)
    r = results["cluster_dns"]
    assert (r["status"], r["reason"]) == ("fail", "mismatch")
    assert "203.0.113.7" in r["detail"]


def test_forbidden_secrets_are_errors_and_nothing_else_suffers(stack, capsys) -> None:
    stack.in_cluster()
    for key in list(stack.fake.secrets):
        stack.fake.faults[f"/api/v1/namespaces/{key.replace('/', '/secrets/')}"] = Fault(403)
    _, results = stack.check(capsys)
    got = verdicts(results)
    for rid in ("cluster_gitpod_secret:https-certificates", "cluster_database",
                "cluster_storage", "cluster_registry", "cluster_tls"):  # fmt: skip
        assert got[rid] == ("error", "forbidden"), results[rid]
    assert "resourceNames" in results["cluster_database"]["detail"]
    for rid in ("cluster_gitpod_config", "cluster_kubernetes_version", "cluster_proxy_service",
                "cluster_node_label:gitpod.io/workload_meta"):  # fmt: skip
        assert got[rid] == PASS


def test_installer_file_before_install_gives_the_same_verdicts(stack, capsys) -> None:
    doc = stack.external()
    _, from_cluster = stack.check(capsys)
    del stack.fake.configmaps["gitpod/gitpod"]
    path = stack.tmp / "gitpod.config.yaml"
    path.write_text(yaml.safe_dump(doc))
    _, from_file = stack.check(capsys, "--gitpod-config", str(path))
    assert verdicts(from_file) == verdicts(from_cluster)
    assert f"file {path}" in from_file["cluster_gitpod_config"]["detail"]


def test_no_configmap_and_no_file_leaves_the_installation_skipped(stack, capsys) -> None:
    _, results = stack.check(capsys)
    assert verdicts(results)["cluster_gitpod_config"] == ("skipped", "not_configured")
    assert "--gitpod-config" in results["cluster_gitpod_config"]["detail"]
    assert verdicts(results)["cluster_database"] == ("skipped", "not_configured")


def test_explicit_settings_win_over_the_installation(stack, capsys, tmp_path) -> None:
    stack.in_cluster()
    cfg = tmp_path / "explicit.yaml"
    cfg.write_text(yaml.safe_dump({
        "gitpod": {"services": stack.services},
        "checks": {"cluster_database": {"port": 1},
                   "cluster_dns": {"nameserver": "127.0.0.1", "port": stack.dns_port}},
    }))  # fmt: skip
    kc = stack.fake.kubeconfig(tmp_path / "kc")
    main(["check", "--role", "cluster", "--kubeconfig", str(kc), "--config", str(cfg),
          "--output", "json"])  # fmt: skip
    results = {r["requirement"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    assert (results["cluster_database"]["status"], results["cluster_database"]["reason"]) == (
        "fail", "connect")  # fmt: skip


def test_a_hand_written_minimal_file_is_read_with_the_installers_defaults(stack, capsys) -> None:
    # What an admin writes before install: no certificate, no components. The installer fills
    # in its defaults (certificate https-certificates, everything in cluster) and accepts it.
    stack.in_cluster()
    del stack.fake.configmaps["gitpod/gitpod"]
    path = stack.tmp / "gitpod.config.yaml"
    path.write_text("domain: gitpod.test\n")
    _, results = stack.check(capsys, "--gitpod-config", str(path))
    got = verdicts(results)
    assert got["cluster_gitpod_config"] == PASS, results["cluster_gitpod_config"]
    assert got["cluster_gitpod_secret:https-certificates"] == PASS
    assert got["cluster_database"] == PASS
    assert "database.inCluster" in results["cluster_database"]["detail"]


def test_settings_complete_and_no_api_every_component_is_judged(stack, capsys, monkeypatch) -> None:
    # An operator's laptop before the cluster exists: no kubeconfig, every component given by
    # hand. The installation cannot be read; each check is judged with its own settings.
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(stack.tmp))
    for name, value in (
        ("DB_PW", stack.db.password),
        ("S3_ID", stack.s3.key_id),
        ("S3_SECRET", stack.s3.secret),
        ("REG_PW", REGISTRY_PASSWORD),
    ):
        monkeypatch.setenv(name, value)
    ca = stack.tmp / "ca.pem"
    ca.write_bytes(stack.ca.cert_pem.bytes())
    cfg = stack.tmp / "laptop.yaml"
    cfg.write_text(yaml.safe_dump({"checks": {
        "cluster_dns": {"domain": D, "nameserver": "127.0.0.1", "port": stack.dns_port,
                        "addresses": ["127.0.0.1"]},
        "cluster_tls": {"domain": D, "address": stack.services["proxy"], "ca_file": str(ca)},
        "cluster_database": {"host": "127.0.0.1", "port": stack.db.port, "user": stack.db.user,
                             "password": {"env": "DB_PW"}},
        "cluster_storage": {"endpoint": stack.s3.endpoint, "bucket": stack.bucket,
                            "region": "us-east-1", "access_key_id": {"env": "S3_ID"},
                            "secret_access_key": {"env": "S3_SECRET"}},
        "cluster_registry": {"url": stack.registry_tls, "username": REGISTRY_USER,
                             "password": {"env": "REG_PW"}, "ca_file": str(ca)},
        "cluster_scm": {"providers": [{"name": "corp", "type": "gitlab",
                                       "url": f"https://{stack.scm_host}", "ca_file": str(ca)}]},
        "cluster_node_label": {"labels": ["gitpod.io/workload_meta"]},
    }}))  # fmt: skip
    rc = main(["check", "--role", "cluster", "--config", str(cfg), "--output", "json"])
    out = capsys.readouterr()
    assert out.out, out.err
    results = {r["requirement"]: r for r in json.loads(out.out)["results"]}
    got = verdicts(results)
    for rid in COMPONENTS:
        assert got[rid] == PASS, results[rid]
    assert "not derived from the Gitpod installation: no kubeconfig" in (
        results["cluster_dns"]["detail"])  # fmt: skip
    # The node labels are the nodes' own: without the API they cannot be judged, and the
    # reason is the check's own, not the installation's.
    label = results["cluster_node_label:gitpod.io/workload_meta"]
    assert (label["status"], label["reason"]) == ("skipped", "not_configured")
    assert rc == 0  # judged, all met: never 2 (nothing judged)
