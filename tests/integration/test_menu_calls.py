"""The default hotline menu over real SIP: what callers hear and press, what agents' phones
see, and what the call record keeps (R-2.1 to R-2.9)."""

from __future__ import annotations

import asyncio
import time
import traceback
import wave
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import pytest
from sqlalchemy import select

from acd.callbacks import CallbackRequest
from hotline.db import make_engine, session_factory
from ivr.scenario import hearing
from tests.harness.cli import hotline
from tests.harness.corpus import talking_wav
from tests.harness.db import call_for, events_of, recording_of
from tests.harness.listening import found
from tests.harness.stack import Stack
from tests.harness.tester import AgentPhone, Caller, Tester, seconds

pytestmark = pytest.mark.usefixtures("controller")


async def heard_until(caller: Caller, position_s: float, timeout: float) -> None:
    """Wait until the caller's recording reaches ``position_s`` seconds."""
    deadline = time.monotonic() + timeout
    while caller.position() < position_s:
        if time.monotonic() > deadline:
            raise AssertionError(f"recording stuck at {caller.position():.1f} s")
        await asyncio.sleep(0.05)


def joined(stack: Stack, prompt_ids: list[str], lang: str = "zh") -> Path:
    """The prompts one after the other as one wav: what a read-back sounds like."""
    out = stack.state / f"joined-{'-'.join(prompt_ids)}.wav"
    with wave.open(str(out), "wb") as dst:
        dst.setnchannels(1)
        dst.setsampwidth(2)
        dst.setframerate(8000)
        for prompt_id in prompt_ids:
            with wave.open(str(stack.prompt(prompt_id, lang)), "rb") as src:
                dst.writeframes(src.readframes(src.getnframes()))
    return out


async def timeline(stack: Stack, call_id: str, kind: str) -> list[dict[str, object]]:
    return [e.data for e in await events_of(stack, call_id) if e.kind == kind]


async def test_menu_journeys_side_by_side(controller: Stack, tester: Tester) -> None:
    """Six callers at once, as on a real hotline, each on its own journey (a failure names
    the journey): two menu levels with barge-in, * back and 0 to a person; invalid key and
    no-input retries then on_fail; a phone number read back, re-entered and confirmed; PINs
    wrong then right, and three wrong locking (two callers); the dialled number's
    priority. Every person they reach is the operator phone 8000 on the tester."""
    operator = tester.phone("8000", mode="answer")
    journeys = {
        "two levels, barge-in, * back, 0 reaches a person": (
            two_levels_barge_in_star_back_and_zero_reaches_a_person
        ),
        "invalid key and no-input retries, then on_fail": (
            invalid_key_and_silence_retry_then_the_configured_exit
        ),
        "phone number read back, re-entered, confirmed": (
            phone_number_read_back_then_reenter_then_confirm
        ),
        "PIN wrong twice then right; three wrong lock": (
            pin_wrong_twice_then_right_and_three_wrong_locks
        ),
        "each number carries its priority": each_number_carries_its_priority,
    }
    outcomes = await asyncio.gather(
        *(journey(controller, tester, operator) for journey in journeys.values()),
        return_exceptions=True,
    )
    failed = [
        f"{name}: {''.join(traceback.format_exception(outcome))}"
        for name, outcome in zip(journeys, outcomes, strict=True)
        if isinstance(outcome, BaseException)
    ]
    assert not failed, "\n\n".join(failed)


