"""KPIs over a scripted batch of calls (R-8), over real SIP: twenty calls, in four waves,
each of which the test scripts and times itself (answered with a survey answer, answered
and left by the caller, put on hold, abandoned after different waits, called back,
transferred to another queue, or never queued), then the supervisors' report for the
batch is compared with the figures the test works out by hand from that script."""

from __future__ import annotations

import asyncio
import time
import wave
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from tests.harness.centre import Centre, wait_queued
from tests.harness.db import call_for, events_of
from tests.harness.stack import Stack
from tests.harness.tester import Caller

WRAP_UP_S = 3.0  # wrapup_seconds in tests/tester/acd.yaml
HOLD_S = 2.0


@dataclass
class Script:
    """What the test did, as it saw it: the basis of the hand-worked figures."""

    talk: list[float] = field(default_factory=list)  # per answered visit, hold left out
    hold: list[float] = field(default_factory=list)
    # Per answered visit: the longest the wait can have been, by the test's clock (from
    # placing the call, or the transfer, to seeing the answer).
    wait_bounds: list[float] = field(default_factory=list)
    surveys: Counter[str] = field(default_factory=Counter)


async def answered_by(stack: Stack, caller_id: str, visit: int = 1) -> tuple[str, float]:
    """The agent who answered the caller's ``visit``-th queue visit, and when the test
    saw it (monotonic)."""
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        record = await call_for(stack, caller_id, 20)
        answers = [e for e in await events_of(stack, record.id) if e.kind == "answered"]
        if len(answers) >= visit:
            return str(answers[visit - 1].data["agent"]), time.monotonic()
        await asyncio.sleep(0.2)
    raise AssertionError(f"visit {visit} of {caller_id} not answered in 40 s")


async def hang_up_phone(centre: Centre, agent: str, caller_id: str) -> None:
    """The agent puts the phone down on this caller's latest call (the same caller may
    have reached the phone before, in another visit)."""
    phone = centre.phones[agent]
    latest = max(i for i, number in enumerate(phone.shown_numbers) if number == caller_id)
    await centre.tester.rest.hangup(phone.calls[latest])


def opening(prompt: Path, seconds: float, folder: Path) -> Path:
    """The first ``seconds`` of a prompt: enough to know it has begun."""
    cut = folder / f"{prompt.stem}-opening.wav"
    with wave.open(str(prompt), "rb") as source, wave.open(str(cut), "wb") as out:
        out.setparams(source.getparams())
        out.writeframes(source.readframes(int(seconds * source.getframerate())))
    return cut


