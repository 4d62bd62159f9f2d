"""A caller in a queue, on the caller's own task: music on hold and announcements while
waiting, then the agent's phone ringing, then the conversation (R-4.5, R-4.6).

    waiting --offer--> ringing agent --answered--> talking --agent hangs up--> (menu call)
    waiting <--no answer / busy / unreachable-- ringing agent
    waiting --key 1--> callback filed          waiting --max wait--> callback or message
    waiting --overflow_after--> waiting in the overflow queue
    any --caller hangs up--> abandoned, with its wait stored (R-4.7)

The state is stored on the call record (``save``) at each step so a restarted controller
puts the caller back in the queue with the same join time, or back in the conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from acd import routing
from acd.agents import AgentStateError
from acd.engine import Acd
from acd.model import Queue
from acd.waiter import ACTION_EVENT, OFFER_EVENT, PICKUP_EVENT, UnknownQueue, Waiter
from hotline.ari.models import Event
from hotline.calls import legs
from hotline.calls.session import CallChannel, CallerHungUp
from hotline.calls.timeline import Kind
from hotline.errors import HotlineError

log = logging.getLogger(__name__)

MAX_COUNT = 10  # position and minutes are said up to ten


class TimelineLog(Protocol):
    """Writes one event of ``kind`` with ``data`` onto the call's timeline."""

    def __call__(self, kind: Kind, **data: Any) -> Awaitable[None]: ...


@dataclass(frozen=True)
class QueuePorts:
    """What a queued call uses besides its channel, given by the menu call."""

    acd: Acd
    legs: legs.LegPlan
    agent_dial: str  # e.g. "PJSIP/{target}"
    media: Callable[[str], str]  # prompt id -> media URI in the caller's language
    log: TimelineLog  # (kind, **data) onto the call's timeline
    save: Callable[[str, dict[str, Any]], Awaitable[None]]  # (state, variables)
    request_callback: Callable[[str], Awaitable[None]]  # (queue)
    record_message: Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Placement:
    """Where a call stands in a queue; stored for resume."""

    queue: str
    skills: tuple[str, ...]
    priority: int
    joined_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "skills": list(self.skills),
            "priority": self.priority,
            "joined_at": self.joined_at,
        }


