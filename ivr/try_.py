"""`hotline menu try`: walk a menu in the terminal, no PBX. Prompts show as text; type
keys and Enter (several keys at once are pressed in order; an empty line is silence)."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from collections import deque
from collections.abc import Mapping
from typing import TextIO

from ivr import model
from ivr.line.sequences import SequenceOutcome
from ivr.runner import CallContext, MenuRunner
from prompts.build import Prompt


class TerminalCaller:
    def __init__(self, catalogue: Mapping[str, Prompt], out: TextIO, inp: TextIO) -> None:
        self.catalogue = catalogue
        self.out, self.inp = out, inp
        self.pending: deque[str] = deque()

    async def play(self, prompts: list[str], language: str, barge_in: bool) -> str | None:
        if barge_in and self.pending:
            return self.pending.popleft()
        for prompt_id in prompts:
            prompt = self.catalogue.get(prompt_id)
            text = prompt.texts[language] if prompt else "(no such prompt)"
            self.out.write(f"  ♪ [{language}] {prompt_id}: {text}\n")
        return None

    async def wait_digit(self, timeout: float) -> str | None:
        if not self.pending:
            self.out.write(f"keys (Enter alone = {timeout:g} s of silence)> ")
            self.out.flush()
            line = await asyncio.to_thread(self.inp.readline)
            if line == "":
                raise EOFError
            self.pending.extend(k for k in line.strip() if k in model.DTMF_KEYS)
            if not self.pending:
                return None
        return self.pending.popleft()

    async def hangup(self) -> None:
        self.out.write("  [the hotline hangs up]\n")

    def keep(self, digit: str) -> None:
        self.pending.appendleft(digit)


class TerminalServices:
    def __init__(self, out: TextIO, pins: Mapping[str, str]) -> None:
        self.out, self.pins = out, pins

    async def verify_pin(self, account: str, pin: str) -> bool:
        return self.pins.get(account) == pin

    async def transfer(self, to: str, ring_seconds: int) -> bool:
        self.out.write(f"  [transfer to {to}: answered]\n")
        return True

    async def record_message(self, max_seconds: int) -> None:
        self.out.write(f"  [recording a message, up to {max_seconds} s]\n")

    async def request_callback(self) -> None:
        self.out.write("  [callback requested]\n")

    async def check_line(self, check: model.LineCheck, waited: float) -> SequenceOutcome | None:
        return None  # no ears here: a silent wait is a plain no-input

    async def enqueue(self, queue: str, skills: tuple[str, ...], priority: int) -> bool:
        self.out.write(f"  [queue {queue}, skills {list(skills)}, priority {priority}: no ACD]\n")
        return False


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
    runner = MenuRunner(menu, caller, TerminalServices(out, pins), ctx, lambda: now, on_move)
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
