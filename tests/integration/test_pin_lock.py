"""PIN failures counted per account across calls, over real SIP: wrong PINs in two calls
lock the account, the third caller hears pin-locked even with the right PIN and goes to
a person, and after `hotline account unlock` the right PIN is served again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from tests.harness.cli import hotline
from tests.harness.db import call_for, events_of
from tests.harness.stack import Stack
from tests.harness.tester import Caller, Tester
from tests.integration.test_menu_reload import menu_version, write_atomically

pytestmark = pytest.mark.usefixtures("controller")

ACCOUNT, PIN = "87654321", "2468"
FAILURES = 4  # the test's menu: four wrong PINs lock the account (the default is six)


@pytest.fixture
async def short_lock(controller: Stack) -> AsyncIterator[None]:
    """The stack's menu with a lock after four wrong PINs; the menu as it was after."""
    original = controller.menu_file.read_text(encoding="utf-8")
    setting = "      failures: 6 "
    assert original.count(setting) == 1
    first = await menu_version(controller)
    write_atomically(
        controller.menu_file, original.replace(setting, f"      failures: {FAILURES} ")
    )
    await controller.controller.wait_health(lambda h: h["menu"] != first, 10)
    try:
        yield
    finally:
        write_atomically(controller.menu_file, original)
        await controller.controller.wait_health(lambda h: h["menu"] == first, 10)


async def account_call(tester: Tester, caller_id: str, pins: list[str]) -> Caller:
    """A caller who chooses account enquiries, enters the account, confirms it and then
    the PINs, all typed ahead: every prompt on the way is barged into."""
    caller = await tester.call("4008001234", caller_id=caller_id)
    await caller.press("3" + ACCOUNT + "#" + "1" + "".join(pin + "#" for pin in pins))
    return caller


async def moves(stack: Stack, caller_id: str) -> tuple[str, list[str]]:
    record = await call_for(stack, caller_id, timeout=5)
    events = await events_of(stack, record.id)
    return record.id, [f"{e.data['node']}:{e.data['event']}" for e in events if e.kind == "node"]


async def wait_move(stack: Stack, caller_id: str, move: str, timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        _, seen = await moves(stack, caller_id)
        if move in seen:
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"the call from {caller_id} never reached {move}: {seen}")
        await asyncio.sleep(0.2)


async def timeline(stack: Stack, caller_id: str, kind: str) -> list[dict[str, object]]:
    """The call's ``kind`` events, once there is one (within a few seconds)."""
    deadline = time.monotonic() + 10
    record = await call_for(stack, caller_id, timeout=5)
    while not (found := [e.data for e in await events_of(stack, record.id) if e.kind == kind]):
        if time.monotonic() > deadline:
            raise AssertionError(f"no '{kind}' on the timeline of the call from {caller_id}")
        await asyncio.sleep(0.2)
    return found


async def account_cli(stack: Stack, *args: str) -> str:
    code, out, err = await hotline("--config", str(stack.config_file), "account", *args)
    assert code == 0, out + err
    return out


async def hears_pin_locked(stack: Stack, caller: Caller, event: str) -> None:
    """The caller hears pin-locked; the timeline says why (``event``: locked by this
    call's wrong PIN, or refused as already locked) and, once refused, where to: a person."""
    await caller.expect_heard(stack.prompt("pin-locked"), timeout=15)
    locks = await timeline(stack, caller.caller_id, "account-locked")
    assert [(e["event"], e["account"]) for e in locks] == [(event, ACCOUNT)]
    if event == "refused":
        seen = await wait_move(stack, caller.caller_id, "agent:enter", 15)
        assert "account-pin:pin ok" not in seen and "account-queue:enter" not in seen
        queued = await timeline(stack, caller.caller_id, "queued")
        assert [q["queue"] for q in queued] == ["general"], queued  # the agent node's queue
    await caller.hangup()


async def test_wrong_pins_in_two_calls_lock_the_third_until_unlocked(
    controller: Stack, tester: Tester, short_lock: None
) -> None:
    """Calls one after the other where the count needs it; what each locked caller hears
    is checked alongside the next call."""
    await account_cli(controller, "set", ACCOUNT, "--pin", PIN)

    # Call 1: two wrong PINs, then the caller gives up.
    first = await account_call(tester, "13300133001", ["1111", "2222"])
    await wait_move(controller, "13300133001", "account-pin:pin wrong 2", 30)
    await first.hangup()
    assert "account-pin:pin locked" not in (await moves(controller, "13300133001"))[1]

    # Call 2: two more reach four: locked at once, though this call had a try left.
    second = await account_call(tester, "13300133002", ["3333", "4444"])
    pressed = await wait_move(controller, "13300133002", "account-pin:pin locked", 30)
    assert "account-pin:pin wrong 1" in pressed and "account-pin:pin wrong 2" not in pressed

    async def locked_then_unlocked() -> None:
        assert "locked until" in await account_cli(controller, "status", ACCOUNT)
        # Call 3: the right PIN, and still locked: pin-locked, then a person.
        third = await account_call(tester, "13300133003", [PIN])
        await wait_move(controller, "13300133003", "account-pin:pin locked", 30)
        await asyncio.gather(hears_pin_locked(controller, third, "refused"), unlocked())

    async def unlocked() -> None:
        # An admin unlocks; call 4 with the right PIN is served.
        assert f"account {ACCOUNT} unlocked" in await account_cli(controller, "unlock", ACCOUNT)
        assert "not locked" in await account_cli(controller, "status", ACCOUNT)
        fourth = await account_call(tester, "13300133004", [PIN])
        await wait_move(controller, "13300133004", "account-pin:pin ok", 30)
        await wait_move(controller, "13300133004", "account-queue:enter", 10)
        queued = await timeline(controller, "13300133004", "queued")
        assert queued[0]["queue"] == "account", queued  # (nobody there: then a person)
        await fourth.hangup()

    await asyncio.gather(hears_pin_locked(controller, second, "locked"), locked_then_unlocked())
