"""The fake PBX (tests/fakes/ari.py) is faithful enough to test call flows on: the real
per-call primitives, leg placing and the call registry run against it as against Asterisk,
and it fails, reports and leaks the way a test needs to see."""

from __future__ import annotations

import asyncio
import io
import wave
from typing import Any

import pytest

from hotline.ari.errors import (
    AriConflict,
    AriError,
    AriNotFound,
    AriServerError,
    AriUnavailable,
    AriUnprocessable,
)
from hotline.ari.models import Event
from hotline.calls import legs
from hotline.calls.legs import CALL_BRIDGE_TYPE, RINGBACK, LegPlan, RingOutcome
from hotline.calls.models import CallRecord
from hotline.calls.registry import CallRegistry
from hotline.calls.session import CallChannel, CallerHungUp
from hotline.calls.store import CallStore
from tests.fakes.ari import FakeAri, Request

CALLER = "c-1"
NUMBER = "13800138000"
PLAN = LegPlan(app="hotline", attach=lambda leg, caller: None, detach=lambda leg: None)


async def answered(fake: FakeAri, channel_id: str = CALLER) -> CallChannel:
    """A caller in the app, answered, with every event routed to its CallChannel."""
    fake.caller_arrives(channel_id, caller=NUMBER)
    channel = CallChannel(fake, channel_id, NUMBER)
    fake.on_event = channel.deliver
    await channel.answer()
    return channel


# --- (1) the per-call primitives --------------------------------------------------------------
async def test_answer_is_a_request_then_a_state_change_event_after_it_returns() -> None:
    fake = FakeAri()
    fake.caller_arrives(CALLER, caller=NUMBER, exten="4008001234")
    seen: list[Event] = []
    fake.on_event = seen.append
    await CallChannel(fake, CALLER).answer()
    assert [e.type for e in seen] == ["StasisStart"]  # the answer's own event comes later
    await fake.settle()
    assert [e.type for e in seen] == ["StasisStart", "ChannelStateChange"]
    start, change = seen
    assert start.args == ["4008001234"] and start.channel is not None
    assert (start.channel.caller_number, start.channel.state) == (NUMBER, "Ring")
    assert change.channel is not None and change.channel.state == "Up"
    assert fake.calls_to("POST", "/channels/{id}/answer") == [
        Request("POST", f"/channels/{CALLER}/answer", {})
    ]


async def test_a_key_stops_the_prompt_and_is_returned() -> None:
    fake = FakeAri()
    channel = await answered(fake)
    task = asyncio.create_task(channel.play(["sound:welcome", "sound:menu"]))
    await fake.settle()
    [playing] = fake.playing()
    assert (playing.target, playing.media) == ("channel:c-1", ["sound:welcome", "sound:menu"])
    fake.press(CALLER, "5")
    assert await task == "5"
    assert [r.path for r in fake.calls_to("DELETE", "/playbacks/{id}")] == [
        f"/playbacks/{playing.id}"
    ]
    await fake.settle()
    assert fake.event_types(CALLER)[-3:] == [
        "PlaybackStarted",
        "ChannelDtmfReceived",
        "PlaybackFinished",
    ]
    assert fake.leaks(CALLER) == []


async def test_a_prompt_played_to_its_end_returns_no_key() -> None:
    fake = FakeAri()
    channel = await answered(fake)
    task = asyncio.create_task(channel.play(["sound:goodbye"]))
    await fake.settle()
    assert not task.done()  # it plays until the test lets it end
    assert len(fake.finish_playbacks()) == 1
    assert await task is None
    assert fake.calls_to("DELETE", "/playbacks/{id}") == []


async def test_with_auto_finish_prompts_end_by_themselves_one_after_another() -> None:
    fake = FakeAri(auto_finish_playbacks=True)
    channel = await answered(fake)
    assert await channel.play(["sound:a"]) is None
    assert await channel.play(["sound:b"], barge_in=False) is None
    finished = [e.playback for e in fake.events if e.type == "PlaybackFinished"]
    assert [(p.media_uri, p.state) for p in finished if p] == [
        ("sound:a", "done"),
        ("sound:b", "done"),
    ]


