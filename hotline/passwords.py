"""Salted PBKDF2 for secrets people choose (account PINs, agents' passwords)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from concurrent.futures import ThreadPoolExecutor

ITERATIONS = 60_000  # a few tens of ms per check: cheap for a login, dear for a guesser
NO_SALT = "00" * 16  # for checks against nobody, so timing does not tell who exists
# Hashes run on a small pool of their own, never on the event loop nor on the default
# executor the database and other work share: a burst of logins queues here, at most
# HASH_THREADS hashing at once (OpenSSL's PBKDF2 lets go of the interpreter's lock), and
# cannot hold up anything else.
HASH_THREADS = 2
_hashing = ThreadPoolExecutor(max_workers=HASH_THREADS, thread_name_prefix="pbkdf2")


def new_salt() -> str:
    return secrets.token_hex(16)


def hash_secret(secret: str, salt: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", secret.encode(), bytes.fromhex(salt), ITERATIONS).hex()


async def hash_off_loop(secret: str, salt: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_hashing, hash_secret, secret, salt)


async def matches(secret: str, salt: str, stored_hash: str) -> bool:
    return hmac.compare_digest(await hash_off_loop(secret, salt), stored_hash)
