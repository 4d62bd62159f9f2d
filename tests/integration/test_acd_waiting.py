"""Who is served first and what waiting callers hear (R-4.2, R-4.3, R-4.6, R-4.7), over
real SIP. Queues and agents: tests/tester/acd.yaml (routing steps preferred 0 s, region
6 s, anyone 12 s; announcements from 6 s)."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from acd.callbacks import CallbackRequest
from acd.store import AcdStore
from hotline.db import make_engine, session_factory
from tests.harness.centre import Centre, hang_up_all, offered_to, wait_queued
from tests.harness.db import call_for, events_of
from tests.harness.stack import Stack


async def waits_of(stack: Stack, call_id: str) -> list[tuple[str, str, float | None]]:
    engine = make_engine(stack.config.db_url)
    try:
        rows = await AcdStore(engine).waits(call_id)
        return [(r.queue, r.outcome, r.wait_s) for r in rows]
    finally:
        await engine.dispose()


async def wait_outcome(stack: Stack, call_id: str, timeout: float = 10) -> tuple[str, float]:
    for _ in range(int(timeout * 10)):
        waits = await waits_of(stack, call_id)
        if waits and waits[-1][1] != "waiting":
            return waits[-1][1], float(waits[-1][2] or 0)
        await asyncio.sleep(0.1)
    raise AssertionError(f"call {call_id} still waiting after {timeout} s")


async def test_vip_and_the_dialled_numbers_priority_jump_the_queue(centre: Centre) -> None:
    await centre.agent("1003")
    phone = centre.phones["1003"]
    busy = await centre.call("4", caller_id="13800000401")
    await phone.wait_call(1, 30)
    # Three callers wait, in this order: an ordinary one (priority 5), one who dialled
    # the booking line 4008001235 (priority 7), a VIP (5 + 3).
    waiting = []
    for caller_id, number in (
        ("13800000402", "4008001234"),
        ("13800000403", "4008001235"),
        ("13900000009", "4008001234"),
    ):
        waiting.append(await centre.call("4", caller_id=caller_id, number=number))
        await wait_queued(centre.stack, (await call_for(centre.stack, caller_id, 10)).id)
    desk = centre.desks["1003"]
    for count in (2, 3, 4):
        # Hung up once the call is connected (a phone put down while it still rings is
        # a missed call: the agent would be set not ready), then wrap-up, then the next.
        await desk.wait_me(lambda m: m["state"] == "on-call", 10, "on the call")
        await phone.hang_up()
        await phone.wait_call(count, 20)
    assert phone.shown_numbers == ["13800000401", "13900000009", "13800000403", "13800000402"]
    record = await call_for(centre.stack, "13800000403", 5)
    assert record.priority == 7
    await hang_up_all(busy, *waiting)


async def test_the_owner_first_then_others_after_the_steps_timeout(centre: Centre) -> None:
    await centre.agent("1001")  # ready first: it has idled longer than 1003
    await centre.agent("1003")  # owns the account of 13700000001
    owned = await centre.call("4", caller_id="13700000001")
    await centre.phones["1003"].wait_call(1, 30)
    assert centre.phones["1001"].calls == []
    # The owner is now busy: the owner's next call waits for the owner step (6 s; the
    # caller's mobile has no region, so that step is skipped), then goes to 1001.
    again = await centre.call("4", caller_id="13700000001")
    record = await call_for(centre.stack, "13700000001", 10)
    queued = await wait_queued(centre.stack, record.id)
    assert queued["preferred"] == "1003"
    await centre.phones["1001"].wait_call(1, 20)
    events = await events_of(centre.stack, record.id)
    queued_at = next(e.at for e in events if e.kind == "waiting")
    offer = next(e for e in events if e.kind == "offer")
    waited = (offer.at - queued_at).total_seconds()
    assert offer.data["agent"] == "1001"
    assert 5.5 <= waited <= 8, f"offered to another agent after {waited:.1f} s"
    await hang_up_all(owned, again)


async def test_callers_go_to_their_regions_agents(centre: Centre) -> None:
    await centre.agent("1002")  # Beijing, ready first: the longest idle
    await centre.agent("1001")  # Shanghai
    shanghai = await centre.call("0", caller_id="02161234567")
    await centre.phones["1001"].wait_call(1, 30)
    assert centre.phones["1002"].calls == []
    record = await call_for(centre.stack, "02161234567", 5)
    assert (await wait_queued(centre.stack, record.id))["region"] == "shanghai"
    beijing = await centre.call("0", caller_id="01061234567")
    await centre.phones["1002"].wait_call(1, 30)
    await hang_up_all(shanghai, beijing)


async def test_announcements_then_press_1_for_a_callback(centre: Centre) -> None:
    await centre.agent("1003", ready=False)  # logged in, so the caller waits for them
    stack = centre.stack
    caller = await centre.call("4", caller_id="13800000501")
    sorry = await caller.expect_heard(stack.prompt("queue-sorry"), timeout=30)
    position = await caller.expect_heard(stack.prompt("count-1"), 10, after_s=sorry.offset_s)
    offer = await caller.expect_heard(
        stack.prompt("queue-callback-offer"), 15, after_s=position.offset_s
    )
    record = await call_for(stack, "13800000501", 5)
    queued_at = next(e.at for e in await events_of(stack, record.id) if e.kind == "waiting")
    announced = next(e for e in await events_of(stack, record.id) if e.kind == "announcement")
    assert 5 <= (announced.at - queued_at).total_seconds() <= 8  # first_after: 6 s
    await caller.press("1")
    await caller.expect_heard(stack.prompt("callback-saved"), 10, after_s=offer.offset_s)
    outcome, waited = await wait_outcome(stack, record.id)
    assert outcome == "callback" and waited > 6
    engine = make_engine(stack.config.db_url)
    try:
        async with session_factory(engine)() as db:
            rows = (
                await db.scalars(
                    select(CallbackRequest).where(CallbackRequest.call_id == record.id)
                )
            ).all()
    finally:
        await engine.dispose()
    assert [(r.number, r.queue, r.status) for r in rows] == [
        ("13800000501", "complaints", "pending")
    ]
    assert (await call_for(stack, "13800000501", 15, closed=True)).disposition == "callback"
    assert centre.phones["1003"].calls == []


async def test_a_caller_who_gives_up_is_stored_with_the_wait(centre: Centre) -> None:
    await centre.agent("1003", ready=False)
    caller = await centre.call("4", caller_id="13800000601")
    record = await call_for(centre.stack, "13800000601", 10)
    await wait_queued(centre.stack, record.id)
    await asyncio.sleep(2)  # the caller's patience: the wait to be stored
    await caller.hangup()
    outcome, waited = await wait_outcome(centre.stack, record.id)
    assert outcome == "abandoned"
    assert 1.5 <= waited <= 5
    events = await events_of(centre.stack, record.id)
    abandoned = [e.data for e in events if e.kind == "abandoned"]
    assert abandoned and abandoned[0]["queue"] == "complaints"
    assert (await call_for(centre.stack, "13800000601", 10, closed=True)).disposition == (
        "caller_hangup"
    )
    assert await offered_to(centre.stack, "13800000601") == []


async def test_overflow_then_the_longest_wait_offers_a_callback(centre: Centre) -> None:
    """repair overflows to general after 12 s; general's longest wait is 30 s."""
    await centre.agent("1002", ready=False)  # repair: the caller waits for them
    await centre.agent("1001", ready=False)  # serves general: the overflow can go there
    stack = centre.stack
    caller = await centre.call("21", caller_id="13800000701")
    record = await call_for(stack, "13800000701", 10)
    await wait_queued(stack, record.id)
    max_wait = await caller.expect_heard(stack.prompt("queue-max-wait"), timeout=45)
    events = await events_of(stack, record.id)
    waiting_at = next(e.at for e in events if e.kind == "waiting")
    moved = next(e for e in events if e.kind == "overflow")
    assert (moved.data["queue"], moved.data["to"]) == ("repair", "general")
    assert 11 <= (moved.at - waiting_at).total_seconds() <= 15
    reached = next(e for e in events if e.kind == "max-wait")
    assert reached.data["queue"] == "general"
    assert 29 <= (reached.at - waiting_at).total_seconds() <= 33  # kept its place in time
    await caller.press("1")
    await caller.expect_heard(stack.prompt("callback-saved"), 10, after_s=max_wait.offset_s)
    closed = await call_for(stack, "13800000701", 15, closed=True)
    assert closed.disposition == "callback"
    assert [(q, o) for q, o, _ in await waits_of(stack, record.id)] == [
        ("repair", "moved"),
        ("general", "max-wait"),
    ]