async def test_a_missing_sound_file_fails_the_playback() -> None:
    fake = FakeAri(auto_finish_playbacks=True)
    fake.missing_media.add("sound:nothing-here")
    channel = await answered(fake)
    assert await channel.play(["sound:nothing-here"]) is None
    [finished] = [e.playback for e in fake.events if e.type == "PlaybackFinished"]
    assert finished is not None and finished.state == "failed"


async def test_wait_digit_returns_a_key_or_none_after_its_timeout() -> None:
    fake = FakeAri()
    channel = await answered(fake)
    fake.press(CALLER, "3")
    assert await channel.wait_digit(1.0) == "3"
    assert await channel.wait_digit(0.05) is None


async def test_a_hang_up_while_waiting_raises_caller_hung_up_and_leaves_nothing() -> None:
    fake = FakeAri()
    channel = await answered(fake)
    task = asyncio.create_task(channel.play(["sound:long-prompt"]))
    await fake.settle()
    fake.caller_hangs_up(CALLER)
    with pytest.raises(CallerHungUp):
        await task
    await fake.settle()
    assert fake.event_types(CALLER)[-4:] == [
        "ChannelHangupRequest",
        "PlaybackFinished",
        "StasisEnd",
        "ChannelDestroyed",
    ]
    destroyed = fake.events[-1]
    assert (destroyed.cause, destroyed.raw["cause_txt"]) == (16, "Normal Clearing")
    assert fake.leaks() == []
    with pytest.raises(CallerHungUp):  # and answering a gone caller says so too
        await channel.answer()


async def test_hash_ends_a_recording_of_an_unbridged_caller() -> None:
    fake = FakeAri()
    fake.recording_seconds = 4
    channel = await answered(fake)
    task = asyncio.create_task(channel.record("messages/m-1", max_seconds=60, max_silence=5))
    await fake.wait_for(lambda: fake.pbx.recordings.get("messages/m-1") is not None)
    await fake.settle()
    assert fake.pbx.recordings["messages/m-1"].state == "recording"
    fake.press(CALLER, "#")
    assert await task == 4.0
    assert fake.pbx.stored["messages/m-1"].seconds == 4


async def test_a_bridged_channel_cannot_be_recorded_and_a_snoop_records_it() -> None:
    fake = FakeAri(auto_finish_playbacks=True)
    channel = await answered(fake)
    await legs.open_bridge(channel, "br-1")
    assert await channel.record("messages/direct", 60, 5) == 0.0  # RecordingFailed
    [failed] = [e.recording for e in fake.events if e.type == "RecordingFailed"]
    assert failed is not None and failed.cause == "Cannot record channel while in bridge"

    task = asyncio.create_task(legs.record_caller(channel, PLAN, "messages/m-2", 60, 5))
    await fake.wait_for(lambda: "messages/m-2" in fake.pbx.recordings)
    [snoop] = [c for c in fake.pbx.channels.values() if c.snoop_of == CALLER]
    assert (snoop.spy, snoop.whisper) == ("in", "none")
    assert fake.pbx.recordings["messages/m-2"].target == f"channel:{snoop.id}"
    fake.finish_recording("messages/m-2", seconds=7)
    assert await task == 7.0
    await fake.settle()
    assert snoop.id not in fake.pbx.channels  # hung up by record_caller
    assert fake.leaks(CALLER) == [f"bridge br-1 ({CALL_BRIDGE_TYPE}) with {CALLER}"]


# --- (2) legs ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("script", "outcome"),
    [
        ({"answer": True}, RingOutcome.ANSWERED),
        ({"cause": 17}, RingOutcome.BUSY),
        ({"cause": 19}, RingOutcome.NO_ANSWER),
        ({"cause": 20}, RingOutcome.UNREACHABLE),  # subscriber absent
        ({"unreachable": True}, RingOutcome.UNREACHABLE),  # POST /channels answers 500
    ],
)
async def test_ring_reports_what_the_phone_did(
    script: dict[str, Any], outcome: RingOutcome
) -> None:
    fake = FakeAri()
    channel = await answered(fake)
    fake.script_endpoint("PJSIP/1001", **script)
    assert await legs.ring(channel, PLAN, "leg-1", "PJSIP/1001", 20) == (outcome, None)
    [originate] = fake.calls_to("POST", "/channels")
    assert originate.params == {
        "endpoint": "PJSIP/1001",
        "app": "hotline",
        "channelId": "leg-1",
        "timeout": "20",
        "appArgs": "leg",
        "callerId": NUMBER,
    }
    ringback = fake.calls_to("POST", "/channels/c-1/play/{playback}")
    assert [r.params["media"] for r in ringback] == [RINGBACK]
    await fake.settle()
    assert fake.pbx.playbacks == {}  # the ringback was stopped
    if outcome == RingOutcome.ANSWERED:
        leg = fake.pbx.channels["leg-1"]
        assert (leg.state, leg.in_stasis, leg.app_args) == ("Up", True, ["leg"])
    assert fake.leaks(CALLER, "leg-1") == []
    assert ("leg-1" in fake.pbx.channels) == (outcome == RingOutcome.ANSWERED)


