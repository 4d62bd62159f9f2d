"""The menu compiled to dialplan (dialplan/compile.py) on the real PBX: rewritten on a
menu reload, and walked by a caller whose controller is gone.

Nothing routes callers into ``[fallback-menu]`` yet (the watchman's ``[fallback]`` still
apologises), so the test continues its caller there itself, as the watchman will."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import zoneinfo
from collections.abc import AsyncIterator

import pytest

from tests.harness.db import call_for
from tests.harness.stack import Stack
from tests.harness.tester import AriWatcher, Tester
from tests.integration.test_menu_reload import menu_version, write_atomically
from tests.integration.test_watchman import kill_controller

HOURS, ALL_DAY = 'mon-sun: "09:00-21:00"', 'mon-sun: "00:00-23:59"'
MAIN_KEYS = '      "1": install\n'
NEW_KEY = '      "5": repair\n'  # only in the reloaded menu


@pytest.fixture
async def reloaded_menu(controller: Stack) -> AsyncIterator[None]:
    """The stack's menu open all day with a new first-level key; as it was after."""
    original = controller.menu_file.read_text(encoding="utf-8")
    assert original.count(HOURS) == 1 and original.count(MAIN_KEYS) == 1
    first = await menu_version(controller)
    changed = original.replace(HOURS, ALL_DAY).replace(MAIN_KEYS, MAIN_KEYS + NEW_KEY)
    write_atomically(controller.menu_file, changed)
    await controller.controller.wait_health(lambda h: h["menu"] != first, 10)
    try:
        yield
    finally:
        if controller.controller.proc is None:
            await controller.controller.start()
        write_atomically(controller.menu_file, original)
        await controller.controller.wait_health(lambda h: h["menu"] == first, 10)


async def pbx_cli(stack: Stack, command: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        *stack.pbx.cli_argv(command),
        env=stack.podman.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return out.decode(errors="replace")


async def wait_dialplan(stack: Stack, command: str, wanted: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        shown = await pbx_cli(stack, command)
        if wanted in shown:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{wanted!r} not in `{command}` within {timeout} s:\n{shown}")
        await asyncio.sleep(0.25)


def open_now() -> bool:
    """The compiled hours (00:00-23:59 is written ending a minute early, 23:58)."""
    now = dt.datetime.now(zoneinfo.ZoneInfo("Asia/Shanghai"))
    return now.time() < dt.time(23, 58)


async def test_a_reload_rewrites_the_fallback_menu_and_a_caller_walks_it(
    controller: Stack, tester: Tester, reloaded_menu: None, pbx_probe: AriWatcher
) -> None:
    # The reload compiled the new key into the PBX's dialplan.
    await wait_dialplan(
        controller, "dialplan show 5@fallback-menu-main", "fallback-menu-repair", 10
    )
    caller = await tester.call("4008001234", caller_id="13700138201")
    await caller.expect_heard(controller.prompt("greeting"), timeout=15)
    record = await call_for(controller, "13700138201", timeout=5)
    await kill_controller(controller)
    handed_at = caller.position()
    await pbx_probe.rest.continue_in_dialplan(record.channel_id, "fallback-menu", "s", 1)
    if open_now():
        # The PBX's own greeting, a key pressed into it (barge-in) to the new first-level
        # entry, that node's menu, and a queue (not built yet: it apologises).
        heard = await caller.expect_heard(controller.prompt("greeting"), 5, after_s=handed_at)
        await caller.press("5")
        repair = await caller.expect_heard(
            controller.prompt("repair-menu"), 5, after_s=heard.offset_s
        )
        await caller.press("1")
        after = repair.offset_s
    else:  # the last minute of the compiled day: after hours, any key leaves a message
        heard = await caller.expect_heard(controller.prompt("after-hours"), 5, after_s=handed_at)
        await caller.press("1")
        after = heard.offset_s
    await caller.expect_heard(controller.prompt("service-unavailable"), 10, after_s=after)
    await caller.wait_hung_up(timeout=20)
