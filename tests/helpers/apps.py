"""Small HTTP applications standing in for Gitpod's dependencies."""

from __future__ import annotations

from aiohttp import web

DOMAIN = "gitpod.test"
ALL_NAMES = (DOMAIN, f"*.{DOMAIN}", f"*.ws.{DOMAIN}")


def scm_app() -> web.Application:
    async def version(_: web.Request) -> web.Response:  # GitLab without a token
        return web.json_response({"message": "401 Unauthorized"}, status=401)

    async def meta(_: web.Request) -> web.Response:  # GitHub Enterprise
        return web.json_response({"verifiable_password_authentication": True})

    async def broken(_: web.Request) -> web.Response:
        return web.Response(status=500, text="Internal Server Error")

    app = web.Application()
    app.router.add_get("/api/v4/version", version)
    app.router.add_get("/api/v3/meta", meta)
    app.router.add_get("/rest/api/1.0/application-properties", broken)
    return app
