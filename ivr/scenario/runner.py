"""The step engine: runs a scenario's steps against a call and says which step failed, why.

Prompts are checked by ear: the prompt's own 8 kHz audio must be found in what the caller
heard, after the point where the previous expectation matched (the cursor), so prompts
are checked in order. Queue and transfer expectations read the controller's timeline.
Whatever happens (pass, fail, error, cancellation) the call is hung up at the end.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hotline.calls.timeline import Kind
from ivr.scenario import hearing
from ivr.scenario.call import CallEnded, ScenarioCall, TimelineEvent
from ivr.scenario.script import (
    Action,
    ExpectHangup,
    ExpectPrompts,
    ExpectQueue,
    ExpectTransfer,
    Hangup,
    Press,
    Scenario,
    Silence,
)

log = logging.getLogger(__name__)

POLL_S = 0.2
# The cursor goes back this far from where a match ended: the end of a match is an
# estimate (trimmed silence, a slipped frame), and the next prompt may follow at once.
MATCH_SLACK_S = 0.3
# After the hotline hangs up, look once more: the last audio may reach the file late.
POLLS_AFTER_HANGUP = 2
HANGUP_TIMEOUT_S = 5.0
MAX_PROMPTS_SHOWN = 12

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class StepFailure:
    number: int  # from 1; 0 when the call itself could not be made
    text: str  # the step as written
    reason: str


@dataclass(frozen=True)
class ScenarioResult:
    scenario: Scenario
    steps_run: int
    seconds: float
    failure: StepFailure | None = None  # the step that failed
    error: str = ""  # or what went wrong outside the steps (ARI unreachable, ...)

    @property
    def passed(self) -> bool:
        return self.failure is None and not self.error


class PromptAudio:
    """The prompts' own audio, ``<prompts_dir>/<language>/<id>.wav``, each read once."""

    def __init__(self, prompts_dir: Path) -> None:
        self.prompts_dir = prompts_dir
        self._cache: dict[tuple[str, str], hearing.Samples] = {}

    def path(self, language: str, prompt_id: str) -> Path:
        return self.prompts_dir / language / f"{prompt_id}.wav"

    def missing(self, scenario: Scenario) -> list[tuple[int, Path]]:
        """(line, file) of every prompt the scenario listens for that has no audio."""
        found = []
        for step in scenario.steps:
            if isinstance(step.action, ExpectPrompts):
                for prompt in step.action.prompts:
                    path = self.path(step.action.language, prompt)
                    if not path.is_file():
                        found.append((step.line, path))
        return found

    def template(self, language: str, prompt_id: str) -> hearing.Samples:
        key = (language, prompt_id)
        if key not in self._cache:
            samples = hearing.read_wav(self.path(language, prompt_id))
            self._cache[key] = hearing.trim_silence(samples)
        return self._cache[key]


class StepFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def run_scenario(
    scenario: Scenario, call: ScenarioCall, audio: PromptAudio, clock: Clock = utc_now
) -> ScenarioResult:
    """Run every step until one fails; always hang the call up before returning."""
    started = time.monotonic()
    steps = _Steps(call, audio, clock)
    steps_run = 0
    try:
        for step in scenario.steps:
            steps_run = step.number
            try:
                await steps.run(step.action)
            except StepFailed as failed:
                failure = StepFailure(step.number, step.text, failed.reason)
                return ScenarioResult(scenario, steps_run, time.monotonic() - started, failure)
        return ScenarioResult(scenario, steps_run, time.monotonic() - started)
    finally:
        await hang_up_quietly(call)


async def hang_up_quietly(call: ScenarioCall) -> None:
    """Hang up within a bounded time; a failure here must not hide the scenario's outcome."""
    try:
        async with asyncio.timeout(HANGUP_TIMEOUT_S):
            await call.hangup()
    except Exception as exc:  # teardown: report, never mask the real result or error
        log.warning("could not hang up the scenario call: %s", exc)


