"""Accounts whose PIN the menu verifies (R-2.7, IVR转入密码验证).

Only a salted PBKDF2 hash of each PIN is stored. The account data itself lives in the
company's own systems; this table is what the hotline checks a caller's PIN against.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, String
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, session_factory
from hotline.errors import HotlineError
from hotline.passwords import NO_SALT, hash_off_loop, matches, new_salt


class AccountError(HotlineError):
    error_id = "invalid-account"
    http_status = 400


class Account(Base):
    __tablename__ = "accounts"

    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    pin_salt: Mapped[str] = mapped_column(String(64))
    pin_hash: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Accounts:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = session_factory(engine)

    async def set_pin(self, number: str, pin: str) -> None:
        if not number.isdigit():
            raise AccountError(f"an account number is digits only, got {number!r}")
        if not (pin.isdigit() and 4 <= len(pin) <= 16):
            raise AccountError("a PIN is 4 to 16 digits")
        salt = new_salt()
        pin_hash = await hash_off_loop(pin, salt)
        async with self._sessions.begin() as db:
            await db.merge(
                Account(
                    number=number,
                    pin_salt=salt,
                    pin_hash=pin_hash,
                    updated_at=datetime.now(UTC),
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
