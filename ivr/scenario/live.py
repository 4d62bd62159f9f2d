"""Real scenario calls into the running hotline, placed over the PBX's own ARI.

The caller is the ``;1`` half of a Local channel, ``Local/<number>@from-carrier``, held in
a Stasis application of its own (``<app>-scenario-<run>``, one per run: two admins' runs
at once must not take each other's events) so the controller never sees it. The
``;2`` half runs the real carrier dialplan into the controller, exactly like a carrier
call; it is created with the id ``<caller id>-hotline``, which is how the controller's
call record is found. A snoop on the caller (spy=in) is recorded as raw slin: that file,
read while it grows, is what the caller heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from hotline.ari.errors import AriConflict, AriError, AriNotFound
from hotline.ari.events import EventLog, EventStream
from hotline.ari.models import Event
from hotline.ari.rest import AriRest
from hotline.calls.store import CallStore
from hotline.db import aware, make_engine
from hotline.errors import HotlineError
from ivr.scenario import hearing
from ivr.scenario.call import CallEnded, CallNotAnswered, TimelineEvent
from ivr.scenario.script import CallSetup

log = logging.getLogger(__name__)

HANGUP_EVENTS = ("ChannelDestroyed", "StasisEnd", "ChannelHangupRequest")
CONNECT_TIMEOUT_S = 10.0
SETUP_TIMEOUT_S = 5.0  # for each step of setting up the call (StasisStart, snoop)
TEARDOWN_TIMEOUT_S = 5.0
CARRIER_CONTEXT = "from-carrier"
RECORDINGS_SUBDIR = "scenario"


class LiveCallError(HotlineError):
    """The scenario call could not be set up (ARI unreachable, an event never came, ...)."""

    error_id = "scenario-call"


@dataclass(frozen=True)
class AriAccess:
    url: str
    user: str
    password: str
    app: str  # the hotline's Stasis application; ours is "<app>-scenario-<run>"


class LiveHotline:
    """A connection to the running hotline for scenario calls: ARI (REST and the event
    stream of the scenario application) and the controller's database. Use ``async with``."""

    def __init__(self, ari: AriAccess, db_url: str, recordings_dir: Path) -> None:
        self.ari = ari
        self.recordings_dir = recordings_dir
        self.rest = AriRest(ari.url, ari.user, ari.password)
        self.events = EventLog()
        self._connected = asyncio.Event()
        self.app = f"{ari.app}-scenario-{uuid.uuid4().hex[:8]}"
        self._stream = EventStream(
            ari.url, self.app, ari.user, ari.password, self.events.add, self._on_connect
        )
        self._stream_task: asyncio.Task[None] | None = None
        self._db_url = db_url
        self._engine: AsyncEngine | None = None
        self.store: CallStore | None = None  # the controller's call records

    async def __aenter__(self) -> LiveHotline:
        try:
            await self._start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _start(self) -> None:
        await self.rest.ping()  # a clear error (unreachable, wrong password) before anything
        self._stream_task = asyncio.create_task(self._stream.run(), name="scenario-ari-events")
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                await self._connected.wait()
        except TimeoutError:
            why = self._stream.status.last_error or "no answer"
            raise LiveCallError(
                f"the ARI event stream at {self.ari.url} did not connect within "
                f"{CONNECT_TIMEOUT_S:g} s ({why})"
            ) from None
        self._engine = make_engine(self._db_url)
        self.store = CallStore(self._engine)

    async def _on_connect(self) -> None:
        self._connected.set()

    @property
    def stream_connected(self) -> bool:
        return self._stream.status.connected

    async def close(self) -> None:
        task, self._stream_task = self._stream_task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task], timeout=TEARDOWN_TIMEOUT_S)
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.warning("scenario event stream ended: %s", task.exception())
        await self.rest.close()
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    @contextlib.asynccontextmanager
    async def call(self, setup: CallSetup, answer_timeout: float) -> AsyncIterator[LiveCall]:
        """Dial the hotline as ``setup`` says; yield the answered call; always clean up.

        Raises ``CallNotAnswered`` if the hotline does not answer."""
        call = LiveCall(self, f"scenario-{uuid.uuid4().hex[:12]}")
        try:
            await call.dial(setup, answer_timeout)
            yield call
        finally:
            await call.tear_down()


