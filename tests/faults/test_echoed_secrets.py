"""Servers that echo what they were sent, credentials included, in their error answers: the
registry (basic credentials, as sent and decoded) and S3 (the access key in the signature).
Whatever the output format, and in the log, the secret values never appear."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest
from aiohttp import web

from tests.helpers.exporter import EXE
from tests.servers.tls import serving

PASSWORD = "echo-me-if-you-can-7c1"
KEY_ID = "AKIAECHOEDKEY0000001"


async def _echo(request: web.Request) -> web.Response:
    sent = request.headers.get("Authorization", "")
    decoded = ""
    if sent.startswith("Basic "):
        decoded = base64.b64decode(sent[6:]).decode(errors="replace")
    if request.path.startswith("/v2") and not sent:
        challenge = {"WWW-Authenticate": 'Basic realm="registry"',
                     "Docker-Distribution-API-Version": "registry/2.0"}  # fmt: skip
        return web.Response(status=401, headers=challenge)
    if request.path.startswith("/v2"):
        body = f'{{"errors": [{{"code": "DENIED", "message": "you sent {sent} = {decoded}"}}]}}'
        v2 = {"Docker-Distribution-API-Version": "registry/2.0"}
        return web.Response(status=403, text=body, content_type="application/json", headers=v2)
    xml = (f"<?xml version='1.0'?><Error><Code>AccessDenied</Code><Message>you sent {sent}"
           f"</Message><AWSAccessKeyId>{KEY_ID}</AWSAccessKeyId></Error>")  # fmt: skip
    return web.Response(status=403, text=xml, content_type="application/xml")


@pytest.mark.parametrize("output", ["json", "text", "junit"])
def test_no_output_repeats_an_echoed_secret(output: str, tmp_path: Path) -> None:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _echo)
    with serving(app) as port:
        url = f"http://127.0.0.1:{port}"
        cfg = tmp_path / "config.json"
        cfg.write_text(json.dumps({"checks": {
            "cluster_registry": {"url": url, "username": "gitpod",
                                 "password": {"env": "GRE_TEST_PW"}, "timeout": "5s"},
            "cluster_storage": {"endpoint": url,
                                "access_key_id": {"env": "GRE_TEST_KEY"},
                                "secret_access_key": {"env": "GRE_TEST_PW"}, "timeout": "5s"},
        }}))  # fmt: skip
        out = subprocess.run(
            [str(EXE), "check", "--role", "cluster", "--config", str(cfg), "--output", output,
             "--only", "cluster_registry", "--only", "cluster_storage"],
            capture_output=True, text=True, timeout=60,
            env={**os.environ, "GRE_TEST_PW": PASSWORD, "GRE_TEST_KEY": KEY_ID},
        )  # fmt: skip
    everything = out.stdout + out.stderr
    assert out.returncode == 1, everything
    basic = base64.b64encode(f"gitpod:{PASSWORD}".encode()).decode()
    for secret in (PASSWORD, KEY_ID, basic):
        assert secret not in everything, (secret, everything)
    # The echoes themselves are still there to read, with the values taken out.
    assert everything.count("you sent") >= 2, everything
