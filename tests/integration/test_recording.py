"""Whole-call recording and the satisfaction survey (R-5, R-6), over real SIP: what the
stored file holds is checked by finding in it what the caller and the agent's phone sent
and heard."""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import aiohttp

from ivr.scenario import hearing
from tests.harness.centre import Centre
from tests.harness.cli import hotline
from tests.harness.db import age_recording, call_for, events_of, recording_of, survey_of
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


async def test_recordings_are_each_agents_own_and_purge_takes_only_the_expired(
    centre: Centre,
) -> None:
    """Over the real stack: two agents' calls are recorded and stored; an agent is
    refused another's recording (403) and malformed or traversing ids (400), plays
    their own with a range (206); a purge removes only the recording past retention."""
    stack = centre.stack
    one, two = await centre.agent("1001"), await centre.agent("1002")
    began = datetime.now(UTC).isoformat()
    before = await metrics_of(one.base_url)
    first, first_id, _ = await survey_call(centre, "4", "13800002201", "1001")
    second, second_id, _ = await survey_call(centre, "22", "13800002202", "1002")
    for caller in (first, second):
        await caller.hangup()
    rows = [await recording_of(stack, call, 30) for call in (first_id, second_id)]
    assert [r.agent_list() for r in rows] == [["1001"], ["1002"]]

    # 1002 may not see 1001's call, nor search for 1001's recordings.
    status, body = await two.request("GET", f"/api/recordings/{first_id}")
    assert (status, body["error_id"]) == (403, "forbidden")
    status, body = await two.request("GET", f"/api/recordings/{first_id}/audio")
    assert status == 403
    status, body = await two.request("GET", "/api/recordings?agent=1001")
    assert status == 403
    mine = (await two.get("/api/recordings"))["recordings"]
    assert all("1002" in r["agents"] for r in mine) and second_id in [r["call"] for r in mine]
    since = await two.get(f"/api/recordings?since={quote(began)}")
    assert [r["call"] for r in since["recordings"]] == [second_id]
    # Malformed ids and traversal are refused before anything is looked up.
    for bad in ("not-a-call", f"{first_id}x", f"{first_id[:-1]}%00"):
        status, body = await two.request("GET", f"/api/recordings/{bad}/audio")
        assert (status, body.get("error_id")) == (400, "bad-request"), (bad, status, body)
    # An encoded slash stays in the id (400); dots are resolved away (404: no route).
    refused = {"..%2F..%2Fhotline.db": 400, "..": 404, "%2E%2E": 404}
    for traversal, expected in refused.items():
        status, body = await two.request("GET", f"/api/recordings/{traversal}/audio")
        assert status == expected and body["error_id"], (traversal, status, body)
    # Their own plays, and seeks.
    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{two.base_url}/api/recordings/{second_id}/audio",
            headers={"Authorization": f"Bearer {two.token}", "Range": "bytes=0-43"},
        ) as response:
            assert response.status == 206
            assert (await response.read())[:4] == b"RIFF"
    # 1001 sees theirs.
    assert (await one.get(f"/api/recordings/{first_id}"))["call"] == first_id

    # The same calls in the supervisors' report and in /metrics (agents may not report).
    supervisor = await centre.agent("9001", ready=False)
    status, body = await one.request("GET", "/api/reports?by=agent")
    assert (status, body["error_id"]) == (403, "forbidden")
    status, body = await supervisor.request("GET", "/api/reports?by=colour")
    assert (status, body["details"]["field"]) == (400, "by")
    report = await supervisor.get(f"/api/reports?by=agent&since={quote(began)}")
    assert {a: report["rows"][a]["answered"] for a in report["rows"]} == {"1001": 1, "1002": 1}
    after = await metrics_of(one.base_url)
    for name, more in [
        ("hotline_recordings_stored_total", 2),
        ('hotline_queue_answered{queue="complaints"}', 1),
        ('hotline_queue_answered{queue="repair"}', 1),
    ]:
        assert after.get(name, 0) - before.get(name, 0) == more, (name, before, after)

    # Retention: the first call is made 200 days old; the purge takes it and nothing else.
    store = stack.config.recordings_store
    await age_recording(stack, first_id, days=200)
    code, out, err = await hotline("--config", str(stack.config_file), "recordings", "purge")
    assert code == 0, err
    assert first_id in out and second_id not in out
    assert not (store / rows[0].path).exists() and not (store / rows[0].timeline_path).exists()
    kept = store / rows[1].path
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == rows[1].sha256
    gone = await recording_of(stack, first_id, 5, status="purged")
    assert gone.purged_at is not None
    assert (await recording_of(stack, second_id, 5)).status == "stored"


async def metrics_of(base_url: str) -> dict[str, float]:
    """The controller's /metrics samples by name and labels."""
    async with aiohttp.ClientSession() as http, http.get(f"{base_url}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    samples = [line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#")]
    return {name: float(value) for name, value in samples}
