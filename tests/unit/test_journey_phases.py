"""Every phase of a call's journey, as data: how a caller gets there, how it ends from
there, and what is stored and asked of the PBX; each phase taken three ways over the fake
ARI: its normal path, the caller hanging up in it, and a controller restart in it (the
next controller resumes the stored phase). After each, nothing is left on the PBX and no
agent is left ringing or on a call."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from acd.agents import Status
from acd.engine import ActionTimedOut
from acd.store import AcdStore
from tests.unit.journey_fixtures import Journey, journey

Step = Callable[[Journey], Awaitable[None]]
OUTSIDE = "02161234567"  # a Shanghai line (local numbers never begin with 1)


# --- getting a caller somewhere ----------------------------------------------------------------
async def to_menu(trip: Journey) -> None:
    await trip.call_in()
    await trip.playing("main-menu")


async def to_queued(trip: Journey) -> None:
    trip.fake.script_endpoint("PJSIP/7101", answer=True)
    await trip.acd.log_in("1001", "7101")  # logged in, not ready: the caller waits
    await to_menu(trip)
    trip.fake.press("caller-1", "1")
    await trip.until(lambda: bool(trip.acd.waiting), "the caller waits in the ACD")


async def to_talking(trip: Journey) -> None:
    await trip.agent_ready("1001", "7101")
    await to_menu(trip)
    trip.fake.press("caller-1", "1")
    await trip.wait_phase("talking")
    await trip.until_async(lambda: stored_state(trip, "1001", "on-call"), "1001 stored on-call")


async def stored_state(trip: Journey, agent: str, state: str) -> bool:
    """Whether the database has the agent in ``state`` (what a next controller finds)."""
    sessions = await AcdStore(trip.wiring.engine).load_agents()
    return any(s.number == agent and s.state == state for s in sessions)


async def to_survey(trip: Journey) -> None:
    await to_talking(trip)
    trip.fake.leg_hangs_up(agent_leg(trip))
    await trip.playing("survey")


async def to_connected(trip: Journey) -> None:
    trip.fake.script_endpoint("PJSIP/8000", answer=True)
    await to_menu(trip)
    trip.fake.press("caller-1", "5")
    await trip.hear_out("transferring")
    await trip.wait_phase("connected")


async def to_transfer_out(trip: Journey) -> None:
    trip.fake.script_endpoint(f"PJSIP/{OUTSIDE}@carrier", never=True)
    await to_talking(trip)
    await act(trip, "transfer-outside", number=OUTSIDE)
    await trip.wait_phase("transfer-out")
    await trip.until(lambda: len(trip.legs()) == 1, "the outside number rings")


async def to_line_sequence(trip: Journey) -> None:
    await to_talking(trip)
    await act(trip, "sequence", kind="silent")
    await trip.wait_phase("line-sequence")
    await trip.playing("line-silent-hello")


async def to_message(trip: Journey) -> None:
    await trip.acd.log_in("1002", "7102")  # the only one for queue "short", not ready
    await to_menu(trip)
    trip.fake.press("caller-1", "6")
    await trip.until(lambda: bool(trip.acd.waiting), "the caller waits in the ACD")
    real = trip.acd.clock
    trip.acd.clock = lambda: real() + 11  # past the queue's 10 s longest wait
    trip.fake.press("caller-1", "9")  # any key wakes the wait to look at the clock again
    await trip.playing("queue-max-wait")
    trip.fake.press("caller-1", "2")  # a message
    await trip.wait_phase("message")
    await trip.hear_out("beep")
    await trip.until(lambda: message_recording(trip) != "", "the message is recorded")


# --- ending from there -------------------------------------------------------------------------
async def hang_up_in_menu(trip: Journey) -> None:
    await trip.playing("main-menu")
    trip.fake.press("caller-1", "2")
    await trip.hear_out("goodbye")


async def agent_ready_then_rate(trip: Journey) -> None:
    await trip.acd.set_status("1001", Status.READY)
    await trip.wait_phase("talking")
    await agent_hangs_up_then_rate(trip)


async def agent_hangs_up_then_rate(trip: Journey) -> None:
    trip.fake.leg_hangs_up(agent_leg(trip))
    await rate(trip)


async def rate(trip: Journey) -> None:
    await trip.playing("survey")
    trip.fake.press("caller-1", "1")
    trip.fake.auto_finish_playbacks = True  # the thanks, then goodbye


async def other_side_hangs_up(trip: Journey) -> None:
    await trip.until(lambda: len(trip.legs()) == 1, "the other side is on the call")
    trip.fake.leg_hangs_up(trip.legs()[0])


async def outside_answers_then_hangs_up(trip: Journey) -> None:
    await trip.until(lambda: len(trip.legs()) == 1, "the outside number rings")
    trip.fake.leg_answers(trip.legs()[0])
    await trip.wait_phase("connected")
    await other_side_hangs_up(trip)


async def sequence_runs_out(trip: Journey) -> None:
    trip.fake.auto_finish_playbacks = True  # nobody speaks up: goodbye, hang-up
    trip.fake.finish_playbacks()


async def caller_presses_hash(trip: Journey) -> None:
    trip.fake.auto_finish_playbacks = True  # the beep again, after a restart
    await trip.until(lambda: message_recording(trip) != "", "the message is recorded")
    trip.fake.press("caller-1", "#")


# --- the table ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    phase: str
    reach: Step  # a new call until it is in ``phase``
    finish: Step  # from ``phase`` to the call's normal end
    path: tuple[str, ...]  # the phases of the normal path, in order
    disposition: str  # of the normal path
    kinds: tuple[str, ...]  # on the timeline of the normal path, among others
    requests: tuple[tuple[str, str], ...]  # asked of the PBX on the normal path
    hung_up: str  # the disposition when the caller hangs up in ``phase``


ANSWERED = ("answering", "menu", "queued", "talking", "survey")
CASES = [
    Case(
        "menu",
        to_menu,
        hang_up_in_menu,
        ("answering", "menu"),
        "completed",
        ("started", "node", "prompt", "key", "ended"),
        (("POST", "/channels/{id}/answer"), ("POST", "/bridges/{id}/record")),
        "caller_hangup",
    ),
    Case(
        "queued",
        to_queued,
        agent_ready_then_rate,
        ANSWERED,
        "answered",
        ("queued", "waiting", "offer", "answered", "agent-hung-up", "survey"),
        (("POST", "/bridges/{id}/moh"), ("DELETE", "/bridges/{id}/moh")),
        "caller_hangup",
    ),
    Case(
        "talking",
        to_talking,
        agent_hangs_up_then_rate,
        ANSWERED,
        "answered",
        ("answered", "agent-hung-up", "survey"),
        (("POST", "/channels"), ("POST", "/bridges/{id}/addChannel")),
        "answered",
    ),
    Case(
        "survey",
        to_survey,
        rate,
        ANSWERED,
        "answered",
        ("survey",),
        (("POST", "/bridges/{id}/play/{playback}"),),
        "answered",
    ),
    Case(
        "connected",
        to_connected,
        other_side_hangs_up,
        ("answering", "menu", "connected"),
        "transferred",
        ("transfer", "agent-hung-up"),
        (("POST", "/channels"),),
        "caller_hangup",
    ),
    Case(
        "transfer-out",
        to_transfer_out,
        outside_answers_then_hangs_up,
        (*ANSWERED[:-1], "transfer-out", "connected"),
        "transferred",
        ("action", "transfer", "agent-hung-up"),
        (("POST", "/channels"),),
        "caller_hangup",
    ),
    Case(
        "line-sequence",
        to_line_sequence,
        sequence_runs_out,
        (*ANSWERED[:-1], "line-sequence"),
        "silent",
        ("action", "line"),
        (("POST", "/channels/{id}/snoop"),),
        "caller_hangup",
    ),
    Case(
        "message",
        to_message,
        caller_presses_hash,
        ("answering", "menu", "queued", "message"),
        "message",
        ("max-wait", "message"),
        (("POST", "/channels/{id}/snoop"), ("POST", "/recordings/live/{name}/stop")),
        "caller_hangup",
    ),
]
IDS = [case.phase for case in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_the_normal_path(case: Case, tmp_path: Path) -> None:
    async with journey(tmp_path) as trip:
        await case.reach(trip)
        assert (await trip.record()).state == case.phase
        await case.finish(trip)
        record = await trip.ended()
        assert record.disposition == case.disposition
        assert await trip.phases(record.id) == list(case.path)
        kinds = await trip.kinds(record.id)
        assert [k for k in case.kinds if k not in kinds] == []
        for method, template in case.requests:
            assert trip.fake.calls_to(method, template), f"no {method} {template}"
        await assert_nothing_left(trip)


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_the_caller_hangs_up(case: Case, tmp_path: Path) -> None:
    async with journey(tmp_path) as trip:
        await case.reach(trip)
        trip.fake.caller_hangs_up("caller-1")
        record = await trip.ended()
        assert record.disposition == case.hung_up
        assert (await trip.phases(record.id))[-1] == case.phase
        await assert_nothing_left(trip)


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_a_restart_resumes_the_phase(case: Case, tmp_path: Path) -> None:
    async with journey(tmp_path) as trip:
        await case.reach(trip)
        await trip.restart()
        record = await trip.record()
        assert record.state == case.phase and record.ended_at is None
        await case.finish(trip)
        record = await trip.ended()
        assert record.disposition == case.disposition
        assert "resumed" in await trip.kinds(record.id)
        assert await trip.phases(record.id) == list(case.path)
        await assert_nothing_left(trip)


async def test_a_call_resumed_while_answering_is_answered_and_walks_the_menu(
    tmp_path: Path,
) -> None:
    """The first phase cannot be caught midway over the fake (it runs without waiting on
    the caller), so its stored form is set up as a dying controller leaves it."""
    async with journey(tmp_path) as trip:
        trip.fake.on_event = None
        trip.fake.caller_arrives("caller-1", caller="13800138000", announce=False)
        await trip.store.open_call("c-1", "caller-1", "4008001234", "13800138000", "answering")
        trip.fake.on_event = trip.registry.on_event
        await trip.registry.reconcile()
        await to_menu_heard(trip)
        await hang_up_in_menu(trip)
        record = await trip.ended()
        assert (record.id, record.disposition) == ("c-1", "completed")
        assert trip.fake.calls_to("POST", "/channels/{id}/answer")
        await assert_nothing_left(trip)


# --- helpers -----------------------------------------------------------------------------------
async def to_menu_heard(trip: Journey) -> None:
    await trip.playing("main-menu")


async def act(trip: Journey, action: str, **args: str) -> None:
    """The agent's action on the call, as the API sends it; answered once done."""
    call_id = trip.acd.call_of("1001")
    await asyncio.wait_for(trip.acd.act(call_id, action, by="1001", **args), 3)