async def test_a_phone_left_ringing_answers_when_the_test_says() -> None:
    fake = FakeAri()
    channel = await answered(fake)
    fake.script_endpoint("PJSIP/1002", never=True)
    task = asyncio.create_task(legs.ring(channel, PLAN, "leg-2", "PJSIP/1002", 20))
    await fake.settle()
    assert fake.pbx.channels["leg-2"].state == "Ringing" and not task.done()
    fake.leg_answers("leg-2")
    assert await task == (RingOutcome.ANSWERED, None)


async def test_the_call_bridge_takes_caller_then_leg_and_is_left_behind_if_nobody_ends_it() -> None:
    fake = FakeAri()
    channel = await answered(fake)
    fake.script_endpoint("PJSIP/1001", never=True)
    ringing = asyncio.create_task(legs.ring(channel, PLAN, "leg-1", "PJSIP/1001", 20))
    await fake.settle()
    with pytest.raises(AriUnprocessable):  # a leg joins only once it is in the app
        await legs.join(channel, "leg-1", "br-call-1")
    fake.leg_answers("leg-1")
    assert (await ringing)[0] == RingOutcome.ANSWERED

    await legs.join(channel, "leg-1", "br-call-1")  # opens the bridge first
    await fake.settle()
    bridge = fake.pbx.bridges["br-call-1"]
    assert (bridge.kinds, bridge.members) == (CALL_BRIDGE_TYPE.split(","), [CALLER, "leg-1"])
    entered = [e.channel.id for e in fake.events if e.type == "ChannelEnteredBridge" and e.channel]
    assert entered == [CALLER, "leg-1"]

    since = len(fake.requests)
    await legs.open_bridge(channel, "br-call-1")  # after a restart: nothing to redo
    assert [(r.method, r.path) for r in fake.requests[since:]] == [("GET", "/bridges/br-call-1")]

    fake.leg_hangs_up("leg-1")
    fake.caller_hangs_up(CALLER)
    await fake.settle()
    assert fake.event_types("leg-1")[-3:] == ["ChannelLeftBridge", "StasisEnd", "ChannelDestroyed"]
    # (5) the bridge nobody destroyed is reported
    assert fake.leaks() == [f"bridge br-call-1 ({CALL_BRIDGE_TYPE}) with no channels"]


# --- (3) the call registry ----------------------------------------------------------------------
def registry_on(fake: FakeAri, store: CallStore, closed: list[str]) -> CallRegistry:
    """A registry on the fake, running a trivial flow: answer, the call's bridge, a prompt
    into it, a key."""

    async def flow(call_id: str, channel: CallChannel, dialled: str, _: CallRecord | None) -> str:
        await channel.answer()
        bridge = legs.bridge_id(call_id)
        # Bridge playback events name the bridge, not the caller: the registry routes them
        # to the call only once the bridge is attached (as ivr/call.py does).
        registry.attach_leg(bridge, channel.channel_id)
        await legs.open_bridge(channel, bridge)
        await channel.play(["sound:welcome"])
        return f"pressed-{await channel.wait_digit(30)}"

    registry = CallRegistry(fake, "hotline", store, flow, on_closed=closed.append)
    fake.on_event = registry.on_event
    return registry


