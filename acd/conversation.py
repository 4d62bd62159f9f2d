"""An agent talking to a caller in the call's bridge, with any supervisors: hold, mute,
transfers, listening in, barging, taking over; actions from the API arrive as events
(``Acd.act``) and are answered when done. The conversation ends when the agent hangs up,
the caller hangs up, or the agent passes the caller on (``Handover``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from acd.engine import Acd
from acd.waiter import ACTION_EVENT
from hotline.calls import legs
from hotline.calls.session import CallChannel, CallerHungUp
from hotline.calls.timeline import Kind
from hotline.errors import HotlineError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TalkPorts:
    """What a conversation uses besides the caller's channel."""

    call_id: str
    channel: CallChannel
    acd: Acd
    legs: legs.LegPlan
    agent_dial: str  # e.g. "PJSIP/{target}"
    log: Callable[..., Awaitable[None]]  # (kind, **data) onto the call's timeline
    # (agent, leg): a supervisor took the call over; stored before anything else.
    taken_over: Callable[[str, str], Awaitable[None]]


async def talk(
    ports: TalkPorts, agent: str, leg: str, bridge: str, queue: str
) -> tuple[str | Handover, Served | None]:
    """Caller and agent talk until one hangs up or the agent passes the caller on.
    The agent hanging up leaves the caller with the controller (the survey follows); the
    caller hanging up ends the agent's leg too. Either way the agent's wrap-up starts.
    Returns how it ended and, when it ended in the bridge, who served the caller."""
    acd, channel = ports.acd, ports.channel
    conversation = Conversation(ports, agent, leg, bridge, queue)
    acd.talking(ports.call_id, agent, channel.deliver)
    await acd.on_the_call(agent, ports.call_id)  # after a restart, whatever was stored
    try:
        result = await conversation.run()
    except asyncio.CancelledError:
        acd.done_talking(ports.call_id)
        raise  # the controller is stopping: the conversation stays for the next one
    except BaseException as exc:
        acd.done_talking(ports.call_id)
        await conversation.end()  # the caller went (or worse): so does everyone else
        if isinstance(exc, CallerHungUp):
            await ports.log(Kind.CALLER_HUNG_UP, agent=conversation.agent)
            return "answered", Served(conversation.agent, queue, False, False)
        raise
    acd.done_talking(ports.call_id)
    await conversation.end()
    if result == "answered":  # the agent hung up: the caller is still on the line
        return result, Served(conversation.agent, queue, True, conversation.survey)
    return result, None


@dataclass(frozen=True)
class Served:
    """How a conversation with an agent ended."""

    agent: str
    queue: str
    caller_stayed: bool  # the agent hung up; the caller is still on the line
    survey: bool  # the agent left the satisfaction survey on for this call


@dataclass(frozen=True)
class Handover:
    """A conversation the agent ended by passing the caller on."""

    kind: str  # queue, agent, outside (a transfer) or sequence (a line sequence, R-3)
    target: str  # the queue, the agent, the number, or the sequence's kind
    queue: str = ""  # the queue the call was in


