"""Storage of call records: every write is a short transaction of its own."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline.calls.models import CallEvent, CallRecord
from hotline.calls.timeline import Kind
from hotline.db import aware, session_factory


def now() -> datetime:
    return datetime.now(UTC)


class CallStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = session_factory(engine)

    async def open_call(
        self, call_id: str, channel_id: str, dialled: str, caller: str, state: str
    ) -> CallRecord:
        record = CallRecord(
            id=call_id,
            channel_id=channel_id,
            dialled_number=dialled,
            caller_number=caller,
            started_at=now(),
            state=state,
            keys="",
            language="zh",
            variables={},
        )
        async with self._sessions.begin() as db:
            db.add(record)
            db.add(
                CallEvent(
                    call_id=call_id,
                    at=record.started_at,
                    kind=Kind.STARTED,
                    data={"dialled": dialled, "caller": caller},
                )
            )
        return record

    async def get(self, call_id: str) -> CallRecord | None:
        async with self._sessions() as db:
            return await db.get(CallRecord, call_id)

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
        async with self._sessions() as db:
            rows = await db.scalars(select(CallRecord).where(CallRecord.ended_at.is_(None)))
            return rows.all()

    async def update(self, call_id: str, **fields: Any) -> None:
        async with self._sessions.begin() as db:
            record = await db.get(CallRecord, call_id)
            if record is not None:
                for name, value in fields.items():
                    setattr(record, name, value)

    async def log(self, call_id: str, kind: Kind, **data: Any) -> None:
        async with self._sessions.begin() as db:
            db.add(CallEvent(call_id=call_id, at=now(), kind=kind, data=data))

    async def add_key(self, call_id: str, digit: str) -> None:
        async with self._sessions.begin() as db:
            record = await db.get(CallRecord, call_id)
            if record is not None:
                record.keys = (record.keys + digit)[-256:]
                db.add(CallEvent(call_id=call_id, at=now(), kind=Kind.KEY, data={"digit": digit}))

    async def close_call(self, call_id: str, disposition: str) -> None:
        async with self._sessions.begin() as db:
            record = await db.get(CallRecord, call_id)
            if record is None or record.ended_at is not None:
                return
            ended = now()
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

    async def events(self, call_id: str) -> Sequence[CallEvent]:
        async with self._sessions() as db:
            rows = await db.scalars(
                select(CallEvent).where(CallEvent.call_id == call_id).order_by(CallEvent.id)
            )
            return rows.all()
