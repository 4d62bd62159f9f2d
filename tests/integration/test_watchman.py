"""The watchman (``hotline watch``, beside the controller in the test stack as in
``hotline run``): when the controller is gone and does not come back within the grace
(5 s), callers on their own go to the dialplan fallback, legs on their own are hung up,
and people talking go on talking."""

from __future__ import annotations

import asyncio
import signal
import time

from hotline.calls.timeline import Kind
from tests.harness.db import call_for, events_of
from tests.harness.stack import Stack
from tests.harness.tester import Tester

GRACE = 5.0  # watchman.grace, the default the stack runs with
HUNG_UP = ("StasisEnd", "ChannelDestroyed")  # on the tester: the PBX hung up the phone


async def kill_controller(stack: Stack) -> float:
    """SIGKILL, no restart; returns when (time.monotonic())."""
    proc = stack.controller.proc
    assert proc is not None
    proc.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    await proc.wait()
    stack.controller.proc = None
    return killed


async def test_sigkill_and_no_restart_the_caller_hears_the_fallback_within_7_s(
    controller: Stack, tester: Tester
) -> None:
    caller = await tester.call("4008001234", caller_id="13700138101")
    await caller.expect_heard(controller.prompt("greeting"), timeout=15)  # then killed
    record = await call_for(controller, "13700138101", timeout=5)
    killed_at = caller.position()  # on the time line of what the caller hears
    await kill_controller(controller)
    apology = await caller.expect_heard(
        controller.prompt("service-unavailable"), timeout=10, after_s=killed_at
    )
    assert apology.offset_s - killed_at < 7.0, f"{apology.offset_s - killed_at:.1f} s"
    await caller.wait_hung_up(timeout=20)  # after the apology in both languages
    # The next controller closes the call as handed to the fallback.
    await controller.controller.start()
    closed = await call_for(controller, "13700138101", timeout=10, closed=True)
    assert (closed.id, closed.disposition) == (record.id, "fallback")
    handed = [e.data for e in await events_of(controller, record.id) if e.kind == Kind.FALLBACK]
    assert len(handed) == 1 and float(str(handed[0]["away"])) >= GRACE


async def test_people_talking_go_on_and_whoever_is_left_alone_is_let_go(
    controller: Stack, tester: Tester
) -> None:
    """Two callers talk to agents when the controller dies for good. One caller hangs
    up: after the grace the watchman hangs up that agent's phone (nobody is there to), and
    leaves the other conversation alone; when that agent hangs up, the caller left on the
    line hears the fallback."""
    phone = tester.phone("8000", mode="answer")
    left = await tester.call("4008001234", caller_id="13700138102")
    stays = await tester.call("4008001234", caller_id="13700138103")
    for caller in (left, stays):
        await caller.press("0")  # the menu's "a person"
    left_leg = await phone.wait_call_from("13700138102", 30)
    stays_leg = await phone.wait_call_from("13700138103", 30)
    for number in ("13700138102", "13700138103"):
        await _wait_state(controller, number, "connected", 15)
    stays_agent = await phone.line(phone.calls.index(stays_leg))

    killed = await kill_controller(controller)
    await left.hangup()
    mark = len(tester.history)
    await tester.wait_for(
        lambda e: e.type in HUNG_UP and e.about(left_leg),
        GRACE + 5,
        "the lone agent's phone hung up",
    )
    assert time.monotonic() - killed > GRACE - 1.5  # not before the grace (one check early)
    # The watchman has looked at least once since the grace: the other pair still talks.
    assert not await stays.is_gone()
    assert not [e for e in tester.history[mark:] if e.type in HUNG_UP and e.about(stays_leg)]
    since = stays.position()
    await stays_agent.play(controller.prompt("choice-received", "en"))
    await stays.expect_heard(controller.prompt("choice-received", "en"), 10, after_s=since)
    # The agent hangs up: the caller is on their own and hears the fallback.
    hung_up_at = stays.position()
    await tester.rest.hangup(stays_leg)
    apology = await stays.expect_heard(
        controller.prompt("service-unavailable"), timeout=5, after_s=hung_up_at
    )
    assert apology.offset_s - hung_up_at < 3.0  # the next check, not another grace
    await stays.wait_hung_up(timeout=20)

    await controller.controller.start()
    gone = await call_for(controller, "13700138102", timeout=10, closed=True)
    handed = await call_for(controller, "13700138103", timeout=10, closed=True)
    assert (gone.disposition, handed.disposition) == ("lost", "fallback")


async def _wait_state(stack: Stack, number: str, state: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (await call_for(stack, number, timeout=5)).state != state:
        assert time.monotonic() < deadline, f"{number} never reached {state}"
        await asyncio.sleep(0.1)
