"""The controller's HTTP listener: /health for monitoring, the API's OpenAPI document,
and the routes features add (the agents' and supervisors' /api, the admins' /admin/*).

Admin requests (every path under /admin/) carry ``Authorization: Bearer <admin token>``
(generated on first run into the state directory's secrets.json). Errors are mapped to
responses in one place: a ``HotlineError`` becomes its own status with
``{error_id, message, details}``.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from sqlalchemy.exc import OperationalError

from hotline.api import Unauthorized, json_response
from hotline.ari.errors import AriError
from hotline.errors import HotlineError
from hotline.openapi import document
from hotline.writes import is_busy

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


__all__ = ["AccessLog", "Unauthorized", "make_http_app"]


def make_http_app(
    health: Callable[[], dict[str, Any]],
    admin_token: str,
    more_routes: Sequence[Callable[[web.Application], None]] = (),
    openapi_paths: Mapping[str, Any] | None = None,
) -> web.Application:
    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except AriError as exc:
            # What the PBX said (paths, channel ids) is for the log, not for the asker.
            log.warning("%s %s: the PBX refused: %s", request.method, request.path, exc.message)
            body: dict[str, Any] = {
                "error_id": "pbx-error",
                "message": "the PBX could not do that now",
                "details": {},
            }
            return web.json_response(body, status=502)
        except HotlineError as exc:
            return web.json_response(exc.as_dict(), status=exc.http_status)
        except OperationalError as exc:
            if not is_busy(exc):
                raise
            # Another connection holds the database: the asker may try again soon.
            log.warning("%s %s: the database is busy", request.method, request.path)
            body = {"error_id": "database-busy", "message": "try again soon", "details": {}}
            return web.json_response(body, status=503, headers={"Retry-After": "5"})
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            # aiohttp's own refusals (no such route, method not allowed) get the same
            # JSON shape as ours, so clients parse every error one way.
            reason = {404: "not-found", 405: "method-not-allowed"}.get(exc.status, "http-error")
            body = {
                "error_id": reason,
                "message": f"{exc.reason}: {request.method} {request.path}",
                "details": {},
            }
            return web.json_response(body, status=exc.status, headers=_kept(exc))

    @web.middleware
    async def admin_only(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/admin/"):
            sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if not sent or not hmac.compare_digest(sent.encode(), admin_token.encode()):
                raise Unauthorized("admin requests need the admin token (see secrets.json)")
        return await handler(request)

    async def get_health(_request: web.Request) -> web.Response:
        body = health()
        return web.json_response(body, status=200 if body["ari"]["connected"] else 503)

    async def get_openapi(_request: web.Request) -> web.Response:
        return json_response(document(openapi_paths or {}))

    app = web.Application(middlewares=[errors, admin_only])
    app.router.add_get("/health", get_health)
    app.router.add_get("/api/openapi.json", get_openapi)
    for add_routes in more_routes:
        add_routes(app)
    return app


def _kept(exc: web.HTTPException) -> dict[str, str]:
    """Headers of an aiohttp refusal that clients need (Allow on a 405)."""
    return {k: v for k, v in exc.headers.items() if k in ("Allow",)}


class AccessLog(AbstractAccessLogger):
    """One line per request, with any ``token`` in the query (the live-events WebSocket's)
    replaced by stars: a log is read by more people than may use the token."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        query = "&".join(
            f"{name}={'***' if name == 'token' else value}" for name, value in request.query.items()
        )
        self.logger.info(
            "%s %s %s%s %d %.3fs",
            request.remote,
            request.method,
            request.path,
            f"?{query}" if query else "",
            response.status,
            time,
        )
