"""Storage of call records.

Writes go through ``Writes`` (``hotline.writes``): in the controller they are queued in
order and committed by one owned task, so a busy database never stalls nor ends a call;
the values (times, durations) are taken when the call does the thing, not when the
write lands. Reads are retried while the database is busy.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from hotline.calls.models import CallEvent, CallRecord
from hotline.calls.timeline import Kind
from hotline.db import aware, session_factory
from hotline.writes import DirectWrites, Writes, add_row, retrying


def now() -> datetime:
    return datetime.now(UTC)


class CallStore:
    def __init__(self, engine: AsyncEngine, writes: Writes | None = None) -> None:
        self._sessions = session_factory(engine)
        self._writes = writes if writes is not None else DirectWrites(engine)
        self._health = getattr(self._writes, "health", None)
        # Calls whose end is queued but not yet stored: not open any more (reconcile).
        self._closing: set[str] = set()

    async def open_call(
        self, call_id: str, channel_id: str, dialled: str, caller: str, state: str
    ) -> None:
        started = now()

        async def op(db: AsyncSession) -> None:
            db.add(
                CallRecord(
                    id=call_id,
                    channel_id=channel_id,
                    dialled_number=dialled,
                    caller_number=caller,
                    started_at=started,
                    state=state,
                    keys="",
                    language="zh",
                    variables={},
                )
            )
            db.add(
                CallEvent(
                    call_id=call_id,
                    at=started,
                    kind=Kind.STARTED,
                    data={"dialled": dialled, "caller": caller},
                )
            )

        await self._writes.write(op, what=f"open call {call_id}")

    async def get(self, call_id: str) -> CallRecord | None:
        async def read() -> CallRecord | None:
            async with self._sessions() as db:
                return await db.get(CallRecord, call_id)

        return await retrying(read, self._health)

    async def by_channel(self, channel_id: str) -> CallRecord | None:
        async with self._sessions() as db:
            rows = await db.scalars(
                select(CallRecord)
                .where(CallRecord.channel_id == channel_id)
                .order_by(CallRecord.started_at.desc())
            )
            return rows.first()

    async def recent_from(self, caller: str, limit: int = 10) -> Sequence[CallRecord]:
        async with self._sessions() as db:
            rows = await db.scalars(
                select(CallRecord)
                .where(CallRecord.caller_number == caller)
                .order_by(CallRecord.started_at.desc())
                .limit(limit)
            )
            return rows.all()

    async def open_calls(self) -> Sequence[CallRecord]:
        """Records not closed, nor being closed by a write still queued."""

        async def read() -> Sequence[CallRecord]:
            async with self._sessions() as db:
                rows = await db.scalars(select(CallRecord).where(CallRecord.ended_at.is_(None)))
                return rows.all()

        return [r for r in await retrying(read, self._health) if r.id not in self._closing]

    async def update(self, call_id: str, **fields: Any) -> None:
        async def op(db: AsyncSession) -> None:
            record = await db.get(CallRecord, call_id)
            if record is not None:
                for name, value in fields.items():
                    setattr(record, name, value)

        await self._writes.write(op, what=f"update call {call_id}")

    async def log(self, call_id: str, kind: Kind, **data: Any) -> None:
        await self.log_at(call_id, kind, now(), **data)

    async def log_at(self, call_id: str, kind: Kind, at: datetime, **data: Any) -> None:
        """An event that happened at ``at`` (the fallback tells a call's events at its end)."""
        what = f"log {kind} of call {call_id}"
        await add_row(self._writes, CallEvent, what, call_id=call_id, at=at, kind=kind, data=data)

    async def add_key(self, call_id: str, digit: str) -> None:
        at = now()

        async def op(db: AsyncSession) -> None:
            record = await db.get(CallRecord, call_id)
            if record is not None:
                record.keys = (record.keys + digit)[-256:]
                db.add(CallEvent(call_id=call_id, at=at, kind=Kind.KEY, data={"digit": digit}))

        await self._writes.write(op, what=f"key of call {call_id}")

    async def close_call(self, call_id: str, disposition: str) -> None:
        """Close the record; returns once it is stored (what follows reads it back)."""
        ended = now()

        async def op(db: AsyncSession) -> None:
            record = await db.get(CallRecord, call_id)
            if record is None or record.ended_at is not None:
                return
            started = aware(record.started_at)
            record.ended_at = ended
            record.duration_s = round((ended - started).total_seconds(), 3)
            record.disposition = disposition
            record.state = "ended"
            db.add(
                CallEvent(
                    call_id=call_id, at=ended, kind=Kind.ENDED, data={"disposition": disposition}
                )
            )

        self._closing.add(call_id)
        try:
            await self._writes.write(op, wait=True, what=f"close call {call_id}")
        finally:
            self._closing.discard(call_id)

    async def events(self, call_id: str) -> Sequence[CallEvent]:
        async def read() -> Sequence[CallEvent]:
            async with self._sessions() as db:
                rows = await db.scalars(
                    select(CallEvent).where(CallEvent.call_id == call_id).order_by(CallEvent.id)
                )
                return rows.all()

        return await retrying(read, self._health)
