"""Accounts whose PIN the menu verifies (R-2.7, IVR转入密码验证).

Only a salted PBKDF2 hash of each PIN is stored. The account data itself lives in the
company's own systems; this table is what the hotline checks a caller's PIN against.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from datetime import UTC, datetime

from sqlalchemy import DateTime, String
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, session_factory
from hotline.errors import HotlineError

ITERATIONS = 60_000  # a few tens of ms per check: cheap for a call, dear for a guesser


class AccountError(HotlineError):
    error_id = "invalid-account"
    http_status = 400


class Account(Base):
    __tablename__ = "accounts"

    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    pin_salt: Mapped[str] = mapped_column(String(64))
    pin_hash: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def _hash(pin: str, salt: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", pin.encode(), bytes.fromhex(salt), ITERATIONS).hex()


class Accounts:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = session_factory(engine)

    async def set_pin(self, number: str, pin: str) -> None:
        if not number.isdigit():
            raise AccountError(f"an account number is digits only, got {number!r}")
        if not (pin.isdigit() and 4 <= len(pin) <= 16):
            raise AccountError("a PIN is 4 to 16 digits")
        salt = secrets.token_hex(16)
        pin_hash = await asyncio.to_thread(_hash, pin, salt)
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
            await asyncio.to_thread(_hash, pin, "00" * 16)
            return False
        candidate = await asyncio.to_thread(_hash, pin, account.pin_salt)
        return hmac.compare_digest(candidate, account.pin_hash)
