"""What the ACD keeps in the database: agents' live state (so a restarted controller
knows who was ready, ringing or on a call), their passwords and API tokens, every
offer made to an agent, and every wait in a queue with how it ended."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, DateTime, Float, Integer, String, delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from acd.agents import AgentSession
from hotline.db import Base, aware, session_factory
from hotline.passwords import NO_SALT, hash_off_loop, matches, new_salt
from hotline.writes import DirectWrites, Writes, add_row, retrying


def utcnow() -> datetime:
    return datetime.now(UTC)


class AgentStateRow(Base):
    __tablename__ = "agent_states"

    number: Mapped[str] = mapped_column(String(20), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AgentPassword(Base):
    __tablename__ = "agent_passwords"

    number: Mapped[str] = mapped_column(String(20), primary_key=True)
    salt: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApiToken(Base):
    __tablename__ = "api_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of it
    agent: Mapped[str] = mapped_column(String(20), index=True)
    role: Mapped[str] = mapped_column(String(16))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class TokenOwner:
    agent: str
    role: str  # as issued; the API takes the agent's role from the ACD file as it is now
    expires_at: datetime


class OfferRow(Base):
    """A call offered to an agent's phone, and what came of it."""

    __tablename__ = "agent_offers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(String(36), index=True)
    agent: Mapped[str] = mapped_column(String(20), index=True)
    queue: Mapped[str] = mapped_column(String(64))
    caller: Mapped[str] = mapped_column(String(32))
    offered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(String(16), default="ringing")
    ring_s: Mapped[float | None] = mapped_column(Float)


class QueueWait(Base):
    """One stay of a call in a queue (R-4.7): answered, abandoned (呼损), callback, ..."""

    __tablename__ = "queue_waits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(String(36), index=True)
    queue: Mapped[str] = mapped_column(String(64), index=True)
    caller: Mapped[str] = mapped_column(String(32))
    priority: Mapped[int] = mapped_column(Integer)
    joined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    left_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    wait_s: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(16), default="waiting")
    agent: Mapped[str] = mapped_column(String(20), default="")


@dataclass(frozen=True)
class IssuedToken:
    token: str
    agent: str
    role: str
    expires_at: datetime


