"""Owns every call's task, routes ARI events to it, and reconciles after (re)connects.

One task per call, owned here: created on StasisStart (or when reconciliation finds a call
we lost track of), removed when it ends, cancelled and awaited with a deadline on shutdown.
A failing flow never strands the caller: the channel is handed to the dialplan fallback
(an apology, then hang-up) and the record is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from hotline.ari.errors import AriError, AriNotFound
from hotline.ari.models import Channel, Event
from hotline.ari.rest import AriRest
from hotline.calls.models import CallRecord
from hotline.calls.session import GONE, RESYNC, CallChannel, CallerHungUp
from hotline.calls.store import CallStore
from hotline.calls.timeline import Kind
from hotline.numbers import normalise

log = logging.getLogger(__name__)

# Runs a call's journey (hotline.calls.journey) to the end and returns its disposition;
# arguments: call id, channel, dialled number, and the stored record of a call picked up
# again after a restart (None for a new call).
FlowRunner = Callable[[str, CallChannel, str, CallRecord | None], Awaitable[str]]
FALLBACK_CONTEXT = "fallback"
# The state the watchman (hotline.watchman) gives the record of a caller it handed to the
# fallback while no controller was up; closing that call, reconcile makes it the disposition.
HANDED_TO_FALLBACK = "fallback"
# The state of a record the FastAGI fallback (dialplan.requests) serves: that process
# closes it; a returning controller leaves it alone (never pulled back mid-call).
SERVED_BY_FALLBACK = "fallback-agi"
# Channels a call places itself (an agent's phone, an outside number) carry this prefix
# and the app argument "leg": their events go to the call that placed them, and
# reconciliation never mistakes them for callers.
LEG_PREFIX = "leg-"
LEG_KEY = "leg"  # in a phase's stored data: the call's live leg (an agent, an outside person)
BRIDGE_PREFIX = "br-"  # a call's bridge is BRIDGE_PREFIX + call id


@dataclass
class ActiveCall:
    call_id: str
    channel: CallChannel
    task: asyncio.Task[None]


class CallRegistry:
    def __init__(
        self,
        ari: AriRest,
        app: str,
        store: CallStore,
        run_flow: FlowRunner,
        on_closed: Callable[[str], Awaitable[None] | None] = lambda _call_id: None,
    ) -> None:
        self.ari = ari
        self.app = app
        self.store = store
        self.run_flow = run_flow
        # Told each call id whose record was closed (its recording can be stored).
        self.on_closed = on_closed
        self.calls: dict[str, ActiveCall] = {}  # by caller channel id
        self.legs: dict[str, ActiveCall] = {}  # by leg channel id
        self._chores: set[asyncio.Task[None]] = set()  # small fire-and-forget clean-ups
        self.accepting = True

    # --- events -------------------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        if event.type == "StasisStart":
            channel = event.channel
            known = channel is not None and (channel.id in self.calls or channel.id in self.legs)
            if channel is not None and not known:
                if channel.id.startswith(LEG_PREFIX):
                    log.warning("leg %s has no call any more; hanging it up", channel.id)
                    self._spawn_hangup(channel.id)
                else:
                    self._start(channel, dialled=(event.args or [channel.exten])[0])
                return
        for channel_id in event.channel_ids():
            call = self.calls.get(channel_id) or self.legs.get(channel_id)
            if call is not None:
                call.channel.deliver(event)

    def attach_leg(self, leg_id: str, caller_channel_id: str) -> None:
        """Route the events of ``leg_id`` (placed by a call) to that call."""
        call = self.calls.get(caller_channel_id)
        if call is not None:
            self.legs[leg_id] = call

    def detach_leg(self, leg_id: str) -> None:
        self.legs.pop(leg_id, None)

    def _start(self, channel: Channel, dialled: str, resume: CallRecord | None = None) -> None:
        if not self.accepting:
            return
        call_id = resume.id if resume is not None else str(uuid.uuid4())
        # The caller's number in its one written form (hotline.numbers) from here on: the
        # record, the blacklist, the ACD and the screen pop all compare this string.
        cc = CallChannel(self.ari, channel.id, normalise(channel.caller_number))
        task = asyncio.create_task(
            self._run(call_id, cc, channel, dialled, resume), name=f"call-{call_id}"
        )
        active = ActiveCall(call_id, cc, task)
        self.calls[channel.id] = active
        leg = str((resume.phase or {}).get(LEG_KEY, "")) if resume is not None else ""
        if leg:
            self.legs[leg] = active

        def forget(_task: asyncio.Task[None]) -> None:
            self.calls.pop(channel.id, None)
            for leg_id in [k for k, v in self.legs.items() if v is active]:
                del self.legs[leg_id]

        task.add_done_callback(forget)

    def _spawn_hangup(self, channel_id: str) -> None:
        self._spawn(self._hangup_quietly(channel_id), f"hangup-{channel_id}")

    def _spawn(self, chore: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(chore, name=name)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    async def _hangup_quietly(self, channel_id: str) -> None:
        try:
            await self.ari.hangup(channel_id)
        except AriError:
            pass

    async def _run(
        self,
        call_id: str,
        cc: CallChannel,
        channel: Channel,
        dialled: str,
        resume: CallRecord | None,
    ) -> None:
        """The call's task: its flow inside an error boundary that never strands the caller."""
        failed = False
        try:
            if resume is None:
                await self.store.open_call(call_id, channel.id, dialled, cc.caller_number, state="")
            else:
                await self.store.log(call_id, Kind.RESUMED, state=resume.state, node=resume.node)
            disposition = await self.run_flow(call_id, cc, dialled, resume)
            # The flow is over (a callback filed, a message left, ...): nobody is left to
            # talk to the caller, who must not stay in the application.
            await self._hangup_quietly(channel.id)
        except CallerHungUp:
            disposition = "caller_hangup"
        except Exception:
            log.exception("call %s failed; handing the caller to the fallback", call_id)
            disposition, failed = "error", True
        # The call is over (a cancelled task, the controller stopping, never gets here:
        # its bridge and recording stay for the next controller).
        await self._end_bridge(call_id)
        if failed:
            await self._hand_to_fallback(channel.id)
        try:
            await self.store.close_call(call_id, disposition)
        except Exception:
            log.exception("call %s: could not close its record (%s)", call_id, disposition)
        await self._closed(call_id)

    # --- reconciliation --------------------------------------------------------------------
    async def reconcile(self) -> None:
        """After every (re)connect: resync live calls, close lost ones, adopt orphans."""
        live = set((await self.ari.application(self.app)).channel_ids)
        for channel_id, call in list(self.calls.items()):
            call.channel.deliver(Event(RESYNC if channel_id in live else GONE, {}))
        open_by_channel = {r.channel_id: r for r in await self.store.open_calls()}
        for channel_id, record in open_by_channel.items():
            if record.state == SERVED_BY_FALLBACK:
                continue
            if channel_id not in live and channel_id not in self.calls:
                # Off the reconcile: its record may wait on a busy database, and events
                # of the new connection are not dispatched until reconcile returns.
                self._spawn(self._close_lost(record), f"lost-{record.id}")
        owned_legs = {
            str((r.phase or {}).get(LEG_KEY))
            for channel_id, r in open_by_channel.items()
            if channel_id in live  # a leg whose caller is gone is nobody's
        }
        for channel_id in live - set(self.calls) - set(self.legs):
            if channel_id.startswith(LEG_PREFIX):
                if channel_id not in owned_legs:
                    self._spawn_hangup(channel_id)  # its call is gone: nobody to talk to
                continue
            try:
                channel = await self.ari.channel(channel_id)
            except AriNotFound:
                continue
            stored = open_by_channel.get(channel_id)
            if stored is not None:
                log.info("resuming call %s in state %s", stored.id, stored.state)
                self._start(channel, stored.dialled_number, stored)
            else:
                log.info("adopting channel %s found in Stasis", channel_id)
                self._start(channel, channel.exten)

    async def _close_lost(self, record: CallRecord) -> None:
        """A call whose caller went while no controller was looking: the other side of
        its conversation (an agent, an outside number) is hung up, its bridge removed (it
        would record silence for ever), its record closed (``lost``, or ``fallback`` when
        the watchman handed the caller there), and the features told (the ACD then frees
        the agent)."""
        leg = str((record.phase or {}).get(LEG_KEY, ""))
        if leg:
            await self._hangup_quietly(leg)
        await self._end_bridge(record.id)
        disposition = HANDED_TO_FALLBACK if record.state == HANDED_TO_FALLBACK else "lost"
        try:
            await self.store.close_call(record.id, disposition)
        except Exception:
            log.exception("call %s: could not close its record (%s)", record.id, disposition)
            return
        await self._closed(record.id)

    async def _closed(self, call_id: str) -> None:
        try:
            told = self.on_closed(call_id)
            if inspect.isawaitable(told):
                await told
        except Exception:
            log.exception("call %s: what follows its end failed", call_id)

    # --- shutdown ---------------------------------------------------------------------------
    async def aclose(self, hand_over: bool, timeout: float = 3.0) -> None:
        """Stop every call task. With ``hand_over`` callers go to the dialplan fallback;
        without, they stay in Stasis for the next controller to resume."""
        self.accepting = False
        for chore in list(self._chores):
            chore.cancel()
        calls = list(self.calls.items())
        legs = list(self.legs)
        for _, call in calls:
            call.task.cancel()
        if calls:
            await asyncio.wait([c.task for _, c in calls], timeout=timeout)
        if hand_over:
            async with asyncio.timeout(timeout):
                for leg in legs:  # an agent left alone in a bridge would wait forever
                    await self._hangup_quietly(leg)
                for channel_id, call in calls:
                    await self._end_bridge(call.call_id)
                    await self._hand_to_fallback(channel_id)
                    await self.store.close_call(call.call_id, "controller_stopped")

    async def _end_bridge(self, call_id: str) -> None:
        """Remove the call's bridge, which ends its recording."""
        with contextlib.suppress(AriError):
            await asyncio.shield(self.ari.destroy_bridge(f"{BRIDGE_PREFIX}{call_id}"))

    async def _hand_to_fallback(self, channel_id: str) -> None:
        try:
            await self.ari.continue_in_dialplan(channel_id, FALLBACK_CONTEXT, "s", 1)
        except AriError as exc:
            log.warning("could not hand %s to the fallback: %s", channel_id, exc.message)
