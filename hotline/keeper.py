"""``hotline run`` keeps the controller running: ``hotline serve`` as a child process,
started again when it dies, and stopped gracefully (it hands its calls to the fallback)
when ``hotline run`` stops.

A crash of the controller so no longer takes the PBX (and the calls on it, and the
dialplan fallback) with it: the PBX stays up, the controller is back in a second or two
and resumes its calls, and the watchman (``hotline.watchman``, in the parent too) hands
callers to the fallback if it is not back within the grace.

Started again (each time logged): a controller killed by a signal or ending with an
error other than a set-up error. Not started again: one that stopped cleanly (someone
stopped it on purpose: ``hotline run`` ends too), one that refused to run (exit code 2: a
configuration or set-up error, another controller took the app: starting again would not
help), one that never became ready at the first start. Restarts are bounded
(``RestartPolicy``); past the bound ``hotline run`` keeps the PBX up, so that callers still
hear the fallback, until it is stopped.

The FastAGI fallback (``hotline fallback``) is kept the same way by a keeper of its own,
named ``fallback``: the two are independent, so a controller's crash and restarts leave
the fallback serving, and a fallback that cannot run leaves the controller alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hotline.watchman import Probe

log = logging.getLogger(__name__)

T = TypeVar("T")
SETUP_ERROR = 2  # the exit code of a HotlineError (hotline.cli.main)
STOP_TIMEOUT = 20.0  # a graceful stop takes a few seconds; then the controller is killed
READY_POLL = 0.2
MAX_DELAY = 30.0


@dataclass
class RestartPolicy:
    """At most ``limit`` restarts in any ``window`` seconds. The first comes at once (its
    callers are waiting); the next after 1 s, then 2, 4, ... up to 30 s."""

    limit: int
    window: float
    deaths: list[float] = field(default_factory=list)

    def next_delay(self, now: float) -> float | None:
        """The controller died at ``now``: seconds to wait before starting it again, or
        None when it died too often in the window to try again."""
        self.deaths = [t for t in self.deaths if now - t < self.window] + [now]
        recent = len(self.deaths)
        if recent > self.limit:
            return None
        return 0.0 if recent == 1 else min(MAX_DELAY, 2.0 ** (recent - 2))


def ari_connected(health: dict[str, Any]) -> bool:
    """The controller is ready once its /health says ARI is connected."""
    return bool((health.get("ari") or {}).get("connected"))


def exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


async def unless_stopped(stop: asyncio.Event, work: Awaitable[T]) -> T | None:
    """``work``'s result, or None when ``stop`` is set first (``work`` is then cancelled)."""
    job = asyncio.ensure_future(work)
    halt = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({job, halt}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (job, halt):
            task.cancel()
        await asyncio.gather(job, halt, return_exceptions=True)
    return job.result() if not job.cancelled() else None


class Keeper:
    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        probe: Probe,
        policy: RestartPolicy,
        name: str = "controller",
        ready: Callable[[dict[str, Any]], bool] = ari_connected,
    ) -> None:
        """``probe``: the child's /health; ``ready``: what its body says once it serves;
        ``name``: the child, in the log."""
        self.argv = list(argv)
        self.env = dict(env)
        self.probe = probe
        self.policy = policy
        self.name = name
        self.ready = ready
        self.pids: list[int] = []  # every child started, in order

    async def run(self, stop: asyncio.Event, on_ready: Callable[[], None]) -> int:
        """Keep the child until ``stop`` is set (then stop it gracefully) or it ends for a
        reason a restart would not mend. Returns its exit code for ``hotline run``."""
        name = self.name
        announced = False
        while not stop.is_set():
            proc = await asyncio.create_subprocess_exec(*self.argv, env=self.env)
            self.pids.append(proc.pid)
            started = time.monotonic()
            log.info("%s started (pid %d)", name, proc.pid)
            try:
                if await unless_stopped(stop, self._ready(proc)):
                    if not announced:
                        on_ready()
                        announced = True
                    else:
                        took = time.monotonic() - started
                        log.warning("%s (pid %d) back in %.1f s", name, proc.pid, took)
                code = await unless_stopped(stop, proc.wait())
            finally:
                await self._stop(proc)
            if code is None or stop.is_set():
                return 0
            why = exit_reason(code)
            if code == 0 or code == SETUP_ERROR or not announced:
                log.error("%s (pid %d) %s; not starting it again", name, proc.pid, why)
                return code if code >= 0 else 1
            delay = self.policy.next_delay(time.monotonic())
            if delay is None:
                log.error(
                    "%s (pid %d) %s: %d restarts in %g s, not starting it again. "
                    "The PBX stays up (callers hear the fallback) until this is stopped",
                    name,
                    proc.pid,
                    why,
                    self.policy.limit,
                    self.policy.window,
                )
                await stop.wait()
                return 1
            log.warning(
                "%s (pid %d) %s; starting it again in %g s (%d of at most %d in %g s)",
                name,
                proc.pid,
                why,
                delay,
                len(self.policy.deaths),
                self.policy.limit,
                self.policy.window,
            )
            if delay:
                await unless_stopped(stop, asyncio.sleep(delay))
        return 0

    async def _ready(self, proc: asyncio.subprocess.Process) -> bool:
        """True once the child's /health says it is ready; False if it exits."""
        while proc.returncode is None:
            health = await self.probe()
            if health is not None and self.ready(health):
                return True
            await asyncio.sleep(READY_POLL)
        return False

    async def _stop(self, proc: asyncio.subprocess.Process) -> None:
        """SIGTERM (a graceful stop: the controller's calls go to the fallback), SIGKILL
        if it hangs."""
        if proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(STOP_TIMEOUT):
                await proc.wait()
        except TimeoutError:
            log.error(
                "%s (pid %d) did not stop in %g s; killing it", self.name, proc.pid, STOP_TIMEOUT
            )
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
