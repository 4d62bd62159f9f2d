"""The FastAGI fallback's requests over a real socket and a real SQLite database: the
snapshot the controller's ACD writes names the phones; what the dialplan tells at the
call's end becomes the record, the timeline the KPIs count, a message and a callback."""

from __future__ import annotations

import asyncio
import contextlib
import time
import wave
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.agents import AgentSession, Status
from acd.callbacks import Callbacks
from acd.fallback import SNAPSHOT_FILE, snapshot, write_atomically
from acd.loader import load_acd
from dialplan.agi import FastAgiServer
from dialplan.requests import FallbackRequests
from hotline.calls.registry import SERVED_BY_FALLBACK
from hotline.calls.store import CallStore
from hotline.config import Config, load_config
from hotline.db import create_schema, make_engine
from ivr.blacklist import Action, Blacklist
from recordings.index import RecordingIndex, RecordingStatus
from recordings.messages import VoiceMessages
from reports.kpis import kpis
from reports.store import call_facts
from tests.unit.agi_fixtures import DEADLINE, Asterisk, close_connections

TEST_ACD = Path(__file__).resolve().parents[1] / "tester" / "acd.yaml"
DIAL = "PJSIP/{target}@carrier"


@dataclass
class Fallback:
    config: Config
    engine: AsyncEngine
    requests: FallbackRequests
    server: FastAgiServer

    async def ask(self, request: str, caller: str, *args: str) -> dict[str, str]:
        asterisk = await Asterisk.call(self.server.port, request, caller, args)
        return await asterisk.variables()

    async def stored(self, check: Callable[[], object]) -> None:
        """Wait, with a deadline, for the requests' task to store what ``check`` reads."""
        deadline = time.monotonic() + DEADLINE
        while not await check():  # type: ignore[misc]
            assert time.monotonic() < deadline, "the fallback did not store the call"
            await asyncio.sleep(0.05)


__all__ = ["close_connections"]  # autouse: every test here closes its connections


@pytest.fixture
async def fallback(tmp_path: Path) -> AsyncIterator[Fallback]:
    config = load_config(None, {"HOTLINE_STATE_DIR": str(tmp_path)})
    engine = make_engine(config.db_url)
    await create_schema(engine)
    await Blacklist(engine).add("13500135000", False, Action.REFUSE, "abuse")
    # The controller's ACD: 1001 ready, 1003 logged in but on a break, 1002 logged out.
    setup = load_acd(TEST_ACD)
    sessions = {n: AgentSession(n) for n in ("1001", "1002", "1003")}
    sessions["1001"].log_in("7101", 0.0)
    sessions["1001"].set_status(Status.READY, "", 0.0)
    sessions["1003"].log_in("7103", 0.0)
    sessions["1003"].set_status(Status.BREAK, "lunch", 0.0)
    write_atomically(config.fallback_dir / SNAPSHOT_FILE, snapshot(setup, sessions, DIAL))
    requests = FallbackRequests(config, engine)
    server = FastAgiServer(requests.handlers, request_timeout=2.0)
    await server.start()
    task = asyncio.create_task(requests.run())
    try:
        yield Fallback(config, engine, requests, server)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await server.close()
        await engine.dispose()


async def test_a_queue_rings_who_was_ready_and_the_answered_call_is_counted(
    fallback: Fallback,
) -> None:
    started = await fallback.ask("call-start", "13800000001", "4008001234", "", "")
    call_id = started["HOTLINE_CALL"]
    assert started["HOTLINE_BLACKLISTED"] == "no"
    assert started["FB_RECORDING"] == f"/var/spool/asterisk/recording/calls/{call_id}"
    queued = await fallback.ask("queue", "13800000001", "repair", call_id)
    # Only 1001 was ready for repair (1003 on a break is rung only when nobody is ready).
    assert queued["FB_DIAL"] == "PJSIP/7101@carrier"
    assert (queued["FB_RING"], queued["FB_MUSIC"]) == ("5", "default")
    assert int(queued["FB_WAIT_UNTIL"]) - float(queued["FB_QUEUED_AT"]) == pytest.approx(120, abs=1)
    # The agent answered 3 s after the call queued and talked 4 s, then hung up.
    queued_at = f"{float(queued['FB_QUEUED_AT']) - 7:.3f}"
    fields = ("4008001234", "", "repair", queued_at, "ANSWER", "4000", "7101@carrier", "yes")
    assert await fallback.ask("call-end", "13800000001", call_id, *fields, "", "", "") == {}
    calls = CallStore(fallback.engine)

    async def closed() -> bool:
        record = await calls.get(call_id)
        return record is not None and record.ended_at is not None

    await fallback.stored(closed)
    record = await calls.get(call_id)
    assert record is not None
    assert (record.disposition, record.agent, record.queue) == ("answered", "1001", "repair")
    kinds = [e.kind for e in await calls.events(call_id)]
    assert kinds == [
        "started", "fallback", "queued", "waiting", "answered", "agent-hung-up", "ended"
    ]  # fmt: skip
    row = await RecordingIndex(fallback.engine).get(call_id)
    assert row is not None and row.status == RecordingStatus.RECORDING
    assert row.pbx_name == f"calls/{call_id}"  # stored by the controller's recorder
    [all_calls] = kpis(await call_facts(fallback.engine, None, None), "all").values()
    assert (all_calls.offered, all_calls.answered) == (1, 1)
    assert all_calls.asa == pytest.approx(3.0, abs=0.5)
    assert all_calls.talk == pytest.approx(4.0, abs=0.5)


