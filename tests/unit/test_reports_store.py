"""Reading the call log for reports: the period's calls, their events in log order, and the
KPIs over what was read."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline.calls.models import CallEvent, CallRecord
from hotline.config import ReportsConfig
from hotline.db import create_schema, make_engine, session_factory
from reports.kpis import kpis
from reports.store import call_facts, start_of_day, today_by_queue

DAY = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
S = timedelta(seconds=1)

Event = tuple[timedelta, str, dict[str, Any]]


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}")
    try:
        await create_schema(engine)
        yield engine
    finally:
        await engine.dispose()


async def add_call(
    engine: AsyncEngine,
    call_id: str,
    started_at: datetime,
    events: Sequence[Event],
    dialled: str = "4008001",
) -> None:
    async with session_factory(engine)() as session, session.begin():
        session.add(
            CallRecord(
                id=call_id,
                channel_id=f"chan-{call_id}",
                dialled_number=dialled,
                caller_number="13800138000",
                started_at=started_at,
                state="ended",
            )
        )
        await session.flush()
        for offset, kind, data in events:
            session.add(CallEvent(call_id=call_id, at=started_at + offset, kind=kind, data=data))


def answered(queue: str, wait: float) -> list[Event]:
    return [
        (1 * S, "waiting", {"queue": queue, "region": "beijing"}),
        (1 * S + wait * S, "answered", {"agent": "1001", "queue": queue, "wait": wait}),
        (100 * S, "caller-hung-up", {"agent": "1001"}),
        (101 * S, "ended", {"disposition": "answered"}),
    ]


def abandoned(queue: str) -> list[Event]:
    return [
        (1 * S, "waiting", {"queue": queue, "region": ""}),
        (41 * S, "abandoned", {"queue": queue, "wait": 40.0}),
        (41 * S, "ended", {"disposition": "abandoned"}),
    ]


async def test_calls_in_the_period_oldest_first_with_events_in_log_order(
    engine: AsyncEngine,
) -> None:
    await add_call(engine, "late", DAY + timedelta(hours=2), answered("sales", 5))
    await add_call(engine, "early", DAY, abandoned("sales"))
    await add_call(engine, "before", DAY - timedelta(hours=1), answered("sales", 5))
    # Two events at the same moment: the log's (id) order decides, not the time.
    same = [(2 * S, "waiting", {"queue": "support"}), (2 * S, "abandoned", {"queue": "support"})]
    await add_call(engine, "tie", DAY + timedelta(hours=1), same)
    await add_call(engine, "quiet", DAY + timedelta(hours=3), [])

    facts = await call_facts(engine, DAY, DAY + timedelta(hours=3))
    assert [f.call_id for f in facts] == ["early", "tie", "late"]
    early = facts[0]
    assert early.dialled == "4008001" and early.caller == "13800138000"
    assert early.started_at == DAY and early.started_at.tzinfo is not None
    assert [e.kind for e in early.events] == ["waiting", "abandoned", "ended"]
    assert early.events[0].at == DAY + S and early.events[0].at.tzinfo is not None
    assert early.events[1].data == {"queue": "sales", "wait": 40.0}
    assert [e.kind for e in facts[1].events] == ["waiting", "abandoned"]

    # Open ends, and bounds in another zone (compared as the instants they are).
    assert [f.call_id for f in await call_facts(engine, None, None)] == [
        "before",
        "early",
        "tie",
        "late",
        "quiet",
    ]
    shanghai = timezone(timedelta(hours=8))
    since = (DAY + timedelta(hours=1)).astimezone(shanghai)
    assert [f.call_id for f in await call_facts(engine, since, None)] == ["tie", "late", "quiet"]
    assert [f.call_id for f in await call_facts(engine, None, DAY)] == ["before"]
    # A naive bound is UTC.
    naive = (DAY + timedelta(hours=3)).replace(tzinfo=None)
    assert [f.call_id for f in await call_facts(engine, naive, None)] == ["quiet"]
    three = DAY + timedelta(hours=3)
    assert await call_facts(engine, three, three) == []  # [since, until): nothing
    assert list((await call_facts(engine, three, None))[0].events) == []


async def test_kpis_over_what_was_read(engine: AsyncEngine) -> None:
    await add_call(engine, "a1", DAY, answered("sales", 5))
    await add_call(engine, "a2", DAY + timedelta(minutes=5), answered("sales", 30))
    await add_call(engine, "a3", DAY + timedelta(minutes=9), abandoned("sales"))
    await add_call(engine, "b1", DAY + timedelta(minutes=7), answered("support", 2), "4008002")

    rows = kpis(await call_facts(engine, None, None), "queue", threshold=20)
    assert sorted(rows) == ["sales", "support"]
    sales = rows["sales"]
    assert (sales.offered, sales.answered, sales.abandoned, sales.answered_within) == (3, 2, 1, 1)
    assert sales.service_level == pytest.approx(1 / 3)
    assert sales.asa == pytest.approx(17.5)
    assert rows["support"].offered == 1 and rows["support"].answered == 1

    by_number = kpis(await call_facts(engine, None, None), "number")
    assert by_number["4008001"].calls == 3 and by_number["4008002"].calls == 1


def test_start_of_day_is_local_midnight() -> None:
    # 2026-11-22 23:30 UTC is already the 23rd in Shanghai.
    now = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
    assert start_of_day(now, "Asia/Shanghai") == datetime(2026, 11, 22, 16, 0, tzinfo=UTC)
    assert start_of_day(now, "UTC") == datetime(2026, 11, 22, 0, 0, tzinfo=UTC)


async def test_today_by_queue_counts_only_today(engine: AsyncEngine) -> None:
    # Midnight in Shanghai is 16:00 UTC the day before.
    midnight = datetime(2026, 11, 21, 16, 0, tzinfo=UTC)
    await add_call(engine, "yesterday", midnight - timedelta(minutes=1), answered("sales", 5))
    await add_call(engine, "today", midnight, abandoned("sales"))
    rows = await today_by_queue(engine, ReportsConfig(), DAY)
    assert list(rows) == ["sales"]
    assert rows["sales"].offered == 1 and rows["sales"].abandoned == 1
