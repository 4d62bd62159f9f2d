"""Today's KPIs by queue for ``/metrics``, kept as the call log is written.

A scrape reads counters and never the database: it used to rebuild today's KPIs from all
of today's rows at every scrape, a cost that grows through the day and that anyone who can
reach ``/metrics`` could repeat at will.

The counters are rebuilt once at start-up (``rebuild``: one query of today's rows), then
follow every ``call_events`` row as it is committed (``reports.tap``). Each of today's calls
keeps the events the KPIs read (``reports.kpis.COUNTED``, a handful per call) and the queue
visits they make; a new event re-walks that one call, takes its previous visits out of the
queue tallies and puts the new ones in. So the figures are those ``reports.kpis.kpis``
gives over today's calls, at any moment, including the calls still going.

A call counts on the day it started, in the report time zone; the first event or scrape
after that day's midnight drops the previous day's calls. Memory: today's calls with their
counted events.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline.calls.models import CallEvent, CallRecord
from hotline.calls.timeline import Kind
from hotline.db import aware
from reports.grouping import Kpis, Tally, Visit
from reports.kpis import COUNTED, CallFacts, LoggedEvent, visits
from reports.store import start_of_day
from reports.tap import WrittenEvent


@dataclass
class _Call:
    """One of today's calls, as far as the KPIs read it."""

    started_at: datetime
    dialled: str
    last_event_at: datetime
    events: list[LoggedEvent] = field(default_factory=list)
    visits: list[Visit] = field(default_factory=list)

    def walked(self, call_id: str) -> list[Visit]:
        facts = CallFacts(
            call_id, self.dialled, "", self.started_at, self.events, self.last_event_at
        )
        return visits([facts])


class LiveKpis:
    """Today's per-queue KPIs, as ``today_by_queue`` computed them by reading the day."""

    def __init__(
        self,
        threshold: float,
        tz: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.threshold = threshold
        self.tz = tz
        self.clock = clock
        self.day_start = start_of_day(clock(), tz)
        self.calls: dict[str, _Call] = {}
        self.tallies: dict[str, Tally] = {}
        # The last event id the rebuild read; until it has run, events wait in ``early``.
        self.read_up_to: int | None = None
        self.early: list[WrittenEvent] = []

    async def rebuild(self, engine: AsyncEngine) -> None:
        """Read today's calls and events: one query, so one snapshot of the log. Events
        committed meanwhile are told after it (``written``) and counted if it missed them."""
        self.day_start = start_of_day(self.clock(), self.tz)
        query = (
            select(
                CallEvent.id,
                CallEvent.call_id,
                CallEvent.at,
                CallEvent.kind,
                CallEvent.data,
                CallRecord.started_at,
                CallRecord.dialled_number,
            )
            .join(CallRecord, CallRecord.id == CallEvent.call_id)
            .where(CallRecord.started_at >= self.day_start)
            .order_by(CallEvent.id)
        )
        self.calls, last_id = {}, 0
        async with engine.connect() as conn:
            for row in await conn.execute(query):
                call = self.calls.get(row.call_id)
                if call is None:
                    call = _Call(aware(row.started_at), row.dialled_number, aware(row.at))
                    self.calls[row.call_id] = call
                self._add(call, aware(row.at), row.kind, row.data or {})
                last_id = row.id
        for call_id, call in self.calls.items():
            call.visits = call.walked(call_id)
        self._retally()
        self.read_up_to = last_id
        early, self.early = self.early, []
        for written in early:
            self.written(written)

    def written(self, event: WrittenEvent) -> None:
        """A ``call_events`` row was committed (``reports.tap``)."""
        if self.read_up_to is None:
            self.early.append(event)
            return
        if event.id <= self.read_up_to:
            return  # the rebuild read it
        self._roll_over()
        call = self.calls.get(event.call_id)
        if call is None:
            # Only a call that starts today is today's; an event of an older call, or of a
            # call the rebuild did not see start, is not.
            if event.kind != Kind.STARTED or event.at < self.day_start:
                return
            call = _Call(event.at, str(event.data.get("dialled", "")), event.at)
            self.calls[event.call_id] = call
        self._add(call, event.at, event.kind, event.data)
        before, call.visits = call.visits, call.walked(event.call_id)
        for visit in before:
            self._tally(visit).add(visit, self.threshold, -1)
        for visit in call.visits:
            self._tally(visit).add(visit, self.threshold)

    async def by_queue(self) -> dict[str, Kpis]:
        """The figures now (async, as ``MetricsEndpoint`` asks; no I/O)."""
        self._roll_over()
        return {
            queue: tally.freeze(self.threshold, call_level=False)
            for queue, tally in sorted(self.tallies.items())
            if tally.offered  # a queue whose only visit moved on has no row, as in kpis()
        }

    # --- inside ---------------------------------------------------------------------------

    def _add(self, call: _Call, at: datetime, kind: str, data: Mapping[str, Any]) -> None:
        call.last_event_at = at
        if kind in COUNTED:
            call.events.append(LoggedEvent(at, kind, data))

    def _tally(self, visit: Visit) -> Tally:
        return self.tallies.setdefault(visit.queue, Tally())

    def _roll_over(self) -> None:
        today = start_of_day(self.clock(), self.tz)
        if today == self.day_start:
            return
        self.day_start = today
        self.calls = {k: c for k, c in self.calls.items() if c.started_at >= today}
        self._retally()

    def _retally(self) -> None:
        self.tallies = {}
        for call in self.calls.values():
            for visit in call.visits:
                self._tally(visit).add(visit, self.threshold)
