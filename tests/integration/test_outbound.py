"""Legs that leave the PBX, over real SIP (the tester plays the carrier): an outside number
the policy refuses is a 403 and no INVITE reaches the carrier, an allowed national one
connects, and the PBX itself ends an outside leg at its time limit, with the controller
gone; a login at a colleague's desk, at nobody's, or with non-ASCII digits is refused."""

from __future__ import annotations

import signal
import time
from collections.abc import AsyncIterator

import pytest

from tests.harness.centre import PASSWORD, Centre
from tests.harness.db import call_for, events_of
from tests.harness.desk import Desk
from tests.harness.stack import Stack

LIMIT = 8  # seconds an outside leg may last, in this test (the default is 1800)
SHORT_LEGS = {"HOTLINE_OUTBOUND_MAX_LEG_SECONDS": str(LIMIT)}


@pytest.fixture
async def short_legs(stack: Stack) -> AsyncIterator[Stack]:
    """The controller with a short limit on outside legs."""
    await stack.controller.stop()
    await stack.controller.start(**SHORT_LEGS)
    yield stack
    await stack.controller.stop()  # the next test gets the usual controller back


async def test_refused_numbers_never_reach_the_carrier_and_an_allowed_leg_is_cut_by_the_pbx(
    short_legs: Stack, centre: Centre
) -> None:
    stack, tester = short_legs, centre.tester
    supervisor = await centre.agent("9001")  # supervisors may transfer outside by default
    caller = await centre.call("4", caller_id="13800003001")  # complaints
    await centre.phones["9001"].wait_call(1, 30)
    await supervisor.wait_me(lambda m: m["state"] == "on-call", 10, "on the call")
    carrier_calls = len(tester.history)
    for to, reason in (
        ("outside:+44 20 7946 0000", "international"),
        ("outside:0044 20 7946 0000", "international"),
        ("outside:16800168", "premium"),  # a voice-information line
        ("outside:010 1680 0168", "premium"),  # the same behind an area code
    ):
        status, body = await supervisor.request("POST", "/api/me/call/transfer", {"to": to})
        assert (status, body["error_id"]) == (403, "number-refused"), body
        assert body["details"]["reason"] == reason
    assert (await supervisor.me())["state"] == "on-call"  # the call goes on with them
    # A national number, written as an agent might: it rings at the carrier in its
    # national form, and the caller hears whoever answers.
    far = tester.phone("01088887777", mode="answer")
    done = await supervisor.post("/api/me/call/transfer", {"to": "outside:+86 10 8888 7777"})
    assert done["transferred"] == "01088887777"
    await far.wait_rang(15)
    rung = [
        event.args[1]
        for event in tester.history[carrier_calls:]
        if event.type == "StasisStart" and event.args[:1] == ["phone"]
    ]
    assert rung == ["01088887777"]  # the refused numbers never got an INVITE
    line = await far.line(0)
    since = caller.position()
    await line.start_sound(stack.prompt("goodbye", "en"), times=5)
    await caller.expect_heard(stack.prompt("goodbye", "en"), LIMIT - 4, after_s=since)
    # The controller dies; the PBX still ends the leg at its limit, counted from the dial.
    proc = stack.controller.proc
    assert proc is not None
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    stack.controller.proc = None
    await line.wait_hung_up(LIMIT + 5)
    lasted = time.monotonic() - far.rang_at[0]
    assert LIMIT - 1.5 <= lasted <= LIMIT + 2, f"the outside leg lasted {lasted:.1f} s"
    await caller.hangup()
    await stack.controller.start(**SHORT_LEGS)
    record = await call_for(stack, "13800003001", 15, closed=True)
    transfers = [e.data for e in await events_of(stack, record.id) if e.kind == "transfer"]
    assert [t["to"] for t in transfers] == ["outside:01088887777"]


async def test_a_login_only_at_the_agents_own_desk(centre: Centre) -> None:
    anonymous = Desk(centre.base_url, "")
    for extension, status, reason in (
        ("7102", 403, "colleagues-desk"),  # 1002's desk: 1001's callers would ring there
        ("7777", 403, "not-a-desk"),  # nobody's: maybe a number through the trunk
    ):
        code, body = await anonymous.request(
            "POST", "/api/login", {"agent": "1001", "extension": extension, "password": PASSWORD}
        )
        assert (code, body["error_id"], body["details"]["reason"]) == (
            status,
            "number-refused",
            reason,
        )
    for digits in ("７１０１", "٧١٠١"):  # full-width and Arabic-Indic digits
        code, body = await anonymous.request(
            "POST", "/api/login", {"agent": "1001", "extension": digits, "password": PASSWORD}
        )
        assert (code, body["details"]) == (400, {"field": "extension"})
    desk = await centre.agent("1001", ready=False)  # at their own desk, 7101
    assert (await desk.me())["state"] == "not-ready"