async def two_levels_barge_in_star_back_and_zero_reaches_a_person(
    controller: Stack, tester: Tester, agent: AgentPhone
) -> None:
    caller = await tester.call("4008001234", caller_id="13800138001")
    greeting = await caller.expect_heard(controller.prompt("greeting"), timeout=15)
    menu_starts = greeting.offset_s + seconds(controller.prompt("greeting"))

    # Barge-in: a key one second into the main menu stops it and acts at once.
    await heard_until(caller, menu_starts + 1.0, timeout=15)
    pressed_at = caller.position()
    await caller.press("2")
    repair = await caller.expect_heard(
        controller.prompt("repair-menu"), timeout=10, after_s=pressed_at - 0.5
    )
    assert repair.offset_s - pressed_at < 1.5, "the next menu did not start at once"
    cut_short = hearing.find(
        hearing.read_wav(controller.prompt("main-menu")),
        caller.heard()[int(menu_starts * 8000) : int(repair.offset_s * 8000)],
    )
    assert cut_short.score < hearing.MATCH_THRESHOLD, "the main menu played on to its end"

    await caller.press("*")  # back up one level
    main = await caller.expect_heard(
        controller.prompt("main-menu"), timeout=20, after_s=repair.offset_s
    )
    await caller.press("2")
    level_two = await caller.expect_heard(
        controller.prompt("repair-menu"), timeout=20, after_s=main.offset_s
    )
    await caller.press("0")  # a person, from level two
    await caller.expect_heard(
        controller.prompt("transferring"), timeout=15, after_s=level_two.offset_s
    )
    agent_leg = await agent.wait_call_from("13800138001", timeout=15)  # shows the caller

    record = await call_for(controller, "13800138001", timeout=5)
    transfers = await _wait_timeline(controller, record.id, "transfer", 10)
    assert transfers == [{"to": "agent:8000", "answered": True}]
    queued = await timeline(controller, record.id, "queued")
    assert [q["queue"] for q in queued] == ["general"]  # 0 -> the agent node's queue

    await caller.hangup()  # the caller ends the conversation: the agent's line goes too
    await tester.wait_for(
        lambda e: e.type == "StasisEnd" and e.channel is not None and e.channel.id == agent_leg,
        10,
        "the agent's call to end",
    )
    closed = await call_for(controller, "13800138001", timeout=10, closed=True)
    assert closed.keys == "2*20"
    assert closed.state == "ended"
    await _no_bridge_left(controller, closed.id)


async def invalid_key_and_silence_retry_then_the_configured_exit(
    controller: Stack, tester: Tester, agent: AgentPhone
) -> None:
    caller = await tester.call("4008001234", caller_id="13800138002")
    menu = await caller.expect_heard(controller.prompt("main-menu"), timeout=25)
    await caller.press("7")  # no such choice
    invalid = await caller.expect_heard(
        controller.prompt("invalid-key"), timeout=10, after_s=menu.offset_s
    )
    again = await caller.expect_heard(
        controller.prompt("main-menu"), timeout=20, after_s=invalid.offset_s
    )
    # Then the caller talks instead of pressing (a silent line would get the R-3 silent
    # sequence instead): the no-input prompt after 5 s, the menu once more, no key again.
    await caller.start_sound(talking_wav(controller.state))
    silent = await caller.expect_heard(
        controller.prompt("no-input"), timeout=20, after_s=again.offset_s
    )
    gap = silent.offset_s - (again.offset_s + seconds(controller.prompt("main-menu")))
    assert 4.0 < gap < 7.0, f"the key timeout was {gap:.1f} s, the menu says 5"
    third = await caller.expect_heard(
        controller.prompt("main-menu"), timeout=20, after_s=silent.offset_s
    )
    # Three tries used: on_fail (a person) takes the call.
    await caller.expect_heard(controller.prompt("transferring"), timeout=20, after_s=third.offset_s)
    await agent.wait_call_from("13800138002", timeout=15)
    record = await call_for(controller, "13800138002", timeout=5)
    moves = [f"{m['node']}:{m['event']}" for m in await timeline(controller, record.id, "node")]
    assert moves[moves.index("main:enter") :][:4] == [
        "main:enter",
        "main:invalid 7",
        "main:no-input 2",
        "main:no-input 3",
    ]
    await caller.hangup()
    await call_for(controller, "13800138002", timeout=10, closed=True)


