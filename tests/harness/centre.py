"""The agents of a test: their desks (the agents' API) and phones (on the tester)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from tests.harness.db import call_for, events_of
from tests.harness.desk import ApiRefused, Desk
from tests.harness.stack import Stack
from tests.harness.tester import AgentPhone, Caller, Tester

PASSWORD = "desk-pass-2026"
EXTENSIONS = {"1001": "7101", "1002": "7102", "1003": "7103", "9001": "7109"}
HOTLINE = "4008001234"


class Centre:
    """The agents of one test: their desks (API) and phones (tester)."""

    def __init__(self, stack: Stack, tester: Tester) -> None:
        self.stack = stack
        self.tester = tester
        self.base_url = f"http://127.0.0.1:{stack.config.http.port}"
        self.desks: dict[str, Desk] = {}
        self.phones: dict[str, AgentPhone] = {}
        self.callers: list[Caller] = []

    async def agent(self, number: str, mode: str = "answer", ready: bool = True) -> Desk:
        extension = EXTENSIONS[number]
        self.phones[number] = self.tester.phone(extension, mode)
        desk = await Desk.login(self.base_url, number, extension, PASSWORD)
        self.desks[number] = desk
        if ready:
            await desk.ready()
        return desk

    async def call(self, keys: str, caller_id: str, number: str = HOTLINE) -> Caller:
        caller = await self.tester.call(number, caller_id=caller_id)
        self.callers.append(caller)
        if keys:
            await caller.press(keys)  # kept while the greeting plays; the menu takes them
        return caller

    async def answer_survey(self, caller: Caller, agent: str, key: str) -> float:
        """The agent puts the phone down; the caller stays on, hears the survey question
        and presses ``key``. Returns where on the caller's line the agent hung up."""
        hung_up_at = caller.position()
        await self.phones[agent].hang_up()
        await caller.expect_heard(self.stack.prompt("survey"), 10, after_s=hung_up_at)
        await caller.press(key)
        return hung_up_at

    async def close(self) -> None:
        """Hang up every caller and log every agent out, so that whatever a failed test
        left behind cannot reach the next one."""
        for caller in self.callers:
            await caller.hangup()
        stuck = []
        for desk in self.desks.values():
            try:
                me = await desk.wait_me(
                    lambda m: m["state"] not in ("ringing", "on-call"), 15, "off the phone"
                )
                if me["state"] == "wrap-up":  # it would keep the next test's calls waiting
                    with contextlib.suppress(ApiRefused):  # (unless it ran out just now)
                        await desk.post("/api/me/wrap-up/end", {})
            except ApiRefused:
                continue  # logged out already (a test did, or a supervisor)
            except AssertionError as exc:
                # Logged out all the same (after its call), so that one failed test does
                # not leave the agent logged in and fail every later test's login.
                stuck.append(str(exc))
            with contextlib.suppress(ApiRefused):
                await desk.post("/api/logout")
        assert not stuck, "; ".join(stuck)


async def offered_to(stack: Stack, caller_id: str, timeout: float = 20) -> list[str]:
    record = await call_for(stack, caller_id, timeout)
    return [str(e.data["agent"]) for e in await events_of(stack, record.id) if e.kind == "offer"]


async def hang_up_all(*callers: Caller) -> None:
    for caller in callers:
        await caller.hangup()


async def wait_queued(stack: Stack, call_id: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in await events_of(stack, call_id):
            if event.kind == "waiting":
                return dict(event.data)
        await asyncio.sleep(0.1)
    raise AssertionError(f"call {call_id} not waiting in a queue after {timeout} s")