class QueueCall:
    def __init__(self, call_id: str, channel: CallChannel, language: str, ports: QueuePorts):
        self.call_id = call_id
        self.channel = channel
        self.language = language
        self.ports = ports
        self.acd = ports.acd
        self.served: Served | None = None  # the last conversation, once it has ended

    async def run(self, placement: Placement) -> str | Handover | None:
        """Wait for an agent and talk. Returns the disposition (answered, callback,
        message), a hand-over to a line sequence, or None when nobody logged in could take
        the call (the menu's fallback applies). An agent's transfer to another queue puts
        the caller in that queue, at the priority they had."""
        direct = ""
        while True:
            result = await self._queue_once(placement, direct)
            if not (isinstance(result, Handover) and result.kind in ("queue", "agent")):
                return result
            if result.kind == "queue":
                placement, direct = Placement(result.target, (), placement.priority), ""
            else:  # to a named agent, from the queue the call was in
                placement, direct = Placement(result.queue, (), placement.priority), result.target

    async def _queue_once(self, placement: Placement, direct: str = "") -> str | Handover | None:
        """One stay in a queue; with ``direct``, that agent is rung first."""
        ports = self.ports
        await ports.log(
            Kind.QUEUED,
            queue=placement.queue,
            skills=list(placement.skills),
            priority=placement.priority,
            language=self.language,
        )
        try:
            waiter = await self.acd.join(
                self.call_id,
                placement.queue,
                placement.skills,
                placement.priority,
                self.channel.caller_number,
                self.language,
                self.channel.deliver,
                placement.joined_at,
                reachable=bool(direct),
            )
        except UnknownQueue:
            log.error(
                "call %s: the menu names queue '%s', which the ACD file lacks",
                self.call_id,
                placement.queue,
            )
            waiter = None
        if waiter is None:
            await ports.log(Kind.QUEUE_EMPTY, queue=placement.queue)
            return None
        joined = Placement(
            placement.queue, placement.skills, placement.priority, waiter.call.joined_at
        )
        await ports.save("queued", joined.as_dict())
        await ports.log(
            Kind.WAITING,
            queue=placement.queue,
            vip=waiter.call.vip,
            region=waiter.call.region,
            preferred=waiter.call.preferred,
            position=self.acd.position(self.call_id),
        )
        try:
            if direct:
                await self._music(True, waiter)
                try:
                    extension = await self.acd.reserve(waiter, direct)
                except AgentStateError:  # busy meanwhile: the queue takes over
                    extension = ""
                result = await self._ring(waiter, direct, extension) if extension else None
                if result is not None:
                    return result
                if not routing.reachable(
                    waiter.call, self.acd.views(self.acd.setup), self.acd.setup, self.acd.clock()
                ):
                    await self.acd.leave(waiter, "no-agent")
                    return None
            return await self._wait(waiter)
        except CallerHungUp:
            if self.call_id in self.acd.waiting:
                waited = await self.acd.leave(waiter, "abandoned")
                await ports.log(Kind.ABANDONED, queue=waiter.call.queue, wait=waited)
            raise
        finally:
            # Whatever else ends the wait (the controller stopping, an error): the ACD
            # must not keep a call nobody is waiting on, nor an agent ringing for it.
            if self.call_id in self.acd.waiting:
                await asyncio.shield(self.acd.leave(waiter, "interrupted"))

    # --- waiting ------------------------------------------------------------------------------
    async def _wait(self, waiter: Waiter) -> str | Handover:
        await self._music(True, waiter)
        announced = 0
        overflow_tried: set[str] = set()  # each queue's overflow is tried once
        while True:
            queue = self.acd.queue(waiter.call.queue)
            waited = self.acd.clock() - waiter.call.joined_at
            due_announce = queue.announce.first_after + announced * queue.announce.every
            deadlines = {"announce": due_announce, "max-wait": float(queue.max_wait)}
            if queue.overflow and queue.name not in overflow_tried:
                deadlines["overflow"] = float(queue.overflow_after)
            what, due = min(deadlines.items(), key=lambda kv: kv[1])
            event: Event | None
            try:
                event = await self.channel.wait_event(self._wakes_me, max(0.0, due - waited))
            except TimeoutError:
                if what == "announce":
                    announced += 1
                    # An announcement gives way to the overflow and the longest wait.
                    waited = self.acd.clock() - waiter.call.joined_at
                    limit = min(v for k, v in deadlines.items() if k != "announce") - waited
                    event = await self._announce(waiter, queue, max(0.0, limit))
                elif what == "overflow":
                    overflow_tried.add(queue.name)
                    await self._overflow(waiter, queue)
                    continue
                else:
                    return await self._max_wait(waiter)
            if event is None:
                continue
            outcome = await self._handle(waiter, event)
            if outcome is not None:
                return outcome

    def _wakes_me(self, event: Event) -> bool:
        return event.type == OFFER_EVENT or self.channel.is_key(event)

    async def _handle(self, waiter: Waiter, event: Event) -> str | Handover | None:
        if event.type == OFFER_EVENT:
            return await self._ring(waiter, str(event.raw["agent"]), str(event.raw["extension"]))
        queue = self.acd.queue(waiter.call.queue)
        if queue.announce.callback_key and event.digit == queue.announce.callback_key:
            return await self._callback(waiter)
        return None

    async def _announce(self, waiter: Waiter, queue: Queue, limit: float) -> Event | None:
        """「对不起,让您久等了」, position, expected wait, the callback key; an offer or a
        key cuts it short and is returned."""
        prompts = ["queue-sorry"]
        position = self.acd.position(self.call_id)
        if queue.announce.position and position > 0:
            if position > MAX_COUNT:
                prompts.append("queue-position-many")
            else:
                prompts += ["queue-position-before", f"count-{position}", "queue-position-after"]
        if queue.announce.expected_wait:
            minutes = max(1, min(MAX_COUNT, math.ceil(self.acd.expected_wait(self.call_id) / 60)))
            prompts += ["queue-wait-before", f"count-{minutes}", "queue-wait-minutes"]
        if queue.announce.callback_key:
            prompts.append("queue-callback-offer")
        await self.ports.log(Kind.ANNOUNCEMENT, prompts=prompts, position=position)
        await self._music(False, waiter)
        event = None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(limit):
                event = await self.channel.play_unless(
                    [self.ports.media(p) for p in prompts], self._wakes_me
                )
        if event is None or event.type != OFFER_EVENT:
            await self._music(True, waiter)
        return event

    async def _overflow(self, waiter: Waiter, queue: Queue) -> None:
        """Move to the overflow queue, keeping the caller's place in time; stay if
        nobody there could take the call either."""
        if await self.acd.move(waiter, queue.overflow, waiter.call.skills - queue.skills):
            await self.ports.log(Kind.OVERFLOW, queue=queue.name, to=queue.overflow)
            await self.ports.save("queued", {"queue": queue.overflow})

    async def _max_wait(self, waiter: Waiter) -> str:
        """After the longest wait allowed: a callback (1) or a message (2, or no key)."""
        queue = self.acd.queue(waiter.call.queue)
        waited = await self.acd.leave(waiter, "max-wait")
        await self.ports.log(Kind.MAX_WAIT, queue=queue.name, wait=waited)
        await self._music(False, waiter)
        key = await self.channel.play([self.ports.media("queue-max-wait")], barge_in=True)
        if key is None:
            key = await self.channel.wait_digit(5)
        if key == "1":
            await self.ports.request_callback(queue.name)
            await self.channel.play([self.ports.media("callback-saved")], barge_in=False)
            return "callback"
        await self.ports.record_message()
        return "message"

    async def _callback(self, waiter: Waiter) -> str:
        waited = await self.acd.leave(waiter, "callback")
        await self.ports.log(Kind.QUEUE_CALLBACK, queue=waiter.call.queue, wait=waited)
        await self._music(False, waiter)
        await self.ports.request_callback(waiter.call.queue)
        await self.channel.play([self.ports.media("callback-saved")], barge_in=False)
        return "callback"

    async def _music(self, on: bool, waiter: Waiter) -> None:
        if on:
            music = self.acd.queue(waiter.call.queue).music
            await legs.quietly(self.channel.start_music(music))
        else:
            await legs.quietly(self.channel.stop_music())

    # --- the agent --------------------------------------------------------------------------
    async def _ring(self, waiter: Waiter, agent: str, extension: str) -> str | Handover | None:
        """Ring the offered agent; the conversation if they answer, else back to waiting
        at the head of the queue (the agent is set not ready by the ACD). Another agent
        picking the call up (抢接) ends this ring and rings them instead."""
        ports = self.ports
        queue = self.acd.queue(waiter.call.queue)
        leg = legs.new_leg_id()
        endpoint = ports.agent_dial.format(target=extension)
        ports.legs.attach(leg, self.channel.channel_id)
        await ports.log(Kind.OFFER, agent=agent, extension=extension, queue=queue.name)
        answered = False
        try:
            outcome, stopped = await legs.ring(
                self.channel,
                ports.legs,
                leg,
                endpoint,
                queue.ring_seconds,
                ringback=False,
                stop=lambda e: e.type == PICKUP_EVENT,
            )
            if stopped is not None:  # picked up by another agent
                picker = str(stopped.raw["agent"])
                await ports.log(Kind.PICKED_UP, agent=picker, from_agent=agent)
                await self.acd.ring_result(waiter, agent, "cancelled")
                waiter.ringing, waiter.picked_by = picker, ""
                await legs.hang_up_leg(self.channel, ports.legs, leg)
                return await self._ring(waiter, picker, str(stopped.raw["extension"]))
            if outcome is not legs.RingOutcome.ANSWERED:
                await ports.log(Kind.OFFER_FAILED, agent=agent, outcome=outcome.value)
                await self.acd.ring_result(waiter, agent, outcome.value)
                return None
            await self._music(False, waiter)
            bridge = legs.bridge_id(self.call_id)
            await legs.join(self.channel, leg, bridge)
            answered = True
            # Stored before the ACD hears of it: a controller that dies from here on
            # finds the conversation, not a caller to queue again (and hang up on the agent).
            await ports.save(
                "connected", {"_leg": leg, "_bridge": bridge, "agent": agent, "queue": queue.name}
            )
            self.acd.talking(self.call_id, agent, self.channel.deliver)  # before "on-call"
            await self.acd.ring_result(waiter, agent, "answered")
            waited = await self.acd.leave(waiter, "answered", agent)
            await ports.log(Kind.ANSWERED, agent=agent, queue=queue.name, wait=waited)
        finally:
            if not answered:
                await legs.hang_up_leg(self.channel, ports.legs, leg)
        return await self.talk(agent, leg, bridge, queue.name)

    async def talk(self, agent: str, leg: str, bridge: str, queue: str) -> str | Handover:
        """Caller and agent talk until one hangs up or the agent passes the caller on.
        The agent hanging up leaves the caller with the controller (the survey comes
        with the recording issue); the caller hanging up ends the agent's leg too. Either
        way the agent's wrap-up starts. Actions from the API arrive as events."""
        ports = self.ports
        talk = Conversation(self, agent, leg, bridge, queue)
        self.acd.talking(self.call_id, agent, self.channel.deliver)
        await self.acd.on_the_call(agent, self.call_id)  # after a restart, whatever was stored
        try:
            result = await talk.run()
        except asyncio.CancelledError:
            self.acd.done_talking(self.call_id)
            raise  # the controller is stopping: the conversation stays for the next one
        except BaseException as exc:
            self.acd.done_talking(self.call_id)
            await talk.end()  # the caller went (or worse): so does everyone else
            if isinstance(exc, CallerHungUp):
                await ports.log(Kind.CALLER_HUNG_UP, agent=talk.agent)
                self.served = Served(talk.agent, queue, caller_stayed=False, survey=False)
                return "answered"
            raise
        self.acd.done_talking(self.call_id)
        await talk.end()
        if result == "answered":  # the agent hung up: the caller is still on the line
            self.served = Served(talk.agent, queue, caller_stayed=True, survey=talk.survey)
        return result


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

    def __init__(self, call: QueueCall, agent: str, leg: str, bridge: str, queue: str):
        self.call = call
        self.channel = call.channel
        self.ari = call.channel.ari
        self.acd = call.acd
        self.ports = call.ports
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
                await self.acd.call_ended(old_agent, self.call.call_id, self.queue)
                await self.acd.connected(supervisor, self.call.call_id)
                self.acd.talking(self.call.call_id, supervisor, self.channel.deliver)
                await self.ports.save(
                    "connected",
                    {
                        "_leg": sup_leg,
                        "_bridge": self.bridge,
                        "agent": supervisor,
                        "queue": self.queue,
                    },
                )
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
        side = f"{legs.bridge_id(self.call.call_id)}-{how}-{snoop[-6:]}"
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
        await asyncio.shield(self.acd.call_ended(self.agent, self.call.call_id, self.queue))


class ActionRefused(HotlineError):
    error_id = "action-refused"
    http_status = 409