async def phone_number_read_back_then_reenter_then_confirm(
    controller: Stack, tester: Tester, agent: AgentPhone
) -> None:
    caller = await tester.call("4008001234", caller_id="13800138003")
    menu = await caller.expect_heard(controller.prompt("main-menu"), timeout=25)
    await caller.press("1")  # 报装
    ask = await caller.expect_heard(
        controller.prompt("enter-phone-number"), timeout=15, after_s=menu.offset_s
    )
    await caller.press("13800138000#")
    readback = await caller.expect_heard(
        controller.prompt("readback-phone-number"), timeout=15, after_s=ask.offset_s
    )
    digits = joined(controller, [f"digit-{d}" for d in "13800138000"])
    read = await caller.expect_heard(digits, timeout=15, after_s=readback.offset_s)
    confirm = await caller.expect_heard(
        controller.prompt("confirm-or-reenter"), timeout=15, after_s=read.offset_s
    )
    assert readback.offset_s < read.offset_s < confirm.offset_s

    await caller.press("2")  # wrong number: enter it again
    ask_again = await caller.expect_heard(
        controller.prompt("enter-phone-number"), timeout=15, after_s=confirm.offset_s
    )
    await caller.press("02161234567#")
    second = joined(controller, [f"digit-{d}" for d in "02161234567"])
    read_again = await caller.expect_heard(second, timeout=20, after_s=ask_again.offset_s)
    await caller.expect_heard(
        controller.prompt("confirm-or-reenter"), timeout=15, after_s=read_again.offset_s
    )
    await caller.press("1")
    record = await call_for(controller, "13800138003", timeout=5)
    queued = await _wait_timeline(controller, record.id, "queued", 15)
    assert queued[0] == {"queue": "install", "skills": ["install"], "priority": 5, "language": "zh"}
    await caller.hangup()
    closed = await call_for(controller, "13800138003", timeout=10, closed=True)
    assert closed.variables["phone"] == "02161234567"
    assert closed.keys.startswith("113800138000#202161234567#1")


async def pin_wrong_twice_then_right_and_three_wrong_locks(
    controller: Stack, tester: Tester, agent: AgentPhone
) -> None:
    code, _, err = await hotline(
        "--config", str(controller.config_file), "account", "set", "12345678", "--pin", "2468"
    )
    assert code == 0, err

    async def account_call(caller_id: str, pins: list[str]) -> Caller:
        caller = await tester.call("4008001234", caller_id=caller_id)
        menu = await caller.expect_heard(controller.prompt("main-menu"), timeout=25)
        await caller.press("3")
        ask = await caller.expect_heard(
            controller.prompt("enter-account"), timeout=15, after_s=menu.offset_s
        )
        await caller.press("12345678#")
        confirm = await caller.expect_heard(
            controller.prompt("confirm-or-reenter"), timeout=25, after_s=ask.offset_s
        )
        await caller.press("1")
        await caller.expect_heard(
            controller.prompt("enter-pin"), timeout=15, after_s=confirm.offset_s
        )
        for pin in pins:
            # Listen only after the keys: from the previous pin-wrong on, that same
            # pin-wrong would be found again, and the next PIN pressed too early.
            pressed_at = caller.position()
            await caller.press(pin + "#")
            if pin != "2468":
                await caller.expect_heard(
                    controller.prompt("pin-wrong"), timeout=15, after_s=pressed_at
                )
        return caller

    good, locked = await asyncio.gather(
        account_call("13800138004", ["1111", "2222", "2468"]),
        account_call("13800138005", ["1111", "2222", "3333"]),
    )
    await locked.expect_heard(controller.prompt("pin-locked"), timeout=15)
    good_record = await call_for(controller, "13800138004", timeout=5)
    locked_record = await call_for(controller, "13800138005", timeout=5)
    queued = await _wait_timeline(controller, good_record.id, "queued", 15)
    assert queued[0]["queue"] == "account"
    locked_moves = await timeline(controller, locked_record.id, "node")
    assert {"node": "account-pin", "event": "pin wrong 3"} in locked_moves
    await _wait_moves(controller, locked_record.id, "agent:enter", 15)  # then a person
    assert not await timeline(controller, locked_record.id, "queued") or all(
        q["queue"] != "account" for q in await timeline(controller, locked_record.id, "queued")
    )
    assert {"node": "account-pin", "event": "pin ok"} in await timeline(
        controller, good_record.id, "node"
    )
    for caller in (good, locked):
        await caller.hangup()


