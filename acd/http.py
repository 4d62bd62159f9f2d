"""The agents' and supervisors' HTTP API (JSON under /api, described by /api/openapi.json).

Log in with agent number, extension and password: the answer holds a bearer token
(random, stored only as a hash, with an expiry) that every other request carries.
Supervisors may do everything agents may, plus the supervision actions; an agent asking
for one gets 403. Errors come back as ``{error_id, message, details}`` (hotline.http).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

from acd.agents import Status
from acd.engine import Acd
from acd.model import Role
from acd.store import AcdStore
from hotline.db import aware
from hotline.errors import HotlineError
from hotline.http import Unauthorized
from ivr.blacklist import Blacklist, BlacklistRequest

log = logging.getLogger(__name__)


class BadRequest(HotlineError):
    error_id = "bad-request"
    http_status = 400


class NotFound(HotlineError):
    error_id = "not-found"
    http_status = 404


class Forbidden(HotlineError):
    error_id = "forbidden"
    http_status = 403


@dataclass(frozen=True)
class Identity:
    agent: str
    role: Role

    @property
    def supervisor(self) -> bool:
        return self.role is Role.SUPERVISOR


class LiveEvents:
    """Fan-out of ACD events to WebSocket subscribers (desktops, wallboards). A slow
    subscriber loses its oldest events rather than holding anyone up."""

    def __init__(self, backlog: int = 256) -> None:
        self.backlog = backlog
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()

    def publish(self, event: dict[str, Any]) -> None:
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self.backlog)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(queue)


SEQUENCES = ("silent", "open-line", "noisy", "quiet")
STATUSES = {"ready": Status.READY, "not-ready": Status.NOT_READY, "break": Status.BREAK}


class AgentApi:
    def __init__(
        self,
        acd: Acd,
        store: AcdStore,
        events: LiveEvents,
        token_lifetime: float,
        history: Callable[[str], Awaitable[dict[str, Any]]],
        blacklist: Blacklist,
        outside_transfer: bool = False,
        more_paths: Mapping[str, Any] | None = None,
    ) -> None:
        self.blacklist = blacklist
        self.more_paths = dict(more_paths or {})  # other capabilities' routes, for the doc
        self.acd = acd
        self.store = store
        self.events = events
        self.token_lifetime = token_lifetime
        self.history = history  # call id -> the caller and their past calls
        self.outside_transfer = outside_transfer

    def routes(self, app: web.Application) -> None:
        r = app.router
        r.add_post("/api/login", self.login)
        r.add_post("/api/logout", self.logout)
        r.add_get("/api/me", self.me)
        r.add_post("/api/me/state", self.my_state)
        r.add_post("/api/me/mute", self.my_mute)
        r.add_post("/api/me/wrap-up/end", self.my_wrapup_end)
        r.add_post("/api/me/password", self.my_password)
        r.add_post("/api/me/queues/{queue}", self.my_queue)
        r.add_get("/api/me/missed", self.my_missed)
        r.add_get("/api/queues", self.queues)
        r.add_get("/api/live", self.live)
        r.add_post("/api/agents/{agent}/state", self.force_state)
        r.add_get("/api/me/call", self.my_call)
        r.add_post("/api/me/call/{action}", self.my_call_action)
        r.add_post("/api/calls/{call}/pickup", self.pick_up)
        r.add_post("/api/calls/{call}/supervise", self.supervise)
        r.add_post("/api/calls/{call}/hangup", self.force_hangup)
        r.add_post("/api/blacklist/requests", self.blacklist_request)
        r.add_get("/api/blacklist/requests", self.blacklist_requests)
        r.add_post("/api/blacklist/requests/{request}", self.blacklist_decide)
        r.add_get("/api/events", self.websocket)
        r.add_get("/api/openapi.json", self.openapi)

    # --- who is asking --------------------------------------------------------------------
    async def identity(self, request: web.Request) -> Identity:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        token = token or request.query.get("token", "")  # browsers' WebSockets
        if not token:
            raise Unauthorized("log in first: POST /api/login, then send Authorization: Bearer")
        owner = await self.store.token_owner(token)
        if owner is None:
            raise Unauthorized("the token is unknown or has expired; log in again")
        return Identity(owner[0], Role(owner[1]))

    async def supervisor(self, request: web.Request) -> Identity:
        who = await self.identity(request)
        if not who.supervisor:
            raise Forbidden(
                f"agent {who.agent} is not a supervisor", agent=who.agent, role=who.role.value
            )
        return who

    # --- agents ------------------------------------------------------------------------------
    async def login(self, request: web.Request) -> web.Response:
        body = await _body(request)
        number = _text(body, "agent")
        extension = _text(body, "extension")
        password = _text(body, "password")
        lifetime = float(body.get("lifetime", self.token_lifetime))
        if not extension.isdigit():
            raise BadRequest("extension: expected digits", field="extension")
        if not 1 <= lifetime <= self.token_lifetime:
            raise BadRequest(
                f"lifetime: between 1 and {self.token_lifetime:g} seconds", field="lifetime"
            )
        agent = self.acd.setup.agents.get(number)
        if not await self.store.check_password(number, password) or agent is None:
            raise Unauthorized("wrong agent number or password")
        session = self.acd.session(number)
        if session.logged_in and session.extension != extension:
            await self.acd.log_out(number)  # a new desk: the old one is left
        if not session.logged_in:
            await self.acd.log_in(number, extension)
        issued = await self.store.issue_token(number, agent.role.value, lifetime)
        return _json(
            {
                "token": issued.token,
                "expires_at": issued.expires_at.isoformat(),
                "agent": number,
                "role": agent.role.value,
                **self._agent_json(number),
            }
        )

    async def logout(self, request: web.Request) -> web.Response:
        who = await self.identity(request)
        session = await self.acd.log_out(who.agent)
        await self.store.revoke_tokens(who.agent)
        return _json({"agent": who.agent, "state": session.state})

    async def me(self, request: web.Request) -> web.Response:
        who = await self.identity(request)
        return _json(self._agent_json(who.agent))

    async def my_state(self, request: web.Request) -> web.Response:
        who = await self.identity(request)
        return _json(await self._set_state(who.agent, await _body(request)))

    async def force_state(self, request: web.Request) -> web.Response:
        """强制示忙/示闲/注销: a supervisor sets an agent's status."""
        await self.supervisor(request)
        agent = request.match_info["agent"]
        self.acd.agent(agent)
        body = await _body(request)
        if body.get("state") == "logged-out":
            await self.acd.log_out(agent)
            await self.store.revoke_tokens(agent)
            return _json(self._agent_json(agent))
        return _json(await self._set_state(agent, body))

    async def _set_state(self, agent: str, body: dict[str, Any]) -> dict[str, Any]:
        name = _text(body, "state")
        status = STATUSES.get(name)
        if status is None:
            raise BadRequest(f"state: one of {', '.join(STATUSES)}, got {name!r}", field="state")
        reason = str(body.get("reason", ""))
        await self.acd.set_status(agent, status, reason)
        return self._agent_json(agent)

    async def my_mute(self, request: web.Request) -> web.Response:
        who = await self.identity(request)
        body = await _body(request)
        muted = body.get("muted")
        if not isinstance(muted, bool):
            raise BadRequest("muted: true or false", field="muted")
        await self.acd.set_muted(who.agent, muted)
        if self.acd.agents[who.agent].call_id in self.acd.conversations:
            await self.acd.act(self.acd.call_of(who.agent), "mute", muted=muted, by=who.agent)
        return _json(self._agent_json(who.agent))

    async def my_wrapup_end(self, request: web.Request) -> web.Response:
        """结束文书处理: back to ready before the wrap-up time is up."""
        who = await self.identity(request)
        await self.acd.end_wrapup(who.agent)
        return _json(self._agent_json(who.agent))

    async def my_password(self, request: web.Request) -> web.Response:
        who = await self.identity(request)
        body = await _body(request)
        old, new = _text(body, "old"), _text(body, "new")
        if not await self.store.check_password(who.agent, old):
            raise Forbidden("the current password is wrong")
        if len(new) < 8:
            raise BadRequest("new: at least 8 characters", field="new")
        await self.store.set_password(who.agent, new)
        return _json({"agent": who.agent, "password": "changed"})

    async def my_queue(self, request: web.Request) -> web.Response:
        """签入/签出 a skill group."""
        who = await self.identity(request)
        body = await _body(request)
        signed_in = body.get("signed_in")
        if not isinstance(signed_in, bool):
            raise BadRequest("signed_in: true or false", field="signed_in")
        queue = request.match_info["queue"]
        self.acd.queue(queue)
        await self.acd.sign(who.agent, queue, signed_in)
        return _json(self._agent_json(who.agent))

    async def my_missed(self, request: web.Request) -> web.Response:
        who = await self.identity(request)
        rows = await self.store.missed_by(who.agent)
        return _json(
            {
                "missed": [
                    {
                        "call": r.call_id,
                        "caller": r.caller,
                        "queue": r.queue,
                        "at": r.offered_at.isoformat(),
                        "outcome": r.outcome,
                        "rang_s": r.ring_s,
                    }
                    for r in rows
                ]
            }
        )

    async def queues(self, request: web.Request) -> web.Response:
        """排队电话: the calls waiting in the queues the agent serves (all, for supervisors)."""
        who = await self.identity(request)
        setup = self.acd.setup
        mine = None
        if not who.supervisor:
            agent = self.acd.agent(who.agent)
            mine = set(self.acd.queues_of(agent, self.acd.session(who.agent), setup))
        return _json({"calls": self._waiting_json(mine)})

    async def live(self, request: web.Request) -> web.Response:
        """动态监控: queues, waiting calls and agents' states, for supervisors."""
        await self.supervisor(request)
        return _json(self.snapshot())

    def snapshot(self) -> dict[str, Any]:
        setup = self.acd.setup
        waiting = self._waiting_json(None)
        return {
            "queues": [
                {
                    "queue": name,
                    "waiting": sum(1 for c in waiting if c["queue"] == name),
                    "longest_wait": max(
                        (c["waited"] for c in waiting if c["queue"] == name), default=0
                    ),
                }
                for name in setup.queues
            ],
            "calls": waiting,
            "agents": [self._agent_json(n) for n in setup.agents],
        }

    def _waiting_json(self, queues: set[str] | None) -> list[dict[str, Any]]:
        now = self.acd.clock()
        calls = []
        for waiter in self.acd.waiting.values():
            call = waiter.call
            if queues is not None and call.queue not in queues:
                continue
            calls.append(
                {
                    "call": call.call_id,
                    "caller": waiter.caller,
                    "queue": call.queue,
                    "priority": call.priority,
                    "vip": call.vip,
                    "region": call.region,
                    "waited": round(now - call.joined_at, 1),
                    "position": self.acd.position(call.call_id),
                    "ringing": waiter.ringing,
                }
            )
        return sorted(calls, key=lambda c: (c["queue"], c["position"]))

    def _agent_json(self, number: str) -> dict[str, Any]:
        agent = self.acd.agent(number)
        session = self.acd.session(number)
        return {
            "agent": number,
            "name": agent.name,
            "role": agent.role.value,
            "state": session.state,
            "reason": session.reason,
            "extension": session.extension,
            "call": session.call_id,
            "muted": session.muted,
            "skills": dict(agent.skills),
            "queues": self.acd.queues_of(agent, session, self.acd.setup),
            "wrapup_until": session.wrapup_until or None,
        }

    # --- calls -------------------------------------------------------------------------------
    async def my_call(self, request: web.Request) -> web.Response:
        """来电弹屏: the caller, their region, and their past calls with outcomes."""
        who = await self.identity(request)
        call_id = self.acd.call_of(who.agent)
        return _json(await self.screen_pop(call_id))

    async def my_call_action(self, request: web.Request) -> web.Response:
        """hold, resume, transfer {to: queue:NAME}, sequence {kind}, survey {enabled: false
        switches the satisfaction survey off for this call; now: true hands the caller to
        it at once}: on my current call."""
        who = await self.identity(request)
        call_id = self.acd.call_of(who.agent)
        action = request.match_info["action"]
        body = await _body(request)
        args: dict[str, Any] = {"by": who.agent}
        if action in ("hold", "resume"):
            pass
        elif action == "transfer":
            kind, _, target = _text(body, "to").partition(":")
            if kind == "queue":
                self.acd.queue(target)
                action, args["queue"] = "transfer-queue", target
            elif kind == "agent":
                self.acd.agent(target)
                action, args["agent"] = "transfer-agent", target
            elif kind == "outside":
                if not self.outside_transfer:
                    raise Forbidden(
                        "transfers to outside numbers are switched off (acd.outside_transfer)"
                    )
                if not target.isdigit():
                    raise BadRequest(f"to: outside:DIGITS, got {target!r}", field="to")
                action, args["number"] = "transfer-outside", target
            else:
                raise BadRequest(
                    f"to: queue:NAME, agent:NUMBER or outside:NUMBER, got {body['to']!r}",
                    field="to",
                )
        elif action == "survey":
            for name in ("enabled", "now"):
                if name in body and not isinstance(body[name], bool):
                    raise BadRequest(f"{name}: true or false", field=name)
            args["enabled"] = body.get("enabled", True)
            args["now"] = body.get("now", False)
        elif action == "sequence":
            kind = _text(body, "kind")
            if kind not in SEQUENCES:
                raise BadRequest(f"kind: one of {', '.join(SEQUENCES)}", field="kind")
            args["kind"] = kind
        else:
            raise NotFound(f"no call action '{action}'", action=action)
        return _json({"call": call_id, **await self.acd.act(call_id, action, **args)})

    async def pick_up(self, request: web.Request) -> web.Response:
        """抢接: take a call that is ringing at another agent."""
        who = await self.identity(request)
        call_id = request.match_info["call"]
        await self.acd.pick_up(who.agent, call_id)
        return _json({"call": call_id, "agent": who.agent, "state": "ringing"})

    async def supervise(self, request: web.Request) -> web.Response:
        """监听 listen, 密语 whisper, 强插 barge, 拦截 takeover: the supervisor's phone (where
        they are logged in) rings and joins the call in that mode."""
        who = await self.supervisor(request)
        body = await _body(request)
        mode = _text(body, "mode")
        if mode not in ("listen", "whisper", "barge", "takeover"):
            raise BadRequest("mode: listen, whisper, barge or takeover", field="mode")
        session = self.acd.session(who.agent)
        if not session.logged_in or session.call_id:
            raise Forbidden(
                f"supervisor {who.agent} must be logged in at a phone and not on a call",
                state=session.state,
            )
        call_id = request.match_info["call"]
        result = await self.acd.act(call_id, mode, by=who.agent, extension=session.extension)
        return _json({"call": call_id, **result})

    async def force_hangup(self, request: web.Request) -> web.Response:
        """强制挂机"""
        who = await self.supervisor(request)
        call_id = request.match_info["call"]
        return _json({"call": call_id, **await self.acd.act(call_id, "hangup", by=who.agent)})

    async def screen_pop(self, call_id: str) -> dict[str, Any]:
        agent_number, _ = self.acd.conversations[call_id]
        info = await self.history(call_id)
        return {"call": call_id, "agent": agent_number, **info}

    # --- blacklist requests ---------------------------------------------------------------
    async def blacklist_request(self, request: web.Request) -> web.Response:
        """An agent asks to blacklist a number (by default the caller they talk to)."""
        who = await self.identity(request)
        body = await _body(request)
        call_id = ""
        number = str(body.get("number", ""))
        if not number:
            call_id = self.acd.call_of(who.agent)
            number = str((await self.history(call_id))["caller"])
        row = await self.blacklist.request(number, str(body.get("reason", "")), who.agent, call_id)
        return _json(_request_json(row))

    async def blacklist_requests(self, request: web.Request) -> web.Response:
        await self.supervisor(request)
        return _json({"requests": [_request_json(r) for r in await self.blacklist.requests()]})

    async def blacklist_decide(self, request: web.Request) -> web.Response:
        who = await self.supervisor(request)
        body = await _body(request)
        approve = body.get("approve")
        if not isinstance(approve, bool):
            raise BadRequest("approve: true or false", field="approve")
        try:
            request_id = int(request.match_info["request"])
        except ValueError:
            raise BadRequest("the request id is a number") from None
        row = await self.blacklist.decide(request_id, approve, who.agent)
        return _json(_request_json(row))

    # --- live events --------------------------------------------------------------------------
    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        who = await self.identity(request)
        ws = web.WebSocketResponse(heartbeat=20)
        await ws.prepare(request)
        queue = self.events.subscribe()
        await ws.send_json({"type": "hello", "agent": who.agent, **self.snapshot()})
        reader = asyncio.create_task(self._drain(ws), name=f"ws-read-{who.agent}")
        try:
            while not reader.done():
                getter = asyncio.create_task(queue.get())
                done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    break
                await ws.send_json(getter.result())
        finally:
            self.events.unsubscribe(queue)
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await ws.close()
        return ws

    @staticmethod
    async def _drain(ws: web.WebSocketResponse) -> None:
        """Read (and ignore) what the client sends until it goes."""
        async for message in ws:
            if message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                return

    async def openapi(self, _request: web.Request) -> web.Response:
        return _json(openapi_document(self.more_paths))


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest("the body is not JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def _request_json(row: BlacklistRequest) -> dict[str, Any]:
    return {
        "id": row.id,
        "number": row.number,
        "reason": row.reason,
        "call": row.call_id,
        "requested_by": row.requested_by,
        "status": row.status,
        "decided_by": row.decided_by,
    }


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{name}: required text", field=name)
    return value


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False))


