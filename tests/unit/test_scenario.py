"""Scenario files and the step engine, against a fake call that "plays" prompt audio."""

from __future__ import annotations

import asyncio
import wave
import zlib
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ivr.scenario import hearing
from ivr.scenario.call import CallNotAnswered, TimelineEvent
from ivr.scenario.report import result_line
from ivr.scenario.runner import PromptAudio, ScenarioResult, run_scenario
from ivr.scenario.script import (
    ExpectHangup,
    ExpectPrompts,
    ExpectQueue,
    ExpectTransfer,
    Hangup,
    Press,
    Scenario,
    ScriptError,
    Silence,
    load_scenario,
    parse_scenario,
)
from ivr.scenario.suite import ScenarioSettings, run_scenarios
from prompts.build import load_catalogue

PROMPTS = frozenset(
    {
        "greeting",
        "main-menu",
        "enter-phone-number",
        "readback-phone-number",
        "confirm-or-reenter",
        "repair-menu",
        "goodbye",
        *(f"digit-{d}" for d in "0123456789"),
    }
)
CALL = 'call: {to: "4008001234", from: "13800138000"}\n'
EXAMPLES = Path(__file__).resolve().parents[2] / "ivr" / "scenarios"


# --- scenario files --------------------------------------------------------------------------
def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_is_read_step_by_step(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: 报装 with read-back\n"
        "call:\n"
        '  to: "4008001234"\n'
        "  from: 13800138000\n"
        "timeout: 12\n"
        "steps:\n"
        "  - expect: greeting\n"
        "  - expect: [readback-phone-number, digit-1,\n"
        "             digit-3]\n"
        "  - expect: {prompt: main-menu, language: en, timeout: 20}\n"
        '  - press: "13800138000#"\n'
        "  - press: 0\n"
        "  - silence: 6\n"
        "  - expect: {queue: install}\n"
        '  - expect: {transfer: "agent:8000"}\n'
        "  - expect: hangup\n"
        "    timeout: 30\n"
        "  - hangup\n",
    )
    scenario = load_scenario(path, PROMPTS)
    assert scenario.name == "报装 with read-back"
    assert (scenario.call.to, scenario.call.caller, scenario.call.language) == (
        "4008001234",
        "13800138000",
        "zh",
    )
    actions = [step.action for step in scenario.steps]
    assert actions == [
        ExpectPrompts(("greeting",), "zh", 12.0),
        ExpectPrompts(("readback-phone-number", "digit-1", "digit-3"), "zh", 12.0),
        ExpectPrompts(("main-menu",), "en", 20.0),
        Press("13800138000#"),
        Press("0"),
        Silence(6.0),
        ExpectQueue("install", 12.0),
        ExpectTransfer("agent:8000", 12.0),
        ExpectHangup(30.0),
        Hangup(),
    ]
    assert [step.number for step in scenario.steps] == list(range(1, 11))
    assert [step.line for step in scenario.steps] == [7, 8, 10, 11, 12, 13, 14, 15, 16, 18]
    assert scenario.steps[1].text == "expect: [readback-phone-number, digit-1, digit-3]"
    assert scenario.steps[2].text == "expect: {prompt: main-menu, language: en, timeout: 20}"
    assert scenario.steps[8].text == "expect: hangup, timeout: 30"


def test_the_name_defaults_to_the_file_name(tmp_path: Path) -> None:
    path = write(tmp_path, CALL + "steps: [hangup]\n", "quick.yaml")
    assert load_scenario(path, PROMPTS).name == "quick.yaml"


