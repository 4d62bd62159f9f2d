"""Phases the voice menu serves after an agent: the satisfaction survey (R-6), a transfer
to an outside number, a line sequence for a caller the agent could not hear (R-3), and a
voice message after the longest wait.

    talking --(agent hangs up)--> survey --> end
    talking --(transfer outside)--> transfer-out --(answered)--> connected
                                                  --(nobody)--> queued (back where it was)
    talking --(line sequence)--> line-sequence --(the caller speaks up)--> queued
    queued --(longest wait, a message)--> message --> end
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hotline.calls.journey import Call, End, Phase, PhaseTable, StoredPhase, build, service
from hotline.calls.media import prompt_media
from hotline.calls.session import CallerHungUp
from hotline.calls.timeline import Kind
from ivr.call import Ears, IvrKit, record_message, ring_and_join
from ivr.line.classifier import LineClass
from ivr.line.sequences import run_sequence
from ivr.phases import Answering, Connected, Menu
from ivr.survey import SurveyResult, ask

OUTSIDE_RING_SECONDS = 30  # an agent's transfer to an outside number


@dataclass(frozen=True)
class Survey(StoredPhase):
    """The agent hung up: the caller rates ``agent`` (1/2/3) unless the agent switched the
    survey off for this call (``enabled``); then goodbye."""

    name: ClassVar[str] = "survey"
    kit: IvrKit = service()
    agent: str = ""
    queue: str = ""
    enabled: bool = True

    async def run(self, call: Call) -> Phase | End:
        if call.channel.hung_up:
            return End("answered")
        plan, context = self.kit.survey, call.context
        if plan.enabled and self.enabled:
            media = lambda p: prompt_media(p, context.language)  # noqa: E731
            asked = await ask(call.channel, media, plan.timeout)
            result, keys = asked.result, asked.keys
        else:
            result, keys = SurveyResult.OFF, ""
            try:
                goodbye = [prompt_media("goodbye", context.language)]
                await call.channel.play(goodbye, barge_in=False)
                await call.channel.hangup()
            except CallerHungUp:
                pass
        if plan.enabled:
            await self.kit.surveys.add(
                call.call_id, self.agent, self.queue, context.caller, result, keys
            )
            await call.log(
                Kind.SURVEY, agent=self.agent, queue=self.queue, result=result.value, keys=keys
            )
        return End("answered")


@dataclass(frozen=True)
class _BackToQueue(StoredPhase):
    """A phase that may put the caller back in ``queue``, where the agent had them."""

    kit: IvrKit = service()
    queue: str = ""
    priority: int = 5
    fallback: str = ""  # the menu node the queue's callers fall back to

    def back_to_queue(self, call: Call) -> Phase:
        return call.hand_over(
            "queued", queue=self.queue, priority=self.priority, fallback=self.fallback
        )


@dataclass(frozen=True)
class TransferOut(_BackToQueue):
    """An agent passed the caller to an outside ``number``: it rings; nobody answering
    puts the caller back in the queue."""

    name: ClassVar[str] = "transfer-out"
    number: str = ""

    async def run(self, call: Call) -> Phase | End:
        to = f"outside:{self.number}"
        leg = await ring_and_join(self.kit, call, to, OUTSIDE_RING_SECONDS)
        if leg is not None:
            return Connected(leg=leg, to=to)
        return self.back_to_queue(call)


@dataclass(frozen=True)
class LineSequence(_BackToQueue):
    """An agent could not hear the caller and handed them to R-3's sequence of ``kind``;
    a caller who speaks up (or presses a key) after all goes back to the queue."""

    name: ClassVar[str] = "line-sequence"
    kind: str = ""

    async def run(self, call: Call) -> Phase | End:
        check = self.kit.menus.current.line_check
        steps = check.sequences.get(LineClass(self.kind))
        if not steps:
            return End(self.kind)
        await call.log(Kind.LINE, event="handed-over", sequence=self.kind)
        ears = Ears(self.kit, call)
        await ears.start()
        try:
            if ears.listener is None:
                return End(self.kind)
            outcome = await run_sequence(LineClass(self.kind), steps, ears.line_io(check))
        finally:
            await ears.stop()
        if outcome.hung_up:
            return End(self.kind)
        return self.back_to_queue(call)


@dataclass(frozen=True)
class Message(StoredPhase):
    """The caller leaves a voice message (after the longest wait in a queue)."""

    name: ClassVar[str] = "message"
    kit: IvrKit = service()
    max_seconds: int = 120

    async def run(self, call: Call) -> Phase | End:
        await record_message(self.kit, call, self.max_seconds)
        return End("message")


def add_phases(table: PhaseTable, kit: IvrKit) -> None:
    table.add(Answering.name, lambda data: build(Answering, data, kit=kit))
    table.add(Menu.name, lambda data: build(Menu, data, kit=kit))
    table.add(Connected.name, lambda data: build(Connected, data))
    table.add(Survey.name, lambda data: build(Survey, data, kit=kit))
    table.add(TransferOut.name, lambda data: build(TransferOut, data, kit=kit))
    table.add(LineSequence.name, lambda data: build(LineSequence, data, kit=kit))
    table.add(Message.name, lambda data: build(Message, data, kit=kit))
