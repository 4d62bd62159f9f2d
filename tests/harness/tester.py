"""The tester Asterisk, driven over its own ARI: callers and agents' phones.

``Caller`` dials the hotline over the PJSIP trunk, presses keys (RFC 4733), plays audio,
hangs up, and records everything it hears (a snoop on its own channel, spy=in, recorded
as raw slin so it can be read while the call goes on). ``AgentPhone`` is an extension on
the tester that the PBX can dial; it answers, rejects or never answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
import uuid
import wave
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hotline.ari.errors import AriNotFound
from hotline.ari.events import EventLog, EventStream
from hotline.ari.models import Event
from hotline.ari.rest import AriRest
from ivr.scenario import hearing as audio

MEDIA_IN_CONTAINER = "/var/lib/hotline-tester/media"
HANGUP = ("ChannelDestroyed", "StasisEnd", "ChannelHangupRequest")


class AriWatcher:
    """One app's connection to an Asterisk's ARI; events are kept so waits never miss one."""

    def __init__(self, ari_url: str, user: str, password: str, app: str) -> None:
        # Each watcher has an app of its own: when a socket for the same name closes as the
        # next opens, Asterisk 22 may deactivate the new one (seen: "Replacing", then the old
        # session's "Deactivating", then "missed message" for every event of the next test).
        self.app = f"{app}-{uuid.uuid4().hex[:8]}"
        self.rest = AriRest(ari_url, user, password)
        self.log = EventLog()
        self._connected = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        # What a spawned handler raised (a phone that failed to reject, say): named in any
        # failed wait, so a harness fault is not mistaken for the hotline's.
        self.faults: list[str] = []
        self._stream = EventStream(
            ari_url, self.app, user, password, self._on_event, self._on_connect
        )
        self._stream_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._stream_task = asyncio.create_task(self._stream.run())
        async with asyncio.timeout(20):
            await self._connected.wait()

    async def close(self) -> None:
        tasks = [t for t in [self._stream_task, *self._tasks] if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.rest.close()

    async def _on_connect(self) -> None:
        self._connected.set()

    @property
    def history(self) -> list[Event]:
        return self.log.history

    def _on_event(self, event: Event) -> None:
        self.log.add(event)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            self.faults.append(f"{type(error).__name__}: {error}")

    async def wait_for(
        self,
        predicate: Callable[[Event], bool],
        timeout: float,
        what: str = "event",
        since: int = 0,
    ) -> Event:
        """The first event (from history index ``since`` on) matching, within ``timeout``."""
        event = await self.log.wait_for(predicate, timeout, since)
        if event is None:
            faults = f" (harness faults: {'; '.join(self.faults)})" if self.faults else ""
            raise AssertionError(f"no {what} within {timeout} s{faults}")
        return event


class Tester(AriWatcher):
    """The tester Asterisk: callers dial out of it, agents' phones ring on it."""

    __test__ = False  # not a pytest test class

    def __init__(self, ari_url: str, user: str, password: str, recordings: Path, media: Path):
        super().__init__(ari_url, user, password, "harness")
        self.recordings = recordings
        self.media = media
        self.phones: dict[str, AgentPhone] = {}

    async def start(self) -> None:
        await super().start()
        # The tester's dialplan sends calls for its phones to this app (extensions.conf).
        await self.rest.set_global("HARNESS_APP", self.app)

    def _on_event(self, event: Event) -> None:
        super()._on_event(event)
        if event.type == "StasisStart" and event.args[:1] == ["phone"]:
            phone = self.phones.get(event.args[1]) if len(event.args) > 1 else None
            if phone is not None and event.channel is not None:
                self.spawn(phone.ring(event.channel.id, event.channel.caller_number))

    async def call(
        self, number: str, caller_id: str = "13800138000", answer_timeout: float = 10
    ) -> Caller:
        caller = Caller(self, number, caller_id)
        await caller.dial(answer_timeout)
        return caller

    def phone(self, extension: str, mode: str = "answer") -> AgentPhone:
        phone = AgentPhone(self, extension, mode)
        self.phones[extension] = phone
        return phone

    async def record_heard(self, channel_id: str, name: str) -> Path:
        """Snoop what ``channel_id`` receives and record it as raw slin; returns the file."""
        snoop_id = f"snoop-{uuid.uuid4().hex[:12]}"
        mark = len(self.history)
        await self.rest.snoop(channel_id, snoop_id, self.app, spy="in")
        await self.wait_for(
            lambda e: e.type == "StasisStart" and _cid(e) == snoop_id,
            5,
            "snoop StasisStart",
            since=mark,
        )
        await self.rest.record(snoop_id, f"heard/{name}", fmt="sln")
        return self.recordings / "heard" / f"{name}.sln"


