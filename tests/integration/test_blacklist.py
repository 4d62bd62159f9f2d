"""Blacklist screening (R-2.6) over SIP: a refused number hears the refusal and is hung
up on; a silent prefix is rejected unanswered; others are served; all is recorded."""

from __future__ import annotations

from tests.harness.cli import hotline
from tests.harness.db import call_for
from tests.harness.stack import Stack
from tests.harness.tester import NotAnswered, Tester


async def test_blacklisted_callers_are_refused(controller: Stack, tester: Tester) -> None:
    config = str(controller.config_file)
    code, out, err = await hotline(
        "--config", config, "blacklist", "add", "13500135000", "--reason", "abusive"
    )
    assert code == 0, err
    code, _, err = await hotline(
        "--config", config, "blacklist", "add", "170", "--prefix", "--silent"
    )
    assert code == 0, err
    code, out, _ = await hotline("--config", config, "blacklist", "list")
    assert "13500135000\tnumber\trefuse\tabusive" in out and "170\tprefix\tsilent" in out

    caller = await tester.call("4008001234", caller_id="13500135000")
    refusal = await caller.expect_heard(controller.prompt("blacklisted"), timeout=10)
    assert refusal.offset_s < 1.5
    await caller.wait_hung_up(timeout=10)
    record = await call_for(controller, "13500135000", timeout=5, closed=True)
    assert record.disposition == "blacklisted" and record.keys == ""

    try:
        await tester.call("4008001234", caller_id="17012345678")
        raise AssertionError("a silent-blacklisted prefix was answered")
    except NotAnswered as refused:
        assert refused.cause == 21  # CALL_REJECTED
    silent = await call_for(controller, "17012345678", timeout=5, closed=True)
    assert silent.disposition == "blacklisted" and silent.answered_at is None

    code, _, _ = await hotline("--config", config, "blacklist", "remove", "13500135000")
    assert code == 0
    served = await tester.call("4008001234", caller_id="13500135000")
    await served.expect_heard(controller.prompt("greeting"), timeout=15)
    await served.hangup()
