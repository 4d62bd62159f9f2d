"""A busy database (a real SQLite file held by a second connection) never stalls a call:
writes queue in order and land once the lock goes; reads are served; /health says so."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from acd.agents import Status
from acd.engine import Acd
from acd.store import AcdStore
from hotline.ari.models import Event
from hotline.calls.models import CallRecord
from hotline.calls.registry import CallRegistry
from hotline.calls.session import CallChannel
from hotline.calls.store import CallStore
from hotline.calls.timeline import Kind
from hotline.db import create_schema, make_engine
from hotline.writes import DbHealth, DirectWrites, WriteBehind, is_busy, retrying
from tests.fakes.ari import FakeAri
from tests.unit.acd_fixtures import MemoryStore, centre
from tests.unit.http_fixtures import serving


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[tuple[AsyncEngine, Path]]:
    path = tmp_path / "hotline.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}", busy_timeout=0.05)
    await create_schema(engine)
    yield engine, path
    await engine.dispose()


@contextmanager
def locked(path: Path) -> Iterator[sqlite3.Connection]:
    """Another connection holds the write lock until the block ends."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    try:
        yield conn
    finally:
        conn.rollback()
        conn.close()


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not so within {timeout} s"
        await asyncio.sleep(0.01)


async def test_a_call_goes_on_while_locked_and_its_writes_land_in_order_after(
    database: tuple[AsyncEngine, Path],
) -> None:
    engine, path = database
    health = DbHealth(stalled_after=0.1)
    writes = WriteBehind(engine, health, max_backoff=0.05, patience=0.05)
    writes.start()
    calls = CallStore(engine, writes)
    try:
        with locked(path):
            began = time.monotonic()
            await calls.open_call("c-1", "chan-1", "4008001234", "13800138000", state="menu")
            await calls.log("c-1", Kind.PROMPT, ids=["greeting"])
            await calls.add_key("c-1", "2")
            await calls.update("c-1", node="repair")
            assert time.monotonic() - began < 0.3  # the first waited its patience, no more
            await until(lambda: health.degraded)
            assert health.reason().startswith("database: locked since")
            assert health.section()["pending_writes"] == 4
            assert await calls.get("c-1") is None  # (reads are served: WAL)
        await until(lambda: health.pending() == 0)
        assert not health.degraded
        record = await calls.get("c-1")
        assert record is not None and (record.keys, record.node) == ("2", "repair")
        kinds = [e.kind for e in await calls.events("c-1")]
        assert kinds == [Kind.STARTED, Kind.PROMPT, Kind.KEY]
        assert health.errors >= 1 and health.dropped == 0
        assert "hotline_db_errors_total" in "\n".join(health.metrics_lines())
    finally:
        await writes.aclose()


async def test_closing_a_call_waits_for_the_database_and_is_not_open_meanwhile(
    database: tuple[AsyncEngine, Path],
) -> None:
    engine, path = database
    writes = WriteBehind(engine, DbHealth(), max_backoff=0.05, patience=0.05)
    writes.start()
    calls = CallStore(engine, writes)
    try:
        await calls.open_call("c-1", "chan-1", "4008001234", "13800138000", state="menu")
        await until(lambda: writes.health.pending() == 0)
        with locked(path):
            closing = asyncio.create_task(calls.close_call("c-1", "caller_hangup"))
            await asyncio.sleep(0.2)
            assert not closing.done()  # the features are told only once it is stored
            assert [r.id for r in await calls.open_calls()] == []  # reconcile: not lost
        await asyncio.wait_for(closing, 5)
        record = await calls.get("c-1")
        assert record is not None and record.disposition == "caller_hangup"
    finally:
        await writes.aclose()


async def test_offers_and_waits_get_their_ids_before_they_are_stored(
    database: tuple[AsyncEngine, Path],
) -> None:
    engine, path = database
    writes = WriteBehind(engine, DbHealth(), max_backoff=0.05, patience=0.05)
    writes.start()
    store = AcdStore(engine, writes)
    try:
        with locked(path):
            joined = time.time()
            wait_id = await store.joined(
                "c-1", "repair", "13800138000", 5, datetime.fromtimestamp(joined, UTC)
            )
            first = await store.offered("c-1", "1001", "repair", "13800138000")
            second = await store.offered("c-1", "1002", "repair", "13800138000")
            await store.offer_outcome(first, "no-answer")
            await store.offer_outcome(second, "answered")
            waited = await store.left(wait_id, "answered", "1002")
            assert second == first + 1 and waited >= 0
        await until(lambda: writes.health.pending() == 0)
        [wait] = await store.waits("c-1")
        assert (wait.id, wait.outcome, wait.agent) == (wait_id, "answered", "1002")
        assert wait.wait_s == waited
        missed = await store.missed_by("1001")
        assert [(m.id, m.outcome) for m in missed] == [(first, "no-answer")]
    finally:
        await writes.aclose()


