"""What the voice menu's phases of a live call use: the services built at the composition
root (``IvrKit``), the caller's side of the menu runner on ARI (``ChannelIO``), the menu's
actions on a live call (``LiveServices``), and its ears for the line checks (``Ears``).

A menu action that leaves the menu (a queue node, an answered transfer) raises
``HandOver`` with the next phase; the menu phase returns it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acd.callbacks import Callbacks
from acd.phases import request_callback
from hotline.ari.errors import AriError, AriNotFound
from hotline.ari.rest import AriRest
from hotline.calls import legs
from hotline.calls.journey import Call, Phase
from hotline.calls.media import prompt_media
from hotline.calls.session import CallChannel, CallerHungUp
from hotline.calls.timeline import Kind
from hotline.config import SurveyConfig
from hotline.outbound import NumberRefused, OutboundPolicy
from ivr import model
from ivr.accounts import Accounts
from ivr.blacklist import Verdict
from ivr.library import MenuLibrary
from ivr.line.listener import LineListener
from ivr.line.live import ChannelLineIO
from ivr.line.sequences import SequenceOutcome, check_line
from ivr.runner import MenuRunner
from ivr.survey import Surveys
from recordings.messages import VoiceMessages

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DialPlan:
    """How transfer targets become ARI originates."""

    app: str  # our ARI application: answered legs enter it
    agent: str  # agent:<extension>, e.g. "PJSIP/{target}" (pbx.agent_dial)
    # outside:<number>: whether it may be dialled, through the trunk (pbx.outside_dial),
    # and its time limit on the PBX.
    outbound: OutboundPolicy
    message_max_silence: int  # seconds of silence that end a voice message

    def leg(self, to: str) -> tuple[str, Mapping[str, str]]:
        """The endpoint and channel variables of a target; NumberRefused for an outside
        number the policy refuses."""
        kind, _, target = to.partition(":")
        if kind == "outside":
            outside = self.outbound.leg(target)
            return outside.endpoint, outside.variables
        return self.agent.format(target=target), {}


@dataclass(frozen=True)
class IvrKit:
    """Everything the voice menu's phases use besides the call, built at install."""

    menus: MenuLibrary
    screen: Callable[[str], Awaitable[Verdict | None]]
    accounts: Accounts
    messages: VoiceMessages
    callbacks: Callbacks
    clock: Callable[[], dt.datetime]
    dialplan: DialPlan
    recordings_dir: Path  # the PBX's; the line listener reads the caller's audio there
    # Whole-call recording of the call's bridge (call id, the caller's channel, dialled).
    start_recording: Callable[[str, CallChannel, str], Awaitable[None]]
    surveys: Surveys
    survey: SurveyConfig


class HandOver(Exception):
    """The menu is done with the caller: ``phase`` takes over."""

    def __init__(self, phase: Phase) -> None:
        super().__init__(phase.name)
        self.phase = phase


class ChannelIO:
    """``CallerIO`` on an ARI channel; every prompt played is written to the timeline."""

    def __init__(self, call: Call) -> None:
        self.call = call
        self.channel = call.channel

    async def play(self, prompts: list[str], language: str, barge_in: bool) -> str | None:
        if barge_in and self.channel.typeahead:
            return self.channel.typeahead.popleft()  # already answered: skip the prompt
        await self.call.log(Kind.PROMPT, ids=prompts, language=language)
        return await self.channel.play([prompt_media(p, language) for p in prompts], barge_in)

    async def wait_digit(self, timeout: float) -> str | None:
        return await self.channel.wait_digit(timeout)

    async def hangup(self) -> None:
        await self.channel.hangup()

    def keep(self, digit: str) -> None:
        self.channel.typeahead.appendleft(digit)


class Ears:
    """The caller's audio for the line checks (R-3): a snoop the listener reads, on only
    while a phase needs it."""

    def __init__(self, kit: IvrKit, call: Call) -> None:
        self.kit = kit
        self.call = call
        self.listener: LineListener | None = None

    async def start(self) -> None:
        call, plan = self.call, self.call.legs
        listener = LineListener(
            call.channel.ari,
            call.channel,
            plan.app,
            self.kit.recordings_dir,
            plan.attach,
            plan.detach,
        )
        self.listener = listener
        try:
            await listener.start()
        except (AriError, TimeoutError) as exc:
            # The menu still works without ears; only the line sequences are lost.
            log.warning("call %s: cannot listen to the caller: %s", call.call_id, exc)
            await self.stop()

    async def stop(self) -> None:
        listener, self.listener = self.listener, None
        if listener is not None:
            await listener.stop()

    def line_io(self, check: model.LineCheck) -> ChannelLineIO:
        assert self.listener is not None
        call = self.call

        async def log_line(**data: Any) -> None:
            await call.log(Kind.LINE, **data)

        return ChannelLineIO(
            call.channel,
            self.listener,
            lambda prompt: prompt_media(prompt, call.context.language),
            check.thresholds,
            check.speech_window,
            log_line,
        )


