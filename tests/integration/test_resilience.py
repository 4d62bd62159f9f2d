"""The controller away, its event socket cut, or killed: callers are never left in silence."""

from __future__ import annotations

import asyncio
import signal

from tests.harness.db import call_for, events_of
from tests.harness.stack import Stack
from tests.harness.tester import Tester


async def test_controller_down_gives_apology_then_hang_up(stack: Stack, tester: Tester) -> None:
    await stack.controller.stop()
    caller = await tester.call("4008001234", caller_id="13700137001")
    apology = await caller.expect_heard(stack.prompt("service-unavailable"), timeout=10)
    # The recording starts at answer, so dial-to-apology is answer delay + offset.
    dial_to_apology = (caller.answered_at - caller.dialled_at) + apology.offset_s
    assert dial_to_apology < 2.0, f"apology began {dial_to_apology:.2f} s after dialling"
    await caller.expect_heard(
        stack.prompt("service-unavailable", "en"), timeout=15, after_s=apology.offset_s
    )
    await caller.wait_hung_up(timeout=10)
    await stack.controller.start()


async def test_event_socket_cut_mid_call_reconnects_and_call_goes_on(
    controller: Stack, tester: Tester
) -> None:
    caller = await tester.call("4008001234", caller_id="13700137002")
    menu = await caller.expect_heard(controller.prompt("main-menu"), timeout=25)
    before = await controller.controller.wait_health(lambda h: h["ari"]["connected"], 5)
    assert controller.proxy.cut() >= 1  # the event websocket (and any REST connection)
    after = await controller.controller.wait_health(
        lambda h: h["ari"]["connected"] and h["ari"]["connects"] > before["ari"]["connects"], 15
    )
    await caller.press("2")
    await caller.expect_heard(controller.prompt("repair-menu"), timeout=15, after_s=menu.offset_s)
    await caller.hangup()
    record = await call_for(controller, "13700137002", timeout=10, closed=True)
    assert record.keys == "2"
    assert record.disposition == "caller_hangup"
    # The new socket gets the app's events: the controller's own echo comes back on it.
    await controller.controller.wait_health(
        lambda h: h["ari"]["echoes_heard"] > after["ari"]["echoes_heard"], 15
    )
    assert after["ari"]["echoes_lost"] == 0


async def test_killed_controller_is_replaced_and_resumes_the_call(
    controller: Stack, tester: Tester
) -> None:
    caller = await tester.call("4008001234", caller_id="13700137003")
    menu = await caller.expect_heard(controller.prompt("main-menu"), timeout=25)
    proc = controller.controller.proc
    assert proc is not None
    proc.send_signal(signal.SIGKILL)  # a crash: no graceful hand-over
    await proc.wait()
    controller.controller.proc = None
    await controller.controller.start()
    # The new controller finds the call in Stasis and its stored state, and replays the menu.
    again = await caller.expect_heard(
        controller.prompt("main-menu"), timeout=25, after_s=menu.offset_s + 1
    )
    await caller.press("2")
    await caller.expect_heard(controller.prompt("repair-menu"), timeout=15, after_s=again.offset_s)
    await caller.hangup()
    record = await call_for(controller, "13700137003", timeout=20, closed=True)
    assert record.keys == "2"
    assert record.node == "repair"  # the stored position moved on after the resume
    assert record.disposition == "caller_hangup"
    assert "resumed" in [e.kind for e in await events_of(controller, record.id)]


async def test_graceful_stop_hands_live_calls_to_the_fallback(
    controller: Stack, tester: Tester
) -> None:
    caller = await tester.call("4008001234", caller_id="13700137004")
    greeting = await caller.expect_heard(controller.prompt("greeting"), timeout=15)
    await controller.controller.stop()  # SIGTERM: an operator's stop, not a crash
    await caller.expect_heard(
        controller.prompt("service-unavailable"), timeout=10, after_s=greeting.offset_s
    )
    await caller.wait_hung_up(timeout=20)
    record = await call_for(controller, "13700137004", timeout=5, closed=True)
    assert record.disposition == "controller_stopped"
    await controller.controller.start()


async def test_conversation_survives_a_controller_crash(controller: Stack, tester: Tester) -> None:
    """Caller and agent keep talking while the controller is replaced; the new controller
    picks the conversation up and ends the call when the agent hangs up."""
    agent = tester.phone("8000", mode="answer")
    caller = await tester.call("4008001234", caller_id="13700137005")
    await caller.expect_heard(controller.prompt("main-menu"), timeout=25)
    await caller.press("0")
    agent_leg = await agent.wait_rang(timeout=20)
    record = await call_for(controller, "13700137005", timeout=5)
    deadline = asyncio.get_running_loop().time() + 15
    while (await call_for(controller, "13700137005", timeout=5)).state != "connected":
        assert asyncio.get_running_loop().time() < deadline, "never connected to the agent"
        await asyncio.sleep(0.1)

    proc = controller.controller.proc
    assert proc is not None
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    controller.controller.proc = None
    await controller.controller.start()
    assert not await caller.is_gone()  # still talking

    await tester.rest.hangup(agent_leg)  # the agent ends the conversation
    await caller.wait_hung_up(timeout=10)  # and the resumed controller ends the call
    closed = await call_for(controller, "13700137005", timeout=10, closed=True)
    assert closed.id == record.id and closed.disposition == "transferred"
    kinds = [e.kind for e in await events_of(controller, record.id)]
    assert kinds.index("resumed") < kinds.index("agent-hung-up")
