"""A live call through the voice menu: the menu runner on a real channel.

The call's state machine has few named states, stored on the call record at every move
together with the menu node, the menu version, the language and what the caller entered,
so a restarted controller resumes the call where it stood:

    answering --(blacklisted)--> ended
    answering --> menu (node by node, MenuRunner) --> ended
                  menu --(transfer answered)--> connected --> ended
                  menu --(queue node)--> queued --(agent answers)--> connected --> ended

The menu part speaks to the caller through ``ChannelIO`` and acts through
``LiveServices`` (PIN checks, transfers, messages, callbacks, the queue).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acd.call import Handover, Placement, QueueCall, QueuePorts, Served
from acd.callbacks import Callbacks
from acd.engine import Acd
from hotline.ari.errors import AriError, AriNotFound
from hotline.ari.rest import AriRest
from hotline.calls import legs
from hotline.calls.models import CallRecord
from hotline.calls.registry import LEG_KEY
from hotline.calls.session import CallChannel, CallerHungUp
from hotline.calls.store import CallStore, now
from hotline.calls.timeline import Kind
from hotline.config import SurveyConfig
from hotline.pbx.instance import PROMPTS_IN_CONTAINER
from ivr import model
from ivr.accounts import Accounts
from ivr.blacklist import Action, Verdict
from ivr.library import MenuLibrary
from ivr.line.classifier import LineClass
from ivr.line.listener import LineListener
from ivr.line.live import ChannelLineIO
from ivr.line.sequences import SequenceOutcome, check_line, run_sequence
from ivr.runner import KEY_EVENT, CallContext, Ended, MenuRunner
from ivr.survey import SurveyResult, Surveys, ask
from recordings.messages import VoiceMessages

log = logging.getLogger(__name__)

BRIDGE_KEY = "_bridge"
STACK_KEY = "_stack"


MESSAGE_MAX_SECONDS = 120  # a message left after the longest wait in a queue
OUTSIDE_RING_SECONDS = 30  # an agent's transfer to an outside number


class CallState(enum.StrEnum):
    ANSWERING = "answering"
    MENU = "menu"
    QUEUED = "queued"
    CONNECTED = "connected"


@dataclass(frozen=True)
class DialPlan:
    """How transfer targets become ARI endpoints."""

    app: str  # our ARI application: answered legs enter it
    agent: str  # agent:<extension>, e.g. "PJSIP/{target}" (pbx.agent_dial)
    outside: str  # outside:<number> through the trunk (pbx.outside_dial)
    message_max_silence: int  # seconds of silence that end a voice message

    def endpoint(self, to: str) -> str:
        kind, _, target = to.partition(":")
        return (self.agent if kind == "agent" else self.outside).format(target=target)


@dataclass(frozen=True)
class CallServices:
    """Everything a live call uses besides its channel, built at the composition root."""

    store: CallStore
    menus: MenuLibrary
    screen: Callable[[str], Awaitable[Verdict | None]]
    accounts: Accounts
    messages: VoiceMessages
    callbacks: Callbacks
    attach_leg: Callable[[str, str], None]
    detach_leg: Callable[[str], None]
    clock: Callable[[], dt.datetime]
    dialplan: DialPlan
    recordings_dir: Path  # the PBX's; the line listener reads the caller's audio there
    acd: Acd
    # Whole-call recording of the call's bridge (call id, the caller's channel, dialled).
    start_recording: Callable[[str, CallChannel, str], Awaitable[None]]
    surveys: Surveys
    survey: SurveyConfig


def prompt_media(prompt_id: str, language: str) -> str:
    return f"sound:{PROMPTS_IN_CONTAINER}/{language}/{prompt_id}"


class ChannelIO:
    """``CallerIO`` on an ARI channel; every prompt played is written to the timeline."""

    def __init__(self, channel: CallChannel, on_play: Callable[[list[str], str], Awaitable[None]]):
        self.channel = channel
        self.on_play = on_play

    async def play(self, prompts: list[str], language: str, barge_in: bool) -> str | None:
        if barge_in and self.channel.typeahead:
            return self.channel.typeahead.popleft()  # already answered: skip the prompt
        await self.on_play(prompts, language)
        return await self.channel.play([prompt_media(p, language) for p in prompts], barge_in)

    async def wait_digit(self, timeout: float) -> str | None:
        return await self.channel.wait_digit(timeout)

    async def hangup(self) -> None:
        await self.channel.hangup()

    def keep(self, digit: str) -> None:
        self.channel.typeahead.appendleft(digit)


class MenuCall:
    """One caller, from the first ring to the end. ``run`` returns the disposition."""

    def __init__(
        self, call_id: str, channel: CallChannel, services: CallServices, dialled: str
    ) -> None:
        self.call_id = call_id
        self.channel = channel
        self.services = services
        self.store = services.store
        self.dialled = dialled
        self.listener: LineListener | None = None  # the caller's audio, while in the menu

    # --- entry points ----------------------------------------------------------------------
    async def run(self, resume: CallRecord | None) -> str:
        if resume is None or resume.state == CallState.ANSWERING:
            return await self._start()
        menu = await self.services.menus.version(resume.menu_version)
        if menu is None:  # a version nobody stored: carry on with the one in service
            menu = self.services.menus.current
        ctx = CallContext(
            dialled=resume.dialled_number,
            caller=resume.caller_number,
            language=resume.language,
            priority=resume.priority,
            variables={k: str(v) for k, v in resume.variables.items() if not k.startswith("_")},
            keys=resume.keys,
            menu_stack=list(resume.variables.get(STACK_KEY, [])),
        )
        stored = resume.variables
        await self._enter_bridge()
        if resume.state == CallState.CONNECTED:
            leg = str(stored.get(LEG_KEY, ""))
            bridge = str(stored.get(BRIDGE_KEY, ""))
            if stored.get("agent"):  # an agent the ACD connected
                queued = self._queue_call(ctx)
                agent, queue = str(stored["agent"]), str(stored.get("queue", ""))
                result = await queued.talk(agent, leg, bridge, queue)
                placement = Placement(queue, (), int(stored.get("priority", ctx.priority)))
                after = await self._after_queue(ctx, placement, result, queued.served)
                return after or "answered"
            await self._converse(leg, bridge)
            return "transferred"
        if resume.state == CallState.QUEUED:
            placement = Placement(
                str(stored.get("queue", "")),
                tuple(stored.get("skills", [])),
                int(stored.get("priority", ctx.priority)),
                stored.get("joined_at"),
            )
            disposition = await self.queue(ctx, placement)
            if disposition is not None:
                return disposition
        node = resume.node if resume.node in menu.nodes else menu.start
        return await self._run_menu(menu, ctx, node)

    async def _start(self) -> str:
        await self.store.update(self.call_id, state=CallState.ANSWERING.value)
        verdict = await self.services.screen(self.channel.caller_number)
        if verdict is not None:
            return await self._refuse(verdict)
        menu = self.services.menus.current
        ctx = CallContext(
            dialled=self.dialled,
            caller=self.channel.caller_number,
            language=menu.language,
            priority=menu.priority_for(self.dialled),
        )
        await self.channel.answer()
        await self.store.update(
            self.call_id,
            answered_at=now(),
            menu_version=menu.version,
            priority=ctx.priority,
            language=ctx.language,
        )
        await self._enter_bridge()
        await self.services.start_recording(self.call_id, self.channel, self.dialled)
        return await self._run_menu(menu, ctx, menu.start)

    async def _enter_bridge(self) -> None:
        """The caller into the call's own bridge (back into it after a restart), where
        they hear everything from now on and which is recorded."""
        bridge = legs.bridge_id(self.call_id)
        self.services.attach_leg(bridge, self.channel.channel_id)  # its playbacks' events
        try:
            await legs.open_bridge(self.channel, bridge)
        except AriNotFound:
            raise CallerHungUp from None
        except AriError as exc:  # the call still works, played to the channel, unrecorded
            log.error("call %s: no bridge for the call: %s", self.call_id, exc)

    async def _refuse(self, verdict: Verdict) -> str:
        """A blacklisted caller: a short refusal, or no answer at all."""
        await self.store.log(
            self.call_id, Kind.BLACKLISTED, pattern=verdict.pattern, action=verdict.action.value
        )
        if verdict.action is Action.SILENT:
            await self.channel.hangup(reason="rejected")
            return "blacklisted"
        await self.channel.answer()
        language = self.services.menus.current.language
        await self.channel.play([prompt_media("blacklisted", language)], barge_in=False)
        await self.channel.hangup()
        return "blacklisted"

    async def _run_menu(self, menu: model.Menu, ctx: CallContext, node: str) -> str:
        async def on_move(node_id: str, event: str) -> None:
            if event.startswith(KEY_EVENT):
                await self.store.log(
                    self.call_id, Kind.KEY, node=node_id, keys=event[len(KEY_EVENT) :]
                )
                return
            await self.store.log(self.call_id, Kind.NODE, node=node_id, event=event)
            if event == "enter":
                await self._save(ctx, CallState.MENU, node=node_id)

        async def on_play(prompts: list[str], language: str) -> None:
            await self.store.log(self.call_id, Kind.PROMPT, ids=prompts, language=language)

        io = ChannelIO(self.channel, on_play)
        services = LiveServices(self, ctx)
        runner = MenuRunner(menu, io, services, ctx, self.services.clock, on_move)
        if menu.line_check.enabled:
            await self._start_listening()
        try:
            ended: Ended = await runner.run(node)
        finally:
            await self._stop_listening()
        await self.store.update(self.call_id, keys=ctx.keys[-256:])
        return ended.disposition

    async def _start_listening(self) -> None:
        s = self.services
        listener = LineListener(
            self.channel.ari,
            self.channel,
            s.dialplan.app,
            s.recordings_dir,
            s.attach_leg,
            s.detach_leg,
        )
        self.listener = listener
        try:
            await listener.start()
        except (AriError, TimeoutError) as exc:
            # The menu still works without ears; only the line sequences are lost.
            log.warning("call %s: cannot listen to the caller: %s", self.call_id, exc)
            await self._stop_listening()

    async def _stop_listening(self) -> None:
        listener, self.listener = self.listener, None
        if listener is not None:
            await listener.stop()

    async def _save(self, ctx: CallContext, state: CallState, **fields: Any) -> None:
        variables: dict[str, Any] = dict(ctx.variables)
        variables[STACK_KEY] = list(ctx.menu_stack)
        variables.update(fields.pop("extra", {}))
        await self.store.update(
            self.call_id,
            state=state.value,
            keys=ctx.keys[-256:],
            language=ctx.language,
            variables=variables,
            **fields,
        )

    # --- transfers ----------------------------------------------------------------------------
    @property
    def legs(self) -> legs.LegPlan:
        s = self.services
        return legs.LegPlan(s.dialplan.app, s.attach_leg, s.detach_leg)

    async def transfer(self, ctx: CallContext, to: str, ring_seconds: int) -> bool:
        """Ring ``to``; when it answers, bridge it with the caller until either hangs up."""
        leg = legs.new_leg_id()
        endpoint = self.services.dialplan.endpoint(to)
        self.services.attach_leg(leg, self.channel.channel_id)
        connected = False
        try:
            try:
                outcome, _ = await legs.ring(self.channel, self.legs, leg, endpoint, ring_seconds)
            except CallerHungUp:  # gave up while it rang: still an attempt on the record
                await self.store.log(self.call_id, Kind.TRANSFER, to=to, answered=False)
                raise
            answered = outcome is legs.RingOutcome.ANSWERED
            await self.store.log(self.call_id, Kind.TRANSFER, to=to, answered=answered)
            if not answered:
                return False
            bridge = legs.bridge_id(self.call_id)
            await legs.join(self.channel, leg, bridge)
            connected = True
            await self._save(
                ctx, CallState.CONNECTED, extra={LEG_KEY: leg, BRIDGE_KEY: bridge, "to": to}
            )
            await self._converse(leg, bridge)
            return True
        finally:
            # A leg that never got connected is hung up whatever happened; a connected
            # one is _converse's business (it stays up when the controller stops).
            if not connected:
                await legs.hang_up_leg(self.channel, self.legs, leg)

    # --- the queue --------------------------------------------------------------------------------
    def _queue_call(self, ctx: CallContext) -> QueueCall:
        s = self.services

        async def log(kind: Kind, **data: Any) -> None:
            await self.store.log(self.call_id, kind, **data)

        async def save(state: str, variables: dict[str, Any]) -> None:
            await self._save(ctx, CallState(state), extra=variables)

        live = LiveServices(self, ctx)

        async def callback(queue: str) -> None:
            await live.request_callback(queue)

        async def message() -> None:
            await live.record_message(MESSAGE_MAX_SECONDS)

        ports = QueuePorts(
            acd=s.acd,
            legs=self.legs,
            agent_dial=s.dialplan.agent,
            media=lambda prompt: prompt_media(prompt, ctx.language),
            log=log,
            save=save,
            request_callback=callback,
            record_message=message,
        )
        return QueueCall(self.call_id, self.channel, ctx.language, ports)

    async def queue(self, ctx: CallContext, placement: Placement) -> str | None:
        """Wait in the ACD's queue; None when nobody could take the call there.

        The menu's ears (a snoop on the caller for the line checks) are off meanwhile:
        the checks are the menu's, and one audiohook fewer on the caller's channel while
        it is bridged with an agent is one fewer that can upset the recording's."""
        listened = self.listener is not None
        await self._stop_listening()
        queued = self._queue_call(ctx)
        result = await queued.run(placement)
        outcome = await self._after_queue(ctx, placement, result, queued.served)
        if listened and outcome is None and not self.channel.hung_up:
            await self._start_listening()  # back in the menu
        return outcome

    async def _after_queue(
        self,
        ctx: CallContext,
        placement: Placement,
        result: str | Handover | None,
        served: Served | None,
    ) -> str | None:
        if isinstance(result, Handover) and result.kind == "outside":
            if await self.transfer(ctx, f"outside:{result.target}", OUTSIDE_RING_SECONDS):
                return "transferred"
            # Nobody answered outside: back to the queue the caller came from.
            return await self.queue(ctx, Placement(result.queue, (), placement.priority))
        if isinstance(result, Handover):  # the agent handed the caller to a line sequence
            outcome = await self._line_sequence(ctx, LineClass(result.target))
            if outcome is None or outcome.hung_up:
                return result.target
            # The caller spoke up after all: back to the queue they came from.
            return await self.queue(ctx, Placement(placement.queue, (), placement.priority))
        if result == "answered" and served is not None:
            return await self._after_agent(ctx, served)
        return result

    async def _line_sequence(self, ctx: CallContext, kind: LineClass) -> SequenceOutcome | None:
        """R-3's sequence of ``kind`` for a caller an agent could not hear."""
        check = self.services.menus.current.line_check
        steps = check.sequences.get(kind)
        if not steps:
            return None
        await self.store.log(self.call_id, Kind.LINE, event="handed-over", sequence=kind.value)
        if self.listener is None:
            await self._start_listening()
        try:
            if self.listener is None:
                return None
            return await run_sequence(kind, steps, self.line_io(ctx, check))
        finally:
            await self._stop_listening()

    def line_io(self, ctx: CallContext, check: model.LineCheck) -> ChannelLineIO:
        assert self.listener is not None

        async def log_line(**data: Any) -> None:
            await self.store.log(self.call_id, Kind.LINE, **data)

        return ChannelLineIO(
            self.channel,
            self.listener,
            lambda prompt: prompt_media(prompt, ctx.language),
            check.thresholds,
            check.speech_window,
            log_line,
        )

    async def _after_agent(self, ctx: CallContext, served: Served) -> str:
        """The conversation is over. A caller the agent hung up on hears the satisfaction
        survey (R-6), unless the agent switched it off for this call; then goodbye."""
        if not served.caller_stayed or self.channel.hung_up:
            return "answered"
        plan = self.services.survey
        if plan.enabled and served.survey:
            asked = await ask(self.channel, lambda p: prompt_media(p, ctx.language), plan.timeout)
            result, keys = asked.result, asked.keys
        else:
            result, keys = SurveyResult.OFF, ""
            try:
                await self.channel.play([prompt_media("goodbye", ctx.language)], barge_in=False)
                await self.channel.hangup()
            except CallerHungUp:
                pass
        if plan.enabled:
            await self.services.surveys.add(
                self.call_id, served.agent, served.queue, ctx.caller, result, keys
            )
            await self.store.log(
                self.call_id,
                Kind.SURVEY,
                agent=served.agent,
                queue=served.queue,
                result=result.value,
                keys=keys,
            )
        return "answered"

    async def _converse(self, leg: str, bridge: str) -> None:
        """Caller and the person a menu transfer reached talk; when one hangs up, the
        other is hung up and the bridge goes. No survey here: R-6's survey rates an ACD
        agent, and whoever a menu transfer reaches may be nobody's agent."""
        ari = self.channel.ari
        try:
            await legs.converse(self.channel, leg)
            await self.store.log(self.call_id, Kind.AGENT_HUNG_UP, leg=leg)
        except asyncio.CancelledError:
            raise  # the controller is stopping: the conversation stays for the next one
        except BaseException:
            await legs.quietly(ari.hangup(leg))  # the caller went, so does the agent
            await legs.quietly(ari.destroy_bridge(bridge))
            raise
        await legs.quietly(ari.destroy_bridge(bridge))
        await self.channel.hangup()


