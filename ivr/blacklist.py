"""Blacklist screening (R-2.6): caller numbers and prefixes refused with a prompt or
hung up on silently. Stored in the database, so an edit takes effect on the next call.

Every number is compared in ``hotline.numbers``' one form, so an entry refuses its number
however the carrier writes it (``+8613500135000``, ``008613500135000``, a SIP URI). Entries
are stored in that form; rows stored before it are normalised as they are compared."""

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
from hotline.numbers import ANONYMOUS, normalise, normalise_prefix, prefix_readings, written


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
    """Exact numbers win over prefixes; the longest prefix wins among prefixes. Caller
    and entries are compared normalised; an anonymous caller matches nothing."""
    number = normalise(caller)
    if number == ANONYMOUS:
        return None
    best: tuple[tuple[bool, int], BlacklistEntry] | None = None
    for entry in entries:
        length = _matched(entry, number)
        rank = (not entry.prefix, length or 0)
        if length is not None and (best is None or rank > best[0]):
            best = (rank, entry)
    return Verdict(best[1].pattern, Action(best[1].action)) if best else None


def _matched(entry: BlacklistEntry, number: str) -> int | None:
    """How much of the normalised ``number`` the entry matches, or None. A row stored
    before entries were normalised is read the same way (a bare 86 prefix both ways)."""
    if not entry.prefix:
        return len(number) if canonical(entry) == number else None
    return max(
        (len(p) for p in prefix_readings(entry.pattern) if number.startswith(p)), default=None
    )


def canonical(entry: BlacklistEntry) -> str:
    """The entry's pattern in the normalised form ("" if it names no number)."""
    if entry.prefix:
        return normalise_prefix(entry.pattern)
    number = normalise(entry.pattern)
    return "" if number == ANONYMOUS else number


def _entry(number: str, prefix: bool) -> str:
    """The stored form of a number (or prefix) an admin or agent wrote."""
    pattern = written(number, prefix)
    if pattern is None:
        kind = "prefix" if prefix else "number"
        raise BlacklistError(f"a blacklist entry is a phone {kind}, got {number!r}")
    return pattern


class Blacklist:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = session_factory(engine)

    async def add(self, number: str, prefix: bool, action: Action, reason: str = "") -> str:
        """Refuse ``number`` (any written form: +86, spaces, ...); returns the stored form."""
        pattern = _entry(number, prefix)
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
        return pattern

    async def remove(self, number: str) -> bool:
        """Remove the entries for ``number`` in any written form (also rows stored before
        entries were normalised, which may hold the same number written another way)."""
        wanted = {False: written(number), True: written(number, prefix=True)}
        stale = [
            e.pattern
            for e in await self.entries()
            if e.pattern == number or canonical(e) == wanted[e.prefix]
        ]
        if not stale:
            return False
        async with self._sessions.begin() as db:
            result = await db.execute(
                delete(BlacklistEntry).where(BlacklistEntry.pattern.in_(stale))
            )
            return bool(getattr(result, "rowcount", 0))

    async def entries(self) -> Sequence[BlacklistEntry]:
        async with self._sessions() as db:
            return (await db.scalars(select(BlacklistEntry).order_by(BlacklistEntry.pattern))).all()

    async def screen(self, caller: str) -> Verdict | None:
        if normalise(caller) == ANONYMOUS:
            return None  # nothing to look up (and no query for it)
        return match(await self.entries(), caller)

    # --- requests from agents, decided by supervisors ---------------------------------------
    async def request(
        self, number: str, reason: str, requested_by: str, call_id: str = ""
    ) -> BlacklistRequest:
        row = BlacklistRequest(
            number=_entry(number, prefix=False),
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
