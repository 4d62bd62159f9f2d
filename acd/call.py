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
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from acd.engine import OFFER_EVENT, Acd, Waiter
from acd.model import Queue
from hotline.ari.models import Event
from hotline.calls import legs
from hotline.calls.session import CallChannel, CallerHungUp

log = logging.getLogger(__name__)

MAX_COUNT = 10  # position and minutes are said up to ten


@dataclass(frozen=True)
class QueuePorts:
    """What a queued call uses besides its channel, given by the menu call."""

    acd: Acd
    legs: legs.LegPlan
    agent_dial: str  # e.g. "PJSIP/{target}"
    media: Callable[[str], str]  # prompt id -> media URI in the caller's language
    log: Callable[..., Awaitable[None]]  # (kind, **data) onto the call's timeline
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

    async def run(self, placement: Placement) -> str | None:
        """Wait for an agent. Returns the disposition (answered, callback, message), or
        None when nobody logged in could take the call (the menu's fallback applies)."""
        ports = self.ports
        waiter = await self.acd.join(
            self.call_id,
            placement.queue,
            placement.skills,
            placement.priority,
            self.channel.caller_number,
            self.language,
            self.channel.deliver,
            placement.joined_at,
        )
        if waiter is None:
            await ports.log("queue-empty", queue=placement.queue)
            return None
        joined = Placement(
            placement.queue, placement.skills, placement.priority, waiter.call.joined_at
        )
        await ports.save("queued", joined.as_dict())
        await ports.log(
            "queued",
            queue=placement.queue,
            priority=placement.priority,
            vip=waiter.call.vip,
            region=waiter.call.region,
            preferred=waiter.call.preferred,
            position=self.acd.position(self.call_id),
        )
        try:
            return await self._wait(waiter)
        except CallerHungUp:
            if self.call_id in self.acd.waiting:
                waited = await self.acd.leave(waiter, "abandoned")
                await ports.log("abandoned", queue=waiter.call.queue, wait=waited)
            raise
        finally:
            # Whatever else ends the wait (the controller stopping, an error): the ACD
            # must not keep a call nobody is waiting on, nor an agent ringing for it.
            if self.call_id in self.acd.waiting:
                await asyncio.shield(self.acd.leave(waiter, "interrupted"))

    # --- waiting ------------------------------------------------------------------------------
    async def _wait(self, waiter: Waiter) -> str:
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
                    event = await self._announce(waiter, queue)
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

    async def _handle(self, waiter: Waiter, event: Event) -> str | None:
        if event.type == OFFER_EVENT:
            return await self._ring(waiter, str(event.raw["agent"]), str(event.raw["extension"]))
        queue = self.acd.queue(waiter.call.queue)
        if queue.announce.callback_key and event.digit == queue.announce.callback_key:
            return await self._callback(waiter)
        return None

    async def _announce(self, waiter: Waiter, queue: Queue) -> Event | None:
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
        await self.ports.log("announcement", prompts=prompts, position=position)
        await self._music(False, waiter)
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
            await self.ports.log("overflow", queue=queue.name, to=queue.overflow)
            await self.ports.save("queued", {"queue": queue.overflow})

    async def _max_wait(self, waiter: Waiter) -> str:
        """After the longest wait allowed: a callback (1) or a message (2, or no key)."""
        queue = self.acd.queue(waiter.call.queue)
        waited = await self.acd.leave(waiter, "max-wait")
        await self.ports.log("max-wait", queue=queue.name, wait=waited)
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
        await self.ports.log("queue-callback", queue=waiter.call.queue, wait=waited)
        await self._music(False, waiter)
        await self.ports.request_callback(waiter.call.queue)
        await self.channel.play([self.ports.media("callback-saved")], barge_in=False)
        return "callback"

    async def _music(self, on: bool, waiter: Waiter) -> None:
        ari = self.channel.ari
        if on:
            music = self.acd.queue(waiter.call.queue).music
            await legs.quietly(ari.start_moh(self.channel.channel_id, music))
        else:
            await legs.quietly(ari.stop_moh(self.channel.channel_id))

    # --- the agent --------------------------------------------------------------------------
    async def _ring(self, waiter: Waiter, agent: str, extension: str) -> str | None:
        """Ring the offered agent; the conversation if they answer, else back to waiting
        at the head of the queue (the agent is set not ready by the ACD)."""
        ports = self.ports
        queue = self.acd.queue(waiter.call.queue)
        leg = legs.new_leg_id()
        endpoint = ports.agent_dial.format(target=extension)
        ports.legs.attach(leg, self.channel.channel_id)
        await ports.log("offer", agent=agent, extension=extension, queue=queue.name)
        answered = False
        try:
            outcome, _ = await legs.ring(
                self.channel, ports.legs, leg, endpoint, queue.ring_seconds, ringback=False
            )
            if outcome is not legs.RingOutcome.ANSWERED:
                await ports.log("offer-failed", agent=agent, outcome=outcome.value)
                await self.acd.ring_result(waiter, agent, outcome.value)
                return None
            await self._music(False, waiter)
            bridge = legs.bridge_id(self.call_id)
            await legs.join(self.channel, leg, bridge)
            answered = True
            await self.acd.ring_result(waiter, agent, "answered")
            waited = await self.acd.leave(waiter, "answered", agent)
            await ports.log("answered", agent=agent, queue=queue.name, wait=waited)
        finally:
            if not answered:
                await legs.hang_up_leg(self.channel, ports.legs, leg)
        return await self.talk(agent, leg, bridge, queue.name)

    async def talk(self, agent: str, leg: str, bridge: str, queue: str) -> str:
        """Caller and agent talk until one hangs up. The agent hanging up leaves the
        caller with the controller (the survey comes with the recording issue); the
        caller hanging up ends the agent's leg too. Either way the agent's wrap-up starts."""
        ports = self.ports
        await ports.save(
            "connected", {"_leg": leg, "_bridge": bridge, "agent": agent, "queue": queue}
        )
        ari = self.channel.ari
        try:
            await legs.converse(self.channel, leg)
        except asyncio.CancelledError:
            raise  # the controller is stopping: the conversation stays for the next one
        except BaseException as exc:
            await legs.quietly(ari.hangup(leg))  # the caller went (or worse): so does the agent
            await legs.quietly(ari.destroy_bridge(bridge))
            ports.legs.detach(leg)
            await asyncio.shield(self.acd.call_ended(agent, self.call_id, queue))
            if isinstance(exc, CallerHungUp):
                await ports.log("caller-hung-up", agent=agent)
                return "answered"
            raise
        ports.legs.detach(leg)
        await legs.quietly(ari.destroy_bridge(bridge))
        await self.acd.call_ended(agent, self.call_id, queue)
        await ports.log("agent-hung-up", agent=agent)
        return "answered"