class LiveCall:
    """One scenario call (a ``ScenarioCall``)."""

    def __init__(self, hotline: LiveHotline, channel_id: str) -> None:
        self.hotline = hotline
        self.rest = hotline.rest
        self.channel_id = channel_id
        self.hotline_channel_id = f"{channel_id}-hotline"  # the controller's side
        self.snoop_id = f"{channel_id}-snoop"
        self.recording = f"{RECORDINGS_SUBDIR}/{channel_id}"
        self.heard_file = hotline.recordings_dir / RECORDINGS_SUBDIR / f"{channel_id}.sln"
        self._since = len(hotline.events.history)  # this call's events start here
        self._call_id: str | None = None

    # --- set-up and tear-down ---------------------------------------------------------------
    async def dial(self, setup: CallSetup, answer_timeout: float) -> None:
        app = self.hotline.app
        await self.rest.create_channel(
            f"Local/{setup.to}@{CARRIER_CONTEXT}",
            app,
            self.channel_id,
            otherChannelId=self.hotline_channel_id,
        )
        await self._expect(_stasis_start(self.channel_id), "StasisStart of the scenario call")
        # Local ;2 takes its caller id from ;1's connected line.
        await self.rest.set_variable(self.channel_id, "CONNECTEDLINE(num,i)", setup.caller)
        await self.rest.set_variable(self.channel_id, "CONNECTEDLINE(pres,i)", "allowed")
        await self.rest.snoop(self.channel_id, self.snoop_id, app, spy="in")
        await self._expect(_stasis_start(self.snoop_id), "StasisStart of the snoop")
        await self.rest.record(self.snoop_id, self.recording, fmt="sln")
        await self.rest.dial(self.channel_id, timeout=math.ceil(answer_timeout))
        # Asterisk gives up after answer_timeout itself; the margin lets its hang-up arrive.
        outcome = await self.hotline.events.wait_for(
            lambda e: e.about(self.channel_id) and (_is_up(e) or e.type in HANGUP_EVENTS),
            answer_timeout + SETUP_TIMEOUT_S,
            self._since,
        )
        if outcome is None or not _is_up(outcome):
            gone = await self.hotline.events.wait_for(
                lambda e: e.type == "ChannelDestroyed" and e.about(self.channel_id),
                SETUP_TIMEOUT_S,
                self._since,
            )
            raise CallNotAnswered(gone.cause if gone is not None else 0)

    async def _expect(self, predicate: Callable[[Event], bool], what: str) -> None:
        if await self.hotline.events.wait_for(predicate, SETUP_TIMEOUT_S, self._since) is None:
            raise LiveCallError(f"no {what} within {SETUP_TIMEOUT_S:g} s")

    async def tear_down(self) -> None:
        """Hang up both our channels and delete the recording; bounded in time."""
        try:
            async with asyncio.timeout(TEARDOWN_TIMEOUT_S):
                for channel in (self.channel_id, self.snoop_id):
                    with contextlib.suppress(AriNotFound):
                        await self.rest.hangup(channel)
        except (TimeoutError, AriError) as exc:
            log.warning("scenario call %s: hang-up failed: %s", self.channel_id, exc)
        await self._delete_recording()

    async def _delete_recording(self) -> None:
        try:
            self.heard_file.unlink(missing_ok=True)
        except PermissionError:
            # The PBX (root in its container) owns the file; let it delete it.
            try:
                async with asyncio.timeout(TEARDOWN_TIMEOUT_S):
                    await self.rest.delete_stored_recording(self.recording)
            except (TimeoutError, AriError) as exc:
                log.warning("could not delete %s: %s", self.heard_file, exc)

    # --- ScenarioCall -------------------------------------------------------------------------
    async def heard(self) -> hearing.Samples:
        return await asyncio.to_thread(hearing.read_sln, self.heard_file)

    async def press(self, keys: str) -> None:
        try:
            await self.rest.send_dtmf(self.channel_id, keys)
        except (AriNotFound, AriConflict):
            raise CallEnded(f"{self.channel_id} is gone") from None

    async def hung_up(self) -> bool:
        ended = self.hotline.events.first(
            lambda e: e.type in HANGUP_EVENTS and e.about(self.channel_id), self._since
        )
        if ended is not None:
            return True
        if self.hotline.stream_connected:
            return False
        # Events sent while the stream was down are lost: ask directly.
        try:
            await self.rest.channel(self.channel_id)
        except AriNotFound:
            return True
        return False

    async def timeline(self) -> Sequence[TimelineEvent]:
        store = self.hotline.store
        if store is None:
            return []
        if self._call_id is None:
            record = await store.by_channel(self.hotline_channel_id)
            if record is None:
                return []
            self._call_id = record.id
        rows = await store.events(self._call_id)
        return [TimelineEvent(aware(row.at), row.kind, dict(row.data or {})) for row in rows]

    async def hangup(self) -> None:
        with contextlib.suppress(AriNotFound):
            await self.rest.hangup(self.channel_id)


def _is_up(event: Event) -> bool:
    return event.type == "ChannelStateChange" and (event.channel and event.channel.state) == "Up"


def _stasis_start(channel_id: str) -> Callable[[Event], bool]:
    return lambda e: e.type == "StasisStart" and e.about(channel_id)
