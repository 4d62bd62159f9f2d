"""What agents and supervisors do with a call in progress (R-4.8, R-4.9, R-7), over real
SIP: screen pop, transfer to another queue, pick-up, listen and barge, and handing a
caller who cannot be heard to the silent-call sequence."""

from __future__ import annotations

from ivr.scenario import hearing
from tests.harness.centre import Centre, offered_to
from tests.harness.cli import hotline
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
    agent = await centre.agent("1001")
    supervisor = await centre.agent("9001", ready=False)
    caller = await centre.call("4", caller_id="13800000801")
    await centre.phones["1001"].wait_call(1, 30)
    # The phone rings before the conversation exists: supervise only a call that has one.
    await agent.wait_me(lambda m: m["state"] == "on-call", 10, "on the call")
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


async def test_transfer_to_a_named_agent_and_a_blacklist_request(centre: Centre) -> None:
    stack = centre.stack
    first = await centre.agent("1001")
    second = await centre.agent("1003", ready=False)
    caller = await centre.call("4", caller_id="13800001001")
    await centre.phones["1001"].wait_call(1, 30)
    await first.wait_me(lambda m: m["state"] == "on-call", 10, "on the call")
    # Outside numbers are off for agents by default; a busy or absent colleague is refused.
    status, body = await first.request("POST", "/api/me/call/transfer", {"to": "outside:010123"})
    assert (status, body["error_id"], body["details"]["reason"]) == (403, "number-refused", "role")
    status, body = await first.request("POST", "/api/me/call/transfer", {"to": "agent:1003"})
    assert (status, body["error_id"]) == (409, "action-refused")  # 1003 is not ready
    await second.ready()
    await first.post("/api/me/call/transfer", {"to": "agent:1003"})
    await centre.phones["1003"].wait_call(1, 15)
    assert centre.phones["1003"].shown_numbers == ["13800001001"]
    await second.wait_me(lambda m: m["state"] == "on-call", 10, "on the call")
    assert await offered_to(stack, "13800001001") == ["1001", "1003"]
    # 1003 asks for this caller to be blacklisted; only a supervisor may decide.
    asked = await second.post("/api/blacklist/requests", {"reason": "abusive"})
    assert (asked["number"], asked["status"]) == ("13800001001", "pending")
    status, _ = await second.request("GET", "/api/blacklist/requests")
    assert status == 403
    supervisor = await centre.agent("9001", ready=False)
    pending = await supervisor.get("/api/blacklist/requests")
    assert [r["id"] for r in pending["requests"]] == [asked["id"]]
    decided = await supervisor.post(f"/api/blacklist/requests/{asked['id']}", {"approve": True})
    assert (decided["status"], decided["decided_by"]) == ("approved", "9001")
    status, _ = await supervisor.request(
        "POST", f"/api/blacklist/requests/{asked['id']}", {"approve": False}
    )
    assert status == 409  # decided already
    await caller.hangup()
    # The next call from that number is refused with the blacklist prompt.
    again = await centre.tester.call("4008001234", caller_id="13800001001")
    await again.expect_heard(stack.prompt("blacklisted"), timeout=15)
    refused = await call_for(stack, "13800001001", 15, closed=True)
    assert refused.disposition == "blacklisted"
    code, out, _ = await hotline(
        "--config", str(stack.config_file), "blacklist", "remove", "13800001001"
    )
    assert code == 0, out


async def test_a_supervisor_takes_over_then_ends_the_call(centre: Centre) -> None:
    stack = centre.stack
    agent = await centre.agent("1001")
    supervisor = await centre.agent("9001", ready=False)
    caller = await centre.call("4", caller_id="13800001101")
    agent_leg = await centre.phones["1001"].wait_call(1, 30)
    record = await call_for(stack, "13800001101", 5)
    # The phone rings before it answers: a takeover needs the conversation to exist.
    await agent.wait_me(lambda m: m["state"] == "on-call", 10, "the agent on the call")
    await supervisor.post(f"/api/calls/{record.id}/supervise", {"mode": "takeover"})
    await centre.phones["9001"].wait_call(1, 15)
    # 拦截: the agent is cut out, the supervisor talks to the caller now.
    await centre.tester.wait_for(
        lambda e: e.type == "StasisEnd" and e.channel is not None and e.channel.id == agent_leg,
        10,
        "the agent's leg to end",
    )
    await agent.wait_me(lambda m: m["state"] in ("wrap-up", "ready"), 10, "cut out")
    await supervisor.wait_me(lambda m: m["state"] == "on-call", 10, "on the call")
    since = caller.position()
    voice = await centre.phones["9001"].line(0)
    await voice.start_sound(stack.prompt("goodbye", "en"), times=3)
    await caller.expect_heard(stack.prompt("goodbye", "en"), 15, after_s=since)
    # 强制挂机
    await supervisor.post(f"/api/calls/{record.id}/hangup")
    await caller.wait_hung_up(10)
    closed = await call_for(stack, "13800001101", 10, closed=True)
    assert closed.disposition == "answered"
    await supervisor.wait_me(lambda m: m["state"] != "on-call", 10, "off the call")
