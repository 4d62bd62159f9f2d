"""A month of call history, written straight into the real schema (fast: executemany).

Every call is a finished one (an open call would be resumed by the controller at
start-up) that walked the menu, waited, was answered, held, surveyed and wrapped up: the
kinds the KPIs read and the menu's chatter around them, as the controller logs them.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from hotline.db import create_schema, make_engine

QUEUES = ("install", "repair", "account", "complaints", "general")
AGENTS = ("1001", "1002", "1003")
REGIONS = ("beijing", "shanghai", "guangzhou", "")
STAMP = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores a DateTime in SQLite
BATCH = 20_000  # calls per executemany


def _events(rng: random.Random) -> list[tuple[float, str, dict[str, object]]]:
    """One call's events: (seconds after its start, kind, data)."""
    queue, agent = rng.choice(QUEUES), rng.choice(AGENTS)
    wait = round(rng.uniform(1, 60), 1)
    waiting_at = 22.0
    answered_at = waiting_at + wait
    talk = rng.uniform(60, 400)
    end = answered_at + talk
    return [
        (0.0, "started", {"dialled": "4008001234", "caller": f"138{rng.randrange(10**8):08d}"}),
        (0.1, "node", {"node": "welcome", "event": "enter"}),
        (0.2, "node", {"node": "greeting", "event": "enter"}),
        (0.3, "prompt", {"ids": ["greeting"], "language": "zh"}),
        (5.0, "node", {"node": "main", "event": "enter"}),
        (5.1, "prompt", {"ids": ["main-menu"], "language": "zh"}),
        (9.0, "key", {"digit": "2"}),
        (9.1, "node", {"node": "repair", "event": "enter"}),
        (9.2, "prompt", {"ids": ["repair-menu"], "language": "zh"}),
        (14.0, "key", {"digit": "1"}),
        (14.1, "node", {"node": "repair-water", "event": "enter"}),
        (14.2, "queued", {"queue": queue, "skills": ["repair"], "priority": 5}),
        (waiting_at, "waiting", {"queue": queue, "vip": False, "region": rng.choice(REGIONS)}),
        (waiting_at + 0.5, "announcement", {"prompts": ["queue-position"], "position": 2}),
        (answered_at - 3, "offer", {"agent": agent, "extension": "7101", "queue": queue}),
        (answered_at, "answered", {"agent": agent, "queue": queue, "wait": wait}),
        (answered_at + 20, "action", {"action": "hold", "by": agent}),
        (answered_at + 35, "action", {"action": "resume", "by": agent}),
        (end, "agent-hung-up", {"agent": agent}),
        (end + 0.1, "node", {"node": "survey", "event": "enter"}),
        (end + 0.2, "prompt", {"ids": ["survey"], "language": "zh"}),
        (end + 4, "key", {"digit": "1"}),
        (end + 4.1, "survey", {"agent": agent, "queue": queue, "result": rng.choice("1123")}),
        (end + 5, "ended", {"disposition": "answered"}),
        (end + 8, "wrap-up", {"agent": agent, "seconds": 3.0}),
    ]


EVENTS_PER_CALL = len(_events(random.Random(0)))


def _rows(
    calls: int, since: datetime, until: datetime, seed: int
) -> Iterator[tuple[tuple[object, ...], list[tuple[object, ...]]]]:
    rng = random.Random(seed)
    span = (until - since).total_seconds() - 3600  # every call over by ``until``
    for n in range(calls):
        call_id = f"hist-{n:08d}"
        started = since + timedelta(seconds=span * n / calls)
        events = _events(rng)
        ended = started + timedelta(seconds=events[-2][0])
        call: tuple[object, ...] = (
            call_id,
            f"hist-chan-{n}",
            "4008001234",
            events[0][2]["caller"],
            started.strftime(STAMP),
            ended.strftime(STAMP),
            round((ended - started).total_seconds(), 3),
            "ended",
            "2141",
            "zh",
            "answered",
            "",
            "",
            5,
            "{}",
        )
        rows: list[tuple[object, ...]] = [
            (call_id, (started + timedelta(seconds=s)).strftime(STAMP), kind, json.dumps(data))
            for s, kind, data in events
        ]
        yield call, rows


async def fill(db: Path, calls: int, since: datetime, until: datetime, seed: int = 15) -> int:
    """Write ``calls`` finished calls spread evenly over [since, until) (UTC) into the
    database at ``db`` (its schema made first); returns the number of call events."""
    await _schema(db)
    return await asyncio.to_thread(_fill, db, calls, since, until, seed)


def _fill(db: Path, calls: int, since: datetime, until: datetime, seed: int) -> int:
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")
        batch_calls: list[tuple[object, ...]] = []
        batch_events: list[tuple[object, ...]] = []
        written = 0
        for call, events in _rows(calls, since, until, seed):
            batch_calls.append(call)
            batch_events.extend(events)
            if len(batch_calls) >= BATCH:
                written += _write(conn, batch_calls, batch_events)
                batch_calls, batch_events = [], []
        written += _write(conn, batch_calls, batch_events)
        return written
    finally:
        conn.close()


def _write(
    conn: sqlite3.Connection, calls: list[tuple[object, ...]], events: list[tuple[object, ...]]
) -> int:
    with conn:
        conn.executemany(
            "INSERT INTO calls (id, channel_id, dialled_number, caller_number, started_at,"
            " ended_at, duration_s, state, keys, language, disposition, menu_version, node,"
            " priority, variables) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            calls,
        )
        conn.executemany(
            "INSERT INTO call_events (call_id, at, kind, data) VALUES (?, ?, ?, ?)", events
        )
    return len(events)


async def _schema(db: Path) -> None:
    import hotline.app  # noqa: F401  (every feature's tables)

    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    try:
        await create_schema(engine)
    finally:
        await engine.dispose()
