from __future__ import annotations

import pytest
from aiohttp import web

from exporter.parse import ParseError, www_authenticate
from tests.conftest import run_component
from tests.servers.registry import PASSWORD, USER
from tests.servers.tls import serving

ID = "cluster_registry"


@pytest.fixture(autouse=True)
def _password(monkeypatch) -> None:
    monkeypatch.setenv("GRE_TEST_REGISTRY_PASSWORD", PASSWORD)


def settings(url: str, **over):
    return {"url": url, "username": USER, "password": {"env": "GRE_TEST_REGISTRY_PASSWORD"}, **over}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
            'scope="repository:samalba/my-app:pull,push"',
            [("bearer", {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                         "scope": "repository:samalba/my-app:pull,push"})],
        ),
        ('Basic realm="Registry Realm"', [("basic", {"realm": "Registry Realm"})]),
        ('Basic realm="a, b", Bearer realm="x",error="invalid_token"',
         [("basic", {"realm": "a, b"}), ("bearer", {"realm": "x", "error": "invalid_token"})]),
        ("Negotiate, Basic realm=r", [("negotiate", {}), ("basic", {"realm": "r"})]),
        ('Bearer realm="quoted \\"inner\\" text"', [("bearer", {"realm": 'quoted "inner" text'})]),
        ("BASIC   REALM = \"spaced\"", [("basic", {"realm": "spaced"})]),
    ],
)  # fmt: skip
def test_www_authenticate_table(header: str, expected) -> None:
    assert www_authenticate(header) == expected


@pytest.mark.parametrize("header", ["", ",,", 'Bearer realm="open', "Bearer realm=", "=x"])
def test_www_authenticate_rejects(header: str) -> None:
    with pytest.raises(ParseError):
        www_authenticate(header)


def test_anonymous_registry_passes(registry_server, pool) -> None:
    reg = registry_server("anonymous")
    result = run_component(ID, {"url": reg.url}, pool)[ID].result
    assert (result.status, result.observed) == ("pass", "V2 (anonymous)")


def test_htpasswd_registry_with_push_check_leaves_nothing(registry_server, pool) -> None:
    reg = registry_server("htpasswd")
    result = run_component(ID, settings(reg.url, push_check=True), pool)[ID].result
    assert (result.status, result.observed) == ("pass", "V2 (basic), push ok"), result.detail
    assert reg.uploads() == []


def test_htpasswd_wrong_password_is_auth(registry_server, pool, monkeypatch) -> None:
    reg = registry_server("htpasswd")
    monkeypatch.setenv("GRE_TEST_REGISTRY_PASSWORD", "wrong")
    result = run_component(ID, settings(reg.url), pool)[ID].result
    assert (result.status, result.reason) == ("fail", "auth")


def test_htpasswd_without_credentials_is_auth(registry_server, pool) -> None:
    reg = registry_server("htpasswd")
    result = run_component(ID, {"url": reg.url}, pool)[ID].result
    assert (result.status, result.reason) == ("fail", "auth")


def test_token_auth_registry_with_push_check(registry_server, pool) -> None:
    reg = registry_server("token")
    result = run_component(ID, settings(reg.url, push_check=True), pool)[ID].result
    assert (result.status, result.observed) == ("pass", "V2 (bearer), push ok"), result.detail
    # Each token asked for the scope the registry's challenge named. The registry lists the
    # actions in Go map order, so compare them as sets.
    scopes = [q.get("scope", "") for q in reg.token_requests]
    actions = [set(sc.rpartition(":")[2].split(",")) for sc in scopes if sc]
    assert all(sc.startswith("repository:gitpod-requirements-probe:") for sc in scopes if sc)
    assert {"pull", "push"} in actions
    assert {"delete"} in actions
    assert result.detail == "upload started and cancelled"
    assert all(q.get("service") == "gitpod-registry" for q in reg.token_requests)
    assert reg.uploads() == []


def test_token_auth_wrong_password_is_auth(registry_server, pool, monkeypatch) -> None:
    reg = registry_server("token")
    monkeypatch.setenv("GRE_TEST_REGISTRY_PASSWORD", "wrong")
    result = run_component(ID, settings(reg.url), pool)[ID].result
    assert (result.status, result.reason) == ("fail", "auth")


def test_plain_web_server_is_not_a_registry(pool) -> None:
    async def hello(_: web.Request) -> web.Response:
        return web.Response(text="<html>hello</html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/v2/", hello)
    with serving(app) as port:
        result = run_component(ID, {"url": f"http://127.0.0.1:{port}"}, pool)[ID].result
    assert (result.status, result.reason) == ("fail", "protocol")


def test_refused_connection_is_connect(pool) -> None:
    result = run_component(ID, {"url": "http://127.0.0.1:1"}, pool)[ID].result
    assert (result.status, result.reason) == ("fail", "connect")
