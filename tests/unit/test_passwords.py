"""PBKDF2 checks run on their own small pool: never on the event loop, never more than
HASH_THREADS at once, and a burst of them leaves the loop free."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from hotline import passwords


async def test_hashes_run_on_the_bounded_pool_and_the_loop_stays_free(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    running, most, threads = 0, 0, set()
    lock = threading.Lock()
    real = passwords.hash_secret

    def watched(secret: str, salt: str) -> str:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            threads.add(threading.current_thread().name)
        try:
            return real(secret, salt)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(passwords, "hash_secret", watched)
    salt = passwords.new_salt()
    expected = real("1234", salt)
    burst = asyncio.gather(*(passwords.matches("1234", salt, expected) for _ in range(12)))
    # While the burst hashes, the loop answers within a few milliseconds each time.
    lags = []
    while not burst.done():
        began = time.monotonic()
        await asyncio.sleep(0.005)
        lags.append(time.monotonic() - began - 0.005)
    assert await burst == [True] * 12
    assert most <= passwords.HASH_THREADS and most >= 1
    assert threads and all(name.startswith("pbkdf2") for name in threads), threads
    assert max(lags) < 0.05, max(lags)
