"""Reading the call log for reports: ``calls`` and ``call_events`` rows as ``CallFacts``.

Read-only. ``call_facts`` (async, for small periods and tests): two queries whatever the
number of calls, the calls in the period, then all of their events, in id order (the log's
order: ``at`` can tie, ids cannot). ``report_rows`` (blocking, for the report worker and
the CLI): one query streamed call by call, so a month of history is never held at once.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Connection,
    String,
    create_engine,
    make_url,
    select,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline.calls.models import CallEvent, CallRecord
from hotline.config import ReportsConfig
from hotline.db import aware, session_factory
from reports.kpis import COUNTED, CallFacts, Kpis, LoggedEvent, kpis

STREAM_ROWS = 5000  # rows fetched at a time by report_rows


async def call_facts(
    engine: AsyncEngine, since: datetime | None, until: datetime | None
) -> list[CallFacts]:
    """The calls that started in [since, until) (either end open when None), oldest first,
    each with its events in log order. Naive bounds are taken as UTC."""
    # The column holds UTC; SQLite compares the stored text, so the bounds go in as UTC.
    period: list[ColumnElement[bool]] = []
    if since is not None:
        period.append(CallRecord.started_at >= _utc(since))
    if until is not None:
        period.append(CallRecord.started_at < _utc(until))
    # The events' query selects the calls again rather than listing their ids, which
    # would run into SQLite's limit on bound parameters over a long period. Events of a
    # call that began between the two queries are read and left out with their call.
    in_period = select(CallRecord.id).where(*period)
    events: dict[str, list[LoggedEvent]] = defaultdict(list)
    async with session_factory(engine)() as session:
        calls = list(
            await session.scalars(
                select(CallRecord).where(*period).order_by(CallRecord.started_at, CallRecord.id)
            )
        )
        if calls:
            rows = await session.scalars(
                select(CallEvent).where(CallEvent.call_id.in_(in_period)).order_by(CallEvent.id)
            )
            for row in rows:
                events[row.call_id].append(LoggedEvent(aware(row.at), row.kind, row.data or {}))
    return [
        CallFacts(
            call_id=call.id,
            dialled=call.dialled_number,
            caller=call.caller_number,
            started_at=aware(call.started_at),
            events=events.get(call.id, []),
        )
        for call in calls
    ]


def report_rows(
    db_url: str,
    since: datetime,
    until: datetime,
    by: str,
    threshold: float,
    tz: str,
) -> dict[str, Kpis]:
    """The KPIs of the calls that started in [since, until), grouped ``by``. Blocking: it
    runs in the report worker's process (``reports.worker``) or the CLI."""
    url = make_url(db_url)
    if url.drivername == "sqlite+aiosqlite":
        url = url.set(drivername="sqlite")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return kpis(_streamed_facts(conn, since, until), by, threshold, tz)
    finally:
        engine.dispose()


def _streamed_facts(conn: Connection, since: datetime, until: datetime) -> Iterator[CallFacts]:
    """The period's calls, oldest first, each with the events the KPIs read; one query
    (one snapshot), streamed. Times and data are decoded only where the KPIs need them
    (the events they read, a call's last event): most of a month's rows are the menu's."""
    query = (
        select(
            CallRecord.id,
            CallRecord.dialled_number,
            CallRecord.caller_number,
            type_coerce(CallRecord.started_at, String).label("started_at"),
            type_coerce(CallEvent.at, String).label("at"),
            CallEvent.kind,
            type_coerce(CallEvent.data, String).label("data"),
        )
        .outerjoin(CallEvent, CallEvent.call_id == CallRecord.id)
        .where(CallRecord.started_at >= _utc(since), CallRecord.started_at < _utc(until))
        .order_by(CallRecord.started_at, CallRecord.id, CallEvent.id)
        .execution_options(yield_per=STREAM_ROWS)
    )
    call: tuple[str, str, str, str | datetime] | None = None
    events: list[LoggedEvent] = []
    last: str | datetime | None = None
    for call_id, dialled, caller, started, at, kind, data in conn.execute(query):
        if call is None or call_id != call[0]:
            if call is not None:
                yield _facts(call, events, last)
            call, events, last = (call_id, dialled, caller, started), [], None
        if at is None:
            continue  # a call without events
        last = at
        if kind in COUNTED:
            events.append(LoggedEvent(_moment(at), kind, json.loads(data) if data else {}))
    if call is not None:
        yield _facts(call, events, last)


def _facts(
    call: tuple[str, str, str, str | datetime],
    events: list[LoggedEvent],
    last: str | datetime | None,
) -> CallFacts:
    call_id, dialled, caller, started = call
    last_at = _moment(last) if last is not None else None
    return CallFacts(call_id, dialled, caller, _moment(started), events, last_at)


def _moment(value: str | datetime) -> datetime:
    """A time as the driver hands it back uncoerced: SQLite's text, or a datetime."""
    return aware(datetime.fromisoformat(value) if isinstance(value, str) else value)


def start_of_day(now: datetime, tz: str) -> datetime:
    """Midnight of ``now``'s day in the time zone ``tz``, in UTC."""
    zone = ZoneInfo(tz)
    local = aware(now).astimezone(zone)
    midnight = datetime.combine(local.date(), time(0), tzinfo=zone)
    return midnight.astimezone(UTC)


async def today_by_queue(
    engine: AsyncEngine, config: ReportsConfig, now: datetime
) -> dict[str, Kpis]:
    """The queues' KPIs over the calls that started today (the report time zone's day),
    read whole: what /metrics showed before it kept live counters (``reports.live``), and
    what those counters are tested against."""
    calls = await call_facts(engine, start_of_day(now, config.timezone), None)
    threshold, tz = config.service_level_seconds, config.timezone
    return await asyncio.to_thread(kpis, calls, "queue", threshold, tz)


def _utc(moment: datetime) -> datetime:
    return aware(moment).astimezone(UTC)