class AcdStore:
    """Agents' states, offers and waits are written through ``writes`` (queued in the
    controller: a busy database delays no offer); their ids are given here, not by the
    database, so a call goes on before its rows are stored. Only this controller adds
    offers and waits (another one would lose the ARI application)."""

    def __init__(self, engine: AsyncEngine, writes: Writes | None = None) -> None:
        self._sessions = session_factory(engine)
        self._writes = writes if writes is not None else DirectWrites(engine)
        self._next_id: dict[str, int] = {}
        self._offered_at: dict[int, datetime] = {}
        self._joined_at: dict[int, datetime] = {}

    async def _new_id(self, table: type[OfferRow] | type[QueueWait]) -> int:
        name = table.__tablename__
        if name not in self._next_id:
            async with self._sessions() as db:
                highest = await db.scalar(select(func.max(table.id)))
            self._next_id.setdefault(name, (highest or 0) + 1)  # another await may have won
        given = self._next_id[name]
        self._next_id[name] = given + 1
        return given

    # --- agents' live state ----------------------------------------------------------------
    async def load_agents(self) -> list[AgentSession]:
        async with self._sessions() as db:
            rows = await db.scalars(select(AgentStateRow))
            return [AgentSession.from_dict(dict(r.data)) for r in rows]

    async def save_agent(self, session: AgentSession) -> None:
        row = {"number": session.number, "data": session.as_dict(), "updated_at": utcnow()}

        async def op(db: AsyncSession) -> None:
            await db.merge(AgentStateRow(**row))

        await self._writes.write(op, what=f"agent {session.number}")

    # --- passwords and tokens -------------------------------------------------------------
    async def set_password(self, number: str, password: str) -> None:
        salt = new_salt()
        password_hash = await hash_off_loop(password, salt)
        row = {"number": number, "salt": salt, "password_hash": password_hash}

        async def op(db: AsyncSession) -> None:
            await db.merge(AgentPassword(**row, updated_at=utcnow()))

        await self._writes.write(op, wait=True, what=f"password of {number}")

    async def check_password(self, number: str, password: str) -> bool:
        async with self._sessions() as db:
            row = await db.get(AgentPassword, number)
        if row is None:
            await hash_off_loop(password, NO_SALT)  # the same time as a real check
            return False
        return await matches(password, row.salt, row.password_hash)

    async def issue_token(self, agent: str, role: str, lifetime: float) -> IssuedToken:
        token = secrets.token_urlsafe(32)
        issued = utcnow()
        expires = issued + timedelta(seconds=lifetime)

        async def op(db: AsyncSession) -> None:
            await db.execute(delete(ApiToken).where(ApiToken.expires_at < issued))
            db.add(
                ApiToken(
                    token_hash=_digest(token),
                    agent=agent,
                    role=role,
                    issued_at=issued,
                    expires_at=expires,
                )
            )

        await self._writes.write(op, wait=True, what=f"token of {agent}")
        return IssuedToken(token, agent, role, expires)

    async def token_owner(self, token: str) -> TokenOwner | None:
        """Who holds a token that has not expired, and until when."""
        async with self._sessions() as db:
            row = await db.get(ApiToken, _digest(token))
        if row is None or aware(row.expires_at) <= utcnow():
            return None
        return TokenOwner(row.agent, row.role, aware(row.expires_at))

    async def revoke_tokens(self, agent: str, keep: str = "") -> None:
        """End the agent's tokens (all but ``keep``, the one asking)."""
        query = delete(ApiToken).where(ApiToken.agent == agent)
        if keep:
            query = query.where(ApiToken.token_hash != _digest(keep))

        async def op(db: AsyncSession) -> None:
            await db.execute(query)

        await self._writes.write(op, wait=True, what=f"tokens of {agent} revoked")

    # --- offers and waits -------------------------------------------------------------------
    async def offered(self, call_id: str, agent: str, queue: str, caller: str) -> int:
        offer_id, at = await self._new_id(OfferRow), utcnow()
        self._offered_at[offer_id] = at
        what = f"offer of {call_id} to {agent}"
        fields = {"call_id": call_id, "agent": agent, "queue": queue, "caller": caller}
        await add_row(self._writes, OfferRow, what, id=offer_id, offered_at=at, **fields)
        return offer_id

    async def offer_outcome(self, offer_id: int, outcome: str) -> None:
        offered_at = self._offered_at.pop(offer_id, None)
        ring_s = round((utcnow() - offered_at).total_seconds(), 3) if offered_at else None

        async def op(db: AsyncSession) -> None:
            row = await db.get(OfferRow, offer_id)
            if row is not None:
                row.outcome = outcome
                row.ring_s = ring_s

        await self._writes.write(op, what=f"offer {offer_id} {outcome}")

    async def missed_by(self, agent: str, limit: int = 50) -> Sequence[OfferRow]:
        async with self._sessions() as db:
            rows = await db.scalars(
                select(OfferRow)
                .where(OfferRow.agent == agent, OfferRow.outcome.in_(MISSED))
                .order_by(OfferRow.id.desc())
                .limit(limit)
            )
            return rows.all()

    async def joined(
        self, call_id: str, queue: str, caller: str, priority: int, joined_at: datetime
    ) -> int:
        async def open_wait() -> QueueWait | None:
            async with self._sessions() as db:
                found: QueueWait | None = await db.scalar(
                    select(QueueWait).where(
                        QueueWait.call_id == call_id,
                        QueueWait.queue == queue,
                        QueueWait.left_at.is_(None),
                    )
                )
                return found

        # A call resumed by a restarted controller carries on with its open wait.
        found = await retrying(open_wait, getattr(self._writes, "health", None))
        if found is not None:
            self._joined_at[found.id] = aware(found.joined_at)
            return found.id
        wait_id = await self._new_id(QueueWait)
        self._joined_at[wait_id] = joined_at
        what = f"wait of {call_id} in {queue}"
        fields = {"call_id": call_id, "queue": queue, "caller": caller, "priority": priority}
        await add_row(self._writes, QueueWait, what, id=wait_id, joined_at=joined_at, **fields)
        return wait_id

    async def left(self, wait_id: int, outcome: str, agent: str = "") -> float:
        """The wait ends now; returns how long it was."""
        left_at = utcnow()
        joined_at = self._joined_at.pop(wait_id, None)
        wait_s = round((left_at - joined_at).total_seconds(), 3) if joined_at else 0.0

        async def op(db: AsyncSession) -> None:
            row = await db.get(QueueWait, wait_id)
            if row is not None:
                row.left_at = left_at
                row.wait_s = (
                    wait_s
                    if joined_at
                    else round((left_at - aware(row.joined_at)).total_seconds(), 3)
                )
                row.outcome = outcome
                row.agent = agent

        await self._writes.write(op, what=f"wait {wait_id} {outcome}")
        return wait_s

    async def waits(self, call_id: str) -> Sequence[QueueWait]:
        async with self._sessions() as db:
            rows = await db.scalars(
                select(QueueWait).where(QueueWait.call_id == call_id).order_by(QueueWait.id)
            )
            return rows.all()

    async def open_waits(self) -> Sequence[QueueWait]:
        async with self._sessions() as db:
            rows = await db.scalars(select(QueueWait).where(QueueWait.left_at.is_(None)))
            return rows.all()


MISSED = ("no-answer", "busy", "unreachable")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
