"""HTTP dependencies whose answers never end: an SCM streaming its API root's JSON forever, a
registry token service streaming its token forever. Each is refused by size while it arrives,
the requirement fails with reason protocol, and memory stays where it was."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiohttp import web

from tests.conftest import run_component
from tests.helpers.process import peak_rss_mib
from tests.servers.tls import ca_file, leaf, server_context, serving


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
    before, started = peak_rss_mib(), time.monotonic()
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
    assert peak_rss_mib() - before < 64


@contextmanager
def endless_registry() -> Iterator[int]:
    """A registry whose Bearer challenge names a token service that streams its token for
    ever; yields the registry's port."""
    with serving(endless(b'{"token": "')) as token_port:

        async def v2(request: web.Request) -> web.Response:
            realm = f'Bearer realm="http://127.0.0.1:{token_port}/token",service="reg"'
            return web.Response(status=401, headers={"WWW-Authenticate": realm})

        app = web.Application()
        app.router.add_get("/v2/", v2)
        with serving(app) as port:
            yield port


def test_a_token_service_streaming_forever_fails(pool, monkeypatch) -> None:
    monkeypatch.setenv("GRE_TEST_REG_PW", "pw-not-echoed-1")
    before = peak_rss_mib()
    with endless_registry() as port:
        records = run_component(
            "cluster_registry",
            {"url": f"http://127.0.0.1:{port}", "username": "gitpod", "timeout": 10,
             "password": {"env": "GRE_TEST_REG_PW"}},
            pool,
        )  # fmt: skip
    result = records["cluster_registry"].result
    assert (result.status, result.reason) == ("fail", "protocol"), result
    assert "the token service: the answer is over 1024 KiB" in result.detail
    assert peak_rss_mib() - before < 64


def test_an_s3_endpoint_streaming_xml_forever_fails(pool, monkeypatch) -> None:
    monkeypatch.setenv("GRE_TEST_S3_KEY", "s3-key")
    key = {"env": "GRE_TEST_S3_KEY"}
    before, started = peak_rss_mib(), time.monotonic()
    with serving(endless(b"<?xml version='1.0'?><ListAllMyBucketsResult><Buckets>")) as port:
        records = run_component(
            "cluster_storage",
            {"endpoint": f"http://127.0.0.1:{port}", "timeout": 10,
             "access_key_id": key, "secret_access_key": key},
            pool,
        )  # fmt: skip
    result = records["cluster_storage"].result
    assert (result.status, result.reason) == ("fail", "protocol"), result
    assert "S3: the answer is over 8 MiB: refused" in result.detail
    assert time.monotonic() - started < 10
    assert peak_rss_mib() - before < 64


def test_an_s3_redirect_to_another_origin_is_reported_not_followed(pool, monkeypatch) -> None:
    """botocore's region redirector used to ask the redirect's target for the bucket's region
    again and again (RecursionError); a custom endpoint's redirect is now its answer."""
    monkeypatch.setenv("GRE_TEST_S3_SECRET", "s3-secret-stays-home")
    seen: list[str] = []

    async def elsewhere(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.Response(status=200)

    other = web.Application()
    other.router.add_route("*", "/{tail:.*}", elsewhere)
    with serving(other, host="127.0.0.2") as other_port:

        async def redirect(request: web.Request) -> web.Response:
            target = f"http://127.0.0.2:{other_port}/gitpod"
            return web.Response(status=307, headers={"Location": target})

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", redirect)
        with serving(app) as port:
            for bucket in ("", "gitpod"):
                records = run_component(
                    "cluster_storage",
                    {"endpoint": f"http://127.0.0.1:{port}", "bucket": bucket, "timeout": 5,
                     "access_key_id": {"env": "GRE_TEST_S3_SECRET"},
                     "secret_access_key": {"env": "GRE_TEST_S3_SECRET"}},
                    pool,
                )  # fmt: skip
                result = records["cluster_storage"].result
                assert (result.status, result.reason) == ("fail", "protocol"), result
                assert "S3 error 307" in result.detail
    assert seen == []
