"""Reading what the controller stored, with deadlines (it writes asynchronously)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select

from hotline.calls.models import CallEvent, CallRecord
from hotline.calls.store import CallStore
from hotline.db import aware, make_engine, session_factory
from ivr.survey import SurveyAnswer, Surveys
from recordings.index import Recording, RecordingIndex, RecordingStatus
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


async def recording_of(
    stack: Stack, call_id: str, timeout: float, status: str = RecordingStatus.STORED
) -> Recording:
    """The call's recording index row once it has ``status``, within timeout."""
    deadline = time.monotonic() + timeout
    engine = make_engine(stack.config.db_url)
    try:
        while True:
            row = await RecordingIndex(engine).get(call_id)
            if row is not None and row.status == status:
                return row
            if time.monotonic() >= deadline:
                seen = "no row" if row is None else f"{row.status} ({row.error})"
                raise AssertionError(
                    f"recording of {call_id}: {seen}, not {status}, in {timeout} s"
                )
            await asyncio.sleep(0.2)
    finally:
        await engine.dispose()


async def survey_of(stack: Stack, call_id: str, timeout: float) -> SurveyAnswer:
    """The call's stored survey answer, within timeout."""
    deadline = time.monotonic() + timeout
    engine = make_engine(stack.config.db_url)
    try:
        while True:
            rows = await Surveys(engine).of_call(call_id)
            if rows:
                assert len(rows) == 1, f"call {call_id} has {len(rows)} survey answers"
                return rows[0]
            if time.monotonic() >= deadline:
                raise AssertionError(f"call {call_id}: no survey answer in {timeout} s")
            await asyncio.sleep(0.2)
    finally:
        await engine.dispose()


async def age_recording(stack: Stack, call_id: str, days: int) -> None:
    """Make a stored recording look ``days`` old (its start moved back), for retention."""
    engine = make_engine(stack.config.db_url)
    try:
        row = await RecordingIndex(engine).get(call_id)
        assert row is not None, f"no recording of {call_id}"
        await RecordingIndex(engine).update(
            call_id, started_at=aware(row.started_at) - timedelta(days=days)
        )
    finally:
        await engine.dispose()