class Conversation:
    """Caller, agent and any supervisors, in the call's bridge; owns every leg it adds."""

    def __init__(self, ports: TalkPorts, agent: str, leg: str, bridge: str, queue: str):
        self.call_id = ports.call_id
        self.channel = ports.channel
        self.ari = ports.channel.ari
        self.acd = ports.acd
        self.ports = ports
        self.agent = agent
        self.leg = leg
        self.bridge = bridge
        self.queue = queue
        self.extras: list[str] = []  # supervisors' legs and snoops
        self.side_bridges: list[str] = []
        self.on_hold = False
        self.survey = True  # the agent may switch it off for this call

    async def run(self) -> str | Handover:
        if not await legs.exists(self.channel, self.leg):
            return await self._agent_gone()  # it went while no controller was looking
        while True:
            event = await self.channel.wait_event(
                lambda e: (
                    (e.about(self.leg) and e.type in legs.GONE_EVENTS) or e.type == ACTION_EVENT
                ),
                None,
            )
            if event.type != ACTION_EVENT:
                return await self._agent_gone()
            future: asyncio.Future[dict[str, Any]] = event.raw["future"]
            if future.done():  # the asker gave up waiting (timed out): too late to act
                log.warning("call %s: %s came too late", self.call_id, event.raw["action"])
                continue
            try:
                result, handover = await self._act(str(event.raw["action"]), event.raw)
            except HotlineError as exc:
                if not future.done():
                    future.set_exception(exc)
                continue
            if not future.done():
                future.set_result(result)
            if handover is not None:
                return handover
            if not await legs.exists(self.channel, self.leg):
                return await self._agent_gone()  # while we were busy acting

    async def _agent_gone(self) -> str:
        await self.ports.log(Kind.AGENT_HUNG_UP, agent=self.agent)
        return "answered"

    async def _act(
        self, action: str, args: dict[str, Any]
    ) -> tuple[dict[str, Any], Handover | None]:
        await self.ports.log(Kind.ACTION, action=action, by=str(args.get("by", "")))
        if action == "hold":
            await self._hold(True)
            return {"held": True}, None
        if action == "resume":
            await self._hold(False)
            return {"held": False}, None
        if action == "mute":  # 静音: the caller stops hearing the agent
            if args["muted"]:
                await self.ari.mute(self.leg, "in")
            else:
                await self.ari.unmute(self.leg, "in")
            return {"muted": bool(args["muted"])}, None
        if action == "transfer-queue":
            target = str(args["queue"])
            self.acd.queue(target)  # unknown -> 404 before anything changes
            return {"transferred": target}, Handover("queue", target)
        if action == "transfer-agent":
            target = str(args["agent"])
            session = self.acd.session(target)
            if not session.offerable or target == self.agent:
                raise ActionRefused(
                    f"agent {target} cannot take a call now: {session.state}",
                    agent=target,
                    state=session.state,
                )
            return {"transferred": target}, Handover("agent", target, self.queue)
        if action == "transfer-outside":
            number = str(args["number"])
            return {"transferred": number}, Handover("outside", number, self.queue)
        if action == "survey":
            # Off: the caller hears goodbye only. Now: the agent leaves and the caller
            # hears the survey at once (the agent "pushes" it).
            self.survey = bool(args.get("enabled", True))
            if args.get("now"):
                self.survey = True
                await legs.quietly(self.ari.hangup(self.leg))
            return {"survey": self.survey, "now": bool(args.get("now"))}, None
        if action == "sequence":
            return {"sequence": args["kind"]}, Handover("sequence", str(args["kind"]))
        if action in ("listen", "whisper", "barge", "takeover"):
            return await self._supervise(action, str(args["by"]), str(args["extension"])), None
        if action == "hangup":
            await self.channel.hangup()
            return {"hung_up": True}, None
        raise ActionRefused(f"unknown action '{action}'", action=action)

    async def _hold(self, hold: bool) -> None:
        """保持: the agent steps out of the call's bridge and hears silence; the caller
        hears music on hold there (and so does the recording)."""
        if hold == self.on_hold:
            return
        if hold:
            await self.ari.remove_from_bridge(self.bridge, [self.leg])
            await legs.quietly(self.channel.start_music("default"))
        else:
            await legs.quietly(self.channel.stop_music())
            await self.ari.add_to_bridge(self.bridge, [self.leg])
        self.on_hold = hold

    async def _supervise(self, how: str, supervisor: str, extension: str) -> dict[str, Any]:
        """监听 / 密语 / 强插 / 拦截: the supervisor's phone rings and joins."""
        plan = self.ports.legs
        sup_leg = legs.new_leg_id()
        plan.attach(sup_leg, self.channel.channel_id)
        self.extras.append(sup_leg)
        outcome, _ = await legs.ring(
            self.channel,
            plan,
            sup_leg,
            self.ports.agent_dial.format(target=extension),
            30,
            ringback=False,
        )
        if outcome is not legs.RingOutcome.ANSWERED:
            raise ActionRefused(
                f"supervisor {supervisor}'s phone {extension}: {outcome.value}",
                outcome=outcome.value,
            )
        if how in ("barge", "takeover"):
            await self.ari.add_to_bridge(self.bridge, [sup_leg])
            if how == "takeover":  # the agent is cut out; the supervisor is the agent now
                old_agent, old_leg = self.agent, self.leg
                self.agent, self.leg = supervisor, sup_leg
                self.extras.remove(sup_leg)
                await legs.quietly(self.ari.hangup(old_leg))
                plan.detach(old_leg)
                await self.acd.call_ended(old_agent, self.call_id, self.queue)
                await self.acd.connected(supervisor, self.call_id)
                self.acd.talking(self.call_id, supervisor, self.channel.deliver)
                await self.ports.taken_over(supervisor, sup_leg)
            return {"supervisor": supervisor, "mode": how}
        # Listen or whisper: a snoop on the agent's leg, bridged with the supervisor.
        snoop = legs.new_leg_id()
        plan.attach(snoop, self.channel.channel_id)
        self.extras.append(snoop)
        await self.ari.snoop(
            self.leg,
            snoop,
            self.ports.legs.app,
            spy="both",
            whisper="out" if how == "whisper" else "none",
        )
        await self.channel.wait_event(lambda e: e.about(snoop) and e.type == "StasisStart", 5)
        side = f"{legs.bridge_id(self.call_id)}-{how}-{snoop[-6:]}"
        await self.ari.create_bridge(side)
        self.side_bridges.append(side)
        await self.ari.add_to_bridge(side, [snoop, sup_leg])
        return {"supervisor": supervisor, "mode": how}

    async def end(self) -> None:
        """Hang up every leg this conversation holds and remove its side bridges (the
        call's own bridge stays: the caller may hear the survey or wait again)."""
        plan = self.ports.legs
        for channel_id in [self.leg, *self.extras]:
            await legs.quietly(self.ari.hangup(channel_id))
            plan.detach(channel_id)
        if self.on_hold:
            await legs.quietly(self.channel.stop_music())
        for bridge in self.side_bridges:
            await legs.quietly(self.ari.destroy_bridge(bridge))
        await asyncio.shield(self.acd.call_ended(self.agent, self.call_id, self.queue))


class ActionRefused(HotlineError):
    error_id = "action-refused"
    http_status = 409
