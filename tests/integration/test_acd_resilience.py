"""The ACD's state survives a controller crash (non-negotiable 6): agents' states and
tokens, a conversation in progress with its recording, and a caller waiting with their
place in time."""

from __future__ import annotations

import asyncio
import signal
import time

from acd.store import AcdStore
from hotline.ari.rest import AriRest
from hotline.db import make_engine
from ivr.scenario import hearing
from tests.harness.centre import Centre, wait_queued
from tests.harness.db import call_for, events_of, recording_of, survey_of
from tests.harness.listening import files_of, found
from tests.harness.stack import Stack


async def waits(stack: Stack, call_id: str) -> list[tuple[str, str, object]]:
    engine = make_engine(stack.config.db_url)
    try:
        return [(w.queue, w.outcome, w.joined_at) for w in await AcdStore(engine).waits(call_id)]
    finally:
        await engine.dispose()


async def closed_waits(stack: Stack, call_id: str, timeout: float) -> list[tuple[str, str, object]]:
    """The call's waits once none is still open (the answer ends the last one)."""
    deadline = time.monotonic() + timeout
    while True:
        found = await waits(stack, call_id)
        if all(outcome != "waiting" for _, outcome, _ in found) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


async def test_agents_a_conversation_and_a_waiting_caller_survive_a_crash(
    centre: Centre,
) -> None:
    stack = centre.stack
    talking = await centre.agent("1001")
    waiting_agent = await centre.agent("1003", ready=False)
    first = await centre.call("4", caller_id="13800001201")
    await centre.phones["1001"].wait_call(1, 30)
    await talking.wait_me(lambda m: m["state"] == "on-call", 10, "on the call")
    agent_line = await centre.phones["1001"].line(0)
    await first.play(stack.prompt("repair-menu", "en"))  # the caller speaks before the crash
    await agent_line.expect_heard(stack.prompt("repair-menu", "en"), 10)
    second = await centre.call("4", caller_id="13800001202")
    waiting = await call_for(stack, "13800001202", 10)
    await wait_queued(stack, waiting.id)
    before = await waits(stack, waiting.id)

    proc = stack.controller.proc
    assert proc is not None
    proc.send_signal(signal.SIGKILL)  # a crash: nothing is handed over
    await proc.wait()
    stack.controller.proc = None
    await stack.controller.start()

    # Tokens and states are where they were; both callers are still on the line.
    assert (await talking.me())["state"] == "on-call"
    assert (await waiting_agent.me())["state"] == "not-ready"
    assert not await first.is_gone() and not await second.is_gone()
    # The waiting caller is back in the queue with the same wait, and is served.
    await waiting_agent.ready()
    await centre.phones["1003"].wait_call(1, 20)
    await waiting_agent.wait_me(lambda m: m["state"] == "on-call", 10, "on the call")
    after = await closed_waits(stack, waiting.id, 10)  # the answer is stored after the ring
    assert [(q, o) for q, o, _ in after] == [("complaints", "answered")]
    assert after[0][2] == before[0][2]  # joined when it first joined
    assert "resumed" in [e.kind for e in await events_of(stack, waiting.id)]
    # The conversation is under the new controller: the agent speaks, then hangs up, and
    # the caller answers the survey.
    await agent_line.play(stack.prompt("choice-received", "en"))
    await first.expect_heard(stack.prompt("choice-received", "en"), 10)
    await centre.answer_survey(first, "1001", "2")
    closed = await call_for(stack, "13800001201", 30, closed=True)
    assert closed.disposition == "answered"
    await talking.wait_me(lambda m: m["state"] in ("wrap-up", "ready"), 10, "off the call")
    answer = await survey_of(stack, closed.id, 10)
    assert (answer.agent, answer.queue, answer.result) == ("1001", "complaints", "2")
    # One recording spans the crash: the caller before it, the agent and the survey after.
    row = await recording_of(stack, closed.id, 30)
    store = stack.config.recordings_store
    assert files_of(store, closed.id) == [
        f"{closed.id}.timeline.json",
        f"{closed.id}.wav",
    ]
    audio = hearing.read_wav(store / row.path)
    offsets = [
        found(stack.prompt("repair-menu", "en"), audio, "the caller's voice"),
        found(stack.prompt("choice-received", "en"), audio, "the agent's voice"),
        found(stack.prompt("survey"), audio, "the survey question"),
    ]
    assert offsets == sorted(offsets), offsets
    assert row.agent_list() == ["1001"] and row.queue_list() == ["complaints"]
    await second.hangup()