async def test_nobody_answers_then_a_message_becomes_a_callback(fallback: Fallback) -> None:
    call_id = (await fallback.ask("call-start", "13800000002", "4008001234", "", "en"))[
        "HOTLINE_CALL"
    ]
    await fallback.ask("queue", "13800000002", "install", call_id)  # nobody with the skill
    audio = fallback.config.recordings_dir / "messages" / f"{call_id}.wav"
    audio.parent.mkdir(parents=True)
    with wave.open(str(audio), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * 8000 * 2)  # 2 s
    epoch = f"{time.time() - 3:.0f}"
    fields = ("4008001234", "en", "install", epoch, "NOANSWER", "", "", "")
    await fallback.ask(
        "call-end", "13800000002", call_id, *fields, f"messages/{call_id}", epoch, epoch
    )
    messages = VoiceMessages(fallback.engine)

    async def indexed() -> bool:
        return bool(await messages.of_call(call_id))

    await fallback.stored(indexed)
    [message] = await messages.of_call(call_id)
    assert (message.caller_number, message.language, message.duration_s) == (
        "13800000002",
        "en",
        2.0,
    )
    [callback] = [c for c in await Callbacks(fallback.engine).pending() if c.call_id == call_id]
    assert (callback.number, callback.queue) == ("13800000002", "install")
    record = await CallStore(fallback.engine).get(call_id)
    assert record is not None and record.disposition == "message"


async def test_a_blacklisted_caller_is_refused_and_recorded(fallback: Fallback) -> None:
    answer = await fallback.ask("call-start", "+8613500135000", "4008001234", "", "")
    assert (answer["HOTLINE_BLACKLISTED"], answer["HOTLINE_BLACKLIST_ACTION"]) == ("yes", "refuse")
    assert answer["FB_RECORDING"] == ""  # nothing of a refused caller is recorded
    calls = CallStore(fallback.engine)

    async def closed() -> bool:
        record = await calls.get(answer["HOTLINE_CALL"])
        return record is not None and record.disposition == "blacklisted"

    await fallback.stored(closed)


async def test_a_handed_over_call_keeps_its_record_and_a_returning_controller_leaves_it(
    fallback: Fallback,
) -> None:
    calls = CallStore(fallback.engine)
    known = "0f6f1d2e-8a7b-4c3d-9e1f-123456789abc"
    await calls.open_call(known, "1764683472.9", "4008001234", "13800000003", "fallback")
    answer = await fallback.ask("call-start", "13800000003", "4008001234", known, "zh")
    assert answer["HOTLINE_CALL"] == known
    assert answer["FB_RECORDING"] == ""  # its bridge recorded the controller's part

    async def ours() -> bool:
        record = await calls.get(known)
        return record is not None and record.state == SERVED_BY_FALLBACK

    await fallback.stored(ours)
    # Older than any call may last: its call-end never came, and it closes as lost.
    record = await calls.get(known)
    assert record is not None
    await calls.update(known, started_at=record.started_at.replace(year=2000))
    await fallback.requests.close_stale()
    record = await calls.get(known)
    assert record is not None and record.disposition == "lost"


async def test_an_unknown_queue_or_call_rings_nobody_and_stores_nothing(
    fallback: Fallback,
) -> None:
    answer = await fallback.ask("queue", "13800000004", "no,such", "not-a-call-id")
    assert answer["FB_DIAL"] == ""
    assert await fallback.ask("call-end", "13800000004", "not-a-call-id") == {}
    assert fallback.requests.backlog == 0