def agent_leg(trip: Journey) -> str:
    [leg] = trip.legs()
    return leg


def message_recording(trip: Journey) -> str:
    return next((n for n in trip.fake.pbx.recordings if n.startswith("messages/")), "")


async def assert_nothing_left(trip: Journey) -> None:
    # The record is closed before the call's task runs its closing hooks and leaves the
    # registry: wait for that, with a deadline, then check everything.
    await trip.until(lambda: not trip.registry.calls, "the call's task to finish")
    await trip.fake.settle()
    assert trip.fake.leaks() == []
    busy = {n: s.state for n, s in trip.acd.agents.items() if s.state in ("ringing", "on-call")}
    assert busy == {}
    assert trip.registry.calls == {} and trip.registry.legs == {}
    assert trip.acd.waiting == {} and trip.acd.conversations == {}


# --- every hand-over ----------------------------------------------------------------------------
async def nobody_in_the_queue(trip: Journey) -> None:
    trip.fake.script_endpoint("PJSIP/8000", answer=True)
    await to_menu(trip)
    trip.fake.press("caller-1", "4")  # queue "install": nobody logged in has the skill
    await trip.hear_out("transferring")  # the queue node's fallback: a transfer
    await trip.wait_phase("connected")


async def agent_transfers_to_a_queue(trip: Journey) -> None:
    await to_talking(trip)
    await act(trip, "transfer-queue", queue="repair")
    await trip.acd.log_in("1002", "7102")  # somebody there, not ready yet
    await trip.until(lambda: bool(trip.acd.waiting), "the caller waits again")