class Batch:
    def __init__(self, centre: Centre, folder: Path) -> None:
        self.centre = centre
        self.stack = centre.stack
        self.script = Script()
        self.survey_opening = opening(self.stack.prompt("survey"), 2.0, folder)
        self.greeting_opening = opening(self.stack.prompt("greeting"), 2.0, folder)
        self.caller_ids: list[str] = []

    async def call(self, keys: str, caller_id: str) -> Caller:
        self.caller_ids.append(caller_id)
        return await self.centre.call(keys, caller_id=caller_id)

    async def talk(self, caller: Caller, agent: str) -> None:
        """The caller says something and the agent's phone hears it."""
        line = await self.centre.phones[agent].line()
        words = self.stack.prompt("choice-received", "en")
        await caller.play(words)
        await line.expect_heard(words, 10)

    async def served(self, keys: str, caller_id: str) -> tuple[Caller, str, float]:
        """A call an agent answers: the caller, the agent, and when the test saw the
        answer (the wait's bound is kept)."""
        placed = time.monotonic()
        caller = await self.call(keys, caller_id)
        agent, answered = await answered_by(self.stack, caller_id)
        self.script.wait_bounds.append(answered - placed)
        return caller, agent, answered

    async def surveyed(self, caller_id: str, keys: str, answer: str) -> None:
        """Answered; the agent hangs up; the caller answers the survey."""
        caller, agent, answered = await self.served(keys, caller_id)
        await self.talk(caller, agent)
        mark = caller.position()
        self.script.talk.append(time.monotonic() - answered)
        await hang_up_phone(self.centre, agent, caller_id)
        await self.answer_survey(caller, answer, mark)

    async def answer_survey(self, caller: Caller, answer: str, mark: float) -> None:
        await caller.expect_heard(self.survey_opening, 10, after_s=mark)
        await caller.press(answer)
        await caller.expect_heard(self.stack.prompt("survey-thanks"), 10, after_s=mark)
        await caller.wait_hung_up(10)
        self.script.surveys[answer] += 1

    async def left_by_caller(self, caller_id: str, keys: str, hold: bool = False) -> None:
        """Answered (put on hold for a while, if asked); the caller hangs up: no survey."""
        caller, agent, answered = await self.served(keys, caller_id)
        held = 0.0
        if hold:
            desk = self.centre.desks[agent]
            await desk.post("/api/me/call/hold")
            began = time.monotonic()
            await asyncio.sleep(HOLD_S)  # the agent looks something up
            await desk.post("/api/me/call/resume")
            held = time.monotonic() - began
            self.script.hold.append(held)
        await self.talk(caller, agent)
        self.script.talk.append(time.monotonic() - answered - held)
        await caller.hangup()

    async def abandons(self, caller_id: str, after_s: float) -> None:
        """Waits in the complaints queue, nobody free, and gives up after ``after_s``."""
        caller = await self.call("4", caller_id)
        record = await call_for(self.stack, caller_id, 20)
        await wait_queued(self.stack, record.id)
        await asyncio.sleep(after_s)  # the caller's patience, as scripted
        await caller.hangup()

    async def calls_back(self, caller_id: str) -> None:
        """Waits in the complaints queue and presses 1 to be called back."""
        caller = await self.call("4", caller_id)
        record = await call_for(self.stack, caller_id, 20)
        await wait_queued(self.stack, record.id)
        mark = caller.position()
        await caller.press("1")
        await caller.expect_heard(self.stack.prompt("callback-saved"), 10, after_s=mark)
        await caller.wait_hung_up(10)

    async def transferred(self, caller_id: str, answer: str) -> None:
        """Answered in complaints, passed on to repair, answered there; survey."""
        caller, first, answered = await self.served("4", caller_id)
        await self.talk(caller, first)
        await self.centre.desks[first].post("/api/me/call/transfer", {"to": "queue:repair"})
        transferred = time.monotonic()
        self.script.talk.append(transferred - answered)
        second, answered = await answered_by(self.stack, caller_id, visit=2)
        self.script.wait_bounds.append(answered - transferred)
        await self.talk(caller, second)
        mark = caller.position()
        self.script.talk.append(time.monotonic() - answered)
        await hang_up_phone(self.centre, second, caller_id)
        await self.answer_survey(caller, answer, mark)

    async def menu_only(self, caller_id: str) -> None:
        """Hears the greeting and hangs up: a call, but no queue visit."""
        caller = await self.call("", caller_id)
        await caller.expect_heard(self.greeting_opening, 15)
        await caller.hangup()


async def all_free(centre: Centre, agents: tuple[str, ...]) -> None:
    for agent in agents:
        await centre.desks[agent].wait_me(lambda m: m["state"] == "ready", 15, "ready")


