"""Callers who cannot be heard, over real SIP (R-3.1 to R-3.5): the tester's callers send
the corpus' audio (a dead line, background sound, noise, faint speech, speech), the
hotline judges it from the audio alone and runs the standards' sequences."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from ivr.scenario import hearing
from tests.harness.corpus import Clip, Corpus
from tests.harness.db import call_for, events_of
from tests.harness.stack import Stack
from tests.harness.tester import Caller, Tester, seconds

pytestmark = pytest.mark.usefixtures("controller")

MENU_WAIT_S = 5.0  # the default menu's key timeout: the audio judged is this wait's
TOLERANCE_S = 1.0


@pytest.fixture(scope="module")
def clips(stack: Stack) -> dict[str, Path]:
    """The corpus clips the callers send, as wav files."""
    folder = stack.state / "corpus"
    folder.mkdir(exist_ok=True)
    wanted = {
        "comfort-noise-72",
        "pink-50",
        "white-28",
        "quiet-zh1-cmn+f3",
        "speech-zh1-cmn+f3",
        "snr10-pink-en1-en-gb+f2",
        "speech-en2-en-us",
    }
    chosen: list[Clip] = [c for c in Corpus().clips() if c.name in wanted]
    # Asterisk finds media by name without the extension: no dots or pluses in it.
    return {c.name: c.write_wav(folder / f"clip-{_safe(c.name)}.wav") for c in chosen}


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name)


def lead_s(wav: Path) -> float:
    """Leading silence of a prompt: matching finds where its sound starts."""
    loud = np.flatnonzero(np.abs(hearing.read_wav(wav)) > 200)
    return float(loud[0]) / hearing.RATE if len(loud) else 0.0


async def heard_through(stack: Stack, caller: Caller, prompt: str, after_s: float) -> float:
    """Wait until ``prompt`` is heard after ``after_s``; returns where it ended."""
    wav = stack.prompt(prompt)
    match = await caller.expect_heard(wav, timeout=12, after_s=after_s)
    return match.offset_s - lead_s(wav) + seconds(wav)


async def through_main_menu(stack: Stack, caller: Caller) -> float:
    greeting_end = await heard_through(stack, caller, "greeting", 0.0)
    return await heard_through(stack, caller, "main-menu", greeting_end - 0.5)


@dataclass(frozen=True)
class Case:
    kind: str
    clip: str
    caller_id: str
    prompts: tuple[str, ...]
    waits: tuple[float, ...]  # after each prompt, as the standards prescribe


CASES = [
    Case("silent", "comfort-noise-72", "13900000001", ("line-silent-hello", "line-silent-bye"),
         (5.0, 5.0)),
    Case("open-line", "pink-50", "13900000002", ("line-open-hello", "line-open-bye"),
         (3.0, 0.0)),
    Case("noisy", "white-28", "13900000003", ("line-noisy-louder", "line-noisy-bye"),
         (3.0, 5.0)),
    Case("quiet", "quiet-zh1-cmn+f3", "13900000004", ("line-quiet-louder", "line-quiet-bye"),
         (5.0, 5.0)),
]  # fmt: skip


CASE_BY_KIND = {case.kind: case for case in CASES}


async def run_case(stack: Stack, tester: Tester, clips: dict[str, Path], case: Case) -> str:
    caller = await tester.call("4008001234", caller_id=case.caller_id)
    try:
        await caller.start_sound(clips[case.clip])
        menu_end = await through_main_menu(stack, caller)
        position = menu_end
        for prompt in case.prompts:
            position = await heard_through(stack, caller, prompt, position - 0.5)
        prescribed = menu_end + MENU_WAIT_S + sum(case.waits)
        prescribed += sum(seconds(stack.prompt(p)) for p in case.prompts)
        hung_up = await caller.hung_up_at(timeout=prescribed - position + 10)
        # Nothing else was played: no second hello, no no-input prompt in between.
        for extra in ("no-input", "main-menu"):
            extra_heard = hearing.find(
                hearing.read_wav(stack.prompt(extra)), caller.heard(), menu_end + 0.5
            )
            assert extra_heard.score < hearing.MATCH_THRESHOLD, f"{case.kind}: heard {extra}"
        assert abs(hung_up - prescribed) <= TOLERANCE_S, (
            f"{case.kind}: hung up at {hung_up:.2f} s, prescribed {prescribed:.2f} s"
        )
        return case.caller_id
    finally:
        await caller.hangup()


async def test_each_unusable_line_hears_its_sequence_and_is_hung_up_on_time(
    controller: Stack, tester: Tester, clips: dict[str, Path]
) -> None:
    await asyncio.gather(*(run_case(controller, tester, clips, c) for c in CASES))
    for case in CASES:
        record = await call_for(controller, case.caller_id, timeout=5, closed=True)
        assert record.disposition == case.kind
        line = [e.data for e in await events_of(controller, record.id) if e.kind == "line"]
        judged = line[0]
        assert judged["event"] == "judged" and judged["verdict"] == case.kind
        for evidence in ("level_db", "loud_db", "floor_db", "syllables", "seconds"):
            assert evidence in judged
        assert [e["prompt"] for e in line if e["event"] == "step"] == list(case.prompts)
        assert line[-1]["event"] == "hangup" and line[-1]["disposition"] == case.kind
    # the evidence is the line's own: comfort noise near -72 dBFS, white noise near -28
    silent = await call_for(controller, "13900000001", timeout=5, closed=True)
    noisy = await call_for(controller, "13900000003", timeout=5, closed=True)
    levels = {}
    for record in (silent, noisy):
        first = next(e.data for e in await events_of(controller, record.id) if e.kind == "line")
        levels[record.disposition] = float(first["level_db"])
    assert -78 < levels["silent"] < -62 and -32 < levels["noisy"] < -24, levels


async def line_events(stack: Stack, caller_id: str) -> list[dict[str, object]]:
    record = await call_for(stack, caller_id, timeout=5)
    return [e.data for e in await events_of(stack, record.id) if e.kind == "line"]


async def talks_instead_of_pressing(
    stack: Stack, tester: Tester, clip: Path, caller_id: str
) -> None:
    """A caller who talks through the wait gets the usual no-input, never a sequence."""
    caller = await tester.call("4008001234", caller_id=caller_id)
    try:
        await caller.start_sound(clip)
        menu_end = await through_main_menu(stack, caller)
        again = await heard_through(stack, caller, "no-input", menu_end)
        await heard_through(stack, caller, "main-menu", again - 0.5)
        await caller.stop_sound()  # (a channel sends keys only once its playback is over)
        await caller.press("1")
        await heard_through(stack, caller, "enter-phone-number", again)
        for prompt in ("line-silent-hello", "line-noisy-louder", "line-quiet-louder"):
            found = hearing.find(hearing.read_wav(stack.prompt(prompt)), caller.heard())
            assert found.score < hearing.MATCH_THRESHOLD, f"{caller_id} heard {prompt}"
    finally:
        await caller.hangup()
    line = await line_events(stack, caller_id)
    assert [e["verdict"] for e in line] == ["speech"]  # judged once, at the silent wait
    assert not [e for e in line if e["event"] != "judged"]


async def key_during_a_sequence(
    stack: Stack,
    tester: Tester,
    caller_id: str,
    line_sound: Path | None,
    kind: str,
    key: str,
    then: str,
) -> None:
    """A key in the sequence's first wait brings the caller back to the main menu, which
    takes the key and plays ``then``."""
    caller = await tester.call("4008001234", caller_id=caller_id)
    try:
        if line_sound is not None:
            await caller.start_sound(line_sound)
        menu_end = await through_main_menu(stack, caller)
        first = CASE_BY_KIND[kind].prompts[0]
        first_end = await heard_through(stack, caller, first, menu_end)
        await caller.stop_sound()  # (a channel sends keys only once its playback is over)
        await caller.press(key)
        await heard_through(stack, caller, then, first_end - 0.5)
    finally:
        await caller.hangup()
    line = await line_events(stack, caller_id)
    assert line[0]["verdict"] == kind
    assert line[-1] == {"event": "resumed", "sequence": kind, "step": 1, "by": "key",
                        "key": key}  # fmt: skip


async def speech_during_a_sequence(
    stack: Stack, tester: Tester, caller_id: str, line_sound: Path, kind: str, voice: Path
) -> None:
    """The caller speaks up during the first step: back to the main menu, no goodbye."""
    caller = await tester.call("4008001234", caller_id=caller_id)
    try:
        await caller.start_sound(line_sound)
        menu_end = await through_main_menu(stack, caller)
        first, bye = CASE_BY_KIND[kind].prompts
        started = await caller.expect_heard(stack.prompt(first), timeout=12, after_s=menu_end)
        await caller.stop_sound()
        await caller.start_sound(voice)
        spoke_at = caller.position()
        back = await caller.expect_heard(stack.prompt("main-menu"), timeout=10, after_s=spoke_at)
        assert back.offset_s - spoke_at < 4.0, "speech took too long to be noticed"
        assert back.offset_s > started.offset_s
        goodbye = hearing.find(hearing.read_wav(stack.prompt(bye)), caller.heard())
        assert goodbye.score < hearing.MATCH_THRESHOLD, "the goodbye was played"
    finally:
        await caller.hangup()
    line = await line_events(stack, caller_id)
    assert line[0]["verdict"] == kind
    resumed = line[-1]
    assert resumed["event"] == "resumed" and resumed["by"] == "speech"
    assert resumed["verdict"] == "speech"


async def test_speech_never_triggers_a_sequence_and_a_key_or_speech_leaves_one(
    controller: Stack, tester: Tester, clips: dict[str, Path]
) -> None:
    voice = clips["speech-en2-en-us"]
    await asyncio.gather(
        talks_instead_of_pressing(controller, tester, clips["speech-zh1-cmn+f3"], "13900000021"),
        talks_instead_of_pressing(
            controller, tester, clips["snr10-pink-en1-en-gb+f2"], "13900000022"
        ),
        # A line that sends nothing at all is a dead line; 2 in its wait: the repair menu.
        key_during_a_sequence(
            controller, tester, "13900000011", None, "silent", "2", "repair-menu"
        ),
        key_during_a_sequence(
            controller,
            tester,
            "13900000013",
            clips["pink-50"],
            "open-line",
            "3",
            "enter-account",
        ),  # fmt: skip
        speech_during_a_sequence(
            controller, tester, "13900000012", clips["white-28"], "noisy", voice
        ),
        # 「请您大声一点」, and the caller does: the menu again.
        speech_during_a_sequence(
            controller, tester, "13900000014", clips["quiet-zh1-cmn+f3"], "quiet", voice
        ),
    )
    for caller_id in ("11", "12", "13", "14", "21", "22"):
        record = await call_for(controller, f"139000000{caller_id}", timeout=10, closed=True)
        assert record.disposition == "caller_hangup"
