"""Accounts whose PIN the menu verifies (R-2.7, IVR转入密码验证), and their PIN locks.

Only a salted PBKDF2 hash of each PIN is stored. The account data itself lives in the
company's own systems; this table is what the hotline checks a caller's PIN against.

Wrong PINs are counted per account number across calls (``pin_failures``, one row per
wrong PIN): enough of them within the menu's window lock the number (``pin_locks``)
for the menu's lock time or until ``hotline account unlock``. A locked number's PIN is
not compared at all, so guessing on through a lock learns nothing. Numbers with no
account are counted and locked alike: a lock never tells which accounts exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import DateTime, Index, Integer, String, delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, aware, session_factory
from hotline.errors import HotlineError
from hotline.passwords import NO_SALT, hash_off_loop, matches, new_salt
from ivr.model import PinCheck, PinLock


class AccountError(HotlineError):
    error_id = "invalid-account"
    http_status = 400


class Account(Base):
    __tablename__ = "accounts"

    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    pin_salt: Mapped[str] = mapped_column(String(64))
    pin_hash: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PinFailure(Base):
    """One wrong PIN entered for an account number; kept only while inside the window."""

    __tablename__ = "pin_failures"
    __table_args__ = (Index("ix_pin_failures_account_at", "account", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class PinLockRecord(Base):
    """An account number locked by wrong PINs, until ``locked_until``."""

    __tablename__ = "pin_locks"

    account: Mapped[str] = mapped_column(String(32), primary_key=True)
    locked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    failures: Mapped[int] = mapped_column(Integer)


@dataclass(frozen=True)
class PinOutcome:
    check: PinCheck
    failures: int = 0  # wrong PINs counted in the window, this one included
    locked_until: datetime | None = None
    just_locked: bool = False  # this wrong PIN locked the account


@dataclass(frozen=True)
class LockStatus:
    account: str
    exists: bool  # an account with a PIN is set up under this number
    locked_until: datetime | None  # None: not locked now
    recent_failures: int  # wrong PINs kept: since the last right PIN, lock or unlock


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Accounts:
    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime] = _utc_now) -> None:
        self._sessions = session_factory(engine)
        self._clock = clock

    def _now(self) -> datetime:
        # SQLite keeps datetimes as UTC text without a zone: compare only UTC ones.
        return self._clock().astimezone(UTC)

    async def set_pin(self, number: str, pin: str) -> None:
        _check_number(number)
        if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 16):
            raise AccountError("a PIN is 4 to 16 digits")
        salt = new_salt()
        pin_hash = await hash_off_loop(pin, salt)
        async with self._sessions.begin() as db:
            await db.merge(
                Account(
                    number=number,
                    pin_salt=salt,
                    pin_hash=pin_hash,
                    updated_at=self._now(),
                )
            )

    async def verify(self, number: str, pin: str) -> bool:
        async with self._sessions() as db:
            account = await db.get(Account, number)
        if account is None:
            # Spend the same time as a real check, so timing does not tell which exist.
            await hash_off_loop(pin, NO_SALT)
            return False
        return await matches(pin, account.pin_salt, account.pin_hash)

    async def check_pin(self, number: str, pin: str, lock: PinLock) -> PinOutcome:
        """Check an entered PIN against the account and its lock: a right one clears the
        account's count, a wrong one is counted and may lock the account."""
        async with self._sessions() as db:
            until = await _locked_until(db, number, self._now())
        if until is not None:
            return PinOutcome(PinCheck.LOCKED, locked_until=until)
        if await self.verify(number, pin):
            async with self._sessions.begin() as db:
                await db.execute(delete(PinFailure).where(PinFailure.account == number))
            return PinOutcome(PinCheck.OK)
        return await self._count_failure(number, lock)

    async def _count_failure(self, number: str, lock: PinLock) -> PinOutcome:
        now = self._now()
        async with self._sessions.begin() as db:
            # Failures older than the window count for nobody any more: the table holds
            # one window's worth, however many numbers are tried.
            await db.execute(delete(PinFailure).where(PinFailure.at < now - lock.within))
            db.add(PinFailure(account=number, at=now))
            await db.flush()
            failures = await _count(db, number, now - lock.within)
            if failures < lock.failures:
                return PinOutcome(PinCheck.WRONG, failures)
            until = now + lock.duration
            await db.merge(
                PinLockRecord(account=number, locked_at=now, locked_until=until, failures=failures)
            )
            # The lock now stands for these; when it ends, counting starts afresh.
            await db.execute(delete(PinFailure).where(PinFailure.account == number))
        return PinOutcome(PinCheck.LOCKED, failures, until, just_locked=True)

    async def unlock(self, number: str) -> bool:
        """Lift the account's lock and forget its wrong PINs; False if it was not locked."""
        _check_number(number)
        async with self._sessions.begin() as db:
            was_locked = await _locked_until(db, number, self._now()) is not None
            await db.execute(delete(PinLockRecord).where(PinLockRecord.account == number))
            await db.execute(delete(PinFailure).where(PinFailure.account == number))
        return was_locked

    async def status(self, number: str) -> LockStatus:
        _check_number(number)
        async with self._sessions() as db:
            exists = await db.get(Account, number) is not None
            until = await _locked_until(db, number, self._now())
            failures = await _count(db, number, None)
        return LockStatus(number, exists, until, failures)


def _check_number(number: str) -> None:
    if not (number.isascii() and number.isdigit() and len(number) <= 32):
        raise AccountError(f"an account number is up to 32 digits, got {number!r}")


async def _locked_until(db: AsyncSession, number: str, now: datetime) -> datetime | None:
    record = await db.get(PinLockRecord, number)
    if record is None:
        return None
    until = aware(record.locked_until)
    return until if until > now else None


async def _count(db: AsyncSession, number: str, since: datetime | None) -> int:
    query = select(func.count()).select_from(PinFailure).where(PinFailure.account == number)
    if since is not None:
        query = query.where(PinFailure.at >= since)
    return int((await db.execute(query)).scalar_one())