def seconds(wav: Path) -> float:
    """A wav file's length."""
    with wave.open(str(wav), "rb") as w:
        return w.getnframes() / w.getframerate()


class NotAnswered(AssertionError):
    def __init__(self, number: str, cause: int) -> None:
        super().__init__(f"call to {number} was not answered (cause {cause})")
        self.cause = cause


class Caller:
    def __init__(self, tester: Tester, number: str, caller_id: str) -> None:
        self.tester = tester
        self.number = number
        self.caller_id = caller_id
        self.channel_id = f"caller-{uuid.uuid4().hex[:12]}"
        self.heard_file: Path = Path()
        self.dialled_at = 0.0
        self.answered_at = 0.0
        self.sound_id = ""

    async def dial(self, answer_timeout: float) -> None:
        t = self.tester
        mark = len(t.history)
        await t.rest.create_channel(
            f"PJSIP/{self.number}@pbx", self.tester.app, self.channel_id, app_args="caller"
        )
        await t.wait_for(
            lambda e: e.type == "StasisStart" and _cid(e) == self.channel_id,
            5,
            "caller StasisStart",
            since=mark,
        )
        # PJSIP builds the From header of an outgoing call from its connected line.
        await t.rest.set_variable(self.channel_id, "CONNECTEDLINE(num,i)", self.caller_id)
        await t.rest.set_variable(self.channel_id, "CONNECTEDLINE(pres,i)", "allowed")
        self.heard_file = await t.record_heard(self.channel_id, self.channel_id)
        self.dialled_at = time.monotonic()
        await t.rest.dial(self.channel_id, timeout=int(answer_timeout))
        outcome = await t.wait_for(
            lambda e: (
                _cid(e) == self.channel_id
                and (
                    (e.type == "ChannelStateChange" and (e.channel and e.channel.state) == "Up")
                    or e.type in HANGUP
                )
            ),
            answer_timeout,
            "answer",
            since=mark,
        )
        if outcome.type != "ChannelStateChange":
            gone = await t.wait_for(
                lambda e: e.type == "ChannelDestroyed" and _cid(e) == self.channel_id,
                5,
                "end of the unanswered call",
                since=mark,
            )
            raise NotAnswered(self.number, gone.cause)
        self.answered_at = time.monotonic()

    async def press(self, digits: str) -> None:
        await self.tester.rest.send_dtmf(self.channel_id, digits)

    async def play(self, wav: Path) -> None:
        """Send audio to the hotline (a 8 kHz mono wav) and wait until it has played."""
        mark = len(self.tester.history)
        playback_id = await self.start_sound(wav, times=1)
        await self.tester.wait_for(
            lambda e: (
                e.type == "PlaybackFinished" and (e.playback and e.playback.id) == playback_id
            ),
            60,
            "end of our playback",
            since=mark,
        )

    async def start_sound(self, wav: Path, times: int = 20) -> str:
        """Send ``wav`` to the hotline ``times`` over (a line's steady sound, a caller who
        keeps talking) without waiting; ``stop_sound`` ends it. Returns the playback id."""
        await asyncio.to_thread(shutil.copyfile, wav, self.tester.media / wav.name)
        self.sound_id = f"pb-{uuid.uuid4().hex[:12]}"
        media = f"sound:{MEDIA_IN_CONTAINER}/{wav.stem}"
        await self.tester.rest.play(self.channel_id, self.sound_id, [media] * times)
        return self.sound_id

    async def stop_sound(self) -> None:
        if self.sound_id:
            with contextlib.suppress(AriNotFound):
                await self.tester.rest.stop_playback(self.sound_id)
            self.sound_id = ""

    async def hangup(self) -> None:
        try:
            await self.tester.rest.hangup(self.channel_id)
        except AriNotFound:
            pass

    async def is_gone(self) -> bool:
        try:
            await self.tester.rest.channel(self.channel_id)
        except AriNotFound:
            return True
        return False

    async def wait_hung_up(self, timeout: float) -> float:
        """Wait for the far end to hang up; returns seconds since answer."""
        # A channel that came in through the dialplan (an agent's phone) leaves the
        # application with StasisEnd and no ChannelDestroyed follows for it.
        await self.tester.wait_for(
            lambda e: e.type in ("ChannelDestroyed", "StasisEnd") and _cid(e) == self.channel_id,
            timeout,
            f"hang-up of {self.channel_id}",
        )
        return time.monotonic() - self.answered_at

    async def hung_up_at(self, timeout: float) -> float:
        """Wait for the far end to hang up; returns when, in seconds on the time line of
        what the caller heard (the recording ends with the call: its full length)."""
        await self.wait_hung_up(timeout)
        name = f"heard/{self.channel_id}"
        await self.tester.wait_for(
            lambda e: (
                e.type in ("RecordingFinished", "RecordingFailed")
                and (e.recording and e.recording.name) == name
            ),
            5,
            f"end of the recording {name}",
        )
        return len(self.heard()) / audio.RATE

    def heard(self) -> audio.Samples:
        return audio.read_sln(self.heard_file)

    def position(self) -> float:
        """Seconds recorded so far: "now" on the time line of ``expect_heard`` offsets."""
        size = self.heard_file.stat().st_size if self.heard_file.exists() else 0
        return size / 2 / audio.RATE

    async def expect_heard(
        self, prompt_wav: Path, timeout: float, after_s: float = -1.0
    ) -> audio.Match:
        """Wait until the prompt shows up in what the caller heard (after ``after_s`` into
        the recording); fail with the best score seen. ``timeout`` is the time it has to
        begin: the prompt's own length is added, since it is matched as a whole."""
        template = audio.read_wav(prompt_wav)
        deadline = time.monotonic() + timeout + len(template) / audio.RATE
        best = audio.Match(0.0, 0.0)
        while True:
            heard = self.heard()
            start = max(0, int(after_s * audio.RATE))
            match = audio.find(template, heard[start:])
            match = audio.Match(match.offset_s + start / audio.RATE, match.score)
            if match.score >= audio.MATCH_THRESHOLD:
                return match
            best = max(best, match, key=lambda m: m.score)
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"{prompt_wav.name} not heard within {timeout} s "
                    f"(best score {best.score:.2f} at {best.offset_s:.2f} s; "
                    f"{len(heard) / audio.RATE:.1f} s recorded)"
                )
            await asyncio.sleep(0.2)


