"""Database faults absorbed: writes the call path need not wait for, and reads retried.

A call must not die, nor go silent, because the database is busy (SQLite locked by
another connection, a long checkpoint, a backup): its prompts, keys and phase changes
are facts to store, not decisions to wait for. ``WriteBehind`` queues them in order and
one owned task (started and closed by the controller) commits them, a batch per
transaction, retrying a busy database with a backoff until it takes them. Writes keep
their order, so a later write sees what the earlier ones stored.

How long a writer waits: while the database answers, until its write is committed (as
durable as a direct write: a controller killed just after it keeps it, which a restart
needs: the call's phase, the agent's state); once the queue has stalled ``patience``
seconds, not at all, and the call goes on. One that must know its write is stored (the
end of a call, before the features are told) awaits it with ``wait=True`` whatever.

``DirectWrites`` is the same interface for short-lived users (commands, tests): the
write is applied at once, retried while the database is busy for a bounded time.

``DbHealth`` is what /health and /metrics show: the database is ``locked`` from the
first busy answer, or once the oldest queued write has waited a second, until writes
go through again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from hotline.db import session_factory
from hotline.prometheus import Sample, unlabelled

log = logging.getLogger(__name__)

Write = Callable[[AsyncSession], Awaitable[None]]
T = TypeVar("T")

BATCH = 64  # writes committed in one transaction at most
STALLED_AFTER = 1.0  # seconds the oldest queued write may wait before /health says so
PATIENCE = 0.5  # seconds a writer waits for its commit, unless the queue is stalled already


def is_busy(exc: BaseException) -> bool:
    """A database that is there but busy (another connection holds the lock): retry."""
    if not isinstance(exc, OperationalError):
        return False
    text = str(exc.orig if exc.orig is not None else exc).lower()
    return "locked" in text or "busy" in text


class DbHealth:
    """The database as the controller sees it, for /health and /metrics."""

    def __init__(
        self, clock: Callable[[], float] = time.time, stalled_after: float = STALLED_AFTER
    ) -> None:
        self._clock = clock
        self._stalled_after = stalled_after
        self.busy_since: float | None = None
        self.last_error = ""
        self.errors = 0  # busy answers (each retried)
        self.dropped = 0  # writes given up on (an error that retrying cannot mend)
        # Writes queued and not yet stored, and when the oldest was queued (the queue sets).
        self.pending: Callable[[], int] = lambda: 0
        self.oldest_pending: Callable[[], float | None] = lambda: None
        self.recovered_at: float | None = None

    def busy(self, exc: BaseException) -> None:
        self.errors += 1
        self.last_error = _short(exc)
        if self.busy_since is None:
            self.busy_since = self._clock()
            log.warning("database busy (%s); retrying with backoff", self.last_error)

    def ok(self) -> None:
        if self.busy_since is not None:
            log.info("database answers again after %.1f s", self._clock() - self.busy_since)
            self.busy_since = None
            self.recovered_at = self._clock()

    def failed(self, what: str, exc: BaseException) -> None:
        self.dropped += 1
        self.last_error = f"{what}: {_short(exc)}"

    def since(self) -> float | None:
        """Since when the database has not taken what it was given (None: it does)."""
        oldest = self.oldest_pending()
        late = oldest is not None and self._clock() - oldest > self._stalled_after
        stalled = oldest if late else None
        known = [t for t in (self.busy_since, stalled) if t is not None]
        return min(known) if known else None

    @property
    def degraded(self) -> bool:
        return self.since() is not None

    def reason(self) -> str:
        since = self.since()
        if since is None:
            return ""
        at = datetime.fromtimestamp(since, UTC).isoformat(timespec="seconds")
        return f"database: locked since {at} ({self.pending()} writes waiting)"

    def section(self) -> dict[str, Any]:
        since = self.since()
        return {
            "status": "ok" if since is None else "locked",
            "since": "" if since is None else datetime.fromtimestamp(since, UTC).isoformat(),
            "pending_writes": self.pending(),
            "busy_errors": self.errors,
            "dropped_writes": self.dropped,
            "last_error": self.last_error,
        }

    def metrics_lines(self) -> list[str]:
        families: tuple[Sample, ...] = (
            ("hotline_db_errors_total", "counter", "Database busy answers (retried).", self.errors),
            ("hotline_db_dropped_writes_total", "counter", "Writes given up.", self.dropped),
            ("hotline_db_pending_writes", "gauge", "Writes queued, not stored.", self.pending()),
            (
                "hotline_db_up",
                "gauge",
                "1 while the database takes writes.",
                int(not self.degraded),
            ),
        )
        return unlabelled(families)


async def retrying(
    op: Callable[[], Awaitable[T]],
    health: DbHealth | None = None,
    *,
    limit: float = 30.0,
    backoff: float = 0.05,
    max_backoff: float = 2.0,
) -> T:
    """``op()``, again after a backoff while the database is busy, for ``limit`` seconds."""
    deadline = time.monotonic() + limit
    delay = backoff
    was_busy = False
    while True:
        try:
            result = await op()
        except OperationalError as exc:
            if not is_busy(exc) or time.monotonic() + delay > deadline:
                raise
            if health is not None:
                health.busy(exc)
            was_busy = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_backoff)
            continue
        if health is not None and was_busy:
            # Only what was refused and then went through says the database is back: a
            # read is served (WAL) while writes are still refused.
            health.ok()
        return result


def _short(exc: BaseException) -> str:
    """The driver's own words (``database is locked``), not the statement around them."""
    orig = getattr(exc, "orig", None)
    return f"{type(orig or exc).__name__}: {orig or exc}"[:300]