BROKEN = [
    (
        CALL + "timout: 5\nsteps: [hangup]\n",
        "2: timout: unknown key (did you mean 'timeout'?)",
    ),
    (
        CALL + "steps:\n  - expect: greeting\n  - expect: repair-menus\n",
        "4: steps.2.expect: no prompt 'repair-menus' in the catalogue "
        "(did you mean 'repair-menu'?)",
    ),
    (
        CALL + "steps:\n  - expect: [readback-phone-number,\n             digits-1]\n",
        "4: steps.1.expect: no prompt 'digits-1' in the catalogue (did you mean 'digit-1'?)",
    ),
    (
        CALL + 'steps:\n  - press: "12a#"\n',
        "3: steps.1.press: expected keys (0-9, * and #), got '12a#'",
    ),
    (
        CALL + "steps:\n  - press: 0123\n",
        '3: steps.1.press: write these keys (0-9, * and #) in quotes, e.g. "0123"',
    ),
    (
        'call: {to: "4008001234", from: "+86 138"}\nsteps: [hangup]\n',
        "1: call.from: expected digits, got '+86 138'",
    ),
    (
        CALL + "steps: []\n",
        "2: steps: a scenario needs at least one step",
    ),
    (
        CALL + "steps:\n  - expect: {prompt: main-menu, lang: en}\n",
        "3: steps.1.expect.lang: unknown key (did you mean 'language'?)",
    ),
    (
        CALL + "steps:\n  - hangup\n  - expect: goodbye\n",
        "4: steps.2: nothing can follow the caller's hangup (step 1)",
    ),
    (
        CALL + 'steps:\n  - expect: greeting\n    press: "1"\n',
        "4: steps.1.press: one action per step (this step already has 'expect')",
    ),
    (
        CALL + 'steps:\n  - pres: "1"\n',
        "3: steps.1.pres: unknown step (did you mean 'press'?)",
    ),
    (
        CALL + "steps:\n  - expect: {transfer: agent}\n",
        "3: steps.1.expect.transfer: expected agent:<extension> or outside:<number>, got 'agent'",
    ),
    (
        CALL + "steps:\n  - expect: {queue: install, timeout: 5}\n    timeout: 6\n",
        "3: steps.1.expect.timeout: give the timeout once: beside expect or inside it",
    ),
    (
        'call: {to: "4008001234"}\nsteps: [hangup]\n',
        "1: call: missing required key 'from'",
    ),
]


@pytest.mark.parametrize(("text", "error"), BROKEN)
def test_a_broken_file_is_refused_naming_file_line_and_key(
    tmp_path: Path, text: str, error: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ScriptError) as caught:
        load_scenario(path, PROMPTS)
    assert caught.value.message == f"{path}:{error}"


def test_the_example_scenarios_are_valid() -> None:
    ids = frozenset(load_catalogue({"name_zh": "XX", "name_en": "XX"}))
    for name in ("install.yaml", "agent.yaml"):
        scenario = load_scenario(EXAMPLES / name, ids)
        assert isinstance(scenario.steps[-1].action, Hangup)


