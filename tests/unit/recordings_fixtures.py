"""Recordings as the recorder leaves them: rows in a temporary SQLite index and real files in
a store directory laid out like the real one (YYYY/MM/DD/<call>.wav, .json, .mp3)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from hotline.db import create_schema, make_engine
from recordings.index import RecordingIndex, RecordingStatus, as_list

DAY_ONE = datetime(2026, 11, 22, 8, 30, tzinfo=UTC)


@asynccontextmanager
async def temporary_index(db: Path) -> AsyncIterator[tuple[AsyncEngine, RecordingIndex]]:
    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    try:
        await create_schema(engine)  # recordings.index is imported above: its tables too
        yield engine, RecordingIndex(engine)
    finally:
        await engine.dispose()


async def add_recording(
    index: RecordingIndex,
    store: Path,
    *,
    agents: Sequence[str] = ("1001",),
    queues: Sequence[str] = ("general",),
    started_at: datetime = DAY_ONE,
    status: str = RecordingStatus.STORED,
    caller: str = "13800138000",
    audio: bytes = bytes(range(256)) * 8,
    compressed: bool = False,
    events: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> str:
    """One call's row and (for stored ones) its files; ``fields`` override the row's paths
    or anything else. Returns the call id."""
    call_id = str(uuid.uuid4())
    relative = f"{started_at:%Y/%m/%d}/{call_id}"
    paths = {
        "path": f"{relative}.wav",
        "timeline_path": f"{relative}.json",
        "compressed_path": f"{relative}.mp3" if compressed else "",
    }
    if status == RecordingStatus.STORED:
        folder = store / relative
        folder.parent.mkdir(parents=True, exist_ok=True)
        (store / paths["path"]).write_bytes(audio)
        timeline = {
            "call": call_id,
            "started_at": started_at.isoformat(),
            "events": events if events is not None else [],
        }
        (store / paths["timeline_path"]).write_text(json.dumps(timeline), encoding="utf-8")
        if compressed:
            (store / paths["compressed_path"]).write_bytes(b"ID3" + audio[:100])
    await index.started(call_id, caller, "4008000000", f"call-{call_id}", started_at)
    row: dict[str, Any] = {
        "agents": as_list(agents),
        "queues": as_list(queues),
        "status": status,
        "duration_s": 61.5,
        "size_bytes": len(audio) if status == RecordingStatus.STORED else 0,
        "sha256": hashlib.sha256(audio).hexdigest(),
        "stored_at": started_at if status == RecordingStatus.STORED else None,
        **paths,
    }
    await index.update(call_id, **{**row, **fields})
    return call_id