async def test_the_registry_records_a_call_and_closes_it_when_the_caller_hangs_up(
    store: CallStore,
) -> None:
    fake, closed = FakeAri(), list[str]()
    registry = registry_on(fake, store, closed)
    fake.caller_arrives(CALLER, caller=NUMBER, exten="4008001234")
    await fake.wait_for(lambda: bool(fake.playing()))
    record = await store.by_channel(CALLER)
    assert record is not None and record.ended_at is None
    assert (record.dialled_number, record.caller_number) == ("4008001234", NUMBER)
    assert fake.playing()[0].target == f"bridge:br-{record.id}"

    fake.caller_hangs_up(CALLER)
    await fake.wait_for(lambda: closed == [record.id])
    ended = await store.get(record.id)
    assert ended is not None and (ended.disposition, ended.state) == ("caller_hangup", "ended")
    assert [e.kind for e in await store.events(record.id)] == ["started", "ended"]
    assert fake.calls_to("DELETE", f"/bridges/br-{record.id}") != []
    assert registry.calls == {} and fake.sink_errors == []
    assert fake.leaks() == []


async def test_the_registry_hangs_up_a_caller_whose_flow_is_over(store: CallStore) -> None:
    fake, closed = FakeAri(auto_finish_playbacks=True), list[str]()
    registry_on(fake, store, closed)
    fake.caller_arrives(CALLER)
    await fake.wait_for(lambda: "PlaybackFinished" in fake.event_types())
    await fake.settle()  # the flow now waits for a key
    fake.press(CALLER, "7")
    await fake.wait_for(lambda: len(closed) == 1)
    ended = await store.get(closed[0])
    assert ended is not None and ended.disposition == "pressed-7"
    hangups = fake.calls_to("DELETE", f"/channels/{CALLER}")
    assert [r.params for r in hangups] == [{"reason": "normal"}]
    assert fake.leaks() == []


async def test_reconcile_adopts_a_caller_who_arrived_while_the_socket_was_down(
    store: CallStore,
) -> None:
    fake, closed = FakeAri(), list[str]()
    registry = registry_on(fake, store, closed)
    fake.caller_arrives(CALLER, exten="4008001234", announce=False)
    await fake.settle()
    assert fake.events == [] and registry.calls == {}
    await registry.reconcile()
    await fake.wait_for(lambda: bool(fake.playing()))
    assert list(registry.calls) == [CALLER]
    adopted = await store.by_channel(CALLER)
    assert adopted is not None and adopted.dialled_number == "4008001234"
    fake.caller_hangs_up(CALLER)
    await fake.wait_for(lambda: len(closed) == 1)
    assert fake.leaks() == []


# --- (4) failure injection ------------------------------------------------------------------------
async def test_a_request_failing_once_raises_the_chosen_error_then_succeeds() -> None:
    fake = FakeAri()
    fake.caller_arrives(CALLER)
    rule = fake.fail("POST", "/channels/{id}/answer", 503)
    with pytest.raises(AriServerError) as caught:
        await fake.answer(CALLER)
    assert caught.value.status == 503
    assert fake.pbx.channels[CALLER].state == "Ring"  # Asterisk never acted on it
    await fake.answer(CALLER)
    assert fake.pbx.channels[CALLER].state == "Up"
    assert rule.hits == 1 and len(fake.calls_to("POST", "/channels/{id}/answer")) == 2


async def test_failures_can_repeat_carry_any_ari_error_or_lose_only_the_answer() -> None:
    fake = FakeAri()
    fake.caller_arrives(CALLER)
    fake.fail("*", "/channels/{id}/moh", AriUnavailable("PBX away"), times=2)
    for _ in range(2):
        with pytest.raises(AriUnavailable):
            await fake.start_moh(CALLER)
    await fake.start_moh(CALLER, "queue")
    assert fake.pbx.channels[CALLER].moh == "queue"

    fake.fail("DELETE", f"/channels/{CALLER}", AriUnavailable("timed out"), applied=True)
    with pytest.raises(AriUnavailable):
        await fake.hangup(CALLER)
    assert CALLER not in fake.pbx.channels  # hung up all the same

    fake.fail("GET", "/asterisk/ping", 409, times=None)
    for _ in range(3):
        with pytest.raises(AriConflict):
            await fake.ping()


async def test_an_injected_not_found_reads_as_a_hang_up_to_the_call() -> None:
    fake = FakeAri()
    fake.caller_arrives(CALLER)
    fake.fail("POST", "/channels/{id}/answer", 404)
    with pytest.raises(CallerHungUp):
        await CallChannel(fake, CALLER).answer()


