"""SCM, TLS and DNS checks against local servers with trustme certificates and a real DNS
server."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme
from aiohttp import web

from exporter.checks.shared import covers
from tests.conftest import run_component
from tests.helpers.apps import ALL_NAMES, DOMAIN, scm_app
from tests.servers.dns import dns_server
from tests.servers.tls import ca_file, leaf, server_context, serving


@pytest.fixture
def scm(tls_ca: trustme.CA):
    with serving(scm_app(), server_context(leaf(tls_ca, "127.0.0.1"))) as port:
        yield f"https://127.0.0.1:{port}"


def test_scm_200_and_401_on_auth_only_endpoints_pass(scm, tls_ca, tmp_path: Path, pool) -> None:
    ca = ca_file(tls_ca, tmp_path)
    providers = [
        {"name": "gitlab", "type": "gitlab", "url": scm, "ca_file": ca},
        {"name": "ghe", "type": "github_enterprise", "url": scm, "ca_file": ca},
    ]
    result = run_component("cluster_scm", {"providers": providers}, pool)["cluster_scm"].result
    assert result.status == "pass", result.detail
    up = {dict(s.labels)["provider"]: s.value for s in result.samples if s.name == "gitpod_scm_up"}
    assert up == {"gitlab": 1.0, "ghe": 1.0}


def test_scm_500_fails_with_protocol(scm, tls_ca, tmp_path: Path, pool) -> None:
    providers = [
        {
            "name": "bbs",
            "type": "bitbucket_server",
            "url": scm,
            "ca_file": ca_file(tls_ca, tmp_path),
        },
        {"name": "gitlab", "type": "gitlab", "url": scm, "ca_file": ca_file(tls_ca, tmp_path)},
    ]
    result = run_component("cluster_scm", {"providers": providers}, pool)["cluster_scm"].result
    assert (result.status, result.reason) == ("fail", "protocol")
    up = {dict(s.labels)["provider"]: s.value for s in result.samples if s.name == "gitpod_scm_up"}
    assert up == {"bbs": 0.0, "gitlab": 1.0}
    assert "HTTP 500" in result.detail


def test_scm_untrusted_certificate_fails_with_tls(scm, pool) -> None:
    providers = [{"name": "gitlab", "type": "gitlab", "url": scm}]  # system trust only
    result = run_component("cluster_scm", {"providers": providers}, pool)["cluster_scm"].result
    assert (result.status, result.reason) == ("fail", "tls")


def test_scm_provider_needs_a_name(pool) -> None:
    from exporter.config import ConfigError

    with pytest.raises(ConfigError, match=r"providers\[0\].*name"):
        run_component("cluster_scm", {"providers": [{"type": "gitlab"}]}, pool)


def tls_run(tls_ca: trustme.CA, cert: trustme.LeafCert, tmp_path: Path, pool, **over):
    with serving(web.Application(), server_context(cert)) as port:
        settings = {"domain": DOMAIN, "address": f"127.0.0.1:{port}",
                    "ca_file": ca_file(tls_ca, tmp_path), **over}  # fmt: skip
        records = run_component("cluster_tls", settings, pool)
    return records["cluster_tls"].result, records["cluster_tls_expiry"].result


def test_tls_valid_certificate_covering_all_names(tls_ca, tmp_path, pool) -> None:
    main, expiry = tls_run(tls_ca, leaf(tls_ca, *ALL_NAMES), tmp_path, pool)
    assert (main.status, expiry.status) == ("pass", "pass"), main.detail
    hosts = {dict(s.labels)["host"] for s in main.samples}
    assert hosts == set(ALL_NAMES)
    assert main.observed in ("expires in 89.9 days", "expires in 90.0 days")


def test_tls_missing_ws_wildcard_fails_with_mismatch(tls_ca, tmp_path, pool) -> None:
    main, expiry = tls_run(tls_ca, leaf(tls_ca, DOMAIN, f"*.{DOMAIN}"), tmp_path, pool)
    assert (main.status, main.reason) == ("fail", "mismatch")
    assert main.detail.endswith(f"*.ws.{DOMAIN}")
    assert expiry.status == "pass"


def test_tls_expired_certificate(tls_ca, tmp_path, pool) -> None:
    main, expiry = tls_run(tls_ca, leaf(tls_ca, *ALL_NAMES, expired=True), tmp_path, pool)
    assert (main.status, main.reason) == ("fail", "expired")
    assert (expiry.status, expiry.reason) == ("fail", "expired")


def test_tls_expiring_in_5_days_warns(tls_ca, tmp_path, pool) -> None:
    main, expiry = tls_run(tls_ca, leaf(tls_ca, *ALL_NAMES, days=5), tmp_path, pool)
    assert main.status == "pass"
    assert (expiry.status, expiry.reason) == ("fail", "expiring")


def test_tls_certificate_from_another_ca(tls_ca, tmp_path, pool) -> None:
    other = trustme.CA()
    main, expiry = tls_run(tls_ca, leaf(other, *ALL_NAMES), tmp_path, pool)
    assert (main.status, main.reason) == ("fail", "tls")
    assert (expiry.status, expiry.reason) == ("error", "tls")


@pytest.mark.parametrize(
    ("pattern", "name", "ok"),
    [
        ("*.gitpod.test", "abc.gitpod.test", True),
        ("*.gitpod.test", "gitpod.test", False),
        ("*.gitpod.test", "a.ws.gitpod.test", False),
        ("*.ws.gitpod.test", "a.ws.gitpod.test", True),
        ("GitPod.Test", "gitpod.test.", True),
    ],
)
def test_wildcard_covers_one_label(pattern: str, name: str, ok: bool) -> None:
    assert covers(pattern, name) is ok


def dns_run(records: dict[str, str], pool, **over):
    with dns_server(records) as port:
        settings = {"domain": DOMAIN, "nameserver": "127.0.0.1", "port": port, **over}
        return run_component("cluster_dns", settings, pool)["cluster_dns"].result


def test_dns_wildcards_resolve_to_the_load_balancer(pool) -> None:
    records = {DOMAIN: "34.117.12.9", f"*.{DOMAIN}": "34.117.12.9", f"*.ws.{DOMAIN}": "34.117.12.9"}
    result = dns_run(records, pool, addresses=["34.117.12.9"])
    assert result.status == "pass", result.detail
    assert {dict(s.labels)["name"] for s in result.samples} == set(ALL_NAMES)


def test_dns_missing_ws_wildcard_is_not_found(pool) -> None:
    result = dns_run({DOMAIN: "34.117.12.9", f"*.{DOMAIN}": "34.117.12.9"}, pool)
    assert (result.status, result.reason) == ("fail", "not_found")
    assert f".ws.{DOMAIN}" in result.detail


def test_dns_wrong_address_is_a_mismatch(pool) -> None:
    records = {DOMAIN: "10.0.0.1", f"*.{DOMAIN}": "10.0.0.1", f"*.ws.{DOMAIN}": "10.0.0.1"}
    result = dns_run(records, pool, addresses=["34.117.12.9"])
    assert (result.status, result.reason) == ("fail", "mismatch")


def test_dns_silent_nameserver_times_out(pool) -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        settings = {"domain": DOMAIN, "nameserver": "127.0.0.1",
                    "port": silent.getsockname()[1], "timeout": "1s"}  # fmt: skip
        result = run_component("cluster_dns", settings, pool)["cluster_dns"].result
    assert (result.status, result.reason) == ("fail", "timeout")