class _Steps:
    """Runs actions in order; keeps where in the heard audio and in time the last step ended."""

    def __init__(self, call: ScenarioCall, audio: PromptAudio, clock: Clock) -> None:
        self.call = call
        self.audio = audio
        self.clock = clock
        self.cursor_s = 0.0  # into the heard audio: later expectations look after it
        # When the previous step ended, for "played instead"; at first, the whole call.
        self.since = datetime.min.replace(tzinfo=UTC)

    async def run(self, action: Action) -> None:
        if isinstance(action, ExpectPrompts):
            for prompt in action.prompts:
                await self._hear(prompt, action)
        elif isinstance(action, ExpectQueue):
            await self._see(
                action.timeout,
                lambda e: e.kind == Kind.QUEUED and e.data.get("queue") == action.queue,
                f"not queued for '{action.queue}'",
                lambda events: _others(events, Kind.QUEUED, "queue", "queued for"),
            )
        elif isinstance(action, ExpectTransfer):
            await self._see(
                action.timeout,
                lambda e: e.kind == Kind.TRANSFER and e.data.get("to") == action.target,
                f"not transferred to '{action.target}'",
                lambda events: _others(events, Kind.TRANSFER, "to", "transferred to"),
            )
        elif isinstance(action, ExpectHangup):
            await self._hangup_by_hotline(action.timeout)
        elif isinstance(action, Press):
            await self._press(action.keys)
        elif isinstance(action, Silence):
            await asyncio.sleep(action.seconds)  # the step *is* a wait: the caller says nothing
        elif isinstance(action, Hangup):
            await self.call.hangup()

    async def _hear(self, prompt: str, action: ExpectPrompts) -> None:
        template = self.audio.template(action.language, prompt)
        # The step's timeout is for the prompt to begin: a long prompt (the main menu is
        # over 13 s) also needs its own length to be heard well enough to match.
        deadline = time.monotonic() + action.timeout + len(template) / hearing.RATE
        best = 0.0
        polls_after_hangup = 0
        # In a list, say which prompt was missing; a single one is named by the step.
        what = f"{prompt} " if len(action.prompts) > 1 else ""
        while True:
            gone = await self.call.hung_up()  # before reading: the audio is then complete
            heard = await self.call.heard()
            match = await asyncio.to_thread(hearing.find, template, heard, self.cursor_s)
            if match.score >= hearing.MATCH_THRESHOLD:
                duration_s = len(template) / hearing.RATE
                # Short prompts (a digit) keep the cursor past their start, or the next
                # expectation of the same digit would find this one again.
                back_s = min(MATCH_SLACK_S, duration_s / 2)
                # A prompt may match before its last pieces are heard (a caller pressing
                # early cuts it short): the cursor never runs ahead of the audio.
                end_s = min(match.offset_s + duration_s - back_s, len(heard) / hearing.RATE)
                self.cursor_s = max(self.cursor_s, end_s)
                # The newest audio was heard just now: date the cursor back from there.
                behind = max(0.0, len(heard) / hearing.RATE - self.cursor_s)
                self.since = self.clock() - timedelta(seconds=behind)
                return
            best = max(best, match.score)
            if gone:
                polls_after_hangup += 1
            if polls_after_hangup >= POLLS_AFTER_HANGUP:
                reason = f"the hotline hung up before {prompt} was heard (best match {best:.2f})"
                raise StepFailed(reason + await self._played(prompt, action.language))
            if time.monotonic() >= deadline:
                reason = (
                    f"{what}not heard within {action.timeout:g} s (best match {best:.2f}; "
                    f"{len(heard) / hearing.RATE:.1f} s of audio, searched from "
                    f"{self.cursor_s:.1f} s)"
                )
                raise StepFailed(reason + await self._played(prompt, action.language))
            await asyncio.sleep(POLL_S)

    async def _see(
        self,
        timeout: float,
        wanted: Callable[[TimelineEvent], bool],
        missing: str,
        instead: Callable[[Sequence[TimelineEvent]], str],
    ) -> None:
        deadline = time.monotonic() + timeout
        polls_after_hangup = 0
        while True:
            gone = await self.call.hung_up()  # before reading: the timeline is then final
            events = await self.call.timeline()
            if any(wanted(e) for e in events):
                self.since = self.clock()
                return
            if gone:
                polls_after_hangup += 1
            reason = ""
            if polls_after_hangup >= POLLS_AFTER_HANGUP:
                reason = f"{missing}: the hotline hung up"
            elif time.monotonic() >= deadline:
                reason = f"{missing} within {timeout:g} s"
            if reason:
                raise StepFailed(reason + instead(events) + self._summary(events))
            await asyncio.sleep(POLL_S)

    async def _hangup_by_hotline(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not await self.call.hung_up():
            if time.monotonic() >= deadline:
                reason = f"the hotline did not hang up within {timeout:g} s"
                raise StepFailed(reason + self._summary(await self.call.timeline()))
            await asyncio.sleep(POLL_S)
        self.since = self.clock()

    async def _press(self, keys: str) -> None:
        # What the caller hears and the hotline does from now on answers the keys: later
        # steps look only after this point.
        heard = await self.call.heard()
        pressed_at = self.clock()
        try:
            await self.call.press(keys)
        except CallEnded:
            raise StepFailed("the call had already ended") from None
        self.cursor_s = len(heard) / hearing.RATE  # the answer to the keys starts here
        self.since = pressed_at

    async def _played(self, expected: str, language: str) -> str:
        events = await self.call.timeline()
        if not events:
            return _NO_RECORD
        played = _prompts_since(events, self.since)
        if not played:
            return "; the hotline played no prompt since the previous step"
        shown = _show_prompts(played, language)
        if any(prompt == expected for prompt, _ in played):
            return f"; the hotline played {shown}, but {expected} was not recognised in the audio"
        return f"; the hotline played instead: {shown}"

    def _summary(self, events: Sequence[TimelineEvent]) -> str:
        """What the caller was played since the previous step, for non-audio failures."""
        if not events:
            return _NO_RECORD
        played = _prompts_since(events, self.since)
        return f"; the hotline played: {_show_prompts(played, '')}" if played else ""


_NO_RECORD = "; the controller has no record of this call (is it running?)"


def _prompts_since(events: Sequence[TimelineEvent], since: datetime) -> list[tuple[str, str]]:
    """(prompt id, language) of every prompt the controller played from ``since`` on."""
    played = []
    for event in events:
        if event.kind == Kind.PROMPT and event.at >= since:
            language = str(event.data.get("language", ""))
            played += [(str(prompt), language) for prompt in event.data.get("ids", [])]
    return played


def _show_prompts(played: list[tuple[str, str]], language: str) -> str:
    names = [p if not language or lang in ("", language) else f"{p} ({lang})" for p, lang in played]
    if len(names) > MAX_PROMPTS_SHOWN:
        names = [*names[:MAX_PROMPTS_SHOWN], f"... ({len(names) - MAX_PROMPTS_SHOWN} more)"]
    return ", ".join(names)


def _others(events: Sequence[TimelineEvent], kind: Kind, key: str, verb: str) -> str:
    seen = [str(e.data.get(key, "?")) for e in events if e.kind == kind]
    return f"; {verb} {', '.join(repr(s) for s in seen)} instead" if seen else ""
