"""Skill-based routing to agents' SIP phones on the tester (R-4.1 to R-4.5), driven the
way agents drive it: log in over the API, set ready, answer or not, hang up.

Agents and queues are in tests/tester/acd.yaml: ring 5 s, wrap-up 3 s, routing steps
preferred (0 s) → region (6 s) → anyone (12 s). Menu keys: 0 general, 4 complaints,
2 then 1 water repair (skills repair + water), 2 then 2 gas repair (+ gas, priority 8).
"""

from __future__ import annotations

import time

import pytest

from tests.harness.centre import Centre, hang_up_all, offered_to, wait_queued
from tests.harness.db import call_for, events_of
from tests.harness.desk import ApiRefused


async def test_skill_match_then_level_then_longest_idle(centre: Centre) -> None:
    for number in ("1001", "1002", "1003"):
        await centre.agent(number)
    phones = centre.phones
    # Gas repair needs the gas skill: only 1002 has it, though 1003 is as good at repair.
    gas = await centre.call("22", caller_id="13800000101")
    await phones["1002"].wait_call(1, 30)
    assert phones["1002"].shown_numbers == ["13800000101"]
    # Water repair while 1002 talks: 1003 (repair 4, water 4) before 1001 (2, 2).
    water = await centre.call("21", caller_id="13800000102")
    await phones["1003"].wait_call(1, 30)
    assert phones["1001"].calls == []
    # Complaints: 1001 and 1003 both have level 3; 1003 is on a call, so 1001.
    first = await centre.call("4", caller_id="13800000103")
    await phones["1001"].wait_call(1, 30)
    # 1003 hangs up first: after its wrap-up it has idled longer than 1001, who then
    # hangs up; the next complaint goes to 1003 (longest idle), the one after to 1001.
    await phones["1003"].hang_up()
    await centre.desks["1003"].wait_me(lambda m: m["state"] == "ready", 10, "ready again")
    await phones["1001"].hang_up()
    await centre.desks["1001"].wait_me(lambda m: m["state"] == "ready", 10, "ready again")
    second = await centre.call("4", caller_id="13800000104")
    await phones["1003"].wait_call(2, 30)
    third = await centre.call("4", caller_id="13800000105")
    await phones["1001"].wait_call(2, 30)
    assert await offered_to(centre.stack, "13800000101") == ["1002"]
    assert await offered_to(centre.stack, "13800000104") == ["1003"]
    assert await offered_to(centre.stack, "13800000105") == ["1001"]
    await hang_up_all(gas, water, first, second, third)
    record = await call_for(centre.stack, "13800000101", 10, closed=True)
    assert record.disposition == "answered"


async def test_no_answer_goes_to_the_next_agent_and_sets_the_first_not_ready(
    centre: Centre,
) -> None:
    await centre.agent("1002", mode="never")  # the best for water repair, but away
    await centre.agent("1003")
    caller = await centre.call("21", caller_id="13800000201")
    await centre.phones["1002"].wait_call(1, 30)
    await centre.phones["1003"].wait_call(1, 30)
    rang = centre.phones["1003"].rang_at[0] - centre.phones["1002"].rang_at[0]
    assert 4.5 <= rang <= 8, f"the second agent rang {rang:.1f} s after the first"
    me = await centre.desks["1002"].me()
    assert (me["state"], me["reason"]) == ("not-ready", "no-answer")
    missed = await centre.desks["1002"].get("/api/me/missed")
    record = await call_for(centre.stack, "13800000201", 5)
    assert [(m["call"], m["outcome"]) for m in missed["missed"]][:1] == [(record.id, "no-answer")]
    assert await offered_to(centre.stack, "13800000201") == ["1002", "1003"]
    await caller.hangup()


async def test_wrap_up_blocks_offers_until_it_ends_and_break_holds_them(
    centre: Centre,
) -> None:
    desk = await centre.agent("1003")
    phone = centre.phones["1003"]
    first = await centre.call("4", caller_id="13800000301")
    await phone.wait_call(1, 30)
    await desk.wait_me(lambda m: m["state"] == "on-call", 10, "on the call")
    # The agent hangs up; a caller waiting already must wait out the 3 s wrap-up.
    second = await centre.call("4", caller_id="13800000302")
    record = await call_for(centre.stack, "13800000302", 10)
    await wait_queued(centre.stack, record.id)
    await phone.hang_up()
    hung_up = time.monotonic()
    me = await desk.wait_me(lambda m: m["state"] == "wrap-up", 5, "in wrap-up")
    assert me["wrapup_until"] is not None
    await phone.wait_call(2, 20)
    gap = phone.rang_at[1] - hung_up
    assert 2.5 <= gap <= 6, f"offered {gap:.1f} s after hanging up, wrap-up is 3 s"
    await first.hangup()  # during the satisfaction survey
    assert (await call_for(centre.stack, "13800000301", 10, closed=True)).disposition == "answered"
    # On a break nothing is offered, even with a caller waiting; ready again, it rings.
    await desk.post("/api/me/state", {"state": "break", "reason": "tea"})
    await phone.hang_up()
    third = await centre.call("4", caller_id="13800000303")
    record = await call_for(centre.stack, "13800000303", 10)
    await wait_queued(centre.stack, record.id)
    me = await desk.wait_me(lambda m: m["state"] == "break", 10, "on break after wrap-up")
    assert me["reason"] == "tea"
    waiting = await desk.get("/api/queues")
    assert record.id in [c["call"] for c in waiting["calls"]]
    assert len(phone.calls) == 2
    await desk.ready()
    await phone.wait_call(3, 10)
    # Done with the paperwork early: the agent ends wrap-up, and the next caller rings
    # well before the 3 s would be up; the wrap time counted is the time taken.
    await desk.wait_me(lambda m: m["state"] == "on-call", 10, "on the third call")
    fourth = await centre.call("4", caller_id="13800000304")
    await wait_queued(centre.stack, (await call_for(centre.stack, "13800000304", 10)).id)
    await phone.hang_up()
    await desk.wait_me(lambda m: m["state"] == "wrap-up", 5, "in wrap-up")
    ended = time.monotonic()
    me = await desk.post("/api/me/wrap-up/end", {})
    assert me["state"] in ("ready", "ringing")  # the waiting caller may be offered at once
    await phone.wait_call(4, 10)
    assert phone.rang_at[3] - ended < 2.0, "offered as if the wrap-up had run its time"
    wraps = [e for e in await events_of(centre.stack, record.id) if e.kind == "wrap-up"]
    assert len(wraps) == 1 and float(str(wraps[0].data["seconds"])) < 2.0
    with pytest.raises(ApiRefused) as refused:  # not in wrap-up any more
        await desk.post("/api/me/wrap-up/end", {})
    assert refused.value.status == 409
    await hang_up_all(first, second, third, fourth)