# --- the whole client surface --------------------------------------------------------------
async def test_every_typed_method_of_the_real_client_is_answered() -> None:
    fake = FakeAri()
    fake.caller_arrives(CALLER, caller=NUMBER)
    fake.script_endpoint("PJSIP/1001", answer=True)
    assert (await fake.ping())["ping"] == "pong"
    await fake.answer(CALLER)
    assert (await fake.channel(CALLER)).state == "Up"
    leg = await fake.originate("PJSIP/1001", "hotline", "leg-1", "leg", NUMBER, 20, {"X": "1"})
    assert (leg.id, leg.state, leg.caller_number) == ("leg-1", "Down", NUMBER)
    await fake.settle()
    assert [c.id for c in await fake.channels()] == [CALLER, "leg-1"]
    assert (await fake.application("hotline")).channel_ids == [CALLER, "leg-1"]
    assert fake.pbx.channels["leg-1"].variables == {"X": "1"}

    await fake.create_bridge("br-1", CALL_BRIDGE_TYPE)
    await fake.add_to_bridge("br-1", [CALLER, "leg-1"])
    assert (await fake.bridge("br-1"))["channels"] == [CALLER, "leg-1"]
    assert await fake.bridge_ids() == ["br-1"]
    await fake.remove_from_bridge("br-1", ["leg-1"])
    into_bridge = await fake.play_to_bridge("br-1", "pb-b", ["sound:hold"])
    assert (into_bridge.state, into_bridge.target_uri) == ("queued", "bridge:br-1")
    await fake.settle()
    assert (await fake.playback("pb-b")).state == "playing"
    await fake.stop_playback("pb-b")
    await fake.start_bridge_moh("br-1", "queue")
    assert fake.pbx.bridges["br-1"].moh == "queue"
    await fake.stop_bridge_moh("br-1")
    assert (await fake.record_bridge("br-1", "calls/c-1")).target_uri == "bridge:br-1"
    await fake.settle()
    assert (await fake.live_recording("calls/c-1")).state == "recording"
    await fake.stop_recording("calls/c-1")
    assert await fake.stored_recording("calls/c-1") == {"name": "calls/c-1", "format": "wav"}
    await fake.delete_stored_recording("calls/c-1")

    to_leg = await fake.play("leg-1", "pb-l", ["sound:whisper"], lang="zh")
    assert (to_leg.target_uri, fake.pbx.playbacks["pb-l"].language) == ("channel:leg-1", "zh")
    await fake.start_moh("leg-1")
    assert fake.pbx.channels["leg-1"].moh == "default"
    await fake.stop_moh("leg-1")
    await fake.mute("leg-1", "both")
    await fake.unmute("leg-1", "in")
    await fake.send_dtmf("leg-1", "12")
    await fake.ring(CALLER)
    await fake.set_variable(CALLER, "LANGUAGE_CHOSEN", "en")
    assert await fake.get_variable(CALLER, "LANGUAGE_CHOSEN") == "en"
    leg_state = fake.pbx.channels["leg-1"]
    assert (leg_state.moh, leg_state.muted, leg_state.sent_dtmf) == (None, {"out"}, ["12"])
    assert fake.pbx.channels[CALLER].ringing_indicated

    snoop = await fake.snoop(CALLER, "snoop-1", "hotline", spy="both", whisper="out")
    assert snoop.name.startswith(f"Snoop/{CALLER}-") and snoop.state == "Up"
    assert (await fake.record("snoop-1", "listen/s-1", fmt="sln")).state == "queued"
    await fake.set_global("HOTLINE_APP", "hotline")
    await fake.reload_module("res_pjsip.so")
    assert (fake.pbx.globals, fake.pbx.reloads) == ({"HOTLINE_APP": "hotline"}, ["res_pjsip.so"])

    made = await fake.create_channel("PJSIP/1001", "hotline", "leg-2", app_args="leg")
    assert made.state == "Down" and fake.pbx.channels["leg-2"].in_stasis  # in the app at once
    await fake.dial("leg-2", timeout=20)
    await fake.settle()
    assert fake.pbx.channels["leg-2"].state == "Up"
    assert fake.event_types("leg-2") == ["StasisStart", "ChannelStateChange", "ChannelStateChange"]

    await fake.continue_in_dialplan("leg-1")
    assert fake.pbx.channels["leg-1"].describe().endswith("in dialplan at ,,2)")
    await fake.destroy_bridge("br-1")
    for channel_id in (CALLER, "leg-1", "leg-2"):
        await fake.hangup(channel_id)
    await fake.close()
    await fake.settle()
    assert fake.closed and fake.leaks() == [] and fake.sink_errors == []
    assert fake.pbx.stored["listen/s-1"].seconds == 5  # ended with the snoop


