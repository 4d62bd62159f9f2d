"""Blacklist requests over the agents' API: an agent asks for a number (by default the
caller they are talking to) to be refused service; supervisors approve or reject."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from hotline.api import (
    BadRequest,
    Identify,
    json_response,
    read_body,
    supervisor_of,
)
from hotline.openapi import operation as op
from ivr.blacklist import Blacklist, BlacklistRequest

# An agent's current call: agent -> (call id, caller number); refuses when not on a call.
CurrentCaller = Callable[[str], Awaitable[tuple[str, str]]]


class BlacklistApi:
    def __init__(
        self, blacklist: Blacklist, identify: Identify, current_caller: CurrentCaller
    ) -> None:
        self.blacklist = blacklist
        self.identify = identify
        self.current_caller = current_caller

    def routes(self, app: web.Application) -> None:
        r = app.router
        r.add_post("/api/blacklist/requests", self.blacklist_request)
        r.add_get("/api/blacklist/requests", self.blacklist_requests)
        r.add_post("/api/blacklist/requests/{request}", self.blacklist_decide)

    async def blacklist_request(self, request: web.Request) -> web.Response:
        """An agent asks to blacklist a number (by default the caller they talk to)."""
        who = await self.identify(request)
        body = await read_body(request)
        call_id = ""
        number = str(body.get("number", ""))
        if not number:
            call_id, number = await self.current_caller(who.agent)
        row = await self.blacklist.request(number, str(body.get("reason", "")), who.agent, call_id)
        return json_response(request_json(row))

    async def blacklist_requests(self, request: web.Request) -> web.Response:
        await supervisor_of(self.identify, request)
        rows = await self.blacklist.requests()
        return json_response({"requests": [request_json(r) for r in rows]})

    async def blacklist_decide(self, request: web.Request) -> web.Response:
        who = await supervisor_of(self.identify, request)
        body = await read_body(request)
        approve = body.get("approve")
        if not isinstance(approve, bool):
            raise BadRequest("approve: true or false", field="approve")
        try:
            request_id = int(request.match_info["request"])
        except ValueError:
            raise BadRequest("the request id is a number") from None
        row = await self.blacklist.decide(request_id, approve, who.agent)
        return json_response(request_json(row))


def request_json(row: BlacklistRequest) -> dict[str, Any]:
    return {
        "id": row.id,
        "number": row.number,
        "reason": row.reason,
        "call": row.call_id,
        "requested_by": row.requested_by,
        "status": row.status,
        "decided_by": row.decided_by,
    }


def openapi_paths() -> dict[str, Any]:
    return {
        "/api/blacklist/requests": {
            "post": op("ask for a number (default: my caller) to be blacklisted"),
            "get": op("pending blacklist requests", supervisor=True),
        },
        "/api/blacklist/requests/{request}": {
            "post": op("approve or reject a blacklist request", supervisor=True)
        },
    }


class MenuAdminApi:
    """What admins ask of the running controller's menu (with the admin token, which the
    HTTP app checks for every path under /admin/)."""

    def __init__(
        self,
        reload_menu: Callable[[], Awaitable[dict[str, Any]]],
        menu_info: Callable[[], dict[str, Any]],
    ) -> None:
        self.reload_menu = reload_menu
        self.menu_info = menu_info

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/admin/menu/reload", self.post_reload)
        app.router.add_get("/admin/menu", self.get_menu)

    async def post_reload(self, _request: web.Request) -> web.Response:
        return json_response(await self.reload_menu())

    async def get_menu(self, _request: web.Request) -> web.Response:
        return json_response(self.menu_info())
