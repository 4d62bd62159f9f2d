"""The agent state machine, and the engine under randomly interleaved events."""

from __future__ import annotations

import random

import pytest

from acd.agents import AgentSession, AgentStateError, Status
from acd.engine import Acd
from acd.waiter import OFFER_EVENT, Waiter
from hotline.ari.models import Event
from tests.unit.acd_fixtures import MemoryStore, centre


def test_a_day_of_an_agent() -> None:
    s = AgentSession("1")
    assert s.state == "logged-out" and not s.offerable
    s.log_in("8001", now=0)
    assert s.state == "not-ready" and s.reason == "logged-in"
    s.set_status(Status.READY, "", now=10)
    assert s.offerable and s.idle_since == 10
    s.offer("c1", now=20)
    assert s.state == "ringing"
    with pytest.raises(AgentStateError):
        s.offer("c2", now=21)  # never two calls at once
    s.answered("c1", now=25)
    s.set_status(Status.BREAK, "lunch", now=30)  # applies after the call
    assert s.state == "on-call"
    s.call_ended("c1", wrapup_seconds=30, now=100)
    assert s.state == "wrap-up" and s.wrapup_until == 130
    s.wrapup_done(now=130)
    assert s.state == "break" and s.reason == "lunch" and not s.offerable
    s.set_status(Status.READY, "", now=200)
    s.offer("c3", now=210)
    s.missed("c3", "no-answer", now=226)
    assert s.state == "not-ready" and s.reason == "no-answer"
    s.log_out(now=300)
    assert s.state == "logged-out" and s.extension == ""
    assert AgentSession.from_dict(s.as_dict()) == s


def test_logging_out_during_a_call_takes_effect_after_it() -> None:
    s = AgentSession("1")
    s.log_in("8001", 0)
    s.set_status(Status.READY, "", 1)
    s.offer("c", 2)
    s.answered("c", 3)
    s.log_out(4)
    assert s.state == "on-call" and s.extension == "8001"
    s.call_ended("c", 0, 5)
    assert s.state == "logged-out" and s.extension == ""


def test_impossible_changes_are_refused() -> None:
    s = AgentSession("1")
    with pytest.raises(AgentStateError):
        s.set_status(Status.READY, "", 0)  # not logged in
    s.log_in("8001", 0)
    with pytest.raises(AgentStateError):
        s.log_in("8002", 1)
    with pytest.raises(AgentStateError):
        s.answered("c", 1)  # nothing rang
    with pytest.raises(AgentStateError):
        s.offer("c", 1)  # not ready


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_no_agent_ever_has_two_calls_nor_a_call_two_agents() -> None:
    """Random joins, offers, answers, misses, hang-ups, status changes and clock jumps,
    40 runs of 300 steps; after every step the ACD's books must agree with themselves,
    and the runs between them must have gone through every kind of outcome."""
    outcomes: set[str] = set()
    for seed in range(40):
        outcomes |= await random_run(seed)
    assert {"answered", "no-answer", "busy", "cancelled"} <= outcomes


async def random_run(seed: int) -> set[str]:
    rng = random.Random(seed)
    clock = Clock()
    setup = centre()
    store = MemoryStore()
    acd = Acd(lambda: setup, store, clock=clock)
    inbox: dict[str, list[Event]] = {}
    waiters: dict[str, Waiter] = {}
    talking: dict[str, str] = {}  # call -> agent
    numbers = list(setup.agents)
    for n in numbers:
        await acd.log_in(n, f"80{n}")

    def check() -> None:
        busy = {}
        for number, s in acd.agents.items():
            if s.activity.value in ("ringing", "on-call"):
                assert s.call_id not in busy, f"call {s.call_id} has two agents"
                busy[s.call_id] = number
        for call_id, w in acd.waiting.items():
            if w.ringing:
                s = acd.agents[w.ringing]
                assert s.state == "ringing" and s.call_id == call_id
        ringing_calls = [w.ringing for w in acd.waiting.values() if w.ringing]
        assert len(ringing_calls) == len(set(ringing_calls)), "an agent rings for two calls"

    for step in range(300):
        action = rng.choice(
            [
                "join",
                "join",
                "dispatch",
                "dispatch",
                "answer",
                "miss",
                "hangup",
                "status",
                "end",
                "tick",
            ]
        )
        if action == "join":
            call_id = f"c{step}"
            inbox[call_id] = []
            queue = rng.choice(list(setup.queues))
            waiter = await acd.join(
                call_id,
                queue,
                (),
                rng.randint(1, 9),
                rng.choice(["13900000001", "02100000000"]),
                "zh",
                inbox[call_id].append,
            )
            if waiter is not None:
                waiters[call_id] = waiter
        elif action == "dispatch":
            await acd.dispatch()
        elif action in ("answer", "miss"):
            offered = [w for w in waiters.values() if w.ringing and inbox[w.call_id]]
            if offered:
                w = rng.choice(offered)
                agent = w.ringing
                assert inbox[w.call_id][-1].type == OFFER_EVENT
                assert inbox[w.call_id][-1].raw["agent"] == agent
                if action == "answer":
                    await acd.ring_result(w, agent, "answered")
                    await acd.leave(w, "answered", agent)
                    talking[w.call_id] = agent
                    del waiters[w.call_id]
                else:
                    await acd.ring_result(w, agent, rng.choice(["no-answer", "busy"]))
        elif action == "hangup" and waiters:
            w = waiters.pop(rng.choice(list(waiters)))
            await acd.leave(w, "abandoned")
        elif action == "end" and talking:
            call_id = rng.choice(list(talking))
            await acd.call_ended(talking.pop(call_id), call_id, "repair")
        elif action == "status":
            n = rng.choice(numbers)
            try:
                await acd.set_status(n, rng.choice(list(Status)[1:]), "test")
            except AgentStateError:
                pass
        elif action == "tick":
            clock.now += rng.choice([1, 5, 30])
        check()
    return set(store.outcomes.values())


async def test_an_agent_may_end_wrap_up_early_and_the_time_taken_counts() -> None:
    clock = Clock()
    setup = centre()
    wrapped: list[tuple[str, str, float]] = []

    async def on_wrapup(agent: str, call_id: str, seconds: float) -> None:
        wrapped.append((agent, call_id, seconds))

    acd = Acd(lambda: setup, MemoryStore(), clock=clock, on_wrapup=on_wrapup)
    await acd.log_in("1", "8001")
    await acd.set_status("1", Status.READY)
    with pytest.raises(AgentStateError):
        await acd.end_wrapup("1")  # no call, no wrap-up to end
    acd.agents["1"].offer("c1", clock.now)
    acd.agents["1"].answered("c1", clock.now)
    await acd.call_ended("1", "c1", "repair")  # 30 s of wrap-up by default
    assert acd.agents["1"].state == "wrap-up"
    clock.now += 7
    await acd.end_wrapup("1")
    assert acd.agents["1"].state == "ready" and acd.agents["1"].offerable
    assert wrapped == [("1", "c1", 7.0)]
    clock.now += 60  # past the wrap-up time: it is not counted again
    await acd.dispatch()
    assert wrapped == [("1", "c1", 7.0)]
