"""The database: one async engine, created at the composition root and passed down."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Every table of every capability."""


def make_engine(url: str) -> AsyncEngine:
    engine = create_async_engine(url)
    if url.startswith("sqlite"):
        # WAL lets tests and reports read while the controller writes.
        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(conn, _record):  # type: ignore[no-untyped-def]
            cursor = conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

    return engine


async def create_schema(engine: AsyncEngine) -> None:
    """Create missing tables (no migrations yet: the schema only grows): every table whose
    module has been imported, which the composition root does for every feature."""
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def aware(moment: datetime) -> datetime:
    """SQLite hands datetimes back without their zone; every one is stored as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
