"""A small, faithful fake of the Kubernetes API server: real HTTP, real JSON shapes.

It runs an aiohttp app on 127.0.0.1 in a thread of its own, so the exporter under test reaches
it through a kubeconfig exactly as it would a real cluster. It counts calls per path so tests
can assert the API budget, and injects faults (status codes, slowness) per path on demand.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

TOKEN = "fake-token-for-tests"


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    """A metav1.Status, as the API server answers every error."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def node(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": {"name": name, "uid": f"uid-{name}", "labels": labels or {}},
        "spec": {},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


@dataclass
class Fault:
    status: int = 0
    delay: float = 0.0


@dataclass
class FakeKube:
    url: str = ""
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: dict[str, Fault] = field(default_factory=dict)
    calls: collections.Counter[str] = field(default_factory=collections.Counter)

    def kubeconfig(self, path: Path, token: str = TOKEN) -> Path:
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                    "users": [{"name": "tester", "user": {"token": token}}],
                    "contexts": [
                        {"name": "fake", "context": {"cluster": "fake", "user": "tester"}}
                    ],
                    "current-context": "fake",
                }
            )
        )
        return path

    def app(self) -> web.Application:
        @web.middleware
        async def faults_and_auth(request: web.Request, handler: Any) -> web.StreamResponse:
            self.calls[request.path] += 1
            fault = self.faults.get(request.path)
            if fault and fault.delay:
                await asyncio.sleep(fault.delay)
            if fault and fault.status:
                return web.json_response(
                    status(fault.status, "InternalError", "injected fault"), status=fault.status
                )
            if request.headers.get("Authorization") != f"Bearer {TOKEN}":
                return web.json_response(status(401, "Unauthorized", "Unauthorized"), status=401)
            return await handler(request)

        async def get_node(request: web.Request) -> web.Response:
            name = request.match_info["name"]
            if name not in self.nodes:
                return web.json_response(
                    status(404, "NotFound", f'nodes "{name}" not found'), status=404
                )
            return web.json_response(self.nodes[name])

        app = web.Application(middlewares=[faults_and_auth])
        app.router.add_get("/api/v1/nodes/{name}", get_node)
        return app


@pytest.fixture
def kube_api() -> Iterator[FakeKube]:
    fake = FakeKube()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    runner = web.AppRunner(fake.app(), access_log=None)

    async def start() -> None:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        fake.url = f"http://{host}:{port}"
        started.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    started.wait(10)
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
