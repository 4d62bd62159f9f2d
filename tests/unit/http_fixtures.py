"""The HTTP apps of unit tests: the controller's app serving one capability's routes, with
token lookup stood in by ``Bearer <agent>:<role>`` headers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from hotline.api import Identity, Role, Unauthorized
from hotline.http import make_http_app

Client = TestClient[web.Request, web.Application]

AGENT = {"Authorization": "Bearer 1001:agent"}
OTHER_AGENT = {"Authorization": "Bearer 1002:agent"}
SUPERVISOR = {"Authorization": "Bearer 2001:supervisor"}


async def identify(request: web.Request) -> Identity:
    """Stands in for token lookup: ``Bearer <agent>:<role>``."""
    token = request.headers.get("Authorization", "").removeprefix("Bearer ")
    agent, _, role = token.partition(":")
    if not agent or not role:
        raise Unauthorized("log in first")
    return Identity(agent, Role(role))


@asynccontextmanager
async def serving(
    *routes: Callable[[web.Application], None], openapi: dict[str, Any] | None = None
) -> AsyncIterator[Client]:
    """A test client of the controller's app with ``routes`` added."""
    app = make_http_app(
        health=lambda: {"ari": {"connected": True}},
        admin_token="admin",
        more_routes=routes,
        openapi_paths=openapi,
    )
    client: Client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


async def get_json(
    client: Client, path: str, headers: dict[str, str], status: int = 200
) -> dict[str, Any]:
    response = await client.get(path, headers=headers)
    assert response.status == status, await response.text()
    body: dict[str, Any] = await response.json()
    return body
