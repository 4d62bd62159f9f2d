"""What a call's phases can do with the caller's channel, event-driven.

Each call has one task and one queue of ARI events routed to it by the registry. The
primitives here (answer, play with barge-in, wait for a digit) wait on those events with
deadlines. A hang-up surfaces as ``CallerHungUp`` wherever the flow is waiting.

Once answered, the caller sits in the call's own mixing bridge until the end (``bridge``):
prompts, music on hold and the survey are played into it, agents and supervisors join
it, and it is what the whole-call recording records. A bridge mixes on its own clock, so
the recording hears every party in every phase; an audiohook on the caller's channel
(a snoop, MixMonitor) was found to lose what was written to the caller whenever the
channel changed bridges.

After the event socket reconnects, events sent while it was down are lost; the registry
then puts a ``RESYNC`` marker in the queue and the waiting primitive asks ARI directly
(is my playback still there? is the channel still there?).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable

from hotline.ari.errors import AriNotFound
from hotline.ari.models import Event
from hotline.ari.rest import AriRest
from hotline.calls.keys import KeyGate

log = logging.getLogger(__name__)

RESYNC = "HotlineResync"  # synthetic event type, never sent by Asterisk
GONE = "HotlineChannelGone"  # synthetic: reconciliation found the channel gone
HANGUP_EVENTS = frozenset({"StasisEnd", "ChannelHangupRequest", "ChannelDestroyed", GONE})


class CallerHungUp(Exception):
    """The caller's channel is gone; the flow unwinds and the record is closed."""


