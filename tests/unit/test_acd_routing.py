"""Routing decisions on fixed states: who goes next, and to whom."""

from __future__ import annotations

from dataclasses import replace

from acd import routing
from acd.model import AcdSetup
from tests.unit.acd_fixtures import centre

SETUP = centre()


def call(call_id: str, queue: str = "repair", **kw: object) -> routing.WaitingCall:
    q = SETUP.queues[queue]
    base = routing.WaitingCall(
        call_id=call_id,
        queue=queue,
        skills=q.skills,
        priority=5,
        vip=False,
        joined_at=0.0,
        region="",
        preferred="",
        language="zh",
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def agent(number: str, setup: AcdSetup = SETUP, **kw: object) -> routing.AgentView:
    a = setup.agents[number]
    queues = frozenset(q for q, d in setup.queues.items() if d.skills <= set(a.skills))
    base = routing.AgentView(
        number=number,
        skills=a.skills,
        region=a.region,
        languages=a.languages,
        queues=queues,
        free=True,
        idle_since=100.0,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_only_agents_with_every_skill_are_offered_the_call() -> None:
    offers = routing.assign([call("c", "gas")], [agent("1"), agent("3"), agent("2")], SETUP, 50)
    assert [(o.call_id, o.agent) for o in offers] == [("c", "2")]  # only B has gas
    assert routing.assign([call("c", "gas")], [agent("1"), agent("4")], SETUP, 50) == []


def test_the_best_level_wins_then_the_longest_idle() -> None:
    agents = [agent("1", idle_since=1.0), agent("2", idle_since=50.0), agent("3", idle_since=20.0)]
    # B and C both have repair 5; A (level 2) has idled longest but is less skilled.
    assert routing.assign([call("c")], agents, SETUP, 60)[0].agent == "3"
    agents[1] = agent("2", idle_since=10.0)
    assert routing.assign([call("c")], agents, SETUP, 60)[0].agent == "2"


def test_the_callers_language_comes_before_the_level() -> None:
    agents = [agent("2"), agent("3", idle_since=500.0)]
    assert routing.assign([call("c", language="en")], agents, SETUP, 60)[0].agent == "3"


def test_vip_and_priority_jump_the_queue_and_ageing_lets_nobody_starve() -> None:
    calls = [
        call("early", joined_at=0.0),
        call("urgent", joined_at=10.0, priority=7),
        call("vip", joined_at=20.0, vip=True),  # 5 + 3
    ]
    order = routing.call_order(calls, SETUP.queues, SETUP, 30.0)
    assert [c.call_id for c in order] == ["vip", "urgent", "early"]
    # With one agent the highest score takes them.
    assert routing.assign(calls, [agent("3")], SETUP, 30.0)[0].call_id == "vip"
    # Five minutes later the early caller has aged past a fresh priority 9.
    fresh = call("fresh", joined_at=300.0, priority=9)
    order = routing.call_order([call("early"), fresh], SETUP.queues, SETUP, 300.0)
    assert order[0].call_id == "early"


def test_owner_first_then_region_then_anyone_as_the_wait_grows() -> None:
    owned = call("c", preferred="1", region="shanghai", joined_at=0.0)
    busy_owner = [agent("1", free=False), agent("2"), agent("3")]
    assert routing.assign([owned], busy_owner, SETUP, 5.0) == []  # waits for its owner
    # After 20 s: the Shanghai agent C, not Beijing's B.
    assert routing.assign([owned], busy_owner, SETUP, 25.0)[0].agent == "3"
    busy_region = [agent("1", free=False), agent("2"), agent("3", free=False)]
    assert routing.assign([owned], busy_region, SETUP, 25.0) == []
    assert routing.assign([owned], busy_region, SETUP, 45.0)[0].agent == "2"
    # A free owner takes it at once, ahead of better-skilled agents.
    assert routing.assign([owned], [agent("1"), agent("3")], SETUP, 1.0)[0].agent == "1"


def test_a_step_nobody_could_satisfy_is_skipped_at_once() -> None:
    owned = call("c", preferred="1", region="beijing")
    # The owner is not logged in: the region step applies from the first second.
    assert routing.assign([owned], [agent("2"), agent("3")], SETUP, 1.0)[0].agent == "2"
    # Nobody from the caller's region either: anyone.
    assert routing.assign([owned], [agent("3")], SETUP, 1.0)[0].agent == "3"


def test_an_agent_signed_out_of_the_queue_is_not_offered_its_calls() -> None:
    agents = [agent("3", queues=frozenset({"general"}))]
    assert routing.assign([call("c")], agents, SETUP, 60) == []
    assert not routing.reachable(call("c"), agents, SETUP, 60)
    assert routing.reachable(call("c"), [agent("1", free=False)], SETUP, 60)


def test_each_agent_gets_one_call_and_each_call_one_agent() -> None:
    calls = [call(f"c{i}", joined_at=float(i)) for i in range(5)]
    offers = routing.assign(calls, [agent("1"), agent("2"), agent("3")], SETUP, 60)
    assert len(offers) == 3
    assert len({o.agent for o in offers}) == 3
    assert [o.call_id for o in offers] == ["c0", "c1", "c2"]  # oldest first


def test_position_counts_only_the_same_queue() -> None:
    calls = [call("a", joined_at=0), call("g", "general", joined_at=1), call("b", joined_at=2)]
    assert routing.position("b", calls, SETUP, 10) == 2
    assert routing.position("g", calls, SETUP, 10) == 1
    assert routing.position("zz", calls, SETUP, 10) == 0


def test_regions_from_area_codes_and_international_forms() -> None:
    regions = SETUP.regions
    assert regions.of("02161234567") == "shanghai"
    assert regions.of("+86 21 6123 4567") == "shanghai"
    assert regions.of("008601061234567") == "beijing"
    assert regions.of("+86 10 6123 4567") == "beijing"
    assert regions.of("13800138000") == ""
