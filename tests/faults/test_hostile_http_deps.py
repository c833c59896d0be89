"""HTTP dependencies whose answers never end: an SCM streaming its API root's JSON forever, a
registry token service streaming its token forever. Each is refused by size while it arrives,
the requirement fails with reason protocol, and memory stays where it was."""

from __future__ import annotations

import resource
import time
from pathlib import Path

from aiohttp import web

from tests.conftest import run_component
from tests.servers.tls import ca_file, leaf, server_context, serving


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def endless(prefix: bytes) -> web.Application:
    async def answer(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        await resp.write(prefix)
        chunk = b'"x", ' * 13_000
        for _ in range(4000):  # 260 MB at most, and only until the client goes away
            if request.transport is None or request.transport.is_closing():
                break
            await resp.write(chunk)
        return resp

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    return app


def test_an_scm_streaming_json_forever_fails(tmp_path: Path, tls_ca, pool) -> None:
    before, started = _peak_rss_mib(), time.monotonic()
    with serving(endless(b'{"current_user_url": ['), server_context(leaf(tls_ca, "127.0.0.1"))) \
            as port:  # fmt: skip
        records = run_component(
            "cluster_scm",
            {"providers": [{"name": "corp", "type": "gitlab", "url": f"https://127.0.0.1:{port}",
                            "ca_file": ca_file(tls_ca, tmp_path)}], "timeout": 10},
            pool,
        )  # fmt: skip
    result = records["cluster_scm"].result
    assert (result.status, result.reason) == ("fail", "protocol"), result
    assert "over 1024 KiB: refused" in result.detail
    assert time.monotonic() - started < 10
    assert _peak_rss_mib() - before < 64


def test_a_token_service_streaming_forever_fails(pool, monkeypatch) -> None:
    monkeypatch.setenv("GRE_TEST_REG_PW", "pw-not-echoed-1")
    with serving(endless(b'{"token": "')) as token_port:

        async def v2(request: web.Request) -> web.Response:
            realm = f'Bearer realm="http://127.0.0.1:{token_port}/token",service="reg"'
            return web.Response(status=401, headers={"WWW-Authenticate": realm})

        app = web.Application()
        app.router.add_get("/v2/", v2)
        before = _peak_rss_mib()
        with serving(app) as port:
            records = run_component(
                "cluster_registry",
                {"url": f"http://127.0.0.1:{port}", "username": "gitpod", "timeout": 10,
                 "password": {"env": "GRE_TEST_REG_PW"}},
                pool,
            )  # fmt: skip
    result = records["cluster_registry"].result
    assert (result.status, result.reason) == ("fail", "protocol"), result
    assert "the token service: the answer is over 1024 KiB" in result.detail
    assert _peak_rss_mib() - before < 64
