"""A database made by an older version grows the columns and indexes added since, and
keeps its rows (there are no migrations: the schema only grows)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

import hotline.app  # noqa: F401  (every feature's tables)
from hotline.calls.store import CallStore
from hotline.db import create_schema, make_engine


async def test_an_older_calls_table_gains_the_new_columns_and_indexes(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "CREATE TABLE calls (id VARCHAR(36) PRIMARY KEY, channel_id VARCHAR(64),"
                    " dialled_number VARCHAR(32), caller_number VARCHAR(32),"
                    " started_at DATETIME, answered_at DATETIME, ended_at DATETIME,"
                    " duration_s FLOAT, state VARCHAR(32), keys VARCHAR(256),"
                    " language VARCHAR(8), disposition VARCHAR(32), menu_version VARCHAR(16),"
                    " node VARCHAR(64), priority INTEGER, variables JSON)"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO calls VALUES ('old-1', 'c', '4008001234', '13800138000',"
                    " '2026-11-01 08:00:00', NULL, '2026-11-01 08:01:00', 60.0, 'ended', '',"
                    " 'zh', 'completed', 'v1', 'main', 5, '{}')"
                )
            )
        await create_schema(engine)
        async with engine.connect() as conn:
            columns = await conn.run_sync(
                lambda c: {col["name"] for col in inspect(c).get_columns("calls")}
            )
            indexes = await conn.run_sync(
                lambda c: {i["name"] for i in inspect(c).get_indexes("calls")}
            )
        assert {"phase", "menu_stack", "queue", "agent"} <= columns
        assert {"ix_calls_started_at", "ix_calls_caller_number"} <= indexes
        old = await CallStore(engine).get("old-1")
        assert old is not None and (old.disposition, old.phase, old.queue) == (
            "completed",
            None,
            None,
        )
    finally:
        await engine.dispose()