class LiveServices:
    """``MenuServices`` for a live call."""

    def __init__(self, call: MenuCall, ctx: CallContext) -> None:
        self.call = call
        self.ctx = ctx
        self.services = call.services

    async def verify_pin(self, account: str, pin: str) -> bool:
        return await self.services.accounts.verify(account, pin)

    async def transfer(self, to: str, ring_seconds: int) -> bool:
        return await self.call.transfer(self.ctx, to, ring_seconds)

    async def record_message(self, max_seconds: int) -> None:
        call = self.call
        name = f"messages/{call.call_id}"
        began = time.monotonic()
        try:
            seconds = await legs.record_caller(
                call.channel,
                call.legs,
                name,
                max_seconds,
                self.services.dialplan.message_max_silence,
            )
        except CallerHungUp:
            # Most callers hang up instead of pressing #: Asterisk keeps what they said,
            # and so does the index (its length as timed here), unless they went before
            # the recording began (during the beep).
            kept = await _on_pbx(call.channel.ari, name)
            await self._keep_message(name, round(time.monotonic() - began, 1) if kept else 0.0)
            raise
        await self._keep_message(name, seconds)

    async def _keep_message(self, name: str, seconds: float) -> None:
        call = self.call
        if seconds > 0:
            await self.services.messages.add(
                call.call_id, self.ctx.caller, self.ctx.dialled, self.ctx.language, name, seconds
            )
        await call.store.log(call.call_id, Kind.MESSAGE, recording=name, seconds=seconds)

    async def request_callback(self, queue: str = "") -> None:
        queue = queue or self.ctx.variables.get("queue", "")
        await self.services.callbacks.request(
            self.call.call_id,
            self.ctx.caller,
            self.ctx.dialled,
            self.ctx.language,
            queue=queue,
            priority=self.ctx.priority,
        )
        await self.call.store.log(self.call.call_id, Kind.CALLBACK, number=self.ctx.caller)

    async def enqueue(self, queue: str, skills: tuple[str, ...], priority: int) -> str | None:
        return await self.call.queue(self.ctx, Placement(queue, skills, priority))

    async def check_line(self, check: model.LineCheck, waited: float) -> SequenceOutcome | None:
        if self.call.listener is None:
            return None
        return await check_line(check, waited, self.call.line_io(self.ctx, check))


async def _on_pbx(ari: AriRest, recording: str) -> bool:
    """Whether the PBX holds the stored recording (when it cannot tell: assume it does)."""
    try:
        await ari.stored_recording(recording)
    except AriNotFound:
        return False
    except AriError:
        return True
    return True