class CallChannel:
    def __init__(self, ari: AriRest, channel_id: str, caller_number: str = "") -> None:
        self.ari = ari
        self.channel_id = channel_id
        self.caller_number = caller_number
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.typeahead: deque[str] = deque()  # digits pressed while nobody was asking
        self.keys = KeyGate()  # a key flood stops here (hotline.calls.keys)
        self.hung_up = False
        self.bridge: str | None = None  # the call's bridge, once the caller is in it

    def deliver(self, event: Event) -> None:
        if event.type == "ChannelDtmfReceived" and not self.keys.admit():
            if self.keys.dropped == 1:
                log.warning("channel %s: keys too many or too fast, dropped", self.channel_id)
            return
        self.events.put_nowait(event)

    # --- primitives ------------------------------------------------------------------
    async def answer(self) -> None:
        try:
            await self.ari.answer(self.channel_id)
        except AriNotFound:
            raise CallerHungUp from None

    async def hangup(self, reason: str = "normal") -> None:
        self.hung_up = True
        try:
            await self.ari.hangup(self.channel_id, reason)
        except AriNotFound:
            pass

    async def start_playback(self, playback_id: str, media: list[str]) -> None:
        """Start playing to the caller (into the call's bridge, so the recording has it)."""
        if self.bridge is not None:
            await self.ari.play_to_bridge(self.bridge, playback_id, media)
        else:
            await self.ari.play(self.channel_id, playback_id, media)

    async def start_music(self, moh_class: str) -> None:
        if self.bridge is not None:
            await self.ari.start_bridge_moh(self.bridge, moh_class)
        else:
            await self.ari.start_moh(self.channel_id, moh_class)

    async def stop_music(self) -> None:
        if self.bridge is not None:
            await self.ari.stop_bridge_moh(self.bridge)
        else:
            await self.ari.stop_moh(self.channel_id)

    async def play(self, media: list[str], barge_in: bool = True) -> str | None:
        """Play media in order. With barge-in a key stops it; that key is returned."""
        if barge_in and self.typeahead:
            return self.typeahead.popleft()
        stop = self.is_key if barge_in else _never
        event = await self.play_unless(media, stop)
        return event.digit if event is not None else None

    async def play_unless(self, media: list[str], stop: Callable[[Event], bool]) -> Event | None:
        """Play media in order until it ends (None) or an event matching ``stop`` comes
        (returned, the playback stopped). Keys that do not stop it are kept."""
        playback_id = f"pb-{uuid.uuid4().hex}"
        try:
            await self.start_playback(playback_id, media)
        except AriNotFound:
            raise CallerHungUp from None
        try:
            while True:
                event = await self._next_event()
                if event.type == "PlaybackFinished" and _playback_id(event) == playback_id:
                    if event.playback and event.playback.state == "failed":
                        log.warning("playback failed on %s: %s", self.channel_id, media)
                    return None
                if stop(event):
                    await self._stop(playback_id)
                    return event
                if self.is_key(event):
                    self.typeahead.append(event.digit)
                if event.type == RESYNC and not await self._playback_exists(playback_id):
                    return None
        except asyncio.CancelledError:
            # Cut short from outside (a deadline): the caller must not hear it play on.
            await asyncio.shield(self._stop(playback_id))
            raise

    def is_key(self, event: Event) -> bool:
        """A key pressed by this call's caller."""
        return event.type == "ChannelDtmfReceived" and self._mine(event)

    async def wait_digit(self, timeout: float) -> str | None:
        """The next key the caller presses, or None after ``timeout`` seconds of nothing."""
        if self.typeahead:
            return self.typeahead.popleft()
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = await asyncio.wait_for(self._next_event(), left)
            except TimeoutError:
                return None
            if event.type == "ChannelDtmfReceived" and self._mine(event):
                return event.digit
        return None

    async def wait_event(self, predicate: Callable[[Event], bool], timeout: float | None) -> Event:
        """The next event routed to this call that matches (the caller's own, or a leg's
        such as an agent's phone); TimeoutError after ``timeout`` seconds (None: no limit,
        a hang-up still ends the wait). Keys pressed
        meanwhile are kept for the next question."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self._next_event()
                if predicate(event):
                    return event
                if event.type == "ChannelDtmfReceived" and self._mine(event):
                    self.typeahead.append(event.digit)

    async def record(self, name: str, max_seconds: int, max_silence: int) -> float:
        """Record what the caller says on their own channel, which must not be bridged (a
        beep first; ``#`` or silence ends it); returns the length in seconds, 0 when
        nothing was kept. A bridged caller is recorded by ``legs.record_caller``."""
        try:
            await self.ari.record(
                self.channel_id,
                name,
                fmt="wav",
                max_duration=max_seconds,
                max_silence=max_silence,
                terminate_on="#",
                beep=True,
            )
        except AriNotFound:
            raise CallerHungUp from None
        return self.recorded_seconds(await self.wait_event(recording_ended(name), max_seconds + 10))

    def recorded_seconds(self, finished: Event) -> float:
        """The length a finished recording kept (0 when it failed)."""
        recording = finished.recording
        if finished.type == "RecordingFailed" or recording is None:
            log.warning("recording failed on %s", self.channel_id)
            return 0.0
        return float(recording.duration or 0)

    # --- internals ------------------------------------------------------------------------
    def _mine(self, event: Event) -> bool:
        return event.about(self.channel_id)

    async def _next_event(self) -> Event:
        event = await self.events.get()
        if event.type in HANGUP_EVENTS and (event.type == GONE or self._mine(event)):
            self.hung_up = True
            raise CallerHungUp
        if event.type == RESYNC:
            await self._check_alive()
        return event

    async def _check_alive(self) -> None:
        try:
            await self.ari.channel(self.channel_id)
        except AriNotFound:
            self.hung_up = True
            raise CallerHungUp from None

    async def _playback_exists(self, playback_id: str) -> bool:
        try:
            await self.ari.playback(playback_id)
        except AriNotFound:
            return False
        return True

    async def _stop(self, playback_id: str) -> None:
        try:
            await self.ari.stop_playback(playback_id)
        except AriNotFound:
            pass  # it finished on its own meanwhile


def recording_ended(name: str) -> Callable[[Event], bool]:
    return lambda e: (
        e.type in ("RecordingFinished", "RecordingFailed")
        and e.recording is not None
        and e.recording.name == name
    )


def _never(event: Event) -> bool:
    return False


def _playback_id(event: Event) -> str:
    return event.playback.id if event.playback else ""