# --- the step engine against a fake call -----------------------------------------------------
T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
GAP = np.zeros(hearing.RATE // 5)  # 0.2 s between prompts


def make_prompts(root: Path, ids: Iterable[str] = PROMPTS) -> Path:
    """Each prompt a noise burst of its own (noise decorrelates from anything else), padded
    with silence like a synthesised prompt; digits are short, as real ones are."""
    for prompt in ids:
        rng = np.random.default_rng(zlib.crc32(prompt.encode()))
        seconds = 0.4 if prompt.startswith("digit-") else 1.2
        voice = rng.normal(0, 3000, int(seconds * hearing.RATE))
        padded = np.concatenate([np.zeros(800), voice, np.zeros(800)])
        path = root / "zh" / f"{prompt}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(hearing.RATE)
            w.writeframes(np.clip(padded, -32768, 32767).astype("<i2").tobytes())
    return root


@dataclass
class Phase:
    """What the hotline does after the caller's n-th press: prompts, then timeline events."""

    prompts: list[str]
    events: list[tuple[str, dict[str, Any]]]


class FakeCall:
    """An IVR on rails: phase 0 plays at once; each press plays the next phase."""

    def __init__(
        self,
        prompts_dir: Path,
        phases: list[Phase],
        hangs_up_at_end: bool = False,
        press_error: Exception | None = None,
    ) -> None:
        self.prompts_dir = prompts_dir
        self.phases = phases
        self.hangs_up_at_end = hangs_up_at_end
        self.press_error = press_error
        self.audio = np.zeros(hearing.RATE // 2)
        self.events: list[TimelineEvent] = []
        self.presses: list[str] = []
        self.hangups = 0
        self.phase = -1
        self._next_phase()

    def now(self) -> datetime:
        """The newest audio is being heard right now."""
        return T0 + timedelta(seconds=len(self.audio) / hearing.RATE)

    def _next_phase(self) -> None:
        self.phase += 1
        if self.phase >= len(self.phases):
            return
        phase = self.phases[self.phase]
        for kind, data in phase.events:
            self.events.append(TimelineEvent(self.now(), kind, data))
        for prompt in phase.prompts:
            self.events.append(TimelineEvent(self.now(), "prompt", {"ids": [prompt]}))
            wav = hearing.read_wav(self.prompts_dir / "zh" / f"{prompt}.wav")
            self.audio = np.concatenate([self.audio, wav, GAP])

    async def heard(self) -> hearing.Samples:
        return self.audio

    async def press(self, keys: str) -> None:
        if self.press_error is not None:
            raise self.press_error
        self.presses.append(keys)
        self._next_phase()

    async def hung_up(self) -> bool:
        return self.hangs_up_at_end and self.phase >= len(self.phases) - 1

    async def timeline(self) -> list[TimelineEvent]:
        return list(self.events)

    async def hangup(self) -> None:
        self.hangups += 1


INSTALL = [
    Phase(["greeting", "main-menu"], []),
    Phase(["enter-phone-number"], [("node", {"node": "install", "event": "enter"})]),
    Phase(["readback-phone-number", *(f"digit-{d}" for d in "13800"), "confirm-or-reenter"], []),
    Phase([], [("queued", {"queue": "install", "skills": ["install"], "priority": 5})]),
]

INSTALL_STEPS = (
    "steps:\n"
    "  - expect: greeting\n"
    "  - expect: main-menu\n"
    '  - press: "1"\n'
    "  - expect: enter-phone-number\n"
    '  - press: "13800#"\n'
    "  - expect: [readback-phone-number, digit-1, digit-3, digit-8, digit-0, digit-0]\n"
    "  - expect: confirm-or-reenter\n"
    '  - press: "1"\n'
)


def scenario_of(tmp_path: Path, steps: str, timeout: float = 2) -> Scenario:
    return parse_scenario(tmp_path / "s.yaml", f"{CALL}timeout: {timeout}\n{steps}", PROMPTS)


async def run(tmp_path: Path, steps: str, call: FakeCall, timeout: float = 2) -> ScenarioResult:
    audio = PromptAudio(call.prompts_dir)
    return await run_scenario(scenario_of(tmp_path, steps, timeout), call, audio, call.now)


async def test_the_right_script_passes(tmp_path: Path) -> None:
    call = FakeCall(make_prompts(tmp_path / "prompts"), INSTALL)
    steps = INSTALL_STEPS + "  - expect: {queue: install}\n  - hangup\n"
    result = await run(tmp_path, steps, call)
    assert result.passed, result.failure
    assert result.steps_run == 10
    assert call.presses == ["1", "13800#", "1"]
    assert call.hangups >= 1
    assert result_line(result).startswith(f"PASS {tmp_path / 's.yaml'}: s.yaml (10 steps, ")


async def test_a_wrong_expectation_names_the_step_and_what_was_played(tmp_path: Path) -> None:
    call = FakeCall(make_prompts(tmp_path / "prompts"), INSTALL)
    steps = 'steps:\n  - expect: greeting\n  - expect: main-menu\n  - press: "1"\n'
    result = await run(tmp_path, steps + "  - expect: repair-menu\n", call, timeout=0.5)
    failure = result.failure
    assert failure is not None
    assert (failure.number, failure.text) == (4, "expect: repair-menu")
    assert failure.reason.startswith("not heard within 0.5 s (best match 0.")
    assert failure.reason.endswith("; the hotline played instead: enter-phone-number")
    assert call.hangups == 1
    assert result_line(result) == (
        f"FAIL {tmp_path / 's.yaml'}: step 4 (expect: repair-menu): {failure.reason}"
    )


async def test_prompts_are_expected_in_order(tmp_path: Path) -> None:
    call = FakeCall(make_prompts(tmp_path / "prompts"), INSTALL)
    result = await run(
        tmp_path, "steps:\n  - expect: main-menu\n  - expect: greeting\n", call, timeout=0.5
    )
    assert result.failure is not None and result.failure.number == 2
    assert result.failure.reason.endswith("; the hotline played no prompt since the previous step")


async def test_a_repeated_digit_must_be_heard_twice(tmp_path: Path) -> None:
    phases = [Phase(["readback-phone-number", "digit-1", "digit-0", "digit-3"], [])]
    call = FakeCall(make_prompts(tmp_path / "prompts"), phases)
    steps = "steps:\n  - expect: [readback-phone-number, digit-1, digit-0, digit-0]\n"
    result = await run(tmp_path, steps, call, timeout=0.5)
    assert result.failure is not None
    assert result.failure.reason.startswith("digit-0 not heard within 0.5 s")


async def test_a_queue_expectation_reads_the_timeline(tmp_path: Path) -> None:
    prompts = make_prompts(tmp_path / "prompts")
    steps = INSTALL_STEPS + "  - expect: {queue: repair}\n"
    result = await run(tmp_path, steps, FakeCall(prompts, INSTALL), timeout=0.5)
    assert result.failure is not None
    assert result.failure.number == 9
    assert (
        result.failure.reason
        == "not queued for 'repair' within 0.5 s; queued for 'install' instead"
    )


async def test_a_transfer_that_never_came(tmp_path: Path) -> None:
    call = FakeCall(make_prompts(tmp_path / "prompts"), INSTALL)
    steps = 'steps:\n  - press: "1"\n  - expect: {transfer: "agent:8000"}\n'
    result = await run(tmp_path, steps, call, timeout=0.5)
    assert result.failure is not None
    assert result.failure.reason == (
        "not transferred to 'agent:8000' within 0.5 s; the hotline played: enter-phone-number"
    )


async def test_the_hotline_hanging_up(tmp_path: Path) -> None:
    prompts = make_prompts(tmp_path / "prompts")
    phases = [Phase(["goodbye"], [])]
    ok = await run(
        tmp_path,
        "steps:\n  - expect: goodbye\n  - expect: hangup\n",
        FakeCall(prompts, phases, hangs_up_at_end=True),
    )
    assert ok.passed
    call = FakeCall(prompts, phases, hangs_up_at_end=True)
    late = await run(tmp_path, "steps:\n  - expect: main-menu\n", call, timeout=30)
    assert late.failure is not None
    assert late.failure.reason.startswith("the hotline hung up before main-menu was heard")
    assert late.seconds < 5  # it did not wait for the timeout
    stays = await run(tmp_path, "steps:\n  - expect: hangup\n", FakeCall(prompts, phases), 0.5)
    assert stays.failure is not None
    assert (
        stays.failure.reason
        == "the hotline did not hang up within 0.5 s; the hotline played: goodbye"
    )


async def test_no_record_of_the_call_is_said_so(tmp_path: Path) -> None:
    call = FakeCall(make_prompts(tmp_path / "prompts"), [Phase([], [])])
    result = await run(tmp_path, "steps:\n  - expect: {queue: install}\n", call, timeout=0.5)
    assert result.failure is not None
    assert result.failure.reason.endswith(
        "the controller has no record of this call (is it running?)"
    )


async def test_the_call_is_hung_up_after_an_error(tmp_path: Path) -> None:
    call = FakeCall(make_prompts(tmp_path / "prompts"), INSTALL, press_error=RuntimeError("boom"))
    with pytest.raises(RuntimeError):
        await run(tmp_path, 'steps:\n  - press: "1"\n', call)
    assert call.hangups == 1


async def test_the_call_is_hung_up_when_cancelled(tmp_path: Path) -> None:
    call = FakeCall(make_prompts(tmp_path / "prompts"), INSTALL)
    task = asyncio.create_task(run(tmp_path, "steps:\n  - expect: repair-menu\n", call, 60))
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert call.hangups == 1


def test_a_very_short_prompt_is_found() -> None:
    rng = np.random.default_rng(7)
    digit = rng.normal(0, 3000, int(0.2 * hearing.RATE))
    heard = np.concatenate([np.zeros(8000), rng.normal(0, 3000, 8000), digit, np.zeros(4000)])
    match = hearing.find(digit, heard, after_s=0.5)
    assert match.score > 0.9
    assert abs(match.offset_s - 2.0) < 0.01


def test_find_after_ignores_a_prompt_begun_before(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    prompt = rng.normal(0, 3000, 2 * hearing.RATE)
    heard = np.concatenate([np.zeros(8000), prompt, np.zeros(8000)])
    assert hearing.find(prompt, heard, after_s=1.5).score < hearing.MATCH_THRESHOLD
    assert hearing.find(prompt, heard, after_s=0.5).score > 0.9


def test_read_wav_refuses_other_audio(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0\0\0\0" * 100)
    with pytest.raises(ValueError, match="expected 8000 Hz mono 16-bit audio, got 16000 Hz"):
        hearing.read_wav(path)


# --- many files: exit codes and lines --------------------------------------------------------
class FakeDialler:
    def __init__(self, calls: Mapping[str, FakeCall | CallNotAnswered]) -> None:
        self.calls = calls  # by dialled number

    @asynccontextmanager
    async def call(self, setup: Any, answer_timeout: float) -> AsyncIterator[FakeCall]:
        outcome = self.calls[setup.to]
        if isinstance(outcome, CallNotAnswered):
            raise outcome
        yield outcome


def settings(tmp_path: Path) -> ScenarioSettings:
    return ScenarioSettings(
        ari_url="http://127.0.0.1:1",
        ari_user="u",
        ari_password="p",
        ari_app="hotline",
        db_url="sqlite+aiosqlite://",
        prompts_dir=tmp_path / "prompts",
        recordings_dir=tmp_path / "recordings",
        prompt_ids=PROMPTS,
    )


async def test_suite_exit_codes_and_lines(tmp_path: Path) -> None:
    prompts = make_prompts(tmp_path / "prompts")
    good = write(
        tmp_path, 'name: ok\ncall: {to: "1", from: "2"}\nsteps: [expect: greeting]\n', "a.yaml"
    )
    unanswered = write(tmp_path, 'call: {to: "9", from: "2"}\nsteps: [hangup]\n', "b.yaml")
    dialler = FakeDialler({"1": FakeCall(prompts, INSTALL), "9": CallNotAnswered(21)})

    @asynccontextmanager
    async def connect(_: ScenarioSettings) -> AsyncIterator[FakeDialler]:
        yield dialler

    lines: list[str] = []
    code = await run_scenarios([good, unanswered], settings(tmp_path), lines.append, connect)
    assert code == 1
    assert lines[0].startswith(f"PASS {good}: ok (1 step, ")
    assert lines[1] == (
        f"FAIL {unanswered}: step 0 (call 9 from 2): the hotline did not answer (cause 21)"
    )
    assert lines[2] == "2 scenarios: 1 passed, 1 failed"

    lines.clear()
    assert await run_scenarios([good], settings(tmp_path), lines.append, connect) == 0


async def test_suite_runs_nothing_when_a_file_is_invalid(tmp_path: Path) -> None:
    make_prompts(tmp_path / "prompts", ["greeting"])
    good = write(tmp_path, 'call: {to: "1", from: "2"}\nsteps: [expect: greeting]\n', "a.yaml")
    bad = write(tmp_path, 'call: {to: "1", from: "2"}\nsteps: [expect: greting]\n', "b.yaml")
    silent = write(tmp_path, 'call: {to: "1", from: "2"}\nsteps:\n  - expect: goodbye\n', "c.yaml")

    @asynccontextmanager
    async def connect(_: ScenarioSettings) -> AsyncIterator[FakeDialler]:
        raise AssertionError("no call may be placed")
        yield FakeDialler({})

    lines: list[str] = []
    code = await run_scenarios([good, bad, silent], settings(tmp_path), lines.append, connect)
    assert code == 2
    assert lines == [
        f"{bad}:2: steps.1.expect: no prompt 'greting' in the catalogue (did you mean 'greeting'?)",
        f"{silent}:3: no audio for this prompt: {tmp_path / 'prompts' / 'zh' / 'goodbye.wav'} "
        "(run: hotline prompts build)",
    ]
