"""One line per scenario for the admin: PASS with its size and time, or FAIL and why."""

from __future__ import annotations

from collections.abc import Sequence

from ivr.scenario.runner import ScenarioResult


def result_line(result: ScenarioResult) -> str:
    where = result.scenario.path
    if result.error:
        return f"FAIL {where}: error: {result.error}"
    failure = result.failure
    if failure is not None:
        return f"FAIL {where}: step {failure.number} ({failure.text}): {failure.reason}"
    steps = f"{result.steps_run} step{'s' if result.steps_run != 1 else ''}"
    return f"PASS {where}: {result.scenario.name} ({steps}, {result.seconds:.1f} s)"


def summary_line(results: Sequence[ScenarioResult]) -> str:
    passed = sum(result.passed for result in results)
    failed = len(results) - passed
    total = f"{len(results)} scenario{'s' if len(results) != 1 else ''}"
    return f"{total}: {passed} passed, {failed} failed"
