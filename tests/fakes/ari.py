"""A fake Asterisk behind the real ARI client, for unit tests of call flows without a PBX.

``FakeAri`` is an ``AriRest``: production code calls the same typed methods, which build
the same URLs; only ``request`` (and the downloads) are answered by an in-memory PBX
(``ari_routes`` for the REST surface, ``ari_pbx`` for what then happens). Events go to
``on_event`` (wire it to ``CallRegistry.on_event`` or ``CallChannel.deliver``) as
``hotline.ari.models.Event`` objects built from Asterisk-shaped JSON.

Timing is the event loop's, never the clock's: each request first yields once (a network
hop, so other tasks may interleave), and whatever Asterisk does after answering (events, a
playback starting, a phone answering) runs in later loop turns, one batch per turn. So code
that starts a playback and then waits for its events works, and so does a test that
changes the PBX (a key, a hang-up) and then lets the code react.

Setting up a state left by an earlier controller (for resume tests): drive the fake's own
REST methods before wiring ``on_event``, ``await fake.settle()``, then ``fake.forget()``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from hotline.ari.errors import AriError, error_for_status
from hotline.ari.models import Event
from hotline.ari.rest import AriRest, Params
from tests.fakes.ari_model import (
    DialScript,
    Failure,
    FakeChannel,
    FakePlayback,
    Json,
    Request,
)
from tests.fakes.ari_pbx import CAUSE_NORMAL, Pbx
from tests.fakes.ari_routes import Routes

log = logging.getLogger(__name__)

EventSink = Callable[[Event], None]
CHUNK = 64 * 1024


class FakeAri(AriRest):
    def __init__(
        self,
        app: str = "hotline",
        *,
        auto_finish_playbacks: bool = False,
        on_event: EventSink | None = None,
    ) -> None:
        super().__init__("http://fake-pbx.invalid:8088", "fake", "fake")
        self.app = app
        self.on_event = on_event
        self.requests: list[Request] = []
        self.events: list[Event] = []  # every event delivered, in order
        self.sink_errors: list[Exception] = []  # what on_event raised (EventStream logs it)
        self.failures: list[Failure] = []
        self.closed = False
        self.pbx = Pbx(app, self._emit, self._defer)
        self.pbx.auto_finish_playbacks = auto_finish_playbacks
        self._routes = Routes(self.pbx)
        self._pending: list[Callable[[], None]] = []
        self._pump_scheduled = False
        self._activity = 0
        self._changed = asyncio.Event()

    # --- settings (the state itself is ``fake.pbx``: channels, bridges, ...) --------------
    @property
    def auto_finish_playbacks(self) -> bool:
        return self.pbx.auto_finish_playbacks

    @auto_finish_playbacks.setter
    def auto_finish_playbacks(self, value: bool) -> None:
        self.pbx.auto_finish_playbacks = value

    @property
    def recording_seconds(self) -> int:
        """The length recordings get when stopped, ended by a key or by a hang-up."""
        return self.pbx.recording_seconds

    @recording_seconds.setter
    def recording_seconds(self, value: int) -> None:
        self.pbx.recording_seconds = value

    @property
    def missing_media(self) -> set[str]:
        """Media URIs that play as missing files do: PlaybackFinished with state failed."""
        return self.pbx.missing_media

    # --- AriRest's transport, answered in memory ------------------------------------------
    async def request(
        self, method: str, path: str, params: Params | None = None, body: Any = None
    ) -> Any:
        query = {k: _wire(v) for k, v in (params or {}).items()}
        self.requests.append(Request(method, path, query, body))
        self._touch()
        self._schedule()  # anything left over from a set-up done outside the loop
        await asyncio.sleep(0)  # the network hop: other tasks may run meanwhile
        failure = self._failure(method, path)
        if failure is not None and not failure.applied:
            raise self._error(failure, method, path)
        result = self._routes.dispatch(method, path, query, body)
        if failure is not None:
            raise self._error(failure, method, path)
        return result

    async def download(self, path: str) -> bytes:
        data = await self.request("GET", path)
        if not isinstance(data, bytes):
            raise NotImplementedError(f"the fake PBX has no file at {path}")
        return data

    async def download_to(self, path: str, write: Callable[[bytes], object]) -> int:
        data = await self.download(path)
        for start in range(0, len(data), CHUNK):
            write(data[start : start + CHUNK])
        return len(data)

    async def close(self) -> None:
        self.closed = True

    # --- failure injection ----------------------------------------------------------------
    def fail(
        self,
        method: str,
        template: str,
        error: AriError | int = 500,
        *,
        times: int | None = 1,
        applied: bool = False,
    ) -> Failure:
        """Make the next ``times`` matching requests (None: every one) raise ``error`` (an
        AriError, or a status turned into one as the real client does). ``applied``: the
        PBX acts first and only the answer is lost (a timeout after the fact)."""
        failure = Failure(method, template, error, times, applied)
        self.failures.append(failure)
        return failure

    def _failure(self, method: str, path: str) -> Failure | None:
        for failure in self.failures:
            if failure.catches(method, path):
                failure.hits += 1
                return failure
        return None

    def _error(self, failure: Failure, method: str, path: str) -> AriError:
        if isinstance(failure.error, AriError):
            return failure.error
        return error_for_status(failure.error, "injected by the fake PBX", method, path)

    # --- what the far end does ------------------------------------------------------------
    def caller_arrives(
        self,
        channel_id: str,
        caller: str = "13800138000",
        exten: str = "4008001234",
        *,
        name: str = "",
        language: str = "en",
        announce: bool = True,
    ) -> Event:
        """A carrier call enters the app through the hotline dialplan (``Stasis(app,exten)``).
        ``announce=False``: it arrived while our socket was down (no StasisStart sent).
        Returns the StasisStart (delivered to ``on_event`` too, unless not announced)."""
        if channel_id in self.pbx.channels:
            raise ValueError(f"channel {channel_id} exists already")
        channel = self.pbx.new_channel(
            channel_id,
            f"PJSIP/carrier-{self.pbx.serial():08x}",
            "Ring",
            caller_number=caller,
            caller_name=name,
            context="hotline",
            exten=exten,
            priority=2,
            language=language,
            subscribed=announce,  # unannounced: the StasisStart below reaches nobody
        )
        start = self.pbx.enter_stasis(channel, [exten])
        channel.subscribed = True
        return Event.from_json(start)

    def press(self, channel_id: str, digits: str, duration_ms: int = 100) -> None:
        """The far end of ``channel_id`` presses ``digits``, one ChannelDtmfReceived each."""
        channel = self._channel(channel_id)
        for digit in digits:
            self.pbx.dtmf(channel, digit, duration_ms)

    def caller_hangs_up(self, channel_id: str, cause: int = CAUSE_NORMAL) -> None:
        """The far end hangs up (a caller, an agent's phone, a ringing leg that gives up)."""
        self.pbx.destroy(self._channel(channel_id), cause)

    leg_hangs_up = caller_hangs_up

    def script_endpoint(
        self,
        endpoint: str,
        *,
        answer: bool = False,
        cause: int = 0,
        never: bool = False,
        unreachable: bool = False,
    ) -> None:
        """How ``endpoint`` (e.g. "PJSIP/1001") behaves when dialled from now on: answer, give
        up with ``cause`` (17 busy, 19 no answer, ...), ring until ``leg_answers`` or
        ``leg_rejects`` (``never``), or be undiallable (the default for endpoints never
        scripted, as for an unknown endpoint: POST /channels answers 500)."""
        chosen = [answer, bool(cause), never, unreachable]
        if sum(chosen) != 1:
            raise ValueError("give exactly one of answer, cause, never, unreachable")
        kind = ("answer", "reject", "ring", "unreachable")[chosen.index(True)]
        self.pbx.endpoints[endpoint] = DialScript(kind, cause)

    def leg_answers(self, leg_id: str) -> None:
        self._channel(leg_id)
        self.pbx.answer_leg(leg_id)

    def leg_rejects(self, leg_id: str, cause: int = 17) -> None:
        self._channel(leg_id)
        self.pbx.reject_leg(leg_id, cause)

    def playing(self) -> list[FakePlayback]:
        return [p for p in self.pbx.playbacks.values() if p.state == "playing"]

    def finish_playbacks(self) -> list[str]:
        """Every playback now playing reaches its end (queued ones then start); their ids."""
        done = self.playing()
        for playback in done:
            self.pbx.end_playback(playback, "done")
        return [p.id for p in done]

    def finish_playback(self, playback_id: str, failed: bool = False) -> None:
        playback = self.pbx.playbacks[playback_id]
        self.pbx.end_playback(playback, "failed" if failed else "done")

    def finish_recording(self, name: str, seconds: int = 5, audio: bytes | None = None) -> None:
        """The live recording ``name`` ends (max duration, silence): stored with that length."""
        self.pbx.end_recording(self.pbx.recordings[name], seconds)
        self.pbx.stored[name].audio = audio

    def fail_recording(self, name: str, cause: str = "Recording failed") -> None:
        self.pbx.fail_recording(self.pbx.recordings[name], cause)

    def _channel(self, channel_id: str) -> FakeChannel:
        channel = self.pbx.channels.get(channel_id)
        if channel is None:
            raise LookupError(f"the fake PBX has no channel {channel_id}")
        return channel

    # --- leaks and history ----------------------------------------------------------------
    def leaks(self, *expected: str) -> list[str]:
        """Everything still alive but the channels named: channels, snoops, bridges, live
        recordings, playbacks; as readable lines, so ``assert fake.leaks() == []`` says what."""
        found = [c.describe() for c in self.pbx.channels.values() if c.id not in expected]
        found += [b.describe() for b in self.pbx.bridges.values()]
        found += [r.describe() for r in self.pbx.recordings.values()]
        found += [p.describe() for p in self.pbx.playbacks.values()]
        return found

    def calls_to(self, method: str, template: str) -> list[Request]:
        """Requests matching e.g. ("POST", "/channels/{id}/play/{playback}") (method "*": any)."""
        return [r for r in self.requests if r.matches(method, template)]

    def event_types(self, channel_id: str | None = None) -> list[str]:
        """Types of the events delivered (about ``channel_id``, bridges count as channels)."""
        return [e.type for e in self.events if channel_id is None or channel_id in e.channel_ids()]

    def forget(self) -> None:
        """Clear the request and event history (after setting a scene)."""
        self.requests.clear()
        self.events.clear()

    # --- waiting --------------------------------------------------------------------------
    async def settle(self, max_turns: int = 500) -> None:
        """Let the loop turn until the PBX has nothing left to do and nobody asked it
        anything for a few turns. Work in threads (a database) needs ``wait_for``."""
        quiet, seen = 0, self._activity
        for _ in range(max_turns):
            await asyncio.sleep(0)
            if self._pending or self._pump_scheduled or seen != self._activity:
                quiet, seen = 0, self._activity
            else:
                quiet += 1
                if quiet >= 5:
                    return
        raise AssertionError(f"the fake PBX was still busy after {max_turns} loop turns")

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 2.0) -> None:
        """Until ``predicate()`` holds, re-checked whenever the PBX hears or says something
        (and every 10 ms, for work done in threads); AssertionError after ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    self._changed.clear()
                    try:
                        await asyncio.wait_for(self._changed.wait(), 0.01)
                    except TimeoutError:
                        pass
        except TimeoutError:
            raise AssertionError(f"not true after {timeout} s: {predicate}") from None

    async def wait_for_request(
        self, method: str, template: str, timeout: float = 2.0, since: int = 0
    ) -> Request:
        """The first request from index ``since`` on that matches."""
        await self.wait_for(lambda: bool(self._matching(method, template, since)), timeout)
        return self._matching(method, template, since)[0]

    def _matching(self, method: str, template: str, since: int) -> list[Request]:
        return [r for r in self.requests[since:] if r.matches(method, template)]

    # --- delivery: after the request returns, one batch per loop turn ---------------------
    def _emit(self, data: Json) -> None:
        event = Event.from_json(data)
        self._defer(lambda: self._deliver(event))

    def _defer(self, action: Callable[[], None]) -> None:
        self._pending.append(action)
        self._schedule()

    def _schedule(self) -> None:
        if self._pump_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # outside a loop (a synchronous set-up): the next request runs it
        loop.call_soon(self._pump)
        self._pump_scheduled = True

    def _pump(self) -> None:
        self._pump_scheduled = False
        batch, self._pending = self._pending, []
        for action in batch:
            action()
        if self._pending:
            self._schedule()

    def _deliver(self, event: Event) -> None:
        self.events.append(event)
        self._touch()
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception as exc:  # as EventStream does: one bad event must not stop the rest
            log.exception("event handler failed on %s", event.type)
            self.sink_errors.append(exc)

    def _touch(self) -> None:
        self._activity += 1
        self._changed.set()


def _wire(value: str | int | float | bool) -> str:
    """A query parameter as the real client sends it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


__all__ = ["FakeAri", "Failure", "Request"]
