"""The live counters behind /metrics: after every write to the call log they give what
reading the whole day gives (today_by_queue), a scrape reads no database, the counters
are rebuilt from the day at start-up, and the day rolls over at the report zone's
midnight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline.calls.models import CallEvent
from hotline.calls.store import CallStore
from hotline.calls.timeline import Kind
from hotline.config import ReportsConfig
from hotline.db import session_factory
from reports.live import LiveKpis
from reports.store import today_by_queue
from reports.tap import watch_call_events
from tests.unit.test_reports_store import DAY, Event, abandoned, add_call, answered
from tests.unit.test_reports_store import engine as engine  # the fixture: a file database

CONFIG = ReportsConfig(service_level_seconds=20, timezone="Asia/Shanghai")


def figures(rows: dict[str, Any]) -> dict[str, Any]:
    return {queue: kpis.as_dict() for queue, kpis in rows.items()}


async def test_after_every_write_the_counters_are_what_reading_the_day_gives(
    engine: AsyncEngine,
) -> None:
    store = CallStore(engine)
    # Earlier today, before the controller started: read once by the rebuild.
    await store.open_call("early", "ch-e", "4008001234", "13800138001", "menu")
    await store.log("early", Kind.WAITING, queue="sales", region="beijing")
    await store.log("early", Kind.ABANDONED, queue="sales", wait=4.0)
    await store.close_call("early", "abandoned")
    live = LiveKpis(CONFIG.service_level_seconds, CONFIG.timezone)
    watch_call_events(engine, live.written)
    await live.rebuild(engine)

    async def same() -> None:
        expected = figures(await today_by_queue(engine, CONFIG, datetime.now(UTC)))
        assert figures(await live.by_queue()) == expected

    await same()
    steps: list[tuple[str, Kind, dict[str, Any]]] = [
        ("a", Kind.WAITING, {"queue": "sales", "region": "shanghai"}),
        ("b", Kind.WAITING, {"queue": "repair", "region": ""}),
        ("a", Kind.ANSWERED, {"agent": "1001", "queue": "sales", "wait": 3.5}),
        ("b", Kind.OVERFLOW, {"queue": "repair", "to": "general"}),  # repair's row goes
        ("a", Kind.ACTION, {"action": "hold", "by": "1001"}),
        ("a", Kind.ACTION, {"action": "resume", "by": "1001"}),
        ("b", Kind.ANSWERED, {"agent": "1002", "queue": "general", "wait": 25.0}),
        ("a", Kind.PROMPT, {"ids": ["x"]}),  # not counted, but the talk runs to it
        ("a", Kind.ACTION, {"action": "transfer-queue", "by": "1001"}),
        ("a", Kind.WAITING, {"queue": "repair", "region": "shanghai"}),
        ("a", Kind.QUEUE_CALLBACK, {"queue": "repair", "wait": 2.0}),
        ("b", Kind.AGENT_HUNG_UP, {"agent": "1002"}),
        ("b", Kind.SURVEY, {"agent": "1002", "queue": "general", "result": "1"}),
    ]
    for call in ("a", "b"):
        await store.open_call(call, f"ch-{call}", "4008001234", "1380013800" + call, "menu")
        await same()
    for call, kind, data in steps:
        await store.log(call, kind, **data)
        await same()
    for call in ("a", "b"):
        await store.close_call(call, "done")
        await same()
    # After-call work is logged after the call has ended: it still counts.
    await store.log("b", Kind.WRAP_UP, agent="1002", seconds=7.0)
    await same()
    rows = await live.by_queue()
    assert sorted(rows) == ["general", "repair", "sales"]
    assert (rows["sales"].offered, rows["sales"].answered, rows["sales"].abandoned) == (2, 1, 1)
    assert (rows["general"].answered, rows["general"].wrap, rows["general"].rated) == (1, 7.0, 1)
    assert rows["repair"].callbacks == 1


async def test_a_scrape_reads_no_database_and_a_rolled_back_event_is_not_counted(
    engine: AsyncEngine,
) -> None:
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    live = LiveKpis(20, "UTC")
    watch_call_events(engine, live.written)
    await live.rebuild(engine)
    store = CallStore(engine)
    await store.open_call("c", "ch-c", "4008001234", "13800138000", "menu")
    await store.log("c", Kind.WAITING, queue="sales", region="")
    statements.clear()
    for _ in range(50):
        rows = await live.by_queue()
    assert statements == [] and rows["sales"].offered == 1

    with pytest.raises(RuntimeError):
        async with session_factory(engine).begin() as db:
            db.add(CallEvent(call_id="c", at=datetime.now(UTC), kind="abandoned", data={}))
            await db.flush()
            raise RuntimeError("the write failed after its flush")
    assert (await live.by_queue())["sales"].abandoned == 0


async def test_the_day_rolls_over_at_midnight_in_the_report_zone(engine: AsyncEngine) -> None:
    # DAY is 09:00 in Shanghai; yesterday's call is not today's, whatever UTC says.
    await add_call(engine, "yesterday", DAY - timedelta(hours=10), answered("sales", 5))
    await add_call(engine, "today", DAY, abandoned("sales"))
    now = [DAY + timedelta(hours=1)]
    live = LiveKpis(20, "Asia/Shanghai", clock=lambda: now[0])
    watch_call_events(engine, live.written)
    await live.rebuild(engine)
    rows = await live.by_queue()
    assert (rows["sales"].offered, rows["sales"].abandoned) == (1, 1)
    # Events written before the rebuild has run are counted once it has.
    late = LiveKpis(20, "Asia/Shanghai", clock=lambda: now[0])
    watch_call_events(engine, late.written)
    await add_call(engine, "later", DAY + timedelta(minutes=30), answered("repair", 5))
    await late.rebuild(engine)
    assert sorted(await late.by_queue()) == ["repair", "sales"]
    # 16:00 UTC is midnight in Shanghai: the day's calls are dropped, tomorrow's counted.
    now[0] = DAY.replace(hour=16)
    assert await late.by_queue() == {}
    # (A call is known by its "started" event, written with its record.)
    started: list[Event] = [(timedelta(0), "started", {"dialled": "4008001", "caller": "1"})]
    tomorrow = now[0] + timedelta(minutes=1)
    await add_call(engine, "tomorrow", tomorrow, started + answered("repair", 5))
    assert [(q, k.offered) for q, k in (await late.by_queue()).items()] == [("repair", 1)]
