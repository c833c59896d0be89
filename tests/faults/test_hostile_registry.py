"""A registry that tries to send its credentials elsewhere: a token realm on another host over
plain HTTP or on an unrelated HTTPS host, an upload Location on another origin. The
credentials stay with the registry's origin (127.0.0.2 stands for another host)."""

from __future__ import annotations

import pytest
from aiohttp import web

from tests.conftest import run_component
from tests.servers.tls import serving

USER, PASSWORD = "gitpod", "registry-secret-71c3"


def recorder(seen: list[dict[str, str]]) -> web.Application:
    """Another host: records every request it gets, with its headers."""

    async def anything(request: web.Request) -> web.Response:
        seen.append({"path": request.path, **request.headers})
        return web.json_response({"token": "t"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", anything)
    return app


def registry(realm: str = "", location: str = "") -> web.Application:
    """A V2 registry stand-in: Bearer challenges naming `realm`, or Basic with an upload whose
    Location is `location`."""

    async def v2(request: web.Request) -> web.Response:
        if realm:
            challenge = f'Bearer realm="{realm}",service="reg"'
            return web.Response(status=401, headers={"WWW-Authenticate": challenge})
        if "Authorization" not in request.headers:
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="r"'})
        return web.Response(headers={"Docker-Distribution-API-Version": "registry/2.0"})

    async def upload(request: web.Request) -> web.Response:
        return web.Response(status=202, headers={"Location": location})

    app = web.Application()
    app.router.add_get("/v2/", v2)
    app.router.add_post("/v2/{repo:.+}/blobs/uploads/", upload)
    return app


def _check(port: int, pool, monkeypatch, **extra) -> object:
    monkeypatch.setenv("GRE_TEST_REG_PW", PASSWORD)
    settings = {"url": f"http://127.0.0.1:{port}", "username": USER,
                "password": {"env": "GRE_TEST_REG_PW"}, "timeout": 5, **extra}  # fmt: skip
    return run_component("cluster_registry", settings, pool)["cluster_registry"].result


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_token_realm_on_another_host_gets_no_credentials(scheme, pool, monkeypatch) -> None:
    seen: list[dict[str, str]] = []
    with serving(recorder(seen), host="127.0.0.2") as other:
        realm = f"{scheme}://127.0.0.2:{other}/token"
        with serving(registry(realm=realm)) as port:
            result = _check(port, pool, monkeypatch)
    assert (result.status, result.reason) == ("fail", "auth"), result
    assert "credentials are not sent there" in result.detail
    assert seen == []


def test_an_upload_location_on_another_origin_gets_no_credentials(pool, monkeypatch) -> None:
    seen: list[dict[str, str]] = []
    with serving(recorder(seen), host="127.0.0.2") as other:
        location = f"http://127.0.0.2:{other}/v2/probe/blobs/uploads/x"
        with serving(registry(location=location)) as port:
            result = _check(port, pool, monkeypatch, push_check=True)
    assert result.status == "pass", result
    assert "Location is on another origin" in result.detail
    assert seen == []