async def each_number_carries_its_priority(
    controller: Stack, tester: Tester, agent: AgentPhone
) -> None:
    caller = await tester.call("4008001235", caller_id="13800138006")  # the regional line
    await caller.expect_heard(controller.prompt("greeting"), timeout=15)
    record = await call_for(controller, "13800138006", timeout=5)
    assert record.dialled_number == "4008001235"
    assert record.priority == 7
    await caller.press("4")  # complaints: the queue request carries the number's priority
    queued = await _wait_timeline(controller, record.id, "queued", 20)
    assert queued[0]["queue"] == "complaints" and queued[0]["priority"] == 7
    await caller.hangup()


# --- the clock ---------------------------------------------------------------------------------
@pytest.fixture
async def controller_at(stack: Stack) -> AsyncIterator[Callable[[str], Awaitable[None]]]:
    """Restart the controller with its menu clock at a chosen local time."""

    async def start(local_time: str) -> None:
        await stack.controller.stop()
        await stack.controller.start(HOTLINE_MENU_CLOCK=local_time)

    yield start
    await stack.controller.stop()  # the next test gets the usual controller back


async def test_holiday_greeting_on_national_day(
    stack: Stack, tester: Tester, controller_at: Callable[[str], Awaitable[None]]
) -> None:
    await controller_at("2026-10-01T10:00")
    caller = await tester.call("4008001234", caller_id="13800138007")
    greeting = await caller.expect_heard(stack.prompt("greeting"), timeout=15)
    holiday = await caller.expect_heard(
        stack.prompt("holiday-national-day"), timeout=15, after_s=greeting.offset_s
    )
    assert holiday.offset_s - (greeting.offset_s + seconds(stack.prompt("greeting"))) < 1.0
    await caller.expect_heard(stack.prompt("main-menu"), timeout=20, after_s=holiday.offset_s)
    await caller.hangup()


async def test_after_hours_message_head_office_and_callback(
    stack: Stack, tester: Tester, controller_at: Callable[[str], Awaitable[None]]
) -> None:
    await controller_at("2026-11-24T22:30")
    head_office = tester.phone("01088886666", mode="answer")

    async def leave_message() -> Caller:
        caller = await tester.call("4008001234", caller_id="13800138008")
        closed = await caller.expect_heard(stack.prompt("after-hours"), timeout=15)
        assert closed.offset_s < 2.0  # no greeting first: straight to the after-hours menu
        await caller.press("1")
        invite = await caller.expect_heard(
            stack.prompt("leave-message"), timeout=15, after_s=closed.offset_s
        )
        await heard_until(caller, invite.offset_s + seconds(stack.prompt("leave-message")) + 1, 5)
        await caller.play(stack.prompt("greeting", "en"))  # the caller speaks
        await caller.press("#")
        saved = await caller.expect_heard(
            stack.prompt("message-saved"), timeout=15, after_s=invite.offset_s
        )
        await caller.expect_heard(stack.prompt("goodbye"), timeout=15, after_s=saved.offset_s)
        await caller.wait_hung_up(timeout=15)
        return caller

    async def reach_head_office() -> None:
        caller = await tester.call("4008001234", caller_id="13800138009")
        closed = await caller.expect_heard(stack.prompt("after-hours"), timeout=15)
        await caller.press("2")
        await caller.expect_heard(stack.prompt("transferring"), timeout=15, after_s=closed.offset_s)
        await head_office.wait_rang(timeout=15)  # through the outbound trunk
        await caller.hangup()

    async def ask_for_callback() -> None:
        caller = await tester.call("4008001235", caller_id="13800138010")
        closed = await caller.expect_heard(stack.prompt("after-hours"), timeout=15)
        await caller.press("3")
        noted = await caller.expect_heard(
            stack.prompt("callback-saved"), timeout=15, after_s=closed.offset_s
        )
        await caller.expect_heard(stack.prompt("goodbye"), timeout=15, after_s=noted.offset_s)
        await caller.wait_hung_up(timeout=15)

    async def speak_then_hang_up() -> None:
        caller = await tester.call("4008001234", caller_id="13800138011")
        closed = await caller.expect_heard(stack.prompt("after-hours"), timeout=15)
        await caller.press("1")
        invite = await caller.expect_heard(
            stack.prompt("leave-message"), timeout=15, after_s=closed.offset_s
        )
        await heard_until(caller, invite.offset_s + seconds(stack.prompt("leave-message")) + 1, 5)
        await caller.play(stack.prompt("goodbye", "en"))
        await caller.hangup()  # no #: the message must be kept all the same

    await asyncio.gather(
        leave_message(), reach_head_office(), ask_for_callback(), speak_then_hang_up()
    )
    hung_up = await call_for(stack, "13800138011", timeout=10, closed=True)
    assert hung_up.disposition == "caller_hangup"
    kept = await timeline(stack, hung_up.id, "message")
    assert len(kept) == 1 and float(str(kept[0]["seconds"])) >= 1.0
    kept_audio = stack.state / "pbx" / "recordings" / f"{kept[0]['recording']}.wav"
    await recorded(kept_audio, stack.prompt("goodbye", "en"), timeout=5)
    requests = await callback_requests(stack, [f"138001380{n:02d}" for n in range(8, 12)])
    assert [(r.number, r.dialled_number, r.priority, r.status) for r in requests] == [
        ("13800138010", "4008001235", 7, "pending")
    ]
    record = await call_for(stack, "13800138008", timeout=10, closed=True)
    assert record.disposition == "completed"
    saved = await timeline(stack, record.id, "message")
    assert len(saved) == 1 and float(str(saved[0]["seconds"])) >= 1.0
    audio = stack.state / "pbx" / "recordings" / f"{saved[0]['recording']}.wav"
    await recorded(audio, stack.prompt("greeting", "en"), timeout=5)
    # The whole call's recording has the message too, after the invitation to leave it.
    row = await recording_of(stack, record.id, 30)
    whole = hearing.read_wav(stack.config.recordings_store / row.path)
    invited = found(stack.prompt("leave-message"), whole, "the invitation")
    assert found(stack.prompt("greeting", "en"), whole, "the message") > invited
    office = await call_for(stack, "13800138009", timeout=10, closed=True)
    assert [t["to"] for t in await timeline(stack, office.id, "transfer")] == [
        "outside:01088886666"
    ]