async def test_kpis_of_a_scripted_batch_match_the_hand_worked_figures(
    centre: Centre, tmp_path: Path
) -> None:
    stack = centre.stack
    agents = ("1001", "1002", "1003")
    for agent in agents:
        await centre.agent(agent)
    supervisor = await centre.agent("9001", ready=False)
    batch = Batch(centre, tmp_path)
    began = datetime.now(UTC).isoformat()

    # Wave 1: five callers who only hear the greeting; three served in repair (22), one
    # per agent, who answer the survey 1, 2 and 3.
    await asyncio.gather(
        *(batch.menu_only(f"1380000310{n}") for n in range(5)),
        *(batch.surveyed(f"1380000311{n}", "22", key) for n, key in enumerate("123")),
    )
    # Wave 2: three served in repair who hang up on the agent (no survey); one of them is
    # put on hold first.
    await all_free(centre, agents)
    await asyncio.gather(
        *(batch.left_by_caller(f"1380000312{n}", "22", hold=n == 0) for n in range(3))
    )
    # Wave 3: complaints (4) with its agents (1001, 1003) busy elsewhere: four callers
    # give up after 1, 2, 3 and 4 seconds; three ask to be called back.
    await all_free(centre, agents)
    for agent in ("1001", "1003"):
        await centre.desks[agent].post("/api/me/state", {"state": "not-ready"})
    await asyncio.gather(
        *(batch.abandons(f"1380000313{n}", float(n + 1)) for n in range(4)),
        *(batch.calls_back(f"1380000314{n}") for n in range(3)),
    )
    # Wave 4: two callers served in complaints, each passed on to repair, served there,
    # and answering the survey 1.
    for agent in ("1001", "1003"):
        await centre.desks[agent].ready()
    await asyncio.gather(*(batch.transferred(f"1380000315{n}", "1") for n in range(2)))
    await all_free(centre, agents)

    # By hand, from the script: 20 calls; 17 queue visits (wave 4's calls made two each).
    script = batch.script
    offered, answered, abandoned, callbacks, transfers = 17, 10, 4, 3, 2
    assert len(script.talk) == answered
    expected = {
        "calls": 20,
        "offered": offered,
        "answered": answered,
        "abandoned": abandoned,
        "callbacks": callbacks,
        "callbacks_requested": callbacks,
        "messages": 0,
        "abandon_rate": round(abandoned / (offered - callbacks), 4),
        # Every answer came well within the 20 s threshold; the abandoned count against it.
        "answered_within": answered,
        "service_level": round(answered / (offered - callbacks), 4),
        "transfers": transfers,
        "transfer_rate": round(transfers / answered, 4),
        "surveys": dict(sorted(script.surveys.items())),
        "rated": 5,
        "satisfaction": round(script.surveys["1"] / 5, 4),
    }
    assert script.surveys == {"1": 3, "2": 1, "3": 1}
    report = await supervisor.get(f"/api/reports?by=all&since={quote(began)}")
    row = report["rows"]["all"]
    assert {k: row[k] for k in expected} == expected
    # Times, within what the test's own clock can tell (it sees each step a little late).
    assert abs(row["hold"] - sum(script.hold)) < 0.7, (row["hold"], script.hold)
    # Each wrap-up is the file's 3 s, and may run a little over when the machine is busy.
    assert answered * WRAP_UP_S - 0.5 <= row["wrap"] <= answered * (WRAP_UP_S + 0.5), row["wrap"]
    assert abs(row["talk"] - sum(script.talk)) < 0.6 * answered, (row["talk"], script.talk)
    by_hand = (sum(script.talk) + sum(script.hold) + answered * WRAP_UP_S) / answered
    assert -0.7 < row["aht"] - by_hand < 0.7 + 0.5, (row["aht"], by_hand)
    # Speed of answer: the mean of the waits the log gave each answer, none of them longer
    # than the test saw it take. (Waits of several seconds are the routing steps relaxing:
    # the best-skilled agent first, anyone after 12 s.)
    waits = [
        float(e.data["wait"])
        for caller_id in batch.caller_ids
        for e in await events_of(stack, (await call_for(stack, caller_id, 5)).id)
        if e.kind == "answered"
    ]
    assert len(waits) == len(script.wait_bounds) == answered
    assert abs(row["asa"] - sum(waits) / answered) < 0.06
    bounds = sorted(script.wait_bounds)
    assert all(w <= b + 0.1 for w, b in zip(sorted(waits), bounds, strict=True)), (waits, bounds)

    # The same batch by queue: the abandoned and called back were all in complaints; the
    # eight served in repair count there, or in general for a wait that outlasted
    # repair's overflow (12 s here) while the routing steps relaxed.
    queues = (await supervisor.get(f"/api/reports?by=queue&since={quote(began)}"))["rows"]
    picked = {
        q: {k: queues[q][k] for k in ("offered", "answered", "abandoned", "callbacks")}
        for q in queues
    }
    assert picked.pop("complaints") == {
        "offered": 9,
        "answered": 2,
        "abandoned": 4,
        "callbacks": 3,
    }
    assert set(picked) <= {"repair", "general"}, picked
    served = {k: sum(row[k] for row in picked.values()) for k in ("offered", "answered")}
    assert served == {"offered": 8, "answered": 8}, picked
