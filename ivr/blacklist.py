"""Blacklist screening (R-2.6): caller numbers and prefixes refused with a prompt or
hung up on silently. Stored in the database, so an edit takes effect on the next call."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import DateTime, Integer, String, delete, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, session_factory
from hotline.errors import HotlineError


class Action(enum.StrEnum):
    REFUSE = "refuse"  # answer, play 「对不起,您的来电暂时无法接通」, hang up
    SILENT = "silent"  # reject without answering


class BlacklistError(HotlineError):
    error_id = "invalid-blacklist-entry"
    http_status = 400


class BlacklistEntry(Base):
    __tablename__ = "blacklist"

    pattern: Mapped[str] = mapped_column(String(32), primary_key=True)
    prefix: Mapped[bool]
    action: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class BlacklistRequest(Base):
    """An agent asks for a caller to be blacklisted; a supervisor decides (R-4.8, R-7)."""

    __tablename__ = "blacklist_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(200), default="")
    call_id: Mapped[str] = mapped_column(String(36), default="")
    requested_by: Mapped[str] = mapped_column(String(20))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decided_by: Mapped[str] = mapped_column(String(20), default="")
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RequestNotPending(HotlineError):
    error_id = "request-not-pending"
    http_status = 409


@dataclass(frozen=True)
class Verdict:
    pattern: str
    action: Action


def match(entries: Sequence[BlacklistEntry], caller: str) -> Verdict | None:
    """Exact numbers win over prefixes; the longest prefix wins among prefixes."""
    best: BlacklistEntry | None = None
    for entry in entries:
        hit = caller.startswith(entry.pattern) if entry.prefix else caller == entry.pattern
        if hit and (best is None or _rank(entry) > _rank(best)):
            best = entry
    return Verdict(best.pattern, Action(best.action)) if best else None


def _rank(entry: BlacklistEntry) -> tuple[bool, int]:
    return (not entry.prefix, len(entry.pattern))


class Blacklist:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = session_factory(engine)

    async def add(self, pattern: str, prefix: bool, action: Action, reason: str = "") -> None:
        if not pattern.isdigit():
            raise BlacklistError(f"a blacklist entry is digits only, got {pattern!r}")
        async with self._sessions.begin() as db:
            await db.merge(
                BlacklistEntry(
                    pattern=pattern,
                    prefix=prefix,
                    action=action.value,
                    reason=reason,
                    created_at=datetime.now(UTC),
                )
            )

    async def remove(self, pattern: str) -> bool:
        async with self._sessions.begin() as db:
            result = await db.execute(
                delete(BlacklistEntry).where(BlacklistEntry.pattern == pattern)
            )
            return bool(getattr(result, "rowcount", 0))

    async def entries(self) -> Sequence[BlacklistEntry]:
        async with self._sessions() as db:
            return (await db.scalars(select(BlacklistEntry).order_by(BlacklistEntry.pattern))).all()

    async def screen(self, caller: str) -> Verdict | None:
        return match(await self.entries(), caller) if caller.isdigit() else None

    # --- requests from agents, decided by supervisors ---------------------------------------
    async def request(
        self, number: str, reason: str, requested_by: str, call_id: str = ""
    ) -> BlacklistRequest:
        if not number.isdigit():
            raise BlacklistError(f"a blacklist entry is digits only, got {number!r}")
        row = BlacklistRequest(
            number=number,
            reason=reason,
            call_id=call_id,
            requested_by=requested_by,
            requested_at=datetime.now(UTC),
            status="pending",
        )
        async with self._sessions.begin() as db:
            db.add(row)
        return row

    async def requests(self, status: str = "pending") -> Sequence[BlacklistRequest]:
        async with self._sessions() as db:
            rows = await db.scalars(
                select(BlacklistRequest)
                .where(BlacklistRequest.status == status)
                .order_by(BlacklistRequest.id)
            )
            return rows.all()

    async def decide(self, request_id: int, approve: bool, decided_by: str) -> BlacklistRequest:
        """Approve (the number is refused from the next call on) or reject a request."""
        async with self._sessions.begin() as db:
            row = await db.get(BlacklistRequest, request_id)
            if row is None or row.status != "pending":
                raise RequestNotPending(
                    f"blacklist request {request_id} is not pending", request=request_id
                )
            row.status = "approved" if approve else "rejected"
            row.decided_by = decided_by
            row.decided_at = datetime.now(UTC)
        if approve:
            await self.add(row.number, False, Action.REFUSE, row.reason or f"request {row.id}")
        return row
