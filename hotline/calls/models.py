"""Call records and the append-only per-call timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base


class CallRecord(Base):
    __tablename__ = "calls"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(64), index=True)
    dialled_number: Mapped[str] = mapped_column(String(32))
    caller_number: Mapped[str] = mapped_column(String(32), index=True)  # the screen pop
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)  # reports
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_s: Mapped[float | None]
    # The call's phase (hotline.calls.journey), stored so a restarted controller resumes it.
    state: Mapped[str] = mapped_column(String(32))
    keys: Mapped[str] = mapped_column(String(256), default="")
    language: Mapped[str] = mapped_column(String(8), default="zh")
    disposition: Mapped[str | None] = mapped_column(String(32))
    # The voice menu: the version the call started on (calls finish on it across a
    # reload), where it stands, and what it collected; enough to resume after a restart.
    menu_version: Mapped[str] = mapped_column(String(16), default="")
    node: Mapped[str] = mapped_column(String(64), default="")
    priority: Mapped[int] = mapped_column(Integer, default=5)
    variables: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The journey (hotline.calls.journey): ``state`` is the phase's name, ``phase`` its
    # data; the menu's way back (*); the queue and agent the call was last with.
    phase: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=dict)
    menu_stack: Mapped[list[str] | None] = mapped_column(JSON, default=list)
    queue: Mapped[str | None] = mapped_column(String(64), default="")
    agent: Mapped[str | None] = mapped_column(String(32), default="")

    __table_args__ = (Index("ix_calls_open", "ended_at"),)


class CallEvent(Base):
    __tablename__ = "call_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(32))  # a hotline.calls.timeline.Kind
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