def openapi_document(more_paths: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The API as OpenAPI 3.1: paths, who may call them, and the error shape; with
    ``more_paths``, the routes other capabilities serve under /api (recordings, reports)."""
    bearer: list[dict[str, list[str]]] = [{"token": []}]

    def op(summary: str, supervisor: bool = False, body: dict[str, Any] | None = None) -> Any:
        operation: dict[str, Any] = {
            "summary": summary + (" (supervisors only)" if supervisor else ""),
            "security": bearer,
            "responses": {
                "200": {"description": "OK"},
                "400": {"$ref": "#/components/responses/Error"},
                "401": {"$ref": "#/components/responses/Error"},
                **({"403": {"$ref": "#/components/responses/Error"}} if supervisor else {}),
            },
        }
        if body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object", **body}}},
            }
        return operation

    state_body = {
        "properties": {
            "state": {"enum": ["ready", "not-ready", "break"]},
            "reason": {"type": "string"},
        },
        "required": ["state"],
    }
    login = op(
        "log in at an extension; returns a bearer token",
        body={
            "properties": {
                "agent": {"type": "string"},
                "extension": {"type": "string"},
                "password": {"type": "string"},
                "lifetime": {"type": "number", "description": "seconds, at most the default"},
            },
            "required": ["agent", "extension", "password"],
        },
    )
    login["security"] = []
    return {
        "openapi": "3.1.0",
        "info": {"title": "Hotline agents and supervisors", "version": "1"},
        "components": {
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
            "responses": {
                "Error": {
                    "description": "error_id (stable), message, details",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "error_id": {"type": "string"},
                                    "message": {"type": "string"},
                                    "details": {"type": "object"},
                                },
                            }
                        }
                    },
                }
            },
        },
        "paths": dict(more_paths or {})
        | {
            "/api/login": {"post": login},
            "/api/logout": {"post": op("log out (after the current call) and end every token")},
            "/api/me": {"get": op("my state, skills and queues")},
            "/api/me/state": {"post": op("ready / not ready (reason) / break", body=state_body)},
            "/api/me/mute": {"post": op("mute or unmute")},
            "/api/me/wrap-up/end": {"post": op("end my wrap-up now (409 when not in wrap-up)")},
            "/api/me/password": {"post": op("change my password")},
            "/api/me/queues/{queue}": {"post": op("sign in to or out of a skill group")},
            "/api/me/missed": {"get": op("calls offered to me that I did not answer")},
            "/api/queues": {"get": op("the calls waiting in my queues")},
            "/api/live": {"get": op("queues, waiting calls and agents", supervisor=True)},
            "/api/agents/{agent}/state": {
                "post": op("force ready / not ready / break / logged-out", supervisor=True)
            },
            "/api/me/call": {"get": op("my current call: the screen pop")},
            "/api/me/call/{action}": {
                "post": op(
                    "hold, resume, transfer {to}, sequence {kind}, survey {enabled, now} on my call"
                )
            },
            "/api/calls/{call}/pickup": {"post": op("take a call ringing at another agent")},
            "/api/calls/{call}/supervise": {
                "post": op("listen, whisper, barge or take over", supervisor=True)
            },
            "/api/calls/{call}/hangup": {"post": op("force the call to end", supervisor=True)},
            "/api/blacklist/requests": {
                "post": op("ask for a number (default: my caller) to be blacklisted"),
                "get": op("pending blacklist requests", supervisor=True),
            },
            "/api/blacklist/requests/{request}": {
                "post": op("approve or reject a blacklist request", supervisor=True)
            },
            "/api/events": {"get": op("live events over a WebSocket (token= in the query)")},
        },
    }


def query_instant(query: Mapping[str, str], name: str) -> datetime | None:
    """An ISO date-time from the query, in UTC (a naive one is taken as UTC already),
    because the database keeps UTC and SQLite compares the text without offsets. Shared
    by the recordings' and the reports' APIs."""
    text = query.get(name, "")
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(
            f"{name}: an ISO date-time like 2026-11-22T08:00:00+08:00 "
            f"(send + as %2B in a query), got {text!r}",
            field=name,
        ) from None
    return aware(at).astimezone(UTC)
