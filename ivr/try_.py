"""`hotline menu try`: walk a menu in the terminal, no PBX. Prompts show as text; type
keys and Enter (several keys at once are pressed in order). At a key wait, Enter alone is
a caller who presses nothing but can be heard; a line sound instead (silent, open-line,
noisy, quiet) is what the line carries, and runs that line sequence (R-3) as on a call."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from collections import deque
from collections.abc import Mapping
from typing import TextIO

from ivr import model
from ivr.line.classifier import Evidence, LineClass
from ivr.line.sequences import Presence, SequenceOutcome, check_line
from ivr.runner import CallContext, MenuRunner
from prompts.build import Prompt


class TerminalCaller:
    def __init__(self, catalogue: Mapping[str, Prompt], out: TextIO, inp: TextIO) -> None:
        self.catalogue = catalogue
        self.out, self.inp = out, inp
        self.pending: deque[str] = deque()
        self.line: LineClass | None = None  # what the line sounds like, when typed
        self.language = ""

    def show(self, prompt_id: str, language: str) -> None:
        prompt = self.catalogue.get(prompt_id)
        text = prompt.texts[language] if prompt else "(no such prompt)"
        self.out.write(f"  ♪ [{language}] {prompt_id}: {text}\n")

    async def ask(self, question: str) -> str:
        self.out.write(question)
        self.out.flush()
        line = await asyncio.to_thread(self.inp.readline)
        if line == "":
            raise EOFError
        return line.strip()

    async def play(self, prompts: list[str], language: str, barge_in: bool) -> str | None:
        self.language = language
        if barge_in and self.pending:
            return self.pending.popleft()
        for prompt_id in prompts:
            self.show(prompt_id, language)
        return None

    async def wait_digit(self, timeout: float) -> str | None:
        if not self.pending:
            sounds = ", ".join(c.value for c in SEQUENCE_SOUNDS)
            answer = await self.ask(
                f"keys (Enter alone = {timeout:g} s with no key; or the line is {sounds})> "
            )
            if answer in SEQUENCE_SOUNDS:
                self.line = LineClass(answer)
                return None
            self.line = None
            self.pending.extend(k for k in answer if k in model.DTMF_KEYS)
            if not self.pending:
                return None
        return self.pending.popleft()

    async def hangup(self) -> None:
        self.out.write("  [the hotline hangs up]\n")

    def keep(self, digit: str) -> None:
        self.pending.appendleft(digit)


SEQUENCE_SOUNDS = (LineClass.SILENT, LineClass.OPEN_LINE, LineClass.NOISY, LineClass.QUIET)


class TerminalLine:
    """``SequenceIO`` in the terminal: prompts as text; each wait asks what happens."""

    def __init__(self, caller: TerminalCaller) -> None:
        self.caller = caller

    async def say(self, prompt: str) -> Presence | None:
        if self.caller.pending:
            return Presence(key=self.caller.pending.popleft())
        self.caller.show(prompt, self.caller.language)
        return None

    async def listen(self, seconds: float) -> Presence | None:
        answer = await self.caller.ask(
            f"listening {seconds:g} s: keys, speech, or Enter alone (the line stays as it is)> "
        )
        if answer == "speech":
            self.caller.line = None
            return Presence(evidence=self._heard(LineClass.SPEECH, seconds))
        keys = [k for k in answer if k in model.DTMF_KEYS]
        if not keys:
            return None
        self.caller.line = None
        self.caller.pending.extend(keys[1:])
        return Presence(key=keys[0])

    def evidence(self, seconds: float) -> Evidence:
        return self._heard(self.caller.line or LineClass.SPEECH, seconds)

    @staticmethod
    def _heard(verdict: LineClass, seconds: float) -> Evidence:
        return Evidence(verdict, seconds, 0.0, 0.0, 0.0, 0.0, 0.0)  # typed, not measured

    async def hangup(self) -> None:
        await self.caller.hangup()

    async def log(self, **data: object) -> None:
        event, out = data.get("event"), self.caller.out
        if event == "judged":
            out.write(f"  [the line is {data.get('verdict')}: its sequence begins]\n")
        elif event == "resumed":
            how = f"key {data.get('key')}" if data.get("by") == "key" else "speech"
            out.write(f"  [{how}: back to the menu]\n")


class TerminalServices:
    def __init__(self, out: TextIO, pins: Mapping[str, str], caller: TerminalCaller) -> None:
        self.out, self.pins, self.caller = out, pins, caller

    async def check_pin(self, account: str, pin: str, lock: model.PinLock) -> model.PinCheck:
        # A tried call has no stored accounts: nothing is counted or locked.
        return model.PinCheck.OK if self.pins.get(account) == pin else model.PinCheck.WRONG

    async def transfer(self, to: str, ring_seconds: int) -> bool:
        self.out.write(f"  [transfer to {to}: answered]\n")
        return True

    async def record_message(self, max_seconds: int) -> None:
        self.out.write(f"  [recording a message, up to {max_seconds} s]\n")

    async def request_callback(self) -> None:
        self.out.write("  [callback requested]\n")

    async def check_line(self, check: model.LineCheck, waited: float) -> SequenceOutcome | None:
        if self.caller.line is None:
            return None  # Enter alone: the caller is heard, a plain no-input
        return await check_line(check, waited, TerminalLine(self.caller))

    async def enqueue(self, queue: str, skills: tuple[str, ...], priority: int) -> str | None:
        self.out.write(
            f"  [queue {queue}, skills {list(skills)}, priority {priority}: "
            "no agents in a tried call, so the fallback]\n"
        )
        return None


async def try_menu(
    menu: model.Menu,
    catalogue: Mapping[str, Prompt],
    dialled: str,
    now: dt.datetime,
    pins: Mapping[str, str],
    out: TextIO = sys.stdout,
    inp: TextIO = sys.stdin,
) -> str:
    async def on_move(node_id: str, event: str) -> None:
        if event == "enter":
            out.write(f"-> {node_id} ({type(menu.node(node_id)).__name__.removesuffix('Node')})\n")

    ctx = CallContext(dialled, "13800138000", menu.language, menu.priority_for(dialled))
    caller = TerminalCaller(catalogue, out, inp)
    services = TerminalServices(out, pins, caller)
    runner = MenuRunner(menu, caller, services, ctx, lambda: now, on_move)
    try:
        ended = await runner.run()
    except EOFError:
        out.write("\n(end of input)\n")
        return "abandoned"
    out.write(
        f"== call ended: {ended.disposition} {ended.detail}; keys {ctx.keys!r}; "
        f"variables {ctx.variables}\n"
    )
    return ended.disposition
