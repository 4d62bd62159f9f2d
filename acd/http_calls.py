"""A call in progress over the agents' API: the screen pop, the agent's own actions on it
(hold, transfer, the survey, a line sequence), picking up a call ringing elsewhere, and
the supervisors' interventions. Each action reaches the call's own task as an event
(``Acd.act``) and is answered when the call has done it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from acd.engine import Acd
from hotline.api import (
    BadRequest,
    Forbidden,
    Identify,
    NotFound,
    json_response,
    read_body,
    required_text,
    supervisor_of,
)
from hotline.outbound import OutboundPolicy

SEQUENCES = ("silent", "open-line", "noisy", "quiet")


class CallsApi:
    def __init__(
        self,
        acd: Acd,
        identify: Identify,
        history: Callable[[str], Awaitable[dict[str, Any]]],
        outbound: OutboundPolicy,
    ) -> None:
        self.acd = acd
        self.identify = identify
        self.history = history  # call id -> the caller and their past calls
        self.outbound = outbound

    def routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/api/me/call", self.my_call)
        r.add_post("/api/me/call/{action}", self.my_call_action)
        r.add_post("/api/calls/{call}/pickup", self.pick_up)
        r.add_post("/api/calls/{call}/supervise", self.supervise)
        r.add_post("/api/calls/{call}/hangup", self.force_hangup)

    async def current_caller(self, agent: str) -> tuple[str, str]:
        """The agent's current call and its caller's number (404 when on no call)."""
        call_id = self.acd.call_of(agent)
        return call_id, str((await self.history(call_id))["caller"])

    async def my_call(self, request: web.Request) -> web.Response:
        """来电弹屏: the caller, their region, and their past calls with outcomes."""
        who = await self.identify(request)
        call_id = self.acd.call_of(who.agent)
        return json_response(await self.screen_pop(call_id))

    async def my_call_action(self, request: web.Request) -> web.Response:
        """hold, resume, transfer {to: queue:NAME}, sequence {kind}, survey {enabled: false
        switches the satisfaction survey off for this call; now: true hands the caller to
        it at once}: on my current call."""
        who = await self.identify(request)
        call_id = self.acd.call_of(who.agent)
        action = request.match_info["action"]
        body = await read_body(request)
        args: dict[str, Any] = {"by": who.agent}
        if action in ("hold", "resume"):
            pass
        elif action == "transfer":
            kind, _, target = required_text(body, "to").partition(":")
            if kind == "queue":
                self.acd.queue(target)
                action, args["queue"] = "transfer-queue", target
            elif kind == "agent":
                self.acd.agent(target)
                action, args["agent"] = "transfer-agent", target
            elif kind == "outside":
                # Refused here (403, the reason) before anything is dialled; the number
                # goes on in the one form it is dialled in.
                number = self.outbound.check(target, who.role.value)
                action, args["number"] = "transfer-outside", number
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
            kind = required_text(body, "kind")
            if kind not in SEQUENCES:
                raise BadRequest(f"kind: one of {', '.join(SEQUENCES)}", field="kind")
            args["kind"] = kind
        else:
            raise NotFound(f"no call action '{action}'", action=action)
        return json_response({"call": call_id, **await self.acd.act(call_id, action, **args)})

    async def pick_up(self, request: web.Request) -> web.Response:
        """抢接: take a call that is ringing at another agent."""
        who = await self.identify(request)
        call_id = request.match_info["call"]
        await self.acd.pick_up(who.agent, call_id)
        return json_response({"call": call_id, "agent": who.agent, "state": "ringing"})

    async def supervise(self, request: web.Request) -> web.Response:
        """监听 listen, 密语 whisper, 强插 barge, 拦截 takeover: the supervisor's phone (where
        they are logged in) rings and joins the call in that mode."""
        who = await supervisor_of(self.identify, request)
        body = await read_body(request)
        mode = required_text(body, "mode")
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
        return json_response({"call": call_id, **result})

    async def force_hangup(self, request: web.Request) -> web.Response:
        """强制挂机"""
        who = await supervisor_of(self.identify, request)
        call_id = request.match_info["call"]
        return json_response(
            {"call": call_id, **await self.acd.act(call_id, "hangup", by=who.agent)}
        )

    async def screen_pop(self, call_id: str) -> dict[str, Any]:
        agent_number, _ = self.acd.conversations[call_id]
        info = await self.history(call_id)
        return {"call": call_id, "agent": agent_number, **info}