async def test_a_caller_gone_while_the_controller_was_down_frees_the_agent(
    centre: Centre,
) -> None:
    """SIGKILL during a conversation, then the caller hangs up before a controller is
    back: the next controller hangs up the agent's phone, closes the call as lost and
    puts the agent through wrap-up to ready; nothing of the call is left on the PBX."""
    stack = centre.stack
    desk = await centre.agent("1001")
    caller = await centre.call("4", caller_id="13800001301")
    await centre.phones["1001"].wait_call(1, 30)
    await desk.wait_me(lambda m: m["state"] == "on-call", 10, "on the call")
    agent_line = await centre.phones["1001"].line(0)
    record = await call_for(stack, "13800001301", 10)

    proc = stack.controller.proc
    assert proc is not None
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    stack.controller.proc = None
    await caller.hangup()  # while nobody is there
    assert not await agent_line.is_gone()  # the agent is left alone on the line
    await stack.controller.start()

    await agent_line.wait_hung_up(20)
    closed = await call_for(stack, "13800001301", 20, closed=True)
    assert (closed.id, closed.disposition) == (record.id, "lost")
    await desk.wait_me(lambda m: m["state"] == "wrap-up", 10, "in wrap-up")
    await desk.wait_me(lambda m: m["state"] == "ready", 10, "ready again")
    await nothing_left(stack, record.id, record.channel_id)


async def test_a_caller_gone_during_an_outside_transfer_while_the_controller_was_down(
    centre: Centre,
) -> None:
    """SIGKILL while the caller talks to the outside number an agent passed them to (the
    tester answers as the carrier's far end), then the caller hangs up before a
    controller is back: the next one hangs up the outside leg (it would keep costing) and
    closes the call; nothing of the call is left on the PBX."""
    stack = centre.stack
    await stack.controller.stop()
    await stack.controller.start(HOTLINE_ACD_OUTSIDE_TRANSFER="true")
    try:
        outside = centre.tester.phone("01088886666", mode="answer")
        desk = await centre.agent("1001")
        caller = await centre.call("4", caller_id="13800001401")
        await centre.phones["1001"].wait_call(1, 30)
        await desk.wait_me(lambda m: m["state"] == "on-call", 10, "on the call")
        record = await call_for(stack, "13800001401", 10)
        await desk.post("/api/me/call/transfer", {"to": "outside:01088886666"})
        outside_leg = await outside.wait_rang(20)
        await connected(stack, "13800001401", 15)

        proc = stack.controller.proc
        assert proc is not None
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        stack.controller.proc = None
        mark = len(centre.tester.history)
        await caller.hangup()  # while nobody is there
        await stack.controller.start(HOTLINE_ACD_OUTSIDE_TRANSFER="true")

        await centre.tester.wait_for(
            lambda e: e.type in ("StasisEnd", "ChannelDestroyed") and e.about(outside_leg),
            20,
            "the outside leg hung up",
            since=mark,
        )
        closed = await call_for(stack, "13800001401", 20, closed=True)
        assert (closed.id, closed.disposition) == (record.id, "lost")
        assert "transfer" in [e.kind for e in await events_of(stack, record.id)]
        await nothing_left(stack, record.id, record.channel_id)
        await desk.wait_me(lambda m: m["state"] in ("wrap-up", "ready"), 10, "off the call")
    finally:
        await stack.controller.stop()
        await stack.controller.start()  # the usual controller for the next test


async def connected(stack: Stack, caller_id: str, timeout: float) -> None:
    """Wait until the call's stored phase is a connected conversation."""
    deadline = time.monotonic() + timeout
    while (await call_for(stack, caller_id, 5)).state != "connected":
        assert time.monotonic() < deadline, f"{caller_id} never connected"
        await asyncio.sleep(0.1)


async def nothing_left(stack: Stack, call_id: str, caller_channel: str) -> None:
    """No channel of the call (the caller's, a leg) and not its bridge on the PBX."""
    spec = stack.pbx.spec
    async with AriRest(spec.ari_url, spec.ari_user, spec.ari_password) as ari:
        channels = [c.id for c in await ari.channels()]
        bridges = await ari.bridge_ids()
    assert caller_channel not in channels
    assert [c for c in channels if c.startswith("leg-")] == []
    assert f"br-{call_id}" not in bridges
