"""The FastAGI requests of the fallback dialplan, by the name the dialplan asks for.

Each sets channel variables and answers at once; the dialplan decides what the caller
hears. What a request stores (the call record, its events, the recording's index row, a
message and its callback task) is left to the requests' own task (``run``), which stores
it call by call in order: the caller never waits on the database.

- ``call-start`` (``[fallback]``, before the caller is answered): the blacklist, the
  call's id (the controller's when it handed the call over, else a new one) and its
  record, served by the fallback (``SERVED_BY_FALLBACK``: a returning controller leaves
  it alone), and where the PBX records the call (the recorder of a returning controller
  stores that file as it stores its own calls').
- ``queue`` (``[fallback-queue-<q>]``): whose phones to ring, from the controller's
  snapshot (``dialplan.snapshot``), the ring round, the longest wait, the music.
- ``call-end`` (the hangup handler ``[fallback-end]``): the call's story as the dialplan
  kept it in variables (queued at, Dial's status and answered time, who answered, the
  voice message), written as the same timeline events the controller writes, at the
  times they happened, so the KPIs count the outage's calls like any other.

A request that cannot be answered in time sets nothing: the dialplan then goes on to
the static layer (``call-start``) or to a message (``queue``). ``blacklist-check`` alone
is kept for dialplans that only screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
import wave
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from acd.callbacks import Callbacks
from acd.fallback import SNAPSHOT_FILE
from dialplan.agi import AgiSession, Handler
from dialplan.snapshot import Snapshot
from hotline.calls.registry import SERVED_BY_FALLBACK
from hotline.calls.store import CallStore, now
from hotline.calls.timeline import Kind
from hotline.config import Config
from hotline.db import aware
from hotline.pbx.instance import RECORDINGS_IN_CONTAINER
from hotline.writes import DbHealth, WriteBehind
from ivr.blacklist import Blacklist, Verdict
from recordings.index import RecordingIndex
from recordings.messages import VoiceMessages
from recordings.recorder import pbx_name

log = logging.getLogger(__name__)

BLACKLISTED = "HOTLINE_BLACKLISTED"  # yes / no
BLACKLIST_ACTION = "HOTLINE_BLACKLIST_ACTION"  # refuse (answer, say why) / silent / ""
CALL = "HOTLINE_CALL"
SAFE_ID = re.compile(r"^[0-9a-f-]{36}$")
SAFE_QUEUE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
STALE_EVERY = 60.0  # seconds between looks for records nobody will close
MAX_JOBS = 10_000  # calls' writes waiting for the database, at most
Job = Callable[[], Awaitable[None]]


def blacklist_check(blacklist: Blacklist) -> Handler:
    """``blacklist-check``: is the caller (``agi_callerid``, any written form) refused?"""

    async def check(session: AgiSession) -> None:
        verdict = await blacklist.screen(session.env.get("agi_callerid", ""))
        await session.set_variable(BLACKLISTED, "yes" if verdict else "no")
        await session.set_variable(BLACKLIST_ACTION, verdict.action.value if verdict else "")

    return check


class FallbackRequests:
    """Every request the fallback dialplan may ask, on the hotline's database, and the
    chores that go with them (``run``: one task, owned by the fallback service, which also
    commits the writes)."""

    def __init__(self, config: Config, engine: AsyncEngine) -> None:
        self.config = config
        self.health = DbHealth()
        self.writes = WriteBehind(engine, self.health)
        self.calls = CallStore(engine, self.writes)
        self.recordings = RecordingIndex(engine, self.writes)
        self.callbacks = Callbacks(engine, self.writes)
        self.blacklist = Blacklist(engine)
        settings = config.fallback
        self.snapshot = Snapshot(
            config.fallback_dir / SNAPSHOT_FILE, settings.ring_seconds, settings.max_wait
        )
        self.messages = VoiceMessages(engine, self.writes)
        self._jobs: asyncio.Queue[Job] = asyncio.Queue(MAX_JOBS)
        self.handlers: Mapping[str, Handler] = {
            "blacklist-check": blacklist_check(self.blacklist),
            "call-start": self.call_start,
            "queue": self.queue,
            "call-end": self.call_end,
        }

    async def run(self) -> None:
        """Store what the requests left, in order; close records whose call can no longer
        be going on. The one task of the requests: cancelling it stores what is queued
        (bounded by ``WriteBehind.aclose``)."""
        self.writes.start()
        # The first look waits a round: a fallback may start before the controller has
        # created the schema, and no record of ours can be stale at our start anyway.
        next_look = time.monotonic() + STALE_EVERY
        try:
            while True:
                if time.monotonic() >= next_look:
                    next_look = time.monotonic() + STALE_EVERY
                    try:
                        await self.close_stale()
                    except Exception as exc:  # the database away: the next look tries again
                        log.warning("fallback: could not look for stale records: %s", exc)
                try:
                    job = await asyncio.wait_for(self._jobs.get(), STALE_EVERY)
                except TimeoutError:
                    continue
                await self._quietly(job, "storing a call")
        finally:
            while not self._jobs.empty():  # queued before the stop: still queued writes
                await self._quietly(self._jobs.get_nowait(), "storing a call")
            await self.writes.aclose()

    @property
    def backlog(self) -> int:
        """Calls' writes waiting for the task (for /health)."""
        return self._jobs.qsize()

    def _later(self, job: Job) -> None:
        """The caller is not kept waiting for the database: the AGI answer goes first."""
        try:
            self._jobs.put_nowait(job)
        except asyncio.QueueFull:
            log.error("fallback: %d calls' writes are waiting; this one is lost", MAX_JOBS)

    @staticmethod
    async def _quietly(job: Job, what: str) -> None:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:  # one call's bad write must not stop the others'
            log.exception("fallback: %s failed", what)

    # --- call-start ----------------------------------------------------------------------
    async def call_start(self, session: AgiSession) -> None:
        dialled, handed_over, language = (session.args + ["", "", ""])[:3]
        caller = session.env.get("agi_callerid", "")
        channel = session.env.get("agi_uniqueid", "")
        verdict = await self.blacklist.screen(caller)
        resumed = handed_over if SAFE_ID.match(handed_over) else ""
        call_id = resumed or str(uuid.uuid4())
        record = not resumed and self.config.recordings.enabled and verdict is None
        await session.set_variable(CALL, call_id)
        await session.set_variable(BLACKLISTED, "yes" if verdict else "no")
        await session.set_variable(BLACKLIST_ACTION, verdict.action.value if verdict else "")
        await session.set_variable(
            "FB_RECORDING", f"{RECORDINGS_IN_CONTAINER}/{pbx_name(call_id)}" if record else ""
        )
        self._later(
            lambda: self._store_start(
                call_id, resumed, channel, dialled, caller, language, verdict, record
            )
        )

    async def _store_start(
        self,
        call_id: str,
        resumed: str,
        channel: str,
        dialled: str,
        caller: str,
        language: str,
        verdict: Verdict | None,
        record: bool,
    ) -> None:
        if resumed:
            await self.calls.update(call_id, state=SERVED_BY_FALLBACK)
        else:
            await self.calls.open_call(call_id, channel, dialled, caller, SERVED_BY_FALLBACK)
            if language:
                await self.calls.update(call_id, language=language)
        await self.calls.log(call_id, Kind.FALLBACK, layer="fastagi", resumed=bool(resumed))
        if verdict is not None:
            await self.calls.log(
                call_id, Kind.BLACKLISTED, pattern=verdict.pattern, action=verdict.action.value
            )
            await self.calls.close_call(call_id, "blacklisted")
            return
        if record:
            await self.recordings.started(call_id, caller, dialled, pbx_name(call_id), now())
        log.info("fallback: call %s from %s (%s)", call_id, caller, "resumed" if resumed else "new")

    # --- queue ---------------------------------------------------------------------------
    async def queue(self, session: AgiSession) -> None:
        name, call_id = (session.args + ["", ""])[:2]
        phones = self.snapshot.phones(name if SAFE_QUEUE.match(name) else "")
        epoch = time.time()
        await session.set_variable("FB_DIAL", "&".join(phones.dial))
        await session.set_variable("FB_RING", str(phones.ring_seconds))
        await session.set_variable("FB_WAIT_UNTIL", str(int(epoch + phones.max_wait)))
        await session.set_variable("FB_MUSIC", phones.music)
        await session.set_variable("FB_QUEUED_AT", f"{epoch:.3f}")
        if SAFE_ID.match(call_id):
            self._later(lambda: self._store_queued(call_id, name, epoch))
        log.info("fallback: call %s waits in %s, ringing %s agents", call_id, name, phones.whom)

    async def _store_queued(self, call_id: str, queue: str, epoch: float) -> None:
        at = datetime.fromtimestamp(epoch, UTC)
        await self.calls.log_at(
            call_id, Kind.QUEUED, at, queue=queue, skills=[], priority=5, layer="fastagi"
        )
        await self.calls.log_at(
            call_id, Kind.WAITING, at, queue=queue, vip=False, region="", preferred="", position=0
        )
        await self.calls.update(call_id, queue=queue)

    # --- call-end ------------------------------------------------------------------------
    async def call_end(self, session: AgiSession) -> None:
        fields = (session.args + [""] * 12)[:12]
        call_id = fields[0]
        if not SAFE_ID.match(call_id):
            return
        caller = session.env.get("agi_callerid", "")
        end = now()
        self._later(lambda: self._store_end(call_id, caller, end, fields))

    async def _store_end(self, call_id: str, caller: str, end: datetime, fields: list[str]) -> None:
        dialled, language, queue, queued_at = fields[1:5]
        dial_status, answered_ms, peer, agent_hung_up = fields[5:9]
        message, message_at, max_wait_at = fields[9:12]
        disposition = "hangup"
        queued = _time(queued_at)
        if queue and queued is not None:
            if dial_status == "ANSWER":
                talked = _float(answered_ms) / 1000.0
                answered = end - timedelta(seconds=talked)
                agent = self.snapshot.agent_of(peer)
                wait = round(max(0.0, (answered - queued).total_seconds()), 3)
                await self.calls.log_at(
                    call_id, Kind.ANSWERED, answered, agent=agent, queue=queue, wait=wait
                )
                ended = Kind.AGENT_HUNG_UP if agent_hung_up == "yes" else Kind.CALLER_HUNG_UP
                await self.calls.log_at(call_id, ended, end, agent=agent)
                await self.calls.update(call_id, answered_at=answered, agent=agent)
                disposition = "answered"
            elif (waited_until := _time(max_wait_at)) is not None:
                wait = round((waited_until - queued).total_seconds(), 3)
                await self.calls.log_at(
                    call_id, Kind.MAX_WAIT, waited_until, queue=queue, wait=wait
                )
            elif not message:
                wait = round((end - queued).total_seconds(), 3)
                await self.calls.log_at(call_id, Kind.ABANDONED, end, queue=queue, wait=wait)
                disposition = "abandoned"
        if message:
            seconds = self._message_seconds(message, _time(message_at), end)
            if seconds > 0:
                await self.messages.add(
                    call_id, caller, dialled, language or "zh", message, seconds
                )
                # Without the controller nobody could offer the caller a callback: the
                # message turns into one, for the dialler when the controller is back.
                await self.callbacks.request(call_id, caller, dialled, language or "zh", queue)
                await self.calls.log_at(call_id, Kind.CALLBACK, end, number=caller)
            await self.calls.log_at(call_id, Kind.MESSAGE, end, recording=message, seconds=seconds)
            disposition = "message"
        await self.calls.close_call(call_id, disposition)
        log.info("fallback: call %s ended (%s)", call_id, disposition)

    def _message_seconds(self, name: str, began: datetime | None, end: datetime) -> float:
        """The message's length from its file (the PBX's recording folder is ours), else
        from the time it began."""
        path = self.config.recordings_dir / f"{name}.wav"
        with contextlib.suppress(OSError, wave.Error, EOFError):
            with wave.open(str(path), "rb") as audio:
                return round(audio.getnframes() / float(audio.getframerate()), 1)
        return round((end - began).total_seconds(), 1) if began is not None else 0.0

    # --- chores --------------------------------------------------------------------------
    async def close_stale(self) -> None:
        """A record of ours still open longer than any call may last (the PBX hangs up
        every call after pbx.max_call_seconds): its call-end never came (this process was
        away when the caller hung up). It closes as lost."""
        limit = timedelta(seconds=self.config.pbx.max_call_seconds + 60)
        for record in await self.calls.open_calls():
            if record.state == SERVED_BY_FALLBACK and now() - aware(record.started_at) > limit:
                await self.calls.close_call(record.id, "lost")


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def _time(epoch: str) -> datetime | None:
    """An epoch the dialplan kept (``${EPOCH}`` or one we set), as a UTC time."""
    try:
        return datetime.fromtimestamp(float(epoch), UTC) if epoch else None
    except (ValueError, OverflowError, OSError):
        return None