# --- Asterisk's own answers to what is not there or not allowed -------------------------
async def test_missing_or_unfit_resources_raise_the_error_types_asterisk_would() -> None:
    fake = FakeAri()
    fake.caller_arrives(CALLER)
    await fake.create_bridge("br-1")
    cases: list[tuple[type[AriError], Any]] = [
        (AriNotFound, fake.play("nobody", "pb-1", ["sound:x"])),
        (AriNotFound, fake.hangup("nobody")),
        (AriNotFound, fake.stop_playback("pb-never")),
        (AriNotFound, fake.live_recording("none")),
        (AriNotFound, fake.stored_recording("none")),
        (AriNotFound, fake.add_to_bridge("br-none", [CALLER])),
        (AriNotFound, fake.get_variable(CALLER, "UNSET")),
        (AriConflict, fake.create_bridge("br-1")),
        (AriConflict, fake.stop_bridge_moh("br-1")),  # it plays no music
        (AriNotFound, fake.application("another-app")),
    ]
    for error, request in cases:
        with pytest.raises(error):
            await request
    await fake.continue_in_dialplan(CALLER, "fallback", "s", 1)
    with pytest.raises(AriConflict):  # back in the dialplan: not ours to answer
        await fake.answer(CALLER)
    with pytest.raises(AriUnprocessable):
        await fake.add_to_bridge("br-1", [CALLER])
    assert fake.leaks() == [
        "channel c-1 (PJSIP/carrier-00000001, Ring, in dialplan at fallback,s,1)",
        "bridge br-1 (mixing) with no channels",
    ]


async def test_leaks_name_each_thing_left_alive_and_a_hang_up_takes_its_own_along() -> None:
    fake = FakeAri()
    fake.caller_arrives(CALLER)
    await fake.answer(CALLER)
    await fake.create_bridge("br-1", "mixing")
    await fake.snoop(CALLER, "leg-ear-1", "hotline", spy="in")
    await fake.record("leg-ear-1", "listen/leg-ear-1", fmt="sln")
    await fake.play(CALLER, "pb-1", ["sound:hello"])
    await fake.settle()
    assert fake.leaks(CALLER) == [
        "snoop leg-ear-1 on c-1 (spy=in, whisper=none)",
        "bridge br-1 (mixing) with no channels",
        "recording listen/leg-ear-1 (sln) of channel:leg-ear-1 (recording)",
        "playback pb-1 of sound:hello on channel:c-1 (playing)",
    ]
    fake.caller_hangs_up(CALLER)
    await fake.settle()
    assert fake.leaks() == ["bridge br-1 (mixing) with no channels"]
    assert fake.pbx.stored["listen/leg-ear-1"].seconds == 5  # its snoop's recording was kept


async def test_stored_recordings_download_as_wav_and_can_be_deleted() -> None:
    fake = FakeAri(auto_finish_playbacks=True)
    channel = await answered(fake)
    task = asyncio.create_task(channel.record("messages/m-3", 60, 5))
    await fake.wait_for(lambda: "messages/m-3" in fake.pbx.recordings)
    await fake.settle()
    fake.finish_recording("messages/m-3", seconds=2)
    assert await task == 2.0
    pieces: list[bytes] = []
    path = "/recordings/stored/messages%2Fm-3/file"
    size = await fake.download_to(path, pieces.append)
    with wave.open(io.BytesIO(b"".join(pieces))) as wav:
        assert (wav.getframerate(), wav.getnframes()) == (8000, 16000)
    assert size == len(b"".join(pieces))
    await fake.delete_stored_recording("messages/m-3")
    with pytest.raises(AriNotFound):
        await fake.download(path)
    assert fake.pbx.stored == {}
