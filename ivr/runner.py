"""Walks one caller through a ``Menu``: the per-call state machine of the voice menu.

The state is the current node id (stored by the caller of ``step`` after every move), plus
the call's variables, language and menu stack. The runner talks to the caller only through
``CallerIO`` and to the rest of the service only through ``MenuServices``, so the same code
serves a real call (ARI), ``hotline menu try`` (a terminal) and unit tests (a script).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from hotline.calls.context import CallContext as CallContext
from ivr import model
from ivr.line.sequences import SequenceOutcome


class CallerIO(Protocol):
    async def play(self, prompts: list[str], language: str, barge_in: bool) -> str | None:
        """Play prompt ids in order; with barge-in a key stops them and is returned."""

    async def wait_digit(self, timeout: float) -> str | None:
        """The next key within ``timeout`` seconds, else None."""

    async def hangup(self) -> None: ...

    def keep(self, digit: str) -> None:
        """Hold a key that cut a plain prompt short, for the next question."""


class MenuServices(Protocol):
    async def check_pin(self, account: str, pin: str, lock: model.PinLock) -> model.PinCheck:
        """Check a PIN entered for ``account``; wrong ones count towards its ``lock``."""

    async def transfer(self, to: str, ring_seconds: int) -> bool:
        """Connect the caller to ``to``; True when answered (the menu then ends)."""

    async def record_message(self, max_seconds: int) -> None: ...

    async def request_callback(self) -> None: ...

    async def enqueue(self, queue: str, skills: tuple[str, ...], priority: int) -> str | None:
        """Hand the call to the ACD; its disposition when it took the call (the menu then
        ends), None when nobody could take it there (the node's fallback applies)."""

    async def check_line(self, check: model.LineCheck, waited: float) -> SequenceOutcome | None:
        """A key wait of ``waited`` s ended with nothing: judge the caller's audio and run
        a line sequence if the line is unusable (R-3). None: nothing to do (no ears, or
        the caller spoke)."""


@dataclass(frozen=True)
class Ended:
    """How the menu part of a call ended."""

    disposition: str  # completed, transferred, queued, ...
    detail: dict[str, str] = field(default_factory=dict)


OnMove = Callable[[str, str], Awaitable[None]]  # (node id, event) for the call's timeline
KEY_EVENT = "key "  # an OnMove event: the caller pressed the keys that follow


class _BackToNode(Exception):
    """A line sequence ended with the caller back: the node starts again."""

    def __init__(self, key: str | None) -> None:
        self.key = key


class _LineHungUp(Exception):
    """A line sequence ran to its end and hung up."""

    def __init__(self, disposition: str) -> None:
        self.disposition = disposition


class MenuRunner:
    def __init__(
        self,
        menu: model.Menu,
        io: CallerIO,
        services: MenuServices,
        context: CallContext,
        clock: Callable[[], dt.datetime],
        on_move: OnMove,
    ) -> None:
        self.menu = menu
        self.io = io
        self.services = services
        self.ctx = context
        self.clock = clock
        self.on_move = on_move
        self.node_id = menu.start
        self._handlers: dict[type[model.Node], Callable[..., Awaitable[str | Ended]]] = {
            model.MenuNode: self._menu,
            model.PlayNode: self._play,
            model.InputNode: self._input,
            model.VerifyNode: self._verify,
            model.QueueNode: self._queue,
            model.TransferNode: self._transfer,
            model.MessageNode: self._message,
            model.CallbackNode: self._callback,
            model.HoursNode: self._hours,
            model.LanguageNode: self._language,
            model.HangupNode: self._hangup,
        }

    async def run(self, start: str | None = None) -> Ended:
        node_id = start or self.menu.start
        event = "enter"
        while True:
            self.node_id = node_id
            await self.on_move(node_id, event)
            event = "enter"
            try:
                result = await self.step(self.menu.node(node_id))
            except _BackToNode as back:
                if back.key is not None:
                    self.io.keep(back.key)  # the node acts on it at once
                event = "back from line sequence"
                continue
            except _LineHungUp as ended:
                return Ended(ended.disposition)
            if isinstance(result, Ended):
                return result
            node_id = result

    async def step(self, node: model.Node) -> str | Ended:
        return await self._handlers[type(node)](node)

    # --- helpers ------------------------------------------------------------------------
    async def say(self, prompts: list[str], barge_in: bool = True) -> str | None:
        return await self.io.play(prompts, self.ctx.language, barge_in)

    async def key(self, prompts: list[str], timeout: float) -> str | None:
        """A prompt with barge-in, then wait for a key. A wait that ends with nothing has
        the line checked (R-3): an unusable line gets its sequence instead."""
        digit = await self.say(prompts) or await self.io.wait_digit(timeout)
        check = self.menu.line_check
        if digit is None and check.applies_to(self.node_id):
            outcome = await self.services.check_line(check, timeout)
            if outcome is not None and outcome.hung_up:
                raise _LineHungUp(outcome.kind.value)
            if outcome is not None:
                raise _BackToNode(outcome.key)
        return digit

    async def record_key(self, digits: str, secret: bool = False) -> None:
        """Keys the caller pressed, onto the call's keys and timeline; a PIN only as
        stars (it is nobody's business, supervisors' included)."""
        shown = "".join("*" if secret and d.isdigit() else d for d in digits)
        self.ctx.keys += shown
        await self.on_move(self.node_id, f"{KEY_EVENT}{shown}")

    async def digits(
        self, prompts: list[str], timeout: float, low: int, high: int, secret: bool = False
    ) -> str | None:
        """Collect up to ``high`` digits ended by '#'; None on timeout or too few."""
        first = await self.key(prompts, timeout)
        collected = ""
        digit = first
        while digit is not None and digit != "#":
            if digit.isdigit():
                collected += digit
            if len(collected) >= high:
                break
            digit = await self.io.wait_digit(timeout)
        if first is not None:
            await self.record_key(collected + ("#" if digit == "#" else ""), secret)
        return collected if low <= len(collected) <= high else None

    # --- node kinds -----------------------------------------------------------------------
    async def _menu(self, node: model.MenuNode) -> str | Ended:
        prompts = [node.prompt]
        for attempt in range(1, node.tries + 1):
            digit = await self.key(prompts, node.timeout)
            if digit is None:
                await self.on_move(node.id, f"no-input {attempt}")
                prompts = [node.timeout_prompt, node.prompt]
                continue
            await self.record_key(digit)
            target = self._menu_target(node, digit)
            if target:
                if target != node.id and digit != "*":
                    self.ctx.menu_stack.append(node.id)
                return target
            await self.on_move(node.id, f"invalid {digit}")
            prompts = [node.invalid_prompt, node.prompt]
        return node.on_fail

    def _menu_target(self, node: model.MenuNode, digit: str) -> str:
        if digit in node.keys:
            return node.keys[digit]
        if digit == "0" and node.zero:
            return node.zero
        if digit == "*":
            if node.star == "back" and self.ctx.menu_stack:
                return self.ctx.menu_stack.pop()
            return node.id  # repeat (or nothing to go back to)
        return ""

    async def _play(self, node: model.PlayNode) -> str:
        prompts = list(node.prompts)
        holiday = self._holiday()
        if node.holiday_greeting and holiday is not None and holiday.prompt:
            prompts.append(holiday.prompt)
        digit = await self.say(prompts, node.barge_in)
        if digit is not None:
            self.io.keep(digit)  # the next question acts on it at once
        return node.next

    async def _input(self, node: model.InputNode) -> str:
        prompts = [node.prompt]
        for _ in range(node.tries):
            value = await self.digits(prompts, node.timeout, node.min_digits, node.max_digits)
            prompts = [self.menu.defaults.invalid_prompt, node.prompt]
            if value is None:
                continue
            if not node.readback:
                self.ctx.variables[node.store] = value
                return node.next
            readback = [node.readback, *(f"digit-{d}" for d in value), node.confirm]
            answer = await self.key(readback, node.timeout)
            if answer is not None:
                await self.record_key(answer)
            if answer == "1":
                self.ctx.variables[node.store] = value
                return node.next
            prompts = [node.prompt]  # 2 (or anything else): enter it again
        return node.on_fail

    async def _verify(self, node: model.VerifyNode) -> str:
        account = self.ctx.variables.get(node.account, "")
        prompts = [node.prompt]
        for attempt in range(1, node.tries + 1):
            pin = await self.digits(prompts, node.timeout, 1, 16, secret=True)
            # Nothing entered is a try of this call, but no guess to count on the account.
            found = model.PinCheck.WRONG
            if pin is not None:
                found = await self.services.check_pin(account, pin, node.lock)
            if found is model.PinCheck.OK:
                await self.on_move(node.id, "pin ok")
                return node.ok
            if found is model.PinCheck.LOCKED:
                await self.on_move(node.id, "pin locked")
                return node.fail
            await self.on_move(node.id, f"pin wrong {attempt}")
            prompts = [node.wrong_prompt]
        return node.fail

    async def _queue(self, node: model.QueueNode) -> str | Ended:
        priority = node.priority if node.priority is not None else self.ctx.priority
        self.ctx.variables["queue"] = node.queue
        self.ctx.variables["queue_priority"] = str(priority)
        disposition = await self.services.enqueue(node.queue, node.skills, priority)
        if disposition is not None:
            return Ended(disposition, {"queue": node.queue})
        return node.fallback  # nobody logged in could take it there: the fallback

    async def _transfer(self, node: model.TransferNode) -> str | Ended:
        await self.say([node.prompt], barge_in=False)
        if await self.services.transfer(node.to, node.ring_seconds):
            return Ended("transferred", {"to": node.to})
        return node.on_fail

    async def _message(self, node: model.MessageNode) -> str:
        await self.say([node.prompt], barge_in=False)
        await self.services.record_message(node.max_seconds)
        await self.say(["message-saved"], barge_in=False)
        return node.next

    async def _callback(self, node: model.CallbackNode) -> str:
        await self.services.request_callback()
        await self.say([node.prompt], barge_in=False)
        return node.next

    async def _hours(self, node: model.HoursNode) -> str:
        return node.open if self.is_open() else node.closed

    async def _language(self, node: model.LanguageNode) -> str:
        self.ctx.language = node.language
        return node.next

    async def _hangup(self, node: model.HangupNode) -> Ended:
        await self.say([node.prompt], barge_in=False)
        await self.io.hangup()
        return Ended("completed")

    # --- hours ------------------------------------------------------------------------------
    def local_now(self) -> dt.datetime:
        return self.clock().astimezone(zoneinfo.ZoneInfo(self.menu.hours.timezone))

    def _holiday(self) -> model.Holiday | None:
        return self.menu.hours.holidays.get(self.local_now().date())

    def is_open(self) -> bool:
        now = self.local_now()
        holiday = self._holiday()
        if holiday is not None and holiday.closed:
            return False
        spans = self.menu.hours.weekly.get(now.weekday(), ())
        return any(start <= now.time() < end for start, end in spans)
