"""Voice messages callers leave (R-2.8, 来电留言): the audio stays where the PBX recorded
it; this index says who left which message, when, and whether someone has handled it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import DateTime, Integer, String, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, session_factory
from hotline.writes import DirectWrites, Writes, add_row


class VoiceMessage(Base):
    __tablename__ = "voice_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(String(36), index=True)
    caller_number: Mapped[str] = mapped_column(String(32), index=True)
    dialled_number: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(8))
    # The recording's name under the PBX's recording directory, without extension.
    recording: Mapped[str] = mapped_column(String(128))
    audio_format: Mapped[str] = mapped_column(String(8), default="wav")
    duration_s: Mapped[float]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    status: Mapped[str] = mapped_column(String(16), default="new")  # new, heard, done


class VoiceMessages:
    def __init__(self, engine: AsyncEngine, writes: Writes | None = None) -> None:
        self._sessions = session_factory(engine)
        # Queued in the controller (hotline.writes): a busy database delays no call.
        self._writes = writes if writes is not None else DirectWrites(engine)

    async def add(
        self,
        call_id: str,
        caller: str,
        dialled: str,
        language: str,
        recording: str,
        duration_s: float,
    ) -> None:
        await add_row(
            self._writes,
            VoiceMessage,
            f"voice message of {call_id}",
            call_id=call_id,
            caller_number=caller,
            dialled_number=dialled,
            language=language,
            recording=recording,
            audio_format="wav",
            duration_s=duration_s,
            created_at=datetime.now(UTC),
            status="new",
        )

    async def of_call(self, call_id: str) -> Sequence[VoiceMessage]:
        async with self._sessions() as db:
            rows = await db.scalars(select(VoiceMessage).where(VoiceMessage.call_id == call_id))
            return rows.all()
