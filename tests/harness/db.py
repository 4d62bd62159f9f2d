"""Reading what the controller stored, with deadlines (it writes asynchronously)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from sqlalchemy import select

from hotline.calls.models import CallEvent, CallRecord
from hotline.calls.store import CallStore
from hotline.db import make_engine, session_factory
from tests.harness.stack import Stack


async def _latest(stack: Stack, caller_number: str) -> CallRecord | None:
    engine = make_engine(stack.config.db_url)
    try:
        async with session_factory(engine)() as db:
            rows = await db.scalars(
                select(CallRecord)
                .where(CallRecord.caller_number == caller_number)
                .order_by(CallRecord.started_at.desc())
            )
            return rows.first()
    finally:
        await engine.dispose()


async def call_for(
    stack: Stack, caller_number: str, timeout: float, closed: bool = False
) -> CallRecord:
    """The newest call record from ``caller_number`` (closed, if asked), within timeout."""
    deadline = time.monotonic() + timeout
    while True:
        record = await _latest(stack, caller_number)
        if record is not None and (not closed or record.ended_at is not None):
            return record
        if time.monotonic() >= deadline:
            state = "no record" if record is None else f"state {record.state}, still open"
            raise AssertionError(f"call from {caller_number}: {state} after {timeout} s")
        await asyncio.sleep(0.1)


async def events_of(stack: Stack, call_id: str) -> Sequence[CallEvent]:
    engine = make_engine(stack.config.db_url)
    try:
        return await CallStore(engine).events(call_id)
    finally:
        await engine.dispose()
