"""What agents and supervisors do with a call in progress (R-4.8, R-4.9, R-7), over real
SIP: screen pop, transfer to another queue, pick-up, listen and barge, and handing a
caller who cannot be heard to the silent-call sequence."""

from __future__ import annotations

from ivr.scenario import hearing
from tests.harness.centre import Centre, offered_to
from tests.harness.db import call_for, events_of


async def test_screen_pop_then_transfer_to_another_queue(centre: Centre) -> None:
    first = await centre.agent("1001")
    await centre.agent("1002")
    stack = centre.stack
    caller = await centre.call(
        "4", caller_id="01050000001"
    )  # complaints: only 1001; a Beijing number
    await centre.phones["1001"].wait_call(1, 30)
    me = await first.wait_me(lambda m: m["state"] == "on-call", 10, "on the call")
    pop = await first.get("/api/me/call")
    record = await call_for(stack, "01050000001", 5)
    assert pop["call"] == me["call"] == record.id
    assert (pop["caller"], pop["region"], pop["region_name"]) == ("01050000001", "beijing", "北京")
    assert pop["queue"] == "complaints" and pop["past_calls"] == []
    # 1001 transfers the caller to the repair queue: 1001's phone call ends, and 1002,
    # from the caller's region, rings.
    done = await first.post("/api/me/call/transfer", {"to": "queue:repair"})
    assert done["transferred"] == "repair"
    await centre.phones["1002"].wait_call(1, 30)
    assert centre.phones["1002"].shown_numbers == ["01050000001"]
    await first.wait_me(lambda m: m["state"] in ("wrap-up", "ready"), 10, "off the call")
    assert await offered_to(stack, "01050000001") == ["1001", "1002"]
    queued = [e.data["queue"] for e in await events_of(stack, record.id) if e.kind == "queued"]
    assert queued == ["complaints", "repair"]
    status, body = await first.request("POST", "/api/me/call/transfer", {"to": "queue:repair"})
    assert (status, body["error_id"]) == (404, "no-such-call")  # no call any more
    await caller.hangup()
    # The next call from the same number pops up with this one as its history.
    again = await centre.call("4", caller_id="01050000001")
    await centre.phones["1001"].wait_call(2, 30)
    await first.wait_me(lambda m: m["state"] == "on-call", 10, "on the call")
    pop = await first.get("/api/me/call")
    assert [(p["call"], p["disposition"]) for p in pop["past_calls"]] == [(record.id, "answered")]
    await again.hangup()


async def test_an_agent_picks_up_a_call_ringing_at_another(centre: Centre) -> None:
    await centre.agent("1002", mode="never")  # rings on and on
    taker = await centre.agent("1003", ready=False)
    caller = await centre.call("21", caller_id="13800000701")
    await centre.phones["1002"].wait_call(1, 30)
    waiting = await taker.get("/api/queues")
    ringing = [c for c in waiting["calls"] if c["ringing"] == "1002"]
    assert len(ringing) == 1 and ringing[0]["caller"] == "13800000701"
    await taker.post(f"/api/calls/{ringing[0]['call']}/pickup")
    await centre.phones["1003"].wait_call(1, 10)
    await taker.wait_me(lambda m: m["state"] == "on-call", 10, "on the call")
    other = await centre.desks["1002"].me()
    assert other["state"] == "ready"  # a pick-up is not a missed call
    events = await events_of(centre.stack, ringing[0]["call"])
    assert [e.data["agent"] for e in events if e.kind == "picked-up"] == ["1003"]
    await caller.hangup()


async def test_a_supervisor_listens_then_barges_in(centre: Centre) -> None:
    stack = centre.stack
    await centre.agent("1001")
    supervisor = await centre.agent("9001", ready=False)
    caller = await centre.call("4", caller_id="13800000801")
    await centre.phones["1001"].wait_call(1, 30)
    record = await call_for(stack, "13800000801", 5)
    await caller.start_sound(stack.prompt("repair-menu", "en"))  # the caller talks on
    # 监听: the supervisor's phone rings, and they hear the caller; the caller does not
    # hear them.
    listening = await supervisor.post(f"/api/calls/{record.id}/supervise", {"mode": "listen"})
    assert listening["mode"] == "listen"
    ears = await centre.phones["9001"].line(0)
    await ears.expect_heard(stack.prompt("repair-menu", "en"), timeout=15)
    since = caller.position()
    await ears.play(stack.prompt("goodbye", "en"))
    heard = caller.heard()[int(since * 8000) :]
    unheard = hearing.find(hearing.read_wav(stack.prompt("goodbye", "en")), heard)
    assert unheard.score < hearing.MATCH_THRESHOLD, "the caller heard a listening supervisor"
    # 强插: a second leg joins the conversation; now the caller hears the supervisor.
    await supervisor.post(f"/api/calls/{record.id}/supervise", {"mode": "barge"})
    await centre.phones["9001"].wait_call(2, 15)
    voice = await centre.phones["9001"].line(1)
    await voice.expect_heard(stack.prompt("repair-menu", "en"), timeout=15)
    since = caller.position()
    await voice.start_sound(stack.prompt("goodbye", "en"), times=3)
    await caller.expect_heard(stack.prompt("goodbye", "en"), 15, after_s=since)
    events = [e.data for e in await events_of(stack, record.id) if e.kind == "action"]
    assert [e["action"] for e in events] == ["listen", "barge"]
    await caller.hangup()
    # Every leg the supervision added goes with the call.
    await ears.wait_hung_up(10)
    await voice.wait_hung_up(10)


async def test_an_agent_hands_a_silent_caller_to_the_silent_sequence(centre: Centre) -> None:
    stack = centre.stack
    agent = await centre.agent("1003")
    caller = await centre.call("4", caller_id="13800000901")  # says nothing at all
    await centre.phones["1003"].wait_call(1, 30)
    await agent.wait_me(lambda m: m["state"] == "on-call", 10, "on the call")
    since = caller.position()
    await agent.post("/api/me/call/sequence", {"kind": "silent"})
    hello = await caller.expect_heard(stack.prompt("line-silent-hello"), 10, after_s=since)
    await caller.expect_heard(stack.prompt("line-silent-bye"), 15, after_s=hello.offset_s)
    await caller.wait_hung_up(15)
    record = await call_for(stack, "13800000901", 10, closed=True)
    assert record.disposition == "silent"
    await agent.wait_me(lambda m: m["state"] in ("wrap-up", "ready"), 10, "off the call")
    line = [e.data for e in await events_of(stack, record.id) if e.kind == "line"]
    assert line[0] == {"event": "handed-over", "sequence": "silent"}
    assert await offered_to(stack, "13800000901") == ["1003"]