async def agent_transfers_to_a_colleague(trip: Journey) -> None:
    await to_talking(trip)
    await trip.agent_ready("1002", "7102")
    trip.fake.script_endpoint("PJSIP/7102", never=True)  # it rings while the test looks
    await trip.until(lambda: trip.acd.session("1002").state == "ready", "1002 is ready")
    await act(trip, "transfer-agent", agent="1002")
    await trip.until(lambda: trip.acd.session("1002").state == "ringing", "1002 rings")


async def nobody_answers_outside(trip: Journey) -> None:
    await trip.acd.log_in("1002", "7102")  # so the queue can take the caller back
    await to_transfer_out(trip)
    trip.fake.leg_rejects(trip.legs()[0], cause=17)
    await trip.until(lambda: bool(trip.acd.waiting), "back in the queue")


async def caller_shows_up_in_the_sequence(trip: Journey) -> None:
    await trip.acd.log_in("1002", "7102")
    await to_line_sequence(trip)
    trip.fake.press("caller-1", "5")  # a key: the caller is there after all
    await trip.until(lambda: bool(trip.acd.waiting), "back in the queue")


@dataclass(frozen=True)
class HandOver:
    name: str
    act: Step
    path: tuple[str, ...]  # the phases so far
    queue: str = ""  # the queue the call is stored in now


