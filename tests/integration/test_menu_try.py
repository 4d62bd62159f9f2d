"""`hotline menu try` in a real terminal (a pty, as a person would use it)."""

from __future__ import annotations

import sys
from pathlib import Path

import pexpect

ROOT = Path(__file__).resolve().parents[2]


def menu_try() -> pexpect.spawn:
    """`hotline menu try` on the default menu, a Monday morning (in business hours)."""
    return pexpect.spawn(
        sys.executable,
        ["-m", "hotline", "menu", "try", "--at", "2026-11-23T10:00"],
        cwd=str(ROOT),
        encoding="utf-8",
        timeout=20,
    )


def test_menu_try_walks_the_default_menu_in_a_terminal() -> None:
    child = menu_try()
    try:
        child.expect("greeting: 您好,欢迎致电XX客户服务热线")
        child.expect("keys .*> ")
        child.sendline("2")
        child.expect(r"-> repair \(Menu\)")
        child.expect("燃气报修请按2")
        child.expect("keys .*> ")
        child.sendline("")  # silence
        child.expect("no-input: 对不起,没有收到您的按键")
        child.expect("keys .*> ")
        child.sendline("0")  # a person, from level two
        child.expect(r"-> agent \(Queue\)")
        child.expect(r"call ended: transferred \{'to': 'agent:8000'\}; keys '20'")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0


def test_menu_try_runs_the_line_sequences_when_told_what_the_line_sounds_like() -> None:
    child = menu_try()
    try:
        child.expect("keys .*> ")
        child.sendline("silent")
        child.expect(r"\[the line is silent: its sequence begins\]")
        child.expect("line-silent-hello: 您好!请问有什么可以帮助您?")
        child.expect("listening 5 s: .*> ")
        child.sendline("speech")
        child.expect(r"\[speech: back to the menu\]")
        child.expect("main-menu: 报装请按1")
        child.expect("keys .*> ")
        child.sendline("noisy")
        child.expect("line-noisy-louder: 对不起,由于杂音较大")
        child.expect("listening 3 s: .*> ")
        child.sendline("")  # still noisy
        child.expect("line-noisy-bye: 对不起,您的电话杂音太大")
        child.expect("listening 5 s: .*> ")
        child.sendline("")
        child.expect(r"\[the hotline hangs up\]")
        child.expect(r"call ended: noisy")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
