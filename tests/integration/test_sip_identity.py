"""Only the carrier's address is the carrier: SIP sent from another address of this host
(all of 127.0.0.0/8 is loopback) is refused whatever it claims to be, and never reaches
the controller; an agent's phone, even with its password, can dial nothing."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from hotline.calls.models import CallRecord
from hotline.db import make_engine, session_factory
from tests.harness.sip import invite
from tests.harness.stack import Stack
from tests.harness.tester import Tester

STRANGER = "127.0.0.2"
HOTLINE = "4008001234"


async def calls_stored(stack: Stack) -> int:
    engine = make_engine(stack.config.db_url)
    try:
        async with session_factory(engine)() as db:
            return int(await db.scalar(select(func.count()).select_from(CallRecord)) or 0)
    finally:
        await engine.dispose()


async def test_a_stranger_is_not_the_carrier_whatever_it_claims(
    controller: Stack, tester: Tester
) -> None:
    spec = controller.pbx.spec
    pbx = (spec.bind_address, spec.sip_port)
    before = await calls_stored(controller)
    forged = {"P-Asserted-Identity": "<sip:13900000009@carrier>"}  # the tests' VIP
    attempts = {
        "From user carrier": await invite(STRANGER, pbx, HOTLINE, "carrier"),
        "an agent's user name, no password": await invite(STRANGER, pbx, HOTLINE, "7101"),
        "a forged P-Asserted-Identity": await invite(STRANGER, pbx, HOTLINE, "13900000009", forged),
    }
    for what, attempt in attempts.items():
        assert 200 not in attempt.statuses and 180 not in attempt.statuses, what
        assert attempt.final in (401, 403, 407), (what, attempt.statuses)
    assert await calls_stored(controller) == before  # none reached the controller
    # The carrier's own address is still served.
    caller = await tester.call(HOTLINE, caller_id="13900139001")
    await caller.expect_heard(controller.prompt("greeting"), timeout=15)
    await caller.hangup()


async def test_an_agents_phone_dials_nothing_even_with_its_password(controller: Stack) -> None:
    spec = controller.pbx.spec
    pbx = (spec.bind_address, spec.sip_port)
    password = json.loads((controller.state / "phones.json").read_text())["7101"]
    before = await calls_stored(controller)
    for number in ("13900000000", "0085212345678", HOTLINE, "7102"):
        attempt = await invite(STRANGER, pbx, number, "7101", password=password)
        assert attempt.statuses[:1] != [200], number
        assert 401 in attempt.statuses, attempt.statuses  # it had to authenticate
        assert attempt.final in (403, 404), (number, attempt.statuses)
    assert await calls_stored(controller) == before
