"""Hot reload of the menu YAML over live calls: a call in progress finishes on the menu it
started with, the next call gets the new one, and a broken file changes nothing."""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp
import pytest

from hotline.config import DEFAULT_MENU
from tests.harness.cli import hotline
from tests.harness.db import call_for
from tests.harness.stack import Stack
from tests.harness.tester import NotAnswered, Tester

ORIGINAL = DEFAULT_MENU.read_text(encoding="utf-8")
# Version 2: key 2 of the main menu switches to English instead of the repair menu.
NEW = ORIGINAL.replace('      "2": repair\n', '      "2": english\n      "8": repair\n', 1)

# (what the admin got wrong, replacement, key named in the error, words of the problem)
BROKEN = [
    ('      "2": repair\n', '      "2": repiar\n', "nodes.main.keys.2", "no node named 'repiar'"),
    ("    kind: menu\n", "    kind: manu\n", "nodes.main.kind", "must be one of menu"),
    ("{priority: 7}", "{priority: 10}", "hotline.numbers.4008001235.priority", "between 1 and 9"),
    (
        '      "9": english\n',
        '      "9": english\n      "9": repair\n',
        "nodes.main.keys.9",
        "duplicate key",
    ),
    ("  timeout: 5 ", "  timeout: 500 ", "defaults.timeout", "must be between"),
    ("    max_digits: 12\n", "    max_digits: 5\n", "nodes.install.max_digits", "below min_digits"),
    (
        "    to: agent:8000\n",
        "    to: 8000\n",
        "nodes.operator.to",
        "agent:<extension> or outside:",
    ),
    (
        '      mon-sun: "09:00-21:00"',
        '      mon-sun: "9 to 9"',
        "hotline.hours.weekly.mon-sun",
        "look like 09:00-21:00",
    ),
    (
        "    prompt: repair-menu\n",
        "    prompt: repair-menus\n",
        "nodes.repair.prompt",
        "no prompt 'repair-menus'",
    ),
    ("  start: welcome ", "  start: welcom ", "hotline.start", "did you mean 'welcome'"),
    (
        "    queue: complaints\n",
        "    queue: complaints\n    skils: [complaints]\n",
        "nodes.complaints.skils",
        "unknown key",
    ),
    (
        "    timezone: Asia/Shanghai\n",
        "    timezone: Asia/Beijing\n",
        "hotline.hours.timezone",
        "unknown time zone",
    ),
]


def write_atomically(path: Path, text: str) -> None:
    """As an editor saves: the watcher never sees half a file."""
    temp = path.with_suffix(".tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


def line_of(text: str, fragment: str) -> int:
    return text[: text.index(fragment)].count("\n") + 1 + (fragment[0] == "\n")


async def menu_version(stack: Stack) -> str:
    health = await stack.controller.health()
    assert health is not None
    return str(health["menu"])


async def test_reload_mid_call_keeps_the_call_on_its_version(
    controller: Stack, tester: Tester
) -> None:
    assert NEW != ORIGINAL
    first = await menu_version(controller)
    old_call = await tester.call("4008001234", caller_id="13600136001")
    old_menu = await old_call.expect_heard(controller.prompt("main-menu"), timeout=25)

    write_atomically(controller.menu_file, NEW)  # the file watcher picks it up
    health = await controller.controller.wait_health(lambda h: h["menu"] != first, 10)
    second = str(health["menu"])
    code, out, err = await hotline("--config", str(controller.config_file), "menu", "reload")
    assert code == 0, err
    assert f"menu {second} already in service" in out

    await old_call.press("2")  # the old menu: 2 is still the repair menu
    await old_call.expect_heard(
        controller.prompt("repair-menu"), timeout=15, after_s=old_menu.offset_s
    )
    new_call = await tester.call("4008001234", caller_id="13600136002")
    new_menu = await new_call.expect_heard(controller.prompt("main-menu"), timeout=25)
    await new_call.press("2")  # the new menu: 2 is English
    await new_call.expect_heard(
        controller.prompt("main-menu", "en"), timeout=15, after_s=new_menu.offset_s
    )
    for caller in (old_call, new_call):
        await caller.hangup()
    old_record = await call_for(controller, "13600136001", timeout=10, closed=True)
    new_record = await call_for(controller, "13600136002", timeout=10, closed=True)
    assert (old_record.menu_version, new_record.menu_version) == (first, second)
    assert new_record.language == "en"

    write_atomically(controller.menu_file, ORIGINAL)
    code, out, err = await hotline("--config", str(controller.config_file), "menu", "reload")
    assert code == 0, err
    assert await menu_version(controller) == first


@pytest.mark.parametrize(("old", "new", "key", "problem"), BROKEN, ids=[b[2] for b in BROKEN])
async def test_broken_menu_is_rejected_and_the_running_one_stays(
    controller: Stack, old: str, new: str, key: str, problem: str
) -> None:
    running = await menu_version(controller)
    assert old in ORIGINAL, old
    broken = ORIGINAL.replace(old, new, 1)
    try:
        write_atomically(controller.menu_file, broken)
        code, out, err = await hotline("--config", str(controller.config_file), "menu", "reload")
        assert code == 1, out
        first_line = err.splitlines()[0]
        line = line_of(broken, new.split("\n")[-2] if new.count("\n") > 1 else new.rstrip("\n"))
        expected = f"hotline: menu rejected: {controller.menu_file}:{line}: {key}: "
        assert first_line.startswith(expected), first_line
        assert problem in first_line
        assert "the running menu is unchanged" in err
        assert await menu_version(controller) == running
    finally:
        write_atomically(controller.menu_file, ORIGINAL)


async def test_admin_requests_need_the_admin_token(controller: Stack) -> None:
    url = f"http://127.0.0.1:{controller.config.http.port}/admin/menu/reload"
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"Authorization": "Bearer not-the-token"}):
            async with http.post(url, headers=headers) as resp:
                assert resp.status == 401
                body = await resp.json()
                assert body["error_id"] == "unauthorized"


async def test_a_number_added_by_reload_is_answered_and_one_removed_is_not(
    controller: Stack, tester: Tester
) -> None:
    extra = ORIGINAL.replace(
        '    "4008001235": {priority: 7}',
        '    "4008001235": {priority: 7}\n    "4008001236": {priority: 3}',
        1,
    )
    config = str(controller.config_file)
    try:
        write_atomically(controller.menu_file, extra)
        code, _, err = await hotline("--config", config, "menu", "reload")
        assert code == 0, err
        caller = await tester.call("4008001236", caller_id="13600136020")
        await caller.expect_heard(controller.prompt("greeting"), timeout=15)
        record = await call_for(controller, "13600136020", timeout=5)
        assert record.priority == 3
        await caller.hangup()
    finally:
        write_atomically(controller.menu_file, ORIGINAL)
        code, _, err = await hotline("--config", config, "menu", "reload")
        assert code == 0, err
    with pytest.raises(NotAnswered) as refused:
        await tester.call("4008001236", caller_id="13600136021")
    assert refused.value.cause == 1  # no route from the carrier any more
