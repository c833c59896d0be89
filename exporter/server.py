"""The HTTP face: /metrics, /healthz, /readyz and the HTML report at /."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from exporter import report
from exporter.store import Store


def make_app(role: str, store: Store, registry: CollectorRegistry) -> web.Application:
    async def metrics(request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encoder(registry), headers={"Content-Type": content_type})

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        if store.ready:
            return web.Response(text="ready\n")
        return web.Response(status=503, text="first round of checks still running\n")

    async def index(_: web.Request) -> web.Response:
        page = report.as_html(role, store.requirements, store.snapshot(), store.ready)
        return web.Response(text=page, content_type="text/html")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/", index)
    return app