async def test_a_write_that_cannot_succeed_is_given_up_alone(
    database: tuple[AsyncEngine, Path],
) -> None:
    engine, _path = database
    health = DbHealth()
    writes = WriteBehind(engine, health)
    calls = CallStore(engine, writes)

    async def broken(db: AsyncSession) -> None:
        await db.execute(text("INSERT INTO no_such_table VALUES (1)"))

    # Queued before the task starts: all three go in one batch, which fails.
    await calls.open_call("c-1", "chan-1", "4008001234", "13800138000", state="menu")
    await writes.write(broken, what="broken")
    await calls.log("c-1", Kind.PROMPT, ids=["greeting"])
    writes.start()
    try:
        await until(lambda: health.pending() == 0)
        assert [e.kind for e in await calls.events("c-1")] == [Kind.STARTED, Kind.PROMPT]
        assert health.dropped == 1 and health.last_error.startswith("broken: ")
        assert not health.degraded
    finally:
        await writes.aclose()


async def test_shutdown_stores_what_is_still_queued(database: tuple[AsyncEngine, Path]) -> None:
    engine, _path = database
    writes = WriteBehind(engine, DbHealth())
    calls = CallStore(engine, writes)
    await calls.open_call("c-1", "chan-1", "4008001234", "13800138000", state="menu")
    await writes.aclose()  # never started: aclose stores it all the same
    assert await calls.get("c-1") is not None
    await calls.update("c-1", node="late")  # after closing: written at once
    record = await calls.get("c-1")
    assert record is not None and record.node == "late"


async def test_direct_writes_wait_out_a_short_lock(database: tuple[AsyncEngine, Path]) -> None:
    engine, path = database
    health = DbHealth()
    calls = CallStore(engine, DirectWrites(engine, health))
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    asyncio.get_running_loop().call_later(0.3, conn.rollback)
    try:
        await calls.open_call("c-1", "chan-1", "4008001234", "13800138000", state="menu")
    finally:
        conn.close()
    assert await calls.get("c-1") is not None
    assert health.errors >= 1 and not health.degraded


async def test_only_a_busy_database_is_retried() -> None:
    attempts: list[int] = []

    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked"))
        return "served"

    health = DbHealth()
    assert await retrying(flaky, health, backoff=0.001) == "served"
    assert len(attempts) == 3 and health.errors == 2 and not health.degraded

    async def broken() -> None:
        raise OperationalError("SELECT x", {}, sqlite3.OperationalError("no such column: x"))

    with pytest.raises(OperationalError):
        await retrying(broken, health)
    assert not is_busy(ValueError("database is locked"))


class _OfferNotStored(MemoryStore):
    async def offered(self, call_id: str, agent: str, queue: str, caller: str) -> int:
        raise OperationalError("INSERT", {}, sqlite3.OperationalError("disk I/O error"))


async def test_an_offer_that_cannot_be_stored_leaves_no_agent_ringing() -> None:
    acd = Acd(centre, _OfferNotStored())
    await acd.log_in("1", "8001")
    await acd.set_status("1", Status.READY)
    inbox: list[Event] = []
    waiter = await acd.join("c1", "repair", (), 5, "02100000000", "zh", inbox.append)
    assert waiter is not None
    await acd.dispatch()
    assert acd.agents["1"].state == "ready" and not waiter.ringing and inbox == []


async def test_reconcile_and_new_callers_do_not_wait_for_a_locked_database(
    database: tuple[AsyncEngine, Path],
) -> None:
    """A call lost while nobody looked is closed once the lock goes, off the reconcile
    (events of the new connection wait for it); a caller arriving meanwhile is served."""
    engine, path = database
    writes = WriteBehind(engine, DbHealth(), max_backoff=0.05, patience=0.05)
    writes.start()
    calls = CallStore(engine, writes)
    fake, closed = FakeAri(), list[str]()

    async def flow(call_id: str, channel: CallChannel, dialled: str, _: CallRecord | None) -> str:
        await channel.answer()
        await channel.play(["sound:welcome"])
        return f"pressed-{await channel.wait_digit(30)}"

    registry = CallRegistry(fake, "hotline", calls, flow, on_closed=closed.append)
    fake.on_event = registry.on_event
    try:
        await calls.open_call("lost-1", "gone-channel", "4008001234", "13800138000", "menu")
        await until(lambda: writes.health.pending() == 0)
        with locked(path):
            async with asyncio.timeout(0.5):
                await registry.reconcile()
            fake.caller_arrives("caller-1")
            await fake.wait_for(lambda: bool(fake.playing()))
            await asyncio.sleep(0.2)
            assert closed == []  # told only once the record is closed
        await until(lambda: closed == ["lost-1"])
        record = await calls.get("lost-1")
        assert record is not None and record.disposition == "lost"
        fake.caller_hangs_up("caller-1")
        await until(lambda: len(closed) == 2)
    finally:
        await registry.aclose(hand_over=False)
        await writes.aclose()


async def test_a_request_meeting_a_locked_database_is_told_to_try_again() -> None:
    async def busy(_request: web.Request) -> web.Response:
        raise OperationalError("UPDATE", {}, sqlite3.OperationalError("database is locked"))

    def routes(app: web.Application) -> None:
        app.router.add_post("/api/busy", busy)

    async with serving(routes) as client:
        response = await client.post("/api/busy")
        assert response.status == 503 and response.headers["Retry-After"] == "5"
        assert (await response.json())["error_id"] == "database-busy"
