"""The menu state machine walked with a scripted caller (pure logic; the same runner is
exercised over SIP by the integration tests and in a terminal by `hotline menu try`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import deque
from pathlib import Path

from ivr import model
from ivr.line.classifier import LineClass
from ivr.line.sequences import SequenceOutcome
from ivr.loader import load_menu
from ivr.runner import CallContext, Ended, MenuRunner

ROOT = Path(__file__).resolve().parents[2]
MENU = load_menu(ROOT / "ivr" / "default-menu.yaml")
TZ = dt.timezone(dt.timedelta(hours=8))
OPEN = dt.datetime(2026, 11, 23, 10, 0, tzinfo=TZ)  # a Monday morning in Shanghai
TIMEOUT = None  # in a script: the caller presses nothing


class ScriptedCaller:
    """Presses the scripted keys in order when asked; "!5" presses 5 during the prompt
    (barge-in); None lets one question time out."""

    def __init__(self, *script: str | None) -> None:
        self.script: deque[str | None] = deque(script)
        self.typeahead: deque[str] = deque()
        self.heard: list[tuple[str, str]] = []
        self.hung_up = False

    async def play(self, prompts: list[str], language: str, barge_in: bool) -> str | None:
        if barge_in and self.typeahead:
            return self.typeahead.popleft()  # the prompt is skipped, as on a real call
        head = self.script[0] if self.script else None
        if barge_in and head is not None and head.startswith("!"):
            self.heard.append((language, prompts[0]))  # pressed during the first prompt
            self.script.popleft()
            return head[1:]
        self.heard += [(language, p) for p in prompts]
        return None

    async def wait_digit(self, timeout: float) -> str | None:
        if self.typeahead:
            return self.typeahead.popleft()
        key = self.script.popleft() if self.script else None
        return key.lstrip("!") if key is not None else None

    async def hangup(self) -> None:
        self.hung_up = True

    def keep(self, digit: str) -> None:
        self.typeahead.append(digit)

    def prompts(self) -> list[str]:
        return [p for _, p in self.heard]


class Services:
    def __init__(self, answer: bool = True) -> None:
        self.pins = {"12345678": "4321"}
        self.transfers: list[str] = []
        self.answer = answer
        self.messages = 0
        self.line_checks: list[float] = []
        self.line_outcomes: list[SequenceOutcome | None] = []  # next check_line answers

    async def check_pin(self, account: str, pin: str, lock: model.PinLock) -> model.PinCheck:
        return model.PinCheck.OK if self.pins.get(account) == pin else model.PinCheck.WRONG

    async def transfer(self, to: str, ring_seconds: int) -> bool:
        self.transfers.append(to)
        return self.answer

    async def record_message(self, max_seconds: int) -> None:
        self.messages += 1

    async def request_callback(self) -> None:
        pass

    async def check_line(self, check: model.LineCheck, waited: float) -> SequenceOutcome | None:
        self.line_checks.append(waited)
        return self.line_outcomes.pop(0) if self.line_outcomes else None

    async def enqueue(self, queue: str, skills: tuple[str, ...], priority: int) -> str | None:
        return None


async def walk(
    caller: ScriptedCaller,
    services: Services | None = None,
    now: dt.datetime = OPEN,
    dialled: str = "4008001234",
) -> tuple[Ended, CallContext, list[str]]:
    moves: list[str] = []

    async def on_move(node_id: str, event: str) -> None:
        moves.append(f"{node_id}:{event}")

    ctx = CallContext(dialled, "13800138000", MENU.language, MENU.priority_for(dialled))
    runner = MenuRunner(MENU, caller, services or Services(), ctx, lambda: now, on_move)
    return await runner.run(), ctx, moves


async def test_two_levels_star_back_and_a_queue_falls_back_to_a_person() -> None:
    caller = ScriptedCaller("2", "*", "2", "1")
    services = Services()
    ended, ctx, moves = await walk(caller, services)
    assert caller.prompts() == [
        "greeting",
        "main-menu",
        "repair-menu",
        "main-menu",
        "repair-menu",
        "transferring",
    ]
    assert ctx.keys == "2*21"
    assert ctx.variables["queue"] == "general"  # repair queue -> fallback agent -> operator
    assert services.transfers == ["agent:8000"]
    assert ended == Ended("transferred", {"to": "agent:8000"})
    assert [m for m in moves if m.endswith(":enter")][:5] == [
        "welcome:enter",
        "greeting:enter",
        "main:enter",
        "repair:enter",
        "main:enter",
    ]


async def test_invalid_and_silent_tries_then_the_configured_exit() -> None:
    caller = ScriptedCaller("7", TIMEOUT, "8")
    ended, ctx, moves = await walk(caller, Services())
    assert caller.prompts()[:6] == [
        "greeting",
        "main-menu",
        "invalid-key",
        "main-menu",
        "no-input",
        "main-menu",
    ]
    assert "main:invalid 7" in moves and "main:no-input 2" in moves and "main:invalid 8" in moves
    assert ended.disposition == "transferred"  # main.on_fail: agent


async def test_zero_from_level_two_reaches_a_person() -> None:
    caller = ScriptedCaller("2", "0")
    services = Services()
    ended, _, moves = await walk(caller, services)
    assert "agent:enter" in moves
    assert services.transfers == ["agent:8000"]


async def test_number_read_back_in_order_then_reenter_then_confirm() -> None:
    caller = ScriptedCaller("1", *"13800138000#", "2", *"13912345678#", "1")
    _, ctx, _ = await walk(caller, Services())
    heard = caller.prompts()
    first = heard.index("readback-phone-number")
    assert heard[first + 1 : first + 13] == [f"digit-{d}" for d in "13800138000"] + [
        "confirm-or-reenter"
    ]
    second = heard.index("readback-phone-number", first + 1)
    assert heard[second + 1 : second + 12] == [f"digit-{d}" for d in "13912345678"]
    assert ctx.variables["phone"] == "13912345678"
    assert ctx.variables["queue"] == "general"


async def test_pin_wrong_twice_then_right() -> None:
    caller = ScriptedCaller("3", *"12345678#", "1", *"1111#", *"2222#", *"4321#")
    _, ctx, moves = await walk(caller, Services())
    assert caller.prompts().count("pin-wrong") == 2
    assert "account-pin:pin ok" in moves
    assert "account-queue:enter" in moves


async def test_three_wrong_pins_take_the_exit_path() -> None:
    caller = ScriptedCaller("3", *"12345678#", "1", *"1111#", *"2222#", *"3333#")
    _, _, moves = await walk(caller, Services())
    assert "account-pin:pin wrong 3" in moves
    assert "pin-locked:enter" in moves and "account-queue:enter" not in moves


async def test_after_hours_and_holiday_greeting_follow_the_clock() -> None:
    caller = ScriptedCaller("1")
    night = dt.datetime(2026, 11, 23, 21, 30, tzinfo=TZ)
    services = Services()
    _, _, moves = await walk(caller, services, now=night)
    assert caller.prompts()[:1] == ["after-hours"]
    assert services.messages == 1 and "goodbye:enter" in moves
    holiday = ScriptedCaller("4")
    await walk(holiday, Services(), now=dt.datetime(2026, 10, 1, 10, 0, tzinfo=TZ))
    assert holiday.prompts()[:3] == ["greeting", "holiday-national-day", "main-menu"]


async def test_english_on_request_and_carried_on() -> None:
    caller = ScriptedCaller("9", "4")
    _, ctx, _ = await walk(caller, Services())
    assert caller.heard[:3] == [("zh", "greeting"), ("zh", "main-menu"), ("en", "main-menu")]
    assert ctx.language == "en"


async def test_per_number_priority_reaches_the_queue() -> None:
    _, ctx, _ = await walk(ScriptedCaller("4"), Services(), dialled="4008001235")
    assert ctx.priority == 7
    _, gas, _ = await walk(ScriptedCaller("2", "2"), Services())
    assert gas.variables["queue_priority"] == "5"  # agent (general) has no override


async def test_barge_in_key_during_greeting_acts_at_once() -> None:
    caller = ScriptedCaller("!4")
    await walk(caller, Services())
    assert caller.prompts()[:2] == ["greeting", "transferring"]  # the menu never played


async def test_a_key_during_the_retry_prompt_counts_at_once() -> None:
    caller = ScriptedCaller("7", "!2", "1")
    _, ctx, moves = await walk(caller, Services())
    assert caller.prompts()[:4] == ["greeting", "main-menu", "invalid-key", "repair-menu"]
    assert ctx.keys.startswith("72")


async def test_a_line_sequence_that_hangs_up_ends_the_call_with_its_disposition() -> None:
    services = Services()
    services.line_outcomes = [SequenceOutcome(LineClass.OPEN_LINE, hung_up=True)]
    caller = ScriptedCaller(TIMEOUT)
    ended, ctx, moves = await walk(caller, services)
    assert ended == Ended("open-line")
    assert services.line_checks == [5.0]  # the main menu's wait
    assert caller.prompts() == ["greeting", "main-menu"]  # no no-input prompt: the sequence


async def test_back_from_a_line_sequence_the_node_starts_again_and_takes_the_key() -> None:
    services = Services()
    services.line_outcomes = [
        SequenceOutcome(LineClass.SILENT, hung_up=False),  # the caller spoke
        SequenceOutcome(LineClass.NOISY, hung_up=False, key="2"),  # pressed 2 meanwhile
    ]
    caller = ScriptedCaller(TIMEOUT, TIMEOUT, "1")
    ended, ctx, moves = await walk(caller, services)
    assert caller.prompts()[:3] == ["greeting", "main-menu", "main-menu"]
    assert "repair-menu" in caller.prompts()  # the key from the sequence chose repairs
    assert moves.count("main:back from line sequence") == 2
    assert ctx.keys.startswith("21")
    assert ended.disposition == "transferred"


async def test_nodes_outside_the_line_check_get_the_plain_no_input() -> None:
    menu = dataclasses.replace(MENU, line_check=model.LineCheck(nodes=frozenset({"repair"})))
    services = Services()
    services.line_outcomes = [SequenceOutcome(LineClass.SILENT, hung_up=True)]
    caller = ScriptedCaller(TIMEOUT, "2", TIMEOUT)
    ctx = CallContext("4008001234", "13800138000", menu.language, 5)

    async def on_move(node_id: str, event: str) -> None:
        pass

    runner = MenuRunner(menu, caller, services, ctx, lambda: OPEN, on_move)
    ended = await runner.run()
    assert caller.prompts()[:4] == ["greeting", "main-menu", "no-input", "main-menu"]
    assert services.line_checks == [5.0]  # only in the repair menu
    assert ended == Ended("silent")
