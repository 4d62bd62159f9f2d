"""Whole-call recording and the satisfaction survey (R-5, R-6), over real SIP: what the
stored file holds is checked by finding in it what the caller and the agent's phone sent
and heard."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import aiohttp

from ivr.scenario import hearing
from tests.harness.centre import Centre, wait_queued
from tests.harness.cli import hotline
from tests.harness.db import age_recording, call_for, events_of, recording_of, survey_of
from tests.harness.listening import files_of, found
from tests.harness.tester import Caller


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


async def test_one_recording_holds_the_whole_call_and_the_survey_answer(centre: Centre) -> None:
    stack = centre.stack
    desk = await centre.agent("1001", ready=False)  # the caller waits with music first
    # The greeting plays to its end, then 4: complaints, which only 1001 takes.
    caller = await centre.call("", caller_id="13800002001")
    await caller.expect_heard(stack.prompt("greeting"), 15)
    await caller.press("4")
    record = await call_for(stack, "13800002001", 10)
    await wait_queued(stack, record.id)
    music_from = await heard_for(caller, 3.0, 15)
    music = caller.heard()[int((music_from + 0.5) * 8000) : int((music_from + 2.5) * 8000)]
    assert hearing.rms_dbfs(music) > -45, "the caller heard no music while waiting"
    await desk.ready()
    await centre.phones["1001"].wait_call(1, 15)
    await desk.wait_me(lambda m: m["state"] == "on-call", 10, "on the call")
    agent_line = await centre.phones["1001"].line(0)
    # Each side says something the other does not: the caller, then the agent.
    await caller.play(stack.prompt("repair-menu", "en"))
    await agent_line.expect_heard(stack.prompt("repair-menu", "en"), 10)
    await agent_line.play(stack.prompt("choice-received", "en"))
    await caller.expect_heard(stack.prompt("choice-received", "en"), 10)
    # The agent hangs up; the caller stays on, hears the survey and presses 1.
    hung_up_at = await centre.answer_survey(caller, "1001", "1")
    await caller.expect_heard(stack.prompt("survey-thanks"), 10, after_s=hung_up_at)
    call_seconds = await caller.hung_up_at(15)

    answer = await survey_of(stack, record.id, 10)
    assert (answer.agent, answer.queue, answer.result, answer.keys) == (
        "1001",
        "complaints",
        "1",
        "1",
    )
    row = await recording_of(stack, record.id, 30)
    store = stack.config.recordings_store
    audio_file = store / row.path
    # Exactly one file for the call, moved off the PBX.
    assert files_of(store, record.id) == [
        f"{record.id}.timeline.json",
        f"{record.id}.wav",
    ]
    assert not (stack.config.recordings_dir / "calls" / f"{record.id}.wav").exists()
    data = audio_file.read_bytes()
    assert (row.size_bytes, row.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert (row.caller_number, row.agent_list(), row.queue_list()) == (
        "13800002001",
        ["1001"],
        ["complaints"],
    )
    audio = hearing.read_wav(audio_file)
    assert abs(row.duration_s - len(audio) / 8000) < 0.05
    assert abs(row.duration_s - call_seconds) < 2.0, (row.duration_s, call_seconds)
    # What is in it, in the order it happened: greeting, hold music, the caller, the
    # agent, the survey question and the thanks.
    offsets = [
        found(stack.prompt("greeting"), audio, "the greeting"),
        _found_samples(music, audio, "the hold music"),
        found(stack.prompt("repair-menu", "en"), audio, "the caller's voice"),
        found(stack.prompt("choice-received", "en"), audio, "the agent's voice"),
        found(stack.prompt("survey"), audio, "the survey question"),
        found(stack.prompt("survey-thanks"), audio, "the thanks"),
    ]
    assert offsets == sorted(offsets), offsets
    # The timeline beside it: each step with its offset into the audio.
    timeline = json.loads((store / row.timeline_path).read_text())
    assert timeline["call"] == record.id
    steps = {e["kind"]: e for e in reversed(timeline["events"])}  # the first of each kind
    for kind in ("node", "prompt", "key", "queued", "waiting", "answered", "agent-hung-up"):
        assert kind in steps, f"no {kind} on the timeline"
    assert steps["survey"]["data"]["result"] == "1"
    assert steps["answered"]["data"]["agent"] == "1001"
    # The agent's phone shows the call a moment before "answered" is written (after the
    # queue's books are done), and the caller speaks as soon as it does.
    assert offsets[1] < steps["answered"]["offset_s"] < offsets[2] + 0.5
    assert abs(steps["agent-hung-up"]["offset_s"] - offsets[4]) < 2.0
    assert [e["offset_s"] for e in timeline["events"]] == sorted(
        e["offset_s"] for e in timeline["events"]
    )


def _found_samples(template: hearing.Samples, audio: hearing.Samples, what: str) -> float:
    match = hearing.find(template, audio)
    assert match.score >= hearing.MATCH_THRESHOLD, f"{what} is not in the recording ({match})"
    return match.offset_s


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


async def test_an_unwritable_or_full_store_loses_no_call_and_no_recording(centre: Centre) -> None:
    """The store read-only, then full: calls go through, each recording waits on the PBX
    (its row says why, the log and /metrics count it), what was stored stays as it was,
    and once the store is back the recorder's retry stores both."""
    stack = centre.stack
    store = stack.config.recordings_store
    await centre.agent("1001")
    # Something stored beforehand, to show it is not lost.
    earlier, earlier_id, _ = await survey_call(centre, "4", "13800002301", "1001")
    await earlier.hangup()
    await recording_of(stack, earlier_id, 30)
    stored_before = _checksums(store)
    assert stored_before, "nothing stored to keep"
    before = await metrics_of(centre.desks["1001"].base_url)
    failures = 'hotline_recording_failures_total{stage="store"}'

    with _read_only(store):
        # A whole call with an agent while nothing can be written.
        caller, unwritable_id, _ = await survey_call(centre, "4", "13800002302", "1001")
        talked = caller.position()  # how long the caller has been on the line
        await caller.hangup()
        row = await recording_of(stack, unwritable_id, 20, status="failed")
        assert "Read-only file system" in row.error, row.error
    incoming = store / ".incoming"
    incoming.mkdir(exist_ok=True)
    with _tiny_disk(incoming):
        caller = await centre.call("", caller_id="13800002303")
        await caller.expect_heard(stack.prompt("greeting"), 15)
        await caller.hangup()
        full_id = (await call_for(stack, "13800002303", 10, closed=True)).id
        row = await recording_of(stack, full_id, 20, status="failed")
        assert "No space left on device" in row.error, row.error
        # /metrics: both failures counted, both recordings waiting (the backlog is
        # counted at each retry).
        deadline = time.monotonic() + 10
        while True:
            during = await metrics_of(centre.desks["1001"].base_url)
            counted = during.get(failures, 0) - before.get(failures, 0)
            if counted >= 2 and during["hotline_recordings_backlog"] >= 2:
                break
            assert time.monotonic() < deadline, (before, during)
            await asyncio.sleep(0.5)
    log = stack.controller.log_file.read_text(errors="replace")
    for call in (unwritable_id, full_id):
        assert f"call {call}: recording kept on the PBX" in log

    # The store is back: the retry (every 2 s here) stores both, whole.
    rows = [await recording_of(stack, call, 30) for call in (unwritable_id, full_id)]
    for row in rows:
        data = (store / row.path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row.sha256
    # The first caller's keys cut the greeting short: the whole call is there by length;
    # the second heard the greeting, and so does its recording.
    assert rows[0].duration_s >= talked - 1.0, (rows[0].duration_s, talked)
    found(stack.prompt("greeting"), hearing.read_wav(store / rows[1].path), "the greeting")
    after = _checksums(store)
    assert {path: after.get(path) for path in stored_before} == stored_before


def _checksums(store: Path) -> dict[Path, str]:
    return {
        p.relative_to(store): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in store.rglob("*.wav")
        if ".incoming" not in p.parts
    }


@contextlib.contextmanager
def _read_only(folder: Path) -> Iterator[None]:
    """``folder`` read-only for everyone, root included (a read-only bind mount on it)."""
    subprocess.run(["mount", "--bind", str(folder), str(folder)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True)
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@contextlib.contextmanager
def _tiny_disk(folder: Path) -> Iterator[None]:
    """A 64 KiB file system on ``folder``: a call's recording does not fit."""
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)
