"""``SequenceIO`` on a live caller channel: prompts through ARI, ears through the
``LineListener``, the timeline through the call store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from hotline.ari.models import Event
from hotline.calls.session import CallChannel
from ivr.line.classifier import Evidence, Thresholds
from ivr.line.listener import SPEECH_EVENT, LineListener
from ivr.line.sequences import Presence


class ChannelLineIO:
    def __init__(
        self,
        channel: CallChannel,
        listener: LineListener,
        media: Callable[[str], str],
        limits: Thresholds,
        speech_window: float,
        log: Callable[..., Awaitable[None]],
    ) -> None:
        self.channel = channel
        self.listener = listener
        self.media = media
        self.limits = limits
        self.speech_window = speech_window
        self._log = log
        self._watch = 0  # the listener's current watch for speech

    def _shows_up(self, event: Event) -> bool:
        if event.type == SPEECH_EVENT:
            return event.raw.get("watch") == self._watch  # not a stale one
        return self.channel.is_key(event)

    async def _until_shown(self, wait: Callable[[], Awaitable[Event | None]]) -> Presence | None:
        """Run ``wait`` (a prompt, a pause) while watching for speech; a key already
        pressed or one pressed meanwhile, or speech, is the caller showing up."""
        if self.channel.typeahead:
            return Presence(key=self.channel.typeahead.popleft())
        self._watch = self.listener.watch_speech(self.speech_window, self.limits)
        try:
            event = await wait()
        except TimeoutError:
            return None
        finally:
            self.listener.unwatch()
        if event is None:
            return None
        if self.channel.is_key(event):
            return Presence(key=event.digit)
        return Presence(evidence=self.listener.evidence(self.speech_window, self.limits))

    async def say(self, prompt: str) -> Presence | None:
        return await self._until_shown(
            lambda: self.channel.play_unless([self.media(prompt)], self._shows_up)
        )

    async def listen(self, seconds: float) -> Presence | None:
        return await self._until_shown(lambda: self.channel.wait_event(self._shows_up, seconds))

    def evidence(self, seconds: float) -> Evidence:
        return self.listener.evidence(seconds, self.limits)

    async def hangup(self) -> None:
        await self.channel.hangup()

    async def log(self, **data: Any) -> None:
        await self._log(**data)
