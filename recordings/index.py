"""The index of whole-call recordings (R-5): one row per call, written when the PBX starts
recording and completed when the file has been moved into the recordings store.

A row's ``status`` says where the audio is:

    recording --(call ended, file moved and checked)--> stored --(past retention)--> purged
    recording --(store unwritable or full)--> failed --(retried later)--> stored

A failed row's audio stays on the PBX, so nothing is lost while the store is unwritable;
the controller retries it. Agents and queues are kept as ``,a,b,`` lists so a search for
one is a plain LIKE on any database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Float, Integer, String, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, aware, session_factory
from hotline.writes import DirectWrites, Writes, retrying


class RecordingStatus:
    RECORDING = "recording"
    STORED = "stored"
    FAILED = "failed"
    PURGED = "purged"


class Recording(Base):
    __tablename__ = "recordings"

    call_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    caller_number: Mapped[str] = mapped_column(String(32), index=True)
    dialled_number: Mapped[str] = mapped_column(String(32))
    agents: Mapped[str] = mapped_column(String(256), default=",")  # ",1001,1003,"
    queues: Mapped[str] = mapped_column(String(256), default=",")  # ",repair,general,"
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    sha256: Mapped[str] = mapped_column(String(64), default="")
    # Paths relative to the recordings store: the audio, the timeline beside it, and the
    # optional compressed copy.
    path: Mapped[str] = mapped_column(String(256), default="")
    timeline_path: Mapped[str] = mapped_column(String(256), default="")
    compressed_path: Mapped[str] = mapped_column(String(256), default="")
    pbx_name: Mapped[str] = mapped_column(String(128))  # the name on the PBX, no extension
    # Pieces recorded on the PBX (pbx_name, then pbx_name-2, ...), joined into one file
    # when stored; see recordings.recorder for why a call may need more than one.
    segments: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default=RecordingStatus.RECORDING)
    error: Mapped[str] = mapped_column(String(256), default="")
    stored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    def agent_list(self) -> list[str]:
        return [a for a in self.agents.split(",") if a]

    def queue_list(self) -> list[str]:
        return [q for q in self.queues.split(",") if q]

    def as_json(self) -> dict[str, Any]:
        return {
            "call": self.call_id,
            "caller": self.caller_number,
            "dialled": self.dialled_number,
            "agents": self.agent_list(),
            "queues": self.queue_list(),
            "started_at": aware(self.started_at).isoformat(),
            "duration_s": round(self.duration_s, 2),
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "status": self.status,
            "error": self.error,
            "compressed": bool(self.compressed_path),
        }


class QualityScore(Base):
    """A supervisor's quality score of a recording (录音质检, R-5.2)."""

    __tablename__ = "recording_scores"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(String(36), index=True)
    supervisor: Mapped[str] = mapped_column(String(16))
    score: Mapped[int] = mapped_column(Integer)  # 0..100
    comment: Mapped[str] = mapped_column(String(1000), default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "call": self.call_id,
            "supervisor": self.supervisor,
            "score": self.score,
            "comment": self.comment,
            "at": aware(self.at).isoformat(),
        }


@dataclass(frozen=True)
class Search:
    caller: str = ""
    agent: str = ""
    queue: str = ""
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100


def as_list(values: Sequence[str]) -> str:
    return "," + "".join(f"{v}," for v in dict.fromkeys(values) if v)


class RecordingIndex:
    def __init__(self, engine: AsyncEngine, writes: Writes | None = None) -> None:
        self._sessions = session_factory(engine)
        # Queued in the controller (hotline.writes): a busy database delays no call.
        self._writes = writes if writes is not None else DirectWrites(engine)
        self._health = getattr(self._writes, "health", None)

    async def started(
        self, call_id: str, caller: str, dialled: str, pbx_name: str, at: datetime
    ) -> None:
        async def op(db: AsyncSession) -> None:
            if await db.get(Recording, call_id) is None:
                db.add(
                    Recording(
                        call_id=call_id,
                        caller_number=caller,
                        dialled_number=dialled,
                        started_at=at,
                        pbx_name=pbx_name,
                        status=RecordingStatus.RECORDING,
                        agents=",",
                        queues=",",
                    )
                )

        await self._writes.write(op, what=f"recording of {call_id}")

    async def update(self, call_id: str, **fields: Any) -> None:
        """Returns once stored."""

        async def op(db: AsyncSession) -> None:
            row = await db.get(Recording, call_id)
            if row is not None:
                for name, value in fields.items():
                    setattr(row, name, value)

        await self._writes.write(op, wait=True, what=f"recording of {call_id}")

    async def get(self, call_id: str) -> Recording | None:
        async def read() -> Recording | None:
            async with self._sessions() as db:
                return await db.get(Recording, call_id)

        return await retrying(read, self._health)

    async def search(self, search: Search) -> Sequence[Recording]:
        query = select(Recording).where(Recording.status != RecordingStatus.PURGED)
        if search.caller:
            query = query.where(Recording.caller_number == search.caller)
        if search.agent:
            query = query.where(Recording.agents.like(f"%,{search.agent},%"))
        if search.queue:
            query = query.where(Recording.queues.like(f"%,{search.queue},%"))
        if search.since is not None:
            query = query.where(Recording.started_at >= search.since)
        if search.until is not None:
            query = query.where(Recording.started_at < search.until)
        query = query.order_by(Recording.started_at.desc()).limit(search.limit)
        async with self._sessions() as db:
            return (await db.scalars(query)).all()

    async def with_status(self, *statuses: str) -> Sequence[Recording]:
        async with self._sessions() as db:
            rows = await db.scalars(
                select(Recording)
                .where(Recording.status.in_(statuses))
                .order_by(Recording.started_at)
            )
            return rows.all()

    async def stored_before(self, cutoff: datetime) -> Sequence[Recording]:
        """Stored recordings that began before ``cutoff``, oldest first."""
        async with self._sessions() as db:
            rows = await db.scalars(
                select(Recording)
                .where(Recording.status == RecordingStatus.STORED)
                .where(Recording.started_at < cutoff)
                .order_by(Recording.started_at)
            )
            return rows.all()

    async def stored_bytes(self) -> int:
        async with self._sessions() as db:
            total = await db.scalar(
                select(func.coalesce(func.sum(Recording.size_bytes), 0)).where(
                    Recording.status == RecordingStatus.STORED
                )
            )
            return int(total or 0)

    async def add_score(
        self, call_id: str, supervisor: str, score: int, comment: str
    ) -> QualityScore:
        row = QualityScore(
            call_id=call_id,
            supervisor=supervisor,
            score=score,
            comment=comment,
            at=datetime.now(UTC),
        )
        async with self._sessions.begin() as db:
            db.add(row)
        return row

    async def scores(self, call_id: str) -> Sequence[QualityScore]:
        async with self._sessions() as db:
            rows = await db.scalars(
                select(QualityScore)
                .where(QualityScore.call_id == call_id)
                .order_by(QualityScore.id)
            )
            return rows.all()