HANDOVERS = [
    HandOver(
        "queue-to-menu-fallback",
        nobody_in_the_queue,
        ("answering", "menu", "queued", "menu", "connected"),
    ),
    HandOver(
        "talking-to-queue",
        agent_transfers_to_a_queue,
        (*ANSWERED[:-1], "queued"),
        "repair",
    ),
    HandOver(
        "talking-to-agent",
        agent_transfers_to_a_colleague,
        (*ANSWERED[:-1], "queued"),
        "repair",
    ),
    HandOver(
        "transfer-out-back-to-queue",
        nobody_answers_outside,
        (*ANSWERED[:-1], "transfer-out", "queued"),
        "repair",
    ),
    HandOver(
        "line-sequence-back-to-queue",
        caller_shows_up_in_the_sequence,
        (*ANSWERED[:-1], "line-sequence", "queued"),
        "repair",
    ),
]


@pytest.mark.parametrize("handover", HANDOVERS, ids=[h.name for h in HANDOVERS])
async def test_every_hand_over(handover: HandOver, tmp_path: Path) -> None:
    async with journey(tmp_path) as trip:
        await handover.act(trip)
        record = await trip.record()
        assert await trip.phases(record.id) == list(handover.path)
        stored = record.phase or {}
        if handover.queue:
            assert (record.state, record.queue, stored["fallback"]) == (
                "queued",
                handover.queue,
                "person",
            )
            assert stored["priority"] == 5  # the caller keeps their priority
        trip.fake.caller_hangs_up("caller-1")
        await trip.ended()
        await assert_nothing_left(trip)


# --- a caller who hangs up while no controller is there -----------------------------------------
@pytest.mark.parametrize("case", [c for c in CASES if c.phase in ("talking", "connected")], ids=str)
async def test_a_caller_gone_during_a_restart_takes_the_other_side_along(
    case: Case, tmp_path: Path
) -> None:
    """The controller dies while the caller talks to an agent (or to whoever a transfer
    reached); the caller hangs up before the next one starts: it hangs up the other side,
    closes the call as lost, and the agent goes to wrap-up as after any call."""
    async with journey(tmp_path) as trip:
        await case.reach(trip)
        [other_side] = trip.legs()
        await trip.stop()
        trip.fake.on_event = None  # nobody hears it
        trip.fake.caller_hangs_up("caller-1")
        await trip.fake.settle()
        assert other_side in trip.fake.pbx.channels  # still up, alone in the bridge
        await trip.restart()
        record = await trip.ended()
        assert record.disposition == "lost"
        assert trip.fake.calls_to("DELETE", f"/channels/{other_side}")
        if case.phase == "talking":
            # The agent is freed by the closing hooks, which run after the record closes.
            agent = trip.acd.session("1001")
            await trip.until(lambda: agent.state == "wrap-up", "the agent in wrap-up")
        await assert_nothing_left(trip)


async def test_an_action_that_timed_out_is_never_done_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The API told the agent their hold failed (it took too long): the call, when it
    gets to it, must not put the caller on hold after all."""
    monkeypatch.setattr("acd.engine.ACTION_TIMEOUT", 0.0)
    async with journey(tmp_path) as trip:
        await to_talking(trip)
        with pytest.raises(ActionTimedOut):
            await trip.acd.act(trip.acd.call_of("1001"), "hold", by="1001")
        with caplog.at_level(logging.WARNING, "acd.conversation"):
            await trip.until(lambda: "hold came too late" in caplog.text, "the call skips it")
        assert trip.fake.calls_to("POST", "/bridges/{id}/removeChannel") == []
        monkeypatch.setattr("acd.engine.ACTION_TIMEOUT", 3.0)
        assert await trip.acd.act(trip.acd.call_of("1001"), "hold", by="1001") == {"held": True}
        assert trip.fake.calls_to("POST", "/bridges/{id}/removeChannel") != []
        trip.fake.caller_hangs_up("caller-1")
        await trip.ended()
        await assert_nothing_left(trip)
