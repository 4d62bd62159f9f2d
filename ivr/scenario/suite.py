"""``hotline scenario run FILE...``: check every file, then call the hotline once per
scenario, one after another, printing PASS or FAIL for each.

Exit codes: 0 all passed, 1 some failed, 2 nothing was run (a file is invalid, a prompt
has no audio, or the hotline cannot be reached).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from hotline.errors import HotlineError
from ivr.scenario.call import CallNotAnswered, ScenarioCall
from ivr.scenario.live import AriAccess, LiveHotline
from ivr.scenario.report import result_line, summary_line
from ivr.scenario.runner import PromptAudio, ScenarioResult, StepFailure, run_scenario
from ivr.scenario.script import CallSetup, Scenario, ScriptError, load_scenario

log = logging.getLogger(__name__)

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_NOT_RUN = 2


@dataclass(frozen=True)
class ScenarioSettings:
    ari_url: str
    ari_user: str
    ari_password: str = field(repr=False)
    ari_app: str  # the hotline's Stasis application
    db_url: str  # the controller's database (its call timeline)
    prompts_dir: Path  # <lang>/<id>.wav: what each prompt sounds like
    recordings_dir: Path  # the PBX's recordings directory, as seen from this machine
    prompt_ids: frozenset[str]  # the catalogue's prompt ids
    answer_timeout: float = 15.0


class Dialler(Protocol):
    """Places scenario calls: ``LiveHotline``, or a fake in tests."""

    def call(
        self, setup: CallSetup, answer_timeout: float
    ) -> AbstractAsyncContextManager[ScenarioCall]: ...


Connect = Callable[[ScenarioSettings], AbstractAsyncContextManager[Dialler]]


def connect_live(settings: ScenarioSettings) -> AbstractAsyncContextManager[Dialler]:
    ari = AriAccess(settings.ari_url, settings.ari_user, settings.ari_password, settings.ari_app)
    return LiveHotline(ari, settings.db_url, settings.recordings_dir)


def _print(line: str) -> None:
    print(line, flush=True)


async def run_scenarios(
    paths: Sequence[Path],
    settings: ScenarioSettings,
    say: Callable[[str], None] = _print,
    connect: Connect = connect_live,
) -> int:
    """Run the scenario files in order; print one line each; return the exit code."""
    audio = PromptAudio(settings.prompts_dir)
    scenarios, problems = load_all(paths, settings.prompt_ids, audio)
    for problem in problems:
        say(problem)
    if problems:
        return EXIT_NOT_RUN
    results: list[ScenarioResult] = []
    try:
        async with connect(settings) as dialler:
            for scenario in scenarios:
                result = await _run_one(dialler, scenario, audio, settings.answer_timeout)
                results.append(result)
                say(result_line(result))
    except HotlineError as exc:  # the hotline cannot be reached at all
        say(f"error: {exc.message}")
        return EXIT_NOT_RUN
    if len(results) > 1:
        say(summary_line(results))
    return EXIT_PASSED if all(result.passed for result in results) else EXIT_FAILED


def load_all(
    paths: Sequence[Path], prompt_ids: frozenset[str], audio: PromptAudio
) -> tuple[list[Scenario], list[str]]:
    """Every scenario, and every problem (``file:line: ...``) that stops the run."""
    scenarios, problems = [], []
    for path in paths:
        try:
            scenario = load_scenario(path, prompt_ids)
        except ScriptError as exc:
            problems.append(exc.message)
            continue
        for line, wav in audio.missing(scenario):
            problem = f"no audio for this prompt: {wav} (run: hotline prompts build)"
            problems.append(f"{path}:{line}: {problem}")
        scenarios.append(scenario)
    return scenarios, problems


async def _run_one(
    dialler: Dialler, scenario: Scenario, audio: PromptAudio, answer_timeout: float
) -> ScenarioResult:
    started = time.monotonic()
    try:
        async with dialler.call(scenario.call, answer_timeout) as call:
            return await run_scenario(scenario, call, audio)
    except CallNotAnswered as exc:
        text = f"call {scenario.call.to} from {scenario.call.caller}"
        failure = StepFailure(0, text, str(exc))
        return ScenarioResult(scenario, 0, time.monotonic() - started, failure)
    except Exception as exc:  # one scenario's error must not cost the others their run
        log.debug("scenario %s failed with an error", scenario.path, exc_info=True)
        message = exc.message if isinstance(exc, HotlineError) else f"{type(exc).__name__}: {exc}"
        return ScenarioResult(scenario, 0, time.monotonic() - started, error=message)