async def ring_and_join(kit: IvrKit, call: Call, to: str, ring_seconds: int) -> str | None:
    """Ring ``to`` (agent:<extension> or outside:<number>); when it answers, it joins the
    caller in the call's bridge and its leg is returned (the caller's to converse with and
    hang up); None when nobody answered."""
    try:
        endpoint, variables = kit.dialplan.leg(to)
    except NumberRefused as refused:  # a stored transfer the policy refuses now: no INVITE
        log.warning("call %s: not dialling %s: %s", call.call_id, to, refused.message)
        await call.log(Kind.TRANSFER, to=to, answered=False, refused=refused.refusal.value)
        return None
    leg = legs.new_leg_id()
    call.legs.attach(leg, call.channel.channel_id)
    connected = False
    try:
        try:
            outcome, _ = await legs.ring(
                call.channel, call.legs, leg, endpoint, ring_seconds, variables=variables
            )
        except CallerHungUp:  # gave up while it rang: still an attempt on the record
            await call.log(Kind.TRANSFER, to=to, answered=False)
            raise
        answered = outcome is legs.RingOutcome.ANSWERED
        await call.log(Kind.TRANSFER, to=to, answered=answered)
        if not answered:
            return None
        await legs.join(call.channel, leg, legs.bridge_id(call.call_id))
        connected = True
        return leg
    finally:
        # A leg that never got connected is hung up whatever happened; a connected one
        # is the conversation's business (it stays up when the controller stops).
        if not connected:
            await legs.hang_up_leg(call.channel, call.legs, leg)


class LiveServices:
    """``MenuServices`` for a live call."""

    def __init__(self, kit: IvrKit, call: Call, ears: Ears) -> None:
        self.kit = kit
        self.call = call
        self.ears = ears
        self.runner: MenuRunner | None = None  # set once the menu phase made it

    async def check_pin(self, account: str, pin: str, lock: model.PinLock) -> model.PinCheck:
        outcome = await self.kit.accounts.check_pin(account, pin, lock)
        if outcome.check is model.PinCheck.LOCKED:
            until = outcome.locked_until.isoformat() if outcome.locked_until else ""
            event = "locked" if outcome.just_locked else "refused"
            await self.call.log(
                Kind.ACCOUNT_LOCKED,
                account=account,
                event=event,
                until=until,
                failures=outcome.failures,
            )
        return outcome.check

    async def transfer(self, to: str, ring_seconds: int) -> bool:
        leg = await ring_and_join(self.kit, self.call, to, ring_seconds)
        if leg is None:
            return False
        raise HandOver(self.call.hand_over("connected", leg=leg, to=to))

    async def record_message(self, max_seconds: int) -> None:
        await record_message(self.kit, self.call, max_seconds)

    async def request_callback(self, queue: str = "") -> None:
        await request_callback(self.kit.callbacks, self.call, queue)

    async def enqueue(self, queue: str, skills: tuple[str, ...], priority: int) -> str | None:
        runner = self.runner
        node = runner.menu.node(runner.node_id) if runner is not None else None
        fallback = node.fallback if isinstance(node, model.QueueNode) else ""
        raise HandOver(
            self.call.hand_over(
                "queued", queue=queue, skills=list(skills), priority=priority, fallback=fallback
            )
        )

    async def check_line(self, check: model.LineCheck, waited: float) -> SequenceOutcome | None:
        if self.ears.listener is None:
            return None
        return await check_line(check, waited, self.ears.line_io(check))


async def record_message(kit: IvrKit, call: Call, max_seconds: int) -> None:
    """A voice message: what the caller says until ``#``, silence or the limit."""
    name = f"messages/{call.call_id}"
    began = time.monotonic()
    try:
        seconds = await legs.record_caller(
            call.channel, call.legs, name, max_seconds, kit.dialplan.message_max_silence
        )
    except CallerHungUp:
        # Most callers hang up instead of pressing #: Asterisk keeps what they said, and
        # so does the index (its length as timed here), unless they went before the
        # recording began (during the beep).
        kept = await _on_pbx(call.channel.ari, name)
        await _keep_message(kit, call, name, round(time.monotonic() - began, 1) if kept else 0.0)
        raise
    await _keep_message(kit, call, name, seconds)


async def _keep_message(kit: IvrKit, call: Call, name: str, seconds: float) -> None:
    context = call.context
    if seconds > 0:
        await kit.messages.add(
            call.call_id, context.caller, context.dialled, context.language, name, seconds
        )
    await call.log(Kind.MESSAGE, recording=name, seconds=seconds)


async def _on_pbx(ari: AriRest, recording: str) -> bool:
    """Whether the PBX holds the stored recording (when it cannot tell: assume it does)."""
    try:
        await ari.stored_recording(recording)
    except AriNotFound:
        return False
    except AriError:
        return True
    return True
