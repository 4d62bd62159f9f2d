"""Only the carrier's address is the carrier: SIP sent from another address of this host
(all of 127.0.0.0/8 is loopback) is refused whatever it claims to be, and never reaches
the controller; an agent's phone, even with its password, can dial nothing; nobody can
REFER a call elsewhere; a source that keeps failing authentication is blocked a while."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import aiohttp
from sqlalchemy import func, select

from hotline.ari.rest import AriRest
from hotline.calls.models import CallRecord
from hotline.db import make_engine, session_factory
from tests.harness.sip import answered_call, invite, register
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


async def test_a_refer_inside_a_call_is_refused_and_the_call_goes_on(controller: Stack) -> None:
    spec = controller.pbx.spec
    pbx = (spec.bind_address, spec.sip_port)
    caller = "13900139555"
    elsewhere = f"<sip:13900000000@127.0.0.1:{controller.ports.tester_sip}>"
    async with (
        AriRest(spec.ari_url, spec.ari_user, spec.ari_password) as ari,
        answered_call("127.0.0.1", pbx, HOTLINE, caller) as call,  # the carrier's address
    ):
        by = f"<sip:{caller}@127.0.0.1>"
        refer = await call.request("REFER", {"Refer-To": elsewhere, "Referred-By": by})
        assert refer.final >= 400, refer.statuses  # 603 Decline: allow_transfer = no
        assert [c.caller_number for c in await ari.channels()].count(caller) == 1
        assert (await call.bye()).final == 200  # the call was still there to hang up


async def sip_metrics(stack: Stack) -> dict[str, float]:
    url = f"http://127.0.0.1:{stack.config.http.port}/metrics"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        text = await response.text()
    samples = [line.split() for line in text.splitlines() if line.startswith("hotline_sip_")]
    return {name: float(value) for name, value in samples}


async def metrics_until(
    stack: Stack, holds: Callable[[dict[str, float]], bool], timeout: float
) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while not holds(seen := await sip_metrics(stack)):
        assert time.monotonic() < deadline, f"not within {timeout} s: {seen}"
        await asyncio.sleep(0.2)
    return seen


async def test_repeated_failed_authentication_blocks_the_source_for_a_while(
    controller: Stack,
) -> None:
    spec, limits = controller.pbx.spec, controller.config.security
    pbx = (spec.bind_address, spec.sip_port)
    password = json.loads((controller.state / "phones.json").read_text())["7101"]
    before = await sip_metrics(controller)
    assert before["hotline_sip_sources_blocked"] == 0
    assert (await register(STRANGER, pbx, "7101", password)).statuses == [401, 200]
    # Wrong passwords, registering and calling: each a failure, unless the block came
    # first (earlier tests' failures from this address may count within the window).
    failed = 0
    for n in range(limits.max_auth_failures):
        if n % 2:
            wrong = await invite(STRANGER, pbx, "13900000000", "7101", password="guess")
        else:
            wrong = await register(STRANGER, pbx, "7101", f"guess{n}")
        assert wrong.statuses in ([401, 401], [403]), wrong.statuses
        failed += wrong.statuses == [401, 401]
    blocked = await metrics_until(controller, lambda m: m["hotline_sip_sources_blocked"] == 1, 10)
    assert blocked["hotline_sip_blocks_total"] == before["hotline_sip_blocks_total"] + 1
    assert failed and blocked["hotline_sip_auth_failures_total"] >= (
        before["hotline_sip_auth_failures_total"] + failed
    )
    # Blocked: even the right password is refused before any challenge.
    assert (await register(STRANGER, pbx, "7101", password)).statuses == [403]
    assert (await invite(STRANGER, pbx, HOTLINE, "7101", password=password)).statuses == [403]
    # The carrier's address is served all along.
    assert (await register("127.0.0.1", pbx, "7101", password)).statuses == [401, 200]
    # Its time up, the source is served again.
    await metrics_until(
        controller, lambda m: m["hotline_sip_sources_blocked"] == 0, limits.block_seconds + 5
    )
    assert (await register(STRANGER, pbx, "7101", password)).statuses == [401, 200]