# --- helpers -------------------------------------------------------------------------------------
async def _wait_timeline(
    stack: Stack, call_id: str, kind: str, timeout: float
) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while not (found := await timeline(stack, call_id, kind)):
        if time.monotonic() > deadline:
            raise AssertionError(f"no '{kind}' on the call's timeline within {timeout} s")
        await asyncio.sleep(0.2)
    return found


async def _wait_moves(stack: Stack, call_id: str, move: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        moves = [f"{m['node']}:{m['event']}" for m in await timeline(stack, call_id, "node")]
        if move in moves:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the call never reached {move}: {moves}")
        await asyncio.sleep(0.2)


async def recorded(recording: Path, said: Path, timeout: float) -> None:
    """Wait until the PBX has written (and closed) a recording holding what was said: it
    finishes the file a moment after the caller's channel is gone."""
    template = hearing.read_wav(said)
    deadline = time.monotonic() + timeout
    score = 0.0
    while time.monotonic() < deadline:
        score = await asyncio.to_thread(_score_in_file, template, recording)
        if score >= hearing.MATCH_THRESHOLD:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{recording} does not hold what was said (best score {score:.2f})")


def _score_in_file(template: hearing.Samples, recording: Path) -> float:
    try:
        return hearing.find(template, hearing.read_wav(recording)).score
    except (OSError, EOFError, ValueError, wave.Error):
        return 0.0  # not there yet, or still being written


async def callback_requests(stack: Stack, numbers: Sequence[str]) -> Sequence[CallbackRequest]:
    engine = make_engine(stack.config.db_url)
    try:
        async with session_factory(engine)() as db:
            rows = await db.scalars(
                select(CallbackRequest).where(CallbackRequest.number.in_(numbers))
            )
            return rows.all()
    finally:
        await engine.dispose()


async def _no_bridge_left(stack: Stack, call_id: str) -> None:
    from hotline.ari.rest import AriRest

    spec = stack.pbx.spec
    async with AriRest(spec.ari_url, spec.ari_user, spec.ari_password) as ari:
        deadline = time.monotonic() + 5
        while f"br-{call_id}" in await ari.bridge_ids():
            if time.monotonic() > deadline:
                raise AssertionError(f"bridge br-{call_id} left behind")
            await asyncio.sleep(0.1)
