"""``hotline run``'s keeper (hotline.keeper): the controller is a child process started
again when it dies (bounded, with a growing pause), stopped gracefully on request, and
not started again when that would not help. Real child processes, a fake /health."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from typing import Any

import pytest

from hotline.keeper import Keeper, RestartPolicy, exit_reason

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


async def ready_health() -> dict[str, Any]:
    return {"ari": {"connected": True}}


def test_restarts_come_at_once_then_slower_and_are_bounded_in_a_window() -> None:
    policy = RestartPolicy(limit=5, window=600)
    delays = [policy.next_delay(t) for t in (0, 1, 2, 3, 4, 5)]
    assert delays == [0.0, 1.0, 2.0, 4.0, 8.0, None]
    fresh = RestartPolicy(limit=2, window=60)
    assert [fresh.next_delay(t) for t in (0, 10, 100, 110)] == [0.0, 1.0, 0.0, 1.0]
    assert RestartPolicy(limit=0, window=60).next_delay(0) is None


def test_exit_reasons_name_the_signal() -> None:
    assert exit_reason(-signal.SIGKILL) == "was killed by SIGKILL"
    assert exit_reason(1) == "exited with code 1"


async def until(condition: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


async def test_a_killed_controller_is_started_again_and_stop_ends_it_gracefully() -> None:
    keeper = Keeper(SLEEPER, os.environ, ready_health, RestartPolicy(5, 600))
    stop = asyncio.Event()
    ready: list[int] = []
    run = asyncio.create_task(keeper.run(stop, on_ready=lambda: ready.append(1)))
    await until(lambda: len(keeper.pids) == 1)
    os.kill(keeper.pids[0], signal.SIGKILL)
    await until(lambda: len(keeper.pids) == 2)  # at once: the first restart has no pause
    stop.set()
    assert await asyncio.wait_for(run, 25) == 0
    assert ready == [1]  # the call-in text is printed once, not at every restart
    with pytest.raises(ProcessLookupError):  # the second controller was stopped too
        os.kill(keeper.pids[1], 0)


async def test_a_controller_that_keeps_dying_is_given_up_on_and_run_waits_for_stop() -> None:
    dying = [sys.executable, "-c", "raise SystemExit(1)"]
    # Its first start counts as ready (the fake /health answers), so deaths are restarts.
    keeper = Keeper(dying, os.environ, ready_health, RestartPolicy(2, 600))
    stop = asyncio.Event()
    run = asyncio.create_task(keeper.run(stop, on_ready=lambda: None))
    await until(lambda: len(keeper.policy.deaths) == 3)  # 0 s, then 1 s, then given up
    await asyncio.sleep(0.3)
    assert len(keeper.pids) == 3 and not run.done()  # the PBX stays up meanwhile
    stop.set()
    assert await asyncio.wait_for(run, 5) == 1


@pytest.mark.parametrize(("code", "why"), [(0, "stopped on purpose"), (2, "set-up error")])
async def test_a_clean_stop_or_a_set_up_error_is_not_restarted(code: int, why: str) -> None:
    ends = [sys.executable, "-c", f"raise SystemExit({code})"]
    keeper = Keeper(ends, os.environ, ready_health, RestartPolicy(5, 600))
    assert await asyncio.wait_for(keeper.run(asyncio.Event(), lambda: None), 10) == code, why
    assert len(keeper.pids) == 1


async def test_a_first_start_that_never_gets_ready_ends_run() -> None:
    async def no_answer() -> None:
        return None

    crashes = [sys.executable, "-c", "raise SystemExit(1)"]
    keeper = Keeper(crashes, os.environ, no_answer, RestartPolicy(5, 600))
    assert await asyncio.wait_for(keeper.run(asyncio.Event(), lambda: None), 10) == 1
    assert len(keeper.pids) == 1


async def test_two_keepers_are_independent_and_one_stop_ends_both() -> None:
    """``hotline run``'s controller and fallback: the controller killed and restarted, the
    fallback's child is the same process throughout; each is ready by its own /health."""

    async def fallback_health() -> dict[str, Any]:
        return {"agi": {"listening": True}}

    controller = Keeper(SLEEPER, os.environ, ready_health, RestartPolicy(5, 600))
    fallback = Keeper(
        SLEEPER,
        os.environ,
        fallback_health,
        RestartPolicy(5, 600),
        name="fallback",
        ready=lambda health: bool(health["agi"]["listening"]),
    )
    stop = asyncio.Event()
    ready: list[str] = []
    runs = [
        asyncio.create_task(controller.run(stop, on_ready=lambda: ready.append("controller"))),
        asyncio.create_task(fallback.run(stop, on_ready=lambda: ready.append("fallback"))),
    ]
    await until(lambda: sorted(ready) == ["controller", "fallback"])
    os.kill(controller.pids[0], signal.SIGKILL)
    await until(lambda: len(controller.pids) == 2)
    assert len(fallback.pids) == 1
    os.kill(fallback.pids[0], 0)  # still there
    stop.set()
    assert await asyncio.wait_for(asyncio.gather(*runs), 25) == [0, 0]
    for pid in (controller.pids[1], fallback.pids[0]):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


async def test_a_child_is_ready_only_when_its_own_predicate_holds() -> None:
    """The fallback's /health answering with FastAGI not listening is not ready: a first
    start that ends before it is, ends its keeper (nothing is started again)."""

    async def deaf() -> dict[str, Any]:
        return {"agi": {"listening": False}, "ari": {"connected": True}}

    crashes = [sys.executable, "-c", "import time; time.sleep(0.5); raise SystemExit(1)"]
    keeper = Keeper(
        crashes,
        os.environ,
        deaf,
        RestartPolicy(5, 600),
        name="fallback",
        ready=lambda health: bool(health["agi"]["listening"]),
    )
    ready: list[int] = []
    assert await asyncio.wait_for(keeper.run(asyncio.Event(), lambda: ready.append(1)), 10) == 1
    assert ready == [] and len(keeper.pids) == 1
