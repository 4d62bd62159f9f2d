"""The database: one async engine, created at the composition root and passed down."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, event, inspect, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Every table of every capability."""


def make_engine(url: str, busy_timeout: float = 5.0) -> AsyncEngine:
    """The engine for ``url``. With SQLite a statement meeting a lock waits up to
    ``busy_timeout`` seconds in the driver's thread (aiosqlite: never on the event loop)
    before it fails with ``database is locked``, which ``hotline.writes`` retries."""
    engine = create_async_engine(url)
    if url.startswith("sqlite"):
        # WAL lets tests and reports read while the controller writes, and reads go on
        # while another connection holds the write lock.
        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(conn, _record):  # type: ignore[no-untyped-def]
            cursor = conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            cursor.close()

    return engine


async def create_schema(engine: AsyncEngine) -> None:
    """Create missing tables, and missing nullable columns of existing ones (there are no
    migrations: the schema only grows), for every table whose module has been imported,
    which the composition root does for every feature."""
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
        await conn.run_sync(_add_missing_columns)


def _add_missing_columns(conn: Connection) -> None:
    """A database made by an older version lacks the columns and indexes added since;
    each new column is nullable, so ``ALTER TABLE ... ADD COLUMN`` keeps every row."""
    inspector = inspect(conn)
    for table in Base.metadata.sorted_tables:
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable:
                raise RuntimeError(f"{table.name}.{column.name} is new and not nullable")
            kind = column.type.compile(dialect=conn.dialect)
            conn.execute(text(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}'))
        for index in table.indexes:
            index.create(conn, checkfirst=True)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def aware(moment: datetime) -> datetime:
    """SQLite hands datetimes back without their zone; every one is stored as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
