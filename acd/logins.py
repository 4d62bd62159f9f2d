"""A bound on password guessing: after ``agent_failures`` wrong logins within ``window``
seconds for one agent number, or ``source_failures`` from one source address (a room of
desks may share one address behind a NAT, so it gets more), that agent or source is
refused for ``lockout`` seconds, right password or not (429, with the wait in details).

Kept in memory: a restart forgets the counts, which costs a guesser one more round of
``max_failures`` per restart, and an agent locked out by a colleague's typos is never
locked out for longer than ``lockout``. Agents' PINs of the menu are locked in the
database instead (they are guessed by calling, which costs the guesser more).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from hotline.errors import HotlineError


class TooManyLogins(HotlineError):
    error_id = "too-many-logins"
    http_status = 429


class LoginGuard:
    def __init__(
        self,
        agent_failures: int = 5,
        source_failures: int = 20,
        window: float = 300.0,
        lockout: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = {"agent": agent_failures, "source": source_failures}
        self.window = window
        self.lockout = lockout
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}

    def check(self, agent: str, source: str) -> None:
        """Refuse (TooManyLogins) while the agent or the source is locked out."""
        now = self.clock()
        for key in (f"agent:{agent}", f"source:{source}"):
            until = self._locked_until.get(key, 0.0)
            if until > now:
                raise TooManyLogins(
                    "too many wrong logins: wait before trying again",
                    retry_after=round(until - now),
                )
            self._locked_until.pop(key, None)

    def failed(self, agent: str, source: str) -> None:
        now = self.clock()
        for key in (f"agent:{agent}", f"source:{source}"):
            recent = self._failures.setdefault(key, deque())
            recent.append(now)
            while recent and recent[0] <= now - self.window:
                recent.popleft()
            if len(recent) >= self.limits[key.partition(":")[0]]:
                self._locked_until[key] = now + self.lockout
                recent.clear()

    def succeeded(self, agent: str) -> None:
        """The agent got in: their own count starts again (the source's does not)."""
        self._failures.pop(f"agent:{agent}", None)
