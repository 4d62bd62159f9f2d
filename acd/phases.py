"""The ACD's phases of a call: waiting in a queue (with the agent's phone ringing), and
talking to the agent. What comes after is another feature's: the survey, a transfer out,
a line sequence, a voice message, or the menu again; each is handed over by name."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from acd.call import MESSAGE, Answered, Placement, QueueCall, QueuePorts
from acd.callbacks import Callbacks
from acd.conversation import Handover, TalkPorts, talk
from acd.engine import Acd
from hotline.calls import legs
from hotline.calls.journey import Call, End, Phase, PhaseTable, StoredPhase, build, service
from hotline.calls.media import prompt_media
from hotline.calls.timeline import Kind

MESSAGE_MAX_SECONDS = 120  # a message left after the longest wait in a queue


@dataclass(frozen=True)
class AcdKit:
    """The services the ACD's phases use."""

    acd: Acd
    callbacks: Callbacks
    agent_dial: str  # e.g. "PJSIP/{target}" (pbx.agent_dial)


@dataclass(frozen=True)
class Queued(StoredPhase):
    """Waiting in ``queue`` (music, announcements, overflow, the longest wait) until an
    agent answers; with ``direct``, that agent is rung first. ``fallback`` is the menu
    node to carry on at when nobody logged in could take the call."""

    name: ClassVar[str] = "queued"
    kit: AcdKit = service()
    queue: str = ""
    skills: list[str] = field(default_factory=list)
    priority: int = 5
    joined_at: float | None = None  # kept across restarts, overflows and transfers back
    direct: str = ""
    fallback: str = ""

    async def run(self, call: Call) -> Phase | End:
        kit, context = self.kit, call.context

        async def placed(placement: Placement) -> None:
            waiting = dataclasses.replace(
                self, queue=placement.queue, joined_at=placement.joined_at, direct=""
            )
            await call.save(waiting, queue=placement.queue)

        async def answered(conversation: Answered) -> None:
            # Stored before the ACD hears of it: a controller that dies from here on finds
            # the conversation, not a caller to queue again (and hang up on the agent).
            await call.save(self.talking(conversation), agent=conversation.agent)

        ports = QueuePorts(
            acd=kit.acd,
            legs=call.legs,
            agent_dial=kit.agent_dial,
            media=lambda prompt: prompt_media(prompt, context.language),
            log=call.log,
            placed=placed,
            answered=answered,
            request_callback=lambda queue: request_callback(kit.callbacks, call, queue),
        )
        queued = QueueCall(call.call_id, call.channel, context.language, ports)
        placement = Placement(self.queue, tuple(self.skills), self.priority, self.joined_at)
        outcome = await queued.stay(placement, self.direct)
        if isinstance(outcome, Answered):
            return self.talking(outcome)
        if outcome == MESSAGE:
            return call.hand_over("message", max_seconds=MESSAGE_MAX_SECONDS)
        if outcome is None:  # nobody logged in could take it here: the menu's fallback
            return call.hand_over("menu", node=self.fallback) if self.fallback else End("no-agent")
        return End(outcome)

    def talking(self, conversation: Answered) -> Talking:
        return Talking(
            self.kit,
            agent=conversation.agent,
            leg=conversation.leg,
            queue=conversation.queue,
            priority=self.priority,
            fallback=self.fallback,
        )


@dataclass(frozen=True)
class Talking(StoredPhase):
    """The caller and ``agent`` (on ``leg``) in the call's bridge, until one hangs up or
    the agent passes the caller on."""

    name: ClassVar[str] = "talking"
    kit: AcdKit = service()
    agent: str = ""
    leg: str = ""
    queue: str = ""
    priority: int = 5
    fallback: str = ""

    async def run(self, call: Call) -> Phase | End:
        async def taken_over(supervisor: str, leg: str) -> None:
            now = dataclasses.replace(self, agent=supervisor, leg=leg)
            await call.save(now, agent=supervisor)

        ports = TalkPorts(
            call_id=call.call_id,
            channel=call.channel,
            acd=self.kit.acd,
            legs=call.legs,
            agent_dial=self.kit.agent_dial,
            log=call.log,
            taken_over=taken_over,
        )
        bridge = legs.bridge_id(call.call_id)
        result, served = await talk(ports, self.agent, self.leg, bridge, self.queue)
        if isinstance(result, Handover):
            return self.passed_on(call, result)
        if served is not None and served.caller_stayed:
            return call.hand_over(
                "survey", agent=served.agent, queue=served.queue, enabled=served.survey
            )
        return End("answered")

    def passed_on(self, call: Call, handover: Handover) -> Phase:
        """An agent's transfer (to a queue, a named agent, an outside number) or hand-over
        to a line sequence; the caller keeps their priority and the menu's fallback."""
        again = Queued(self.kit, priority=self.priority, fallback=self.fallback)
        if handover.kind == "queue":
            return dataclasses.replace(again, queue=handover.target)
        if handover.kind == "agent":  # from the queue the call was in
            return dataclasses.replace(again, queue=handover.queue, direct=handover.target)
        after = {"queue": self.queue, "priority": self.priority, "fallback": self.fallback}
        if handover.kind == "outside":
            return call.hand_over("transfer-out", number=handover.target, **after)
        return call.hand_over("line-sequence", kind=handover.target, **after)


async def request_callback(callbacks: Callbacks, call: Call, queue: str) -> None:
    """File a callback request for the caller (for ``queue``, or the menu's)."""
    context = call.context
    await callbacks.request(
        call.call_id,
        context.caller,
        context.dialled,
        context.language,
        queue=queue or context.variables.get("queue", ""),
        priority=context.priority,
    )
    await call.log(Kind.CALLBACK, number=context.caller)


def add_phases(table: PhaseTable, kit: AcdKit) -> None:
    def make(cls: type[Queued] | type[Talking]) -> Any:
        return lambda data: build(cls, data, kit=kit)

    table.add(Queued.name, make(Queued))
    table.add(Talking.name, make(Talking))
