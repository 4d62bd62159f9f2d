"""Callback requests (R-2.8): a caller asks to be called back instead of waiting. The ACD
dials them when an agent with the skill is free (the queueing issue); the menu only
files the request."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import JSON, DateTime, Integer, String, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, session_factory
from hotline.writes import DirectWrites, Writes, add_row


class CallbackRequest(Base):
    __tablename__ = "callback_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(String(36), index=True)
    number: Mapped[str] = mapped_column(String(32))  # whom to call back
    dialled_number: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(8))
    queue: Mapped[str] = mapped_column(String(64), default="")
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    priority: Mapped[int] = mapped_column(Integer, default=5)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")


class Callbacks:
    def __init__(self, engine: AsyncEngine, writes: Writes | None = None) -> None:
        self._sessions = session_factory(engine)
        # Queued in the controller (hotline.writes): a busy database delays no call.
        self._writes = writes if writes is not None else DirectWrites(engine)

    async def request(
        self,
        call_id: str,
        number: str,
        dialled: str,
        language: str,
        queue: str = "",
        priority: int = 5,
    ) -> None:
        await add_row(
            self._writes,
            CallbackRequest,
            f"callback request of {call_id}",
            call_id=call_id,
            number=number,
            dialled_number=dialled,
            language=language,
            queue=queue,
            skills=[],
            priority=priority,
            requested_at=datetime.now(UTC),
            status="pending",
        )

    async def pending(self) -> Sequence[CallbackRequest]:
        async with self._sessions() as db:
            rows = await db.scalars(
                select(CallbackRequest)
                .where(CallbackRequest.status == "pending")
                .order_by(CallbackRequest.requested_at)
            )
            return rows.all()
