"""Whole-call recording and the satisfaction survey (R-5, R-6), over real SIP: what the
stored file holds is checked by finding in it what the caller and the agent's phone sent
and heard."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from ivr.scenario import hearing
from tests.harness.centre import Centre
from tests.harness.db import call_for, events_of, survey_of
from tests.harness.tester import Caller


def found(template: Path, audio: hearing.Samples, what: str) -> float:
    """Where ``template`` is in ``audio`` (seconds); fails when it is not there."""
    match = hearing.find(hearing.read_wav(template), audio)
    assert match.score >= hearing.MATCH_THRESHOLD, f"{what} is not in the recording ({match})"
    return match.offset_s


async def heard_for(caller: Caller, seconds: float, timeout: float) -> float:
    """Wait until the caller's side has recorded ``seconds`` more audio; returns where
    that stretch began on the caller's time line."""
    start = caller.position()
    deadline = time.monotonic() + timeout
    while caller.position() < start + seconds:
        assert time.monotonic() < deadline, f"the caller's audio stalled at {caller.position()} s"
        await asyncio.sleep(0.05)
    return start


async def survey_call(
    centre: Centre, keys: str, caller_id: str, agent: str
) -> tuple[Caller, str, float]:
    """A caller served by ``agent``: returns the caller, the call id, and where on the
    caller's time line the agent has answered."""
    caller = await centre.call(keys, caller_id=caller_id)
    await centre.phones[agent].wait_call_from(caller_id, 30)
    await centre.desks[agent].wait_me(lambda m: m["state"] == "on-call", 10, "on the call")
    record = await call_for(centre.stack, caller_id, 5)
    return caller, record.id, caller.position()


async def test_survey_hang_up_invalid_key_switched_off_and_no_key(centre: Centre) -> None:
    stack = centre.stack
    for agent in ("1001", "1002", "1003"):
        await centre.agent(agent)
    question = stack.prompt("survey")
    # Three callers at once, one per agent: complaints (1001), gas (1002), water (1003).
    gone, gone_id, _ = await survey_call(centre, "4", "13800002101", "1001")
    retry, retry_id, _ = await survey_call(centre, "22", "13800002102", "1002")
    off, off_id, _ = await survey_call(centre, "21", "13800002103", "1003")
    # 1003 switches the survey off for this call.
    switched = await centre.desks["1003"].post("/api/me/call/survey", {"enabled": False})
    assert switched["survey"] is False
    status, body = await centre.desks["1003"].request(
        "POST", "/api/me/call/survey", {"enabled": "no"}
    )
    assert (status, body["error_id"]) == (400, "bad-request")
    marks = {c.caller_id: c.position() for c in (gone, retry, off)}
    for agent in ("1001", "1002", "1003"):
        await centre.phones[agent].hang_up()
    # Hangs up while the question plays.
    await gone.expect_heard(question, 10, after_s=marks[gone.caller_id])
    await gone.hangup()
    # A wrong key: "not a valid choice", the question again, then 2.
    await retry.expect_heard(question, 10, after_s=marks[retry.caller_id])
    await retry.press("7")
    again = await retry.expect_heard(
        stack.prompt("invalid-key"), 10, after_s=marks[retry.caller_id]
    )
    await retry.expect_heard(question, 10, after_s=again.offset_s)
    await retry.press("2")
    await retry.expect_heard(stack.prompt("survey-thanks"), 10, after_s=again.offset_s)
    await retry.wait_hung_up(10)
    # Switched off: goodbye, and no question.
    await off.expect_heard(stack.prompt("goodbye"), 10, after_s=marks[off.caller_id])
    await off.wait_hung_up(10)
    unasked = hearing.find(
        hearing.read_wav(question), off.heard()[int(marks[off.caller_id] * 8000) :]
    )
    assert unasked.score < hearing.MATCH_THRESHOLD, "the survey was asked although switched off"

    results = {
        call: (a.agent, a.queue, a.result, a.keys)
        for call in (gone_id, retry_id, off_id)
        for a in [await survey_of(stack, call, 15)]
    }
    assert results == {
        gone_id: ("1001", "complaints", "hung-up", ""),
        retry_id: ("1002", "repair", "2", "72"),
        off_id: ("1003", "repair", "off", ""),
    }
    # The agent pushes the survey (and leaves); the caller presses nothing.
    await centre.desks["1001"].wait_me(lambda m: m["state"] == "ready", 10, "ready again")
    silent, silent_id, mark = await survey_call(centre, "4", "13800002104", "1001")
    pushed = await centre.desks["1001"].post("/api/me/call/survey", {"now": True})
    assert pushed == {"call": silent_id, "survey": True, "now": True}
    await silent.expect_heard(question, 10, after_s=mark)
    await silent.expect_heard(stack.prompt("goodbye"), 15, after_s=mark)
    await silent.wait_hung_up(10)
    answer = await survey_of(stack, silent_id, 10)
    assert (answer.agent, answer.result) == ("1001", "no-key")
    await call_for(stack, "13800002104", 10, closed=True)
    kinds = [e.kind for e in await events_of(stack, silent_id)]
    assert kinds.count("survey") == 1 and kinds.index("survey") < kinds.index("ended")
