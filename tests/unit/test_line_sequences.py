"""The R-3 sequences as a script: what is said, how long it listens, when it hangs up,
and how a key or speech brings the caller back (pure logic; tests/integration/
test_line_sequences.py plays the same over SIP)."""

from __future__ import annotations

from typing import Any

from ivr.line.classifier import Evidence, LineClass
from ivr.line.sequences import Presence, check_line, run_sequence
from ivr.model import STANDARD_SEQUENCES, LineCheck


def heard(verdict: LineClass) -> Evidence:
    return Evidence(verdict, 5.0, -50.0, -48.0, -52.0, 0.0, 0.0)


class ScriptedLine:
    """Plays nothing, listens to nothing: ``shows_up`` says at which say/listen (counted
    from 1) the caller appears, and how."""

    def __init__(self, verdict: LineClass, shows_up: dict[int, Presence] | None = None) -> None:
        self.verdict = verdict
        self.shows_up = shows_up or {}
        self.done: list[str] = []
        self.timeline: list[dict[str, Any]] = []
        self.hung_up = False

    def _turn(self, what: str) -> Presence | None:
        self.done.append(what)
        return self.shows_up.get(len(self.done))

    async def say(self, prompt: str) -> Presence | None:
        return self._turn(prompt)

    async def listen(self, seconds: float) -> Presence | None:
        return self._turn(f"listen {seconds:g}")

    def evidence(self, seconds: float) -> Evidence:
        return heard(self.verdict)

    async def hangup(self) -> None:
        self.hung_up = True

    async def log(self, **data: Any) -> None:
        self.timeline.append(data)


async def test_each_class_says_the_standard_prompts_then_hangs_up() -> None:
    expected = {
        LineClass.SILENT: ["line-silent-hello", "listen 5", "line-silent-bye", "listen 5"],
        LineClass.OPEN_LINE: ["line-open-hello", "listen 3", "line-open-bye"],
        LineClass.NOISY: ["line-noisy-louder", "listen 3", "line-noisy-bye", "listen 5"],
        LineClass.QUIET: ["line-quiet-louder", "listen 5", "line-quiet-bye", "listen 5"],
    }
    for kind, script in expected.items():
        line = ScriptedLine(kind)
        outcome = await check_line(LineCheck(), 5.0, line)
        assert outcome is not None and outcome.hung_up and outcome.kind is kind
        assert line.done == script and line.hung_up
        judged, *_, last = line.timeline
        assert judged["event"] == "judged" and judged["verdict"] == kind.value
        assert judged["level_db"] == -50.0  # the evidence is on the timeline
        assert last["event"] == "hangup" and last["disposition"] == kind.value


async def test_a_caller_who_speaks_or_presses_a_key_is_not_put_through_a_sequence() -> None:
    for verdict in (LineClass.SPEECH, LineClass.KEY):
        line = ScriptedLine(verdict)
        assert await check_line(LineCheck(), 5.0, line) is None
        assert line.done == [] and not line.hung_up
        assert line.timeline[0]["verdict"] == verdict.value


async def test_a_key_during_a_prompt_or_speech_during_a_wait_brings_the_caller_back() -> None:
    steps = STANDARD_SEQUENCES[LineClass.SILENT]
    line = ScriptedLine(LineClass.SILENT, {3: Presence(key="2")})  # during the goodbye
    outcome = await run_sequence(LineClass.SILENT, steps, line)
    assert not outcome.hung_up and outcome.key == "2"
    assert line.done == ["line-silent-hello", "listen 5", "line-silent-bye"]
    assert line.timeline[-1] == {
        "event": "resumed", "sequence": "silent", "step": 2, "by": "key", "key": "2"
    }  # fmt: skip

    spoke = Presence(evidence=heard(LineClass.SPEECH))
    line = ScriptedLine(LineClass.NOISY, {2: spoke})  # in the 3 s after "louder, please"
    outcome = await run_sequence(LineClass.NOISY, STANDARD_SEQUENCES[LineClass.NOISY], line)
    assert not outcome.hung_up and outcome.key is None and not line.hung_up
    assert line.timeline[-1]["by"] == "speech" and line.timeline[-1]["verdict"] == "speech"


async def test_a_line_check_that_is_off_for_a_node_or_has_no_sequence_does_nothing() -> None:
    check = LineCheck(nodes=frozenset({"main"}), sequences={})
    assert check.applies_to("main") and not check.applies_to("repair")
    line = ScriptedLine(LineClass.SILENT)
    assert await check_line(check, 5.0, line) is None  # judged, but no sequence for it
    assert line.done == [] and line.timeline[0]["event"] == "judged"