class Writes(Protocol):
    async def write(self, op: Write, *, wait: bool = False, what: str = "") -> None:
        """Store what ``op`` does (in a transaction of its own or with others): return
        once it is committed, or (without ``wait``) once the database has been seen not
        to take writes for a while."""


async def add_row(writes: Writes, table: type[Any], what: str, **fields: Any) -> None:
    """Insert one row of ``table``; it is built at the commit (a retried batch builds
    it again rather than re-adding an object a rolled-back session has touched)."""

    async def op(db: AsyncSession) -> None:
        db.add(table(**fields))

    await writes.write(op, what=what)


class DirectWrites:
    """Each write applied at once in its own transaction (commands, tests)."""

    def __init__(self, engine: AsyncEngine, health: DbHealth | None = None) -> None:
        self._sessions = session_factory(engine)
        self.health = health

    async def write(self, op: Write, *, wait: bool = False, what: str = "") -> None:
        async def apply() -> None:
            async with self._sessions.begin() as db:
                await op(db)

        await retrying(apply, self.health)


@dataclass
class _Queued:
    op: Write
    what: str
    at: float
    done: asyncio.Future[None] | None = field(default=None)


class WriteBehind:
    """Writes queued in order and committed by one owned task (``start``/``aclose``)."""

    def __init__(
        self,
        engine: AsyncEngine,
        health: DbHealth,
        *,
        backoff: float = 0.05,
        max_backoff: float = 2.0,
        patience: float = PATIENCE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sessions = session_factory(engine)
        self.health = health
        self._patience = patience
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._clock = clock
        self._queue: deque[_Queued] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._batch: asyncio.Task[None] | None = None  # the commit under way
        self._closed = False
        self._direct = DirectWrites(engine, health)  # once closed: late writes, at once
        health.pending = lambda: len(self._queue)
        health.oldest_pending = lambda: self._queue[0].at if self._queue else None

    async def write(self, op: Write, *, wait: bool = False, what: str = "") -> None:
        if self._closed:
            await self._direct.write(op)
            return
        stalled = bool(self._queue) and self._clock() - self._queue[0].at > self._patience
        done = None if stalled and not wait else asyncio.get_running_loop().create_future()
        self._queue.append(_Queued(op, what or "write", self._clock(), done))
        self._wake.set()
        if done is None:
            return
        try:
            # Shielded: a cancelled or impatient writer leaves its write queued.
            await asyncio.wait_for(asyncio.shield(done), None if wait else self._patience)
        except TimeoutError:
            pass

    # --- the owned task -----------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="db-writes")

    async def aclose(self, timeout: float = 5.0) -> None:
        """Stop the task, then store what is still queued, for at most ``timeout`` s."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        try:
            async with asyncio.timeout(timeout):
                if self._batch is not None:
                    await asyncio.gather(self._batch, return_exceptions=True)
                while self._queue:
                    await self._commit_next()
        except TimeoutError:
            log.error("database: %d writes not stored at shutdown", len(self._queue))

    async def _run(self) -> None:
        while True:
            while not self._queue:
                self._wake.clear()
                await self._wake.wait()
            # Shielded: cancelling the task (shutdown) never cuts a commit in half, so
            # aclose knows whether the batch went in.
            await asyncio.shield(self._commit_next())

    async def _commit_next(self) -> None:
        self._batch = asyncio.current_task()
        try:
            batch = [self._queue[i] for i in range(min(BATCH, len(self._queue)))]
            delay = self._backoff
            while True:
                try:
                    await self._apply(batch)
                except OperationalError as exc:
                    if not is_busy(exc):
                        await self._one_by_one(batch)
                        return
                    self.health.busy(exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._max_backoff)
                    continue
                except Exception:
                    await self._one_by_one(batch)
                    return
                self.health.ok()
                for item in batch:
                    self._done(item)
                return
        finally:
            self._batch = None

    async def _apply(self, batch: list[_Queued]) -> None:
        async with self._sessions.begin() as db:
            for item in batch:
                await item.op(db)

    async def _one_by_one(self, batch: list[_Queued]) -> None:
        """A batch failed for a reason other than a busy database: commit its writes one
        at a time so only the one at fault is given up (logged, counted)."""
        for item in batch:
            delay = self._backoff
            while True:
                try:
                    await self._apply([item])
                except Exception as exc:
                    if is_busy(exc):
                        self.health.busy(exc)
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, self._max_backoff)
                        continue
                    log.exception("database: write %s given up", item.what)
                    self.health.failed(item.what, exc)
                    self._done(item, exc)
                    break
                self.health.ok()
                self._done(item)
                break

    def _done(self, item: _Queued, error: BaseException | None = None) -> None:
        if self._queue and self._queue[0] is item:
            self._queue.popleft()
        if item.done is not None and not item.done.done():
            if error is None:
                item.done.set_result(None)
            else:
                item.done.set_exception(error)
                item.done.exception()  # logged above; an impatient writer is not there
