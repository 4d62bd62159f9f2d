"""One owner for the controller's long-running tasks (event stream, ACD, recorder, watchers).

A task that raises is logged with its traceback, counted, shown as degraded on /health and
restarted after a backoff, so one bad recording or file change does not silently end the
recorder or a watcher for the rest of the process's life. Only the exception types a task
names as ``fatal`` (the event stream's ``ApplicationReplaced``) end the service: they end
``wait()``, which the composition root awaits with its stop event.

Degraded clears only after the restarted task has run ``settle`` seconds, not at the
restart itself: a task that fails again at once (a crash loop) then stays degraded the
whole time instead of flapping to "ok" between attempts, which a monitor polling /health
could sample as healthy.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal

from hotline.prometheus import header

log = logging.getLogger(__name__)

State = Literal["stopped", "running", "restarting", "finished", "failed"]
Factory = Callable[[], Awaitable[object]]  # what it returns is not used


@dataclass
class _Task:
    name: str
    factory: Factory
    critical: bool
    fatal: tuple[type[Exception], ...]
    restart_on_return: bool
    state: State = "stopped"
    failures: int = 0
    restarts: int = 0
    degraded: bool = False
    last_error: str = ""
    last_failure_at: str = ""


class Supervisor:
    """Runs named tasks: ``add`` them, then ``async with supervisor:`` (or ``start()`` and
    ``aclose()``). Times are seconds; ``sleep`` and ``clock`` are there for tests."""

    def __init__(
        self,
        *,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        reset_after: float = 60.0,
        settle: float = 10.0,
        close_timeout: float = 10.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._reset_after = reset_after
        self._settle = settle
        self._close_timeout = close_timeout
        self._sleep = sleep
        self._clock = clock
        self._tasks: dict[str, _Task] = {}
        self._runners: dict[str, asyncio.Task[None]] = {}
        self._started = False
        self._closing = False
        self._change = asyncio.Event()
        self._ended = asyncio.Event()
        self._ending: tuple[str, Exception | None] = ("", None)

    def add(
        self,
        name: str,
        factory: Factory,
        *,
        critical: bool = False,
        fatal: tuple[type[Exception], ...] = (),
        restart_on_return: bool = False,
    ) -> None:
        """Register ``factory`` (called afresh for every run). A ``fatal`` exception is not
        retried and ends ``wait()`` with itself; a ``critical`` task returning ends
        ``wait()`` too; anything else it raises is restarted after the backoff."""
        if name in self._tasks:
            raise ValueError(f"a task named {name!r} is already supervised")
        self._tasks[name] = _Task(name, factory, critical, fatal, restart_on_return)
        if self._started:
            self._spawn(self._tasks[name])

    # --- lifetime ----------------------------------------------------------------------------
    def start(self) -> None:
        if self._started:
            raise RuntimeError("the supervisor is already started")
        self._started = True
        for task in self._tasks.values():
            self._spawn(task)

    async def aclose(self, timeout: float | None = None) -> None:
        """Cancel every task and wait for them, at most ``timeout`` seconds. The caller's own
        cancellation is never caught here: it propagates out of the wait."""
        self._closing = True
        runners = [r for r in self._runners.values() if not r.done()]
        for runner in runners:
            runner.cancel()
        if not runners:
            return
        limit = self._close_timeout if timeout is None else timeout
        _done, pending = await asyncio.wait(runners, timeout=limit)
        if pending:
            log.warning(
                "tasks still running %.1f s after being cancelled: %s",
                limit,
                ", ".join(sorted(r.get_name() for r in pending)),
            )

    async def __aenter__(self) -> Supervisor:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def wait(self, stop: asyncio.Event | None = None) -> str | None:
        """Until a critical task returns (its name is returned) or ``stop`` is set (None);
        a task's fatal exception is raised here."""
        waiters = [asyncio.ensure_future(self._ended.wait())]
        if stop is not None:
            waiters.append(asyncio.ensure_future(stop.wait()))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        if not self._ended.is_set():
            return None
        name, error = self._ending
        if error is not None:
            raise error
        return name

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Until ``predicate()`` holds, checked at every change of a task's state or counts
        (bound it with ``asyncio.timeout``)."""
        while not predicate():
            await self._change.wait()

    # --- what /health and /metrics show ------------------------------------------------------
    def health(self) -> dict[str, Any]:
        tasks = {
            t.name: {
                "state": t.state,
                "degraded": t.degraded,
                "failures": t.failures,
                "restarts": t.restarts,
                "last_error": t.last_error,
                "last_failure_at": t.last_failure_at,
            }
            for t in self._tasks.values()
        }
        degraded = any(t.degraded for t in self._tasks.values())
        return {"status": "degraded" if degraded else "ok", "tasks": tasks}

    def metrics_lines(self) -> list[str]:
        """Prometheus text lines (HELP, TYPE and one sample per task) for /metrics."""
        families = (
            ("hotline_task_failures_total", "counter", "Supervised task failures.", "failures"),
            ("hotline_task_restarts_total", "counter", "Supervised task restarts.", "restarts"),
            ("hotline_task_up", "gauge", "1 while a supervised task runs, else 0.", "up"),
        )
        lines: list[str] = []
        for metric, kind, help_text, what in families:
            lines += header(metric, kind, help_text)
            for t in self._tasks.values():
                value = int(t.state == "running") if what == "up" else getattr(t, what)
                lines.append(f'{metric}{{task="{_label(t.name)}"}} {value}')
        return lines

    # --- running -----------------------------------------------------------------------------
    def _spawn(self, task: _Task) -> None:
        self._runners[task.name] = asyncio.create_task(self._keep(task), name=task.name)

    async def _keep(self, task: _Task) -> None:
        delay = self._backoff
        try:
            while True:
                began = self._clock()
                self._set(task, "running")
                settled = asyncio.get_running_loop().call_later(self._settle, self._settled, task)
                try:
                    await task.factory()
                except task.fatal as exc:
                    # Expected and reported by whoever awaits wait(): no traceback.
                    log.error("task %s: %s; the service stops", task.name, exc)
                    self._failed(task, exc)
                    self._set(task, "failed")
                    self._end(task.name, exc)
                    return
                except Exception as exc:
                    if self._clock() - began >= self._reset_after:
                        delay = self._backoff  # it ran well for a while: this is a new fault
                    log.exception("task %s failed; restarting in %.3g s", task.name, delay)
                    self._failed(task, exc)
                else:
                    if task.critical or not task.restart_on_return:
                        task.degraded = False  # it ended well, whatever came before
                        self._set(task, "finished")
                        if task.critical:
                            self._end(task.name, None)
                        return
                finally:
                    settled.cancel()
                if self._closing:  # a task that swallowed aclose's cancel is not run again
                    return
                self._set(task, "restarting")
                await self._sleep(delay)
                delay = min(delay * 2, self._max_backoff)
                task.restarts += 1
                log.info("task %s: restart %d", task.name, task.restarts)
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if not self._closing and me is not None and not me.cancelling():
                # Nobody cancelled it: the task leaked a CancelledError of its own. That is
                # not caught (cancellation must propagate), but /health must not hide it.
                log.error("task %s ended by a stray CancelledError", task.name)
                task.last_error = "CancelledError: ended without being cancelled"
                task.degraded = True
                self._set(task, "failed")
            raise
        finally:
            if task.state in ("running", "restarting"):
                self._set(task, "stopped")

    def _failed(self, task: _Task, exc: Exception) -> None:
        task.failures += 1
        task.degraded = True
        task.last_error = f"{type(exc).__name__}: {exc}"[:300]
        task.last_failure_at = datetime.now(UTC).isoformat(timespec="seconds")

    def _settled(self, task: _Task) -> None:
        if task.degraded and task.state == "running":
            task.degraded = False
            log.info("task %s has run %.3g s since its restart: recovered", task.name, self._settle)
            self._notify()

    def _set(self, task: _Task, state: State) -> None:
        task.state = state
        self._notify()

    def _end(self, name: str, error: Exception | None) -> None:
        if not self._ended.is_set():  # the first critical exit is the one reported
            self._ending = (name, error)
            self._ended.set()

    def _notify(self) -> None:
        # Wake everyone waiting on the current event; later waiters get a fresh one.
        self._change.set()
        self._change = asyncio.Event()


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
