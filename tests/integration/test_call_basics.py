"""A call into the hotline over real SIP: answered, greeting heard, key stored, closed."""

from __future__ import annotations

import pytest

from hotline.calls.models import CallRecord
from tests.harness.db import call_for
from tests.harness.stack import Stack
from tests.harness.tester import NotAnswered, Tester


async def test_caller_hears_greeting_and_key_is_stored(controller: Stack, tester: Tester) -> None:
    caller = await tester.call("4008001234", caller_id="13800138000")
    greeting = await caller.expect_heard(controller.prompt("greeting"), timeout=15)
    menu = await caller.expect_heard(
        controller.prompt("main-menu"), timeout=20, after_s=greeting.offset_s
    )
    assert menu.offset_s > greeting.offset_s
    await caller.press("9")  # English, please
    english = await caller.expect_heard(
        controller.prompt("main-menu", "en"), timeout=20, after_s=menu.offset_s
    )
    await caller.hangup()

    record: CallRecord = await call_for(controller, "13800138000", timeout=10, closed=True)
    assert record.dialled_number == "4008001234"
    assert record.caller_number == "13800138000"
    assert record.keys == "9"
    assert record.language == "en"
    assert record.priority == 5  # the 400 number's priority in the default menu
    assert record.disposition == "caller_hangup"
    assert record.answered_at is not None
    assert record.duration_s is not None and record.duration_s > english.offset_s - 1


async def test_caller_hang_up_closes_the_record(controller: Stack, tester: Tester) -> None:
    caller = await tester.call("4008001234", caller_id="13900139000")
    await caller.expect_heard(controller.prompt("greeting"), timeout=15)
    record = await call_for(controller, "13900139000", timeout=5)
    await caller.hangup()
    assert record.ended_at is None
    closed = await call_for(controller, "13900139000", timeout=10, closed=True)
    assert closed.id == record.id
    assert closed.disposition == "caller_hangup"
    assert closed.keys == ""
    assert closed.duration_s is not None and closed.duration_s > 0


async def test_carrier_reaches_only_hotline_numbers(controller: Stack, tester: Tester) -> None:
    """A carrier call to any other number (a mobile, an outside line) goes nowhere."""
    for number in ("13812345678", "0085212345678", "4008009999"):
        with pytest.raises(NotAnswered) as refused:
            await tester.call(number, caller_id="13600136000")
        assert refused.value.cause == 1  # UNALLOCATED: SIP 404, no route from the carrier
    result = await controller.podman.run(
        "exec", controller.pbx.spec.container, "asterisk", "-rx", "dialplan show from-carrier"
    )
    lines = [ln.strip() for ln in result.out.splitlines() if "=>" in ln or "Include" in ln]
    assert lines == [
        "'4008001234' =>   1. Goto(hotline,${EXTEN},1)                   [hotline-numbers.conf:1]",
        "'4008001235' =>   1. Goto(hotline,${EXTEN},1)                   [hotline-numbers.conf:2]",
    ]
