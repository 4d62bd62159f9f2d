"""Owns every call's task, routes ARI events to it, and reconciles after (re)connects.

One task per call, owned here: created on StasisStart (or when reconciliation finds a call
we lost track of), removed when it ends, cancelled and awaited with a deadline on shutdown.
A failing flow never strands the caller: the channel is handed to the dialplan fallback
(an apology, then hang-up) and the record is closed.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from hotline.ari.errors import AriError, AriNotFound
from hotline.ari.models import Channel, Event
from hotline.ari.rest import AriRest
from hotline.calls.session import GONE, RESYNC, CallChannel, CallerHungUp
from hotline.calls.store import CallStore

log = logging.getLogger(__name__)

# Runs a call's state machine to the end and returns its disposition. ``resume_state``
# is the stored state of a call picked up again after a restart, or None for a new call.
FlowRunner = Callable[[str, CallChannel, str | None], Awaitable[str]]
FALLBACK_CONTEXT = "fallback"


@dataclass
class ActiveCall:
    call_id: str
    channel: CallChannel
    task: asyncio.Task[None]


class CallRegistry:
    def __init__(self, ari: AriRest, app: str, store: CallStore, run_flow: FlowRunner) -> None:
        self.ari = ari
        self.app = app
        self.store = store
        self.run_flow = run_flow
        self.calls: dict[str, ActiveCall] = {}  # by caller channel id
        self.accepting = True

    # --- events -------------------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        if event.type == "StasisStart":
            channel = event.channel
            if channel is not None and channel.id not in self.calls:
                self._start(channel, dialled=(event.args or [channel.exten])[0])
                return
        for channel_id in event.channel_ids():
            call = self.calls.get(channel_id)
            if call is not None:
                call.channel.deliver(event)

    def _start(
        self, channel: Channel, dialled: str, call_id: str = "", resume_state: str | None = None
    ) -> None:
        if not self.accepting:
            return
        call_id = call_id or str(uuid.uuid4())
        cc = CallChannel(self.ari, channel.id, channel.caller_number)
        task = asyncio.create_task(
            self._run(call_id, cc, channel, dialled, resume_state), name=f"call-{call_id}"
        )
        self.calls[channel.id] = ActiveCall(call_id, cc, task)
        task.add_done_callback(lambda _t: self.calls.pop(channel.id, None))

    async def _run(
        self,
        call_id: str,
        cc: CallChannel,
        channel: Channel,
        dialled: str,
        resume_state: str | None,
    ) -> None:
        """The call's task: its flow inside an error boundary that never strands the caller."""
        try:
            if resume_state is None:
                await self.store.open_call(
                    call_id, channel.id, dialled, channel.caller_number, state="answering"
                )
            else:
                await self.store.log(call_id, "resumed", state=resume_state)
            disposition = await self.run_flow(call_id, cc, resume_state)
        except CallerHungUp:
            disposition = "caller_hangup"
        except Exception:
            log.exception("call %s failed; handing the caller to the fallback", call_id)
            await self._hand_to_fallback(channel.id)
            disposition = "error"
        try:
            await self.store.close_call(call_id, disposition)
        except Exception:
            log.exception("call %s: could not close its record (%s)", call_id, disposition)

    # --- reconciliation --------------------------------------------------------------------
    async def reconcile(self) -> None:
        """After every (re)connect: resync live calls, close lost ones, adopt orphans."""
        live = set((await self.ari.application(self.app)).channel_ids)
        for channel_id, call in list(self.calls.items()):
            call.channel.deliver(Event(RESYNC if channel_id in live else GONE, {}))
        open_by_channel = {r.channel_id: r for r in await self.store.open_calls()}
        for channel_id, record in open_by_channel.items():
            if channel_id not in live and channel_id not in self.calls:
                await self.store.close_call(record.id, "lost")
        for channel_id in live - set(self.calls):
            try:
                channel = await self.ari.channel(channel_id)
            except AriNotFound:
                continue
            stored = open_by_channel.get(channel_id)
            if stored is not None:
                log.info("resuming call %s in state %s", stored.id, stored.state)
                self._start(channel, stored.dialled_number, stored.id, stored.state)
            else:
                log.info("adopting channel %s found in Stasis", channel_id)
                self._start(channel, channel.exten)

    # --- shutdown ---------------------------------------------------------------------------
    async def aclose(self, hand_over: bool, timeout: float = 3.0) -> None:
        """Stop every call task. With ``hand_over`` callers go to the dialplan fallback;
        without, they stay in Stasis for the next controller to resume."""
        self.accepting = False
        calls = list(self.calls.items())
        for _, call in calls:
            call.task.cancel()
        if calls:
            await asyncio.wait([c.task for _, c in calls], timeout=timeout)
        if hand_over:
            async with asyncio.timeout(timeout):
                for channel_id, call in calls:
                    await self._hand_to_fallback(channel_id)
                    await self.store.close_call(call.call_id, "controller_stopped")

    async def _hand_to_fallback(self, channel_id: str) -> None:
        try:
            await self.ari.continue_in_dialplan(channel_id, FALLBACK_CONTEXT, "s", 1)
        except AriError as exc:
            log.warning("could not hand %s to the fallback: %s", channel_id, exc.message)