@dataclass
class AgentPhone:
    tester: Tester
    extension: str
    mode: str  # "answer", "reject" or "never"
    answer_delay: float = 0.0
    calls: list[str] = field(default_factory=list)
    shown_numbers: list[str] = field(default_factory=list)  # caller ids on the display
    rang_at: list[float] = field(default_factory=list)  # time.monotonic() of each ring
    rang: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_rang(self, timeout: float) -> str:
        """The channel id of the first call to this phone, within ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                await self.rang.wait()
        except TimeoutError:
            raise AssertionError(f"phone {self.extension} did not ring in {timeout} s") from None
        return self.calls[0]

    async def wait_call(self, count: int, timeout: float) -> str:
        """The channel id of this phone's ``count``-th call (1 is the first), when it rings."""
        deadline = time.monotonic() + timeout
        while len(self.calls) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"phone {self.extension} rang {len(self.calls)} times, not {count}, "
                    f"in {timeout} s"
                )
            await asyncio.sleep(0.05)
        return self.calls[count - 1]

    async def wait_call_from(self, number: str, timeout: float) -> str:
        """The channel id of the call showing ``number`` on this phone, when it rings
        (for a phone several callers reach at once)."""
        deadline = time.monotonic() + timeout
        while number not in self.shown_numbers:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"phone {self.extension} never showed {number} in {timeout} s "
                    f"(it showed {self.shown_numbers})"
                )
            await asyncio.sleep(0.05)
        return self.calls[self.shown_numbers.index(number)]

    async def line(self, index: int = -1) -> Caller:
        """The phone's side of one of its calls, to speak and listen on like a caller
        (what it hears is recorded from now on)."""
        line = Caller(self.tester, self.extension, "")
        line.channel_id = self.calls[index]
        line.heard_file = await self.tester.record_heard(line.channel_id, line.channel_id)
        return line

    async def hang_up(self) -> None:
        """The agent puts the phone down on the latest call."""
        await self.tester.rest.hangup(self.calls[-1])

    async def ring(self, channel_id: str, caller_number: str = "") -> None:
        self.calls.append(channel_id)
        self.rang_at.append(time.monotonic())
        self.shown_numbers.append(caller_number)
        self.rang.set()
        rest = self.tester.rest
        try:
            if self.mode == "answer":
                await rest.ring(channel_id)
                await asyncio.sleep(self.answer_delay)  # the phone rings for this long
                await rest.answer(channel_id)
            elif self.mode == "reject":
                await rest.hangup(channel_id, reason="busy")
            else:
                await rest.ring(channel_id)
        except AriNotFound:
            pass  # the PBX gave up first


def _cid(event: Event) -> str:
    return event.channel.id if event.channel else ""
