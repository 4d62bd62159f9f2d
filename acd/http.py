"""The agents' and supervisors' HTTP API (JSON under /api, described by /api/openapi.json):
logging in, the agent's own state, and the supervisors' view of the ACD.

Log in with agent number, extension and password: the answer holds a bearer token
(random, stored only as a hash, with an expiry) that every other request carries.
Supervisors may do everything agents may, plus the supervision actions; an agent asking
for one gets 403. Errors come back as ``{error_id, message, details}`` (hotline.http).
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from acd.agents import Status
from acd.engine import Acd
from acd.logins import LoginGuard
from acd.store import AcdStore
from acd.views import agent_json, snapshot, waiting_json
from hotline.api import (
    BadRequest,
    Forbidden,
    Identity,
    Unauthorized,
    json_response,
    number_in,
    read_body,
    required_text,
    supervisor_of,
)
from hotline.errors import HotlineError
from hotline.outbound import OutboundPolicy

log = logging.getLogger(__name__)

STATUSES = {"ready": Status.READY, "not-ready": Status.NOT_READY, "break": Status.BREAK}


MAX_REASON = 100  # a not-ready reason is a word or two (午餐, 培训), not a letter


class DeskInUse(HotlineError):
    error_id = "desk-in-use"
    http_status = 409


class AgentApi:
    def __init__(
        self, acd: Acd, store: AcdStore, token_lifetime: float, guard: LoginGuard | None = None
    ) -> None:
        self.acd = acd
        self.store = store
        self.token_lifetime = token_lifetime
        self.guard = guard or LoginGuard()

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

    async def identity(self, request: web.Request) -> Identity:
        """Who sent the request: a token that has not expired, of an agent still in the
        ACD file, with the role the file gives them now (a demoted supervisor's old token
        is an agent's; a removed agent's is refused)."""
        token = sent_token(request)
        if not token:
            raise Unauthorized("log in first: POST /api/login, then send Authorization: Bearer")
        owner = await self.store.token_owner(token)
        if owner is None:
            raise Unauthorized("the token is unknown or has expired; log in again")
        agent = self.acd.setup.agents.get(owner.agent)
        if agent is None:
            raise Unauthorized(f"agent {owner.agent} is no longer in the ACD file")
        return Identity(owner.agent, agent.role, owner.expires_at)

    async def supervisor(self, request: web.Request) -> Identity:
        return await supervisor_of(self.identity, request)

    # --- agents ------------------------------------------------------------------------------
    async def login(self, request: web.Request) -> web.Response:
        body = await read_body(request)
        number = required_text(body, "agent")
        extension = required_text(body, "extension")
        password = required_text(body, "password")
        lifetime = number_in(body, "lifetime", self.token_lifetime)
        if not (extension.isascii() and extension.isdigit()):
            raise BadRequest("extension: expected digits", field="extension")
        if not 1 <= lifetime <= self.token_lifetime:
            raise BadRequest(
                f"lifetime: between 1 and {self.token_lifetime:g} seconds", field="lifetime"
            )
        source = request.remote or ""
        self.guard.check(number, source)
        agent = self.acd.setup.agents.get(number)
        if not await self.store.check_password(number, password) or agent is None:
            self.guard.failed(number, source)
            raise Unauthorized("wrong agent number or password")
        self.guard.succeeded(number)
        self._check_desk(number, extension)
        session = self.acd.session(number)
        if session.logged_in and session.extension != extension:
            await self.acd.log_out(number)  # a new desk: the old one is left
        if not session.logged_in:
            await self.acd.log_in(number, extension)
        issued = await self.store.issue_token(number, agent.role.value, lifetime)
        return json_response(
            {
                "token": issued.token,
                "expires_at": issued.expires_at.isoformat(),
                "agent": number,
                "role": agent.role.value,
                **agent_json(self.acd, number),
            }
        )

    def _check_desk(self, number: str, extension: str) -> None:
        """The ACD rings an agent where they log in: only at a desk of theirs (403), and
        not while a colleague is logged in there (409). Checked once the password is
        right, so that guessers learn nothing of the desks."""
        OutboundPolicy.desk(number, extension, self.acd.setup.desks())
        for other, session in self.acd.agents.items():
            if other != number and session.logged_in and session.extension == extension:
                raise DeskInUse(
                    f"agent {other} is logged in at extension {extension}",
                    agent=other,
                    extension=extension,
                )

    async def logout(self, request: web.Request) -> web.Response:
        who = await self.identity(request)
        session = await self.acd.log_out(who.agent)
        await self.store.revoke_tokens(who.agent)
        return json_response({"agent": who.agent, "state": session.state})

    async def me(self, request: web.Request) -> web.Response:
        who = await self.identity(request)
        return json_response(agent_json(self.acd, who.agent))

    async def my_state(self, request: web.Request) -> web.Response:
        who = await self.identity(request)
        return json_response(await self._set_state(who.agent, await read_body(request)))

    async def force_state(self, request: web.Request) -> web.Response:
        """强制示忙/示闲/注销: a supervisor sets an agent's status."""
        await self.supervisor(request)
        agent = request.match_info["agent"]
        self.acd.agent(agent)
        body = await read_body(request)
        if body.get("state") == "logged-out":
            await self.acd.log_out(agent)
            await self.store.revoke_tokens(agent)
            return json_response(agent_json(self.acd, agent))
        return json_response(await self._set_state(agent, body))

    async def _set_state(self, agent: str, body: dict[str, Any]) -> dict[str, Any]:
        name = required_text(body, "state")
        status = STATUSES.get(name)
        if status is None:
            raise BadRequest(f"state: one of {', '.join(STATUSES)}, got {name!r}", field="state")
        reason = body.get("reason", "")
        if not isinstance(reason, str) or len(reason) > MAX_REASON:
            raise BadRequest(f"reason: text of at most {MAX_REASON} characters", field="reason")
        await self.acd.set_status(agent, status, reason)
        return agent_json(self.acd, agent)

    async def my_mute(self, request: web.Request) -> web.Response:
        who = await self.identity(request)
        body = await read_body(request)
        muted = body.get("muted")
        if not isinstance(muted, bool):
            raise BadRequest("muted: true or false", field="muted")
        await self.acd.set_muted(who.agent, muted)
        if self.acd.agents[who.agent].call_id in self.acd.conversations:
            await self.acd.act(self.acd.call_of(who.agent), "mute", muted=muted, by=who.agent)
        return json_response(agent_json(self.acd, who.agent))

    async def my_wrapup_end(self, request: web.Request) -> web.Response:
        """结束文书处理: back to ready before the wrap-up time is up."""
        who = await self.identity(request)
        await self.acd.end_wrapup(who.agent)
        return json_response(agent_json(self.acd, who.agent))

    async def my_password(self, request: web.Request) -> web.Response:
        who = await self.identity(request)
        body = await read_body(request)
        old, new = required_text(body, "old"), required_text(body, "new")
        if not await self.store.check_password(who.agent, old):
            raise Forbidden("the current password is wrong")
        if len(new) < 8:
            raise BadRequest("new: at least 8 characters", field="new")
        await self.store.set_password(who.agent, new)
        # Whoever else holds one of this agent's tokens (a desk left logged in, a stolen
        # token) is out; the desk that changed it stays in.
        await self.store.revoke_tokens(who.agent, keep=sent_token(request))
        return json_response({"agent": who.agent, "password": "changed"})

    async def my_queue(self, request: web.Request) -> web.Response:
        """签入/签出 a skill group."""
        who = await self.identity(request)
        body = await read_body(request)
        signed_in = body.get("signed_in")
        if not isinstance(signed_in, bool):
            raise BadRequest("signed_in: true or false", field="signed_in")
        queue = request.match_info["queue"]
        self.acd.queue(queue)
        await self.acd.sign(who.agent, queue, signed_in)
        return json_response(agent_json(self.acd, who.agent))

    async def my_missed(self, request: web.Request) -> web.Response:
        who = await self.identity(request)
        rows = await self.store.missed_by(who.agent)
        return json_response(
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
        return json_response({"calls": waiting_json(self.acd, mine)})

    async def live(self, request: web.Request) -> web.Response:
        """动态监控: queues, waiting calls and agents' states, for supervisors."""
        await self.supervisor(request)
        return json_response(self.snapshot())

    def snapshot(self) -> dict[str, Any]:
        return snapshot(self.acd)


def sent_token(request: web.Request) -> str:
    """The bearer token of a request; in the query (``?token=``) only for the live-events
    WebSocket, which browsers cannot give a header (and the access log never shows it)."""
    header = request.headers.get("Authorization", "")
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    if not token and request.path == "/api/events":
        token = request.query.get("token", "")
    return token
