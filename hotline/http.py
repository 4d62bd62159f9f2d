"""The controller's HTTP listener. For now: /health, used by tests and monitoring."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web


def make_http_app(health: Callable[[], dict[str, Any]]) -> web.Application:
    async def get_health(_request: web.Request) -> web.Response:
        body = health()
        return web.json_response(body, status=200 if body["ari"]["connected"] else 503)

    app = web.Application()
    app.router.add_get("/health", get_health)
    return app
