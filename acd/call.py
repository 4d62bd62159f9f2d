"""A caller in a queue, on the caller's own task: music on hold and announcements while
waiting, then the agent's phone ringing, until an agent answers (R-4.5, R-4.6); the
conversation is ``acd.conversation``'s.

    waiting --offer--> ringing agent --answered--> (the conversation: Answered)
    waiting <--no answer / busy / unreachable-- ringing agent
    waiting --key 1--> callback filed          waiting --max wait--> callback or message
    waiting --overflow_after--> waiting in the overflow queue
    any --caller hangs up--> abandoned, with its wait stored (R-4.7)

Where the call waits is stored (``placed``) at each step so a restarted controller puts
the caller back in the queue with the same join time; an answer is stored (``answered``)
before the ACD hears of it.
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
from acd.waiter import OFFER_EVENT, PICKUP_EVENT, UnknownQueue, Waiter
from hotline.ari.models import Event
from hotline.calls import legs
from hotline.calls.session import CallChannel, CallerHungUp
from hotline.calls.timeline import Kind

log = logging.getLogger(__name__)

MAX_COUNT = 10  # position and minutes are said up to ten


class TimelineLog(Protocol):
    """Writes one event of ``kind`` with ``data`` onto the call's timeline."""

    def __call__(self, kind: Kind, **data: Any) -> Awaitable[None]: ...


@dataclass(frozen=True)
class QueuePorts:
    """What a queued call uses besides its channel, given by its phase."""

    acd: Acd
    legs: legs.LegPlan
    agent_dial: str  # e.g. "PJSIP/{target}"
    media: Callable[[str], str]  # prompt id -> media URI in the caller's language
    log: TimelineLog  # (kind, **data) onto the call's timeline
    placed: Callable[[Placement], Awaitable[None]]  # store where the call waits now
    answered: Callable[[Answered], Awaitable[None]]  # store the conversation begun
    request_callback: Callable[[str], Awaitable[None]]  # (queue)


@dataclass(frozen=True)
class Placement:
    """Where a call stands in a queue; stored for resume."""

    queue: str
    skills: tuple[str, ...]
    priority: int
    joined_at: float | None = None


@dataclass(frozen=True)
class Answered:
    """An agent answered: the conversation that follows."""

    agent: str
    leg: str
    queue: str


MESSAGE = "message"  # the caller chose to leave a message at the longest wait
Stay = Answered | str | None  # how a stay ended: answered, "callback", MESSAGE, or nobody


class QueueCall:
    def __init__(self, call_id: str, channel: CallChannel, language: str, ports: QueuePorts):
        self.call_id = call_id
        self.channel = channel
        self.language = language
        self.ports = ports
        self.acd = ports.acd
        self.placement = Placement("", (), 5)  # where the call waits, once it does

    async def stay(self, placement: Placement, direct: str = "") -> Stay:
        """One stay in a queue, until an agent answers, the caller takes a callback or a
        message, or nobody logged in could take the call (None: the menu's fallback
        applies); with ``direct``, that agent is rung first."""
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
        self.placement = joined
        await ports.placed(joined)
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
    async def _wait(self, waiter: Waiter) -> Answered | str:
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

    async def _handle(self, waiter: Waiter, event: Event) -> Answered | str | None:
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
            joined = self.placement
            moved = Placement(queue.overflow, joined.skills, joined.priority, joined.joined_at)
            self.placement = moved
            await self.ports.placed(moved)

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
        return MESSAGE

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
    async def _ring(self, waiter: Waiter, agent: str, extension: str) -> Answered | None:
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
            conversation = Answered(agent, leg, queue.name)
            await ports.answered(conversation)
            self.acd.talking(self.call_id, agent, self.channel.deliver)  # before "on-call"
            await self.acd.ring_result(waiter, agent, "answered")
            waited = await self.acd.leave(waiter, "answered", agent)
            await ports.log(Kind.ANSWERED, agent=agent, queue=queue.name, wait=waited)
        finally:
            if not answered:
                await legs.hang_up_leg(self.channel, ports.legs, leg)
        return conversation
