"""Reading the call log for reports: ``calls`` and ``call_events`` rows as ``CallFacts``.

Read-only. Two queries whatever the number of calls: the calls in the period, then all
of their events, in id order (the log's order: ``at`` can tie, ids cannot).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline.calls.models import CallEvent, CallRecord
from hotline.config import ReportsConfig
from hotline.db import aware, session_factory
from reports.kpis import CallFacts, Kpis, LoggedEvent, kpis


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


def start_of_day(now: datetime, tz: str) -> datetime:
    """Midnight of ``now``'s day in the time zone ``tz``, in UTC."""
    zone = ZoneInfo(tz)
    local = aware(now).astimezone(zone)
    midnight = datetime.combine(local.date(), time(0), tzinfo=zone)
    return midnight.astimezone(UTC)


async def today_by_queue(
    engine: AsyncEngine, config: ReportsConfig, now: datetime
) -> dict[str, Kpis]:
    """The queues' KPIs over the calls that started today (the report time zone's day)."""
    calls = await call_facts(engine, start_of_day(now, config.timezone), None)
    threshold, tz = config.service_level_seconds, config.timezone
    return await asyncio.to_thread(kpis, calls, "queue", threshold, tz)


def _utc(moment: datetime) -> datetime:
    return aware(moment).astimezone(UTC)
