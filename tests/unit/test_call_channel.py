"""The per-call primitives as pure logic, with a fake REST side (no PBX)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from hotline.ari import AriNotFound, AriRest, Event
from hotline.calls.session import GONE, RESYNC, CallChannel, CallerHungUp


class FakeRest:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.live_playbacks: set[str] = set()
        self.channel_alive = True
        self.played = asyncio.Event()

    async def play(self, channel_id: str, playback_id: str, media: list[str]) -> None:
        self.calls.append(("play", media))
        self.live_playbacks.add(playback_id)
        self.played.set()

    async def stop_playback(self, playback_id: str) -> None:
        self.calls.append(("stop", playback_id))
        self.live_playbacks.discard(playback_id)

    async def playback(self, playback_id: str) -> None:
        if playback_id not in self.live_playbacks:
            raise AriNotFound("gone")

    async def channel(self, channel_id: str) -> None:
        if not self.channel_alive:
            raise AriNotFound("gone")


def make() -> tuple[CallChannel, FakeRest]:
    rest = FakeRest()
    return CallChannel(cast(AriRest, rest), "chan-1"), rest


def dtmf(digit: str) -> Event:
    return Event("ChannelDtmfReceived", {"digit": digit, "channel": {"id": "chan-1"}})


def finished(playback_id: str) -> Event:
    return Event(
        "PlaybackFinished",
        {"playback": {"id": playback_id, "state": "done", "target_uri": "channel:chan-1"}},
    )


async def started_playback(rest: FakeRest) -> str:
    async with asyncio.timeout(2):
        await rest.played.wait()
    return next(iter(rest.live_playbacks))


async def test_play_returns_when_its_own_playback_finishes() -> None:
    channel, rest = make()
    task = asyncio.create_task(channel.play(["sound:a"]))
    playback_id = await started_playback(rest)
    channel.deliver(finished("some-other-playback"))
    channel.deliver(finished(playback_id))
    assert await task is None


async def test_barge_in_stops_the_prompt_and_returns_the_key() -> None:
    channel, rest = make()
    task = asyncio.create_task(channel.play(["sound:a", "sound:b"]))
    playback_id = await started_playback(rest)
    channel.deliver(dtmf("7"))
    assert await task == "7"
    assert ("stop", playback_id) in rest.calls


async def test_keys_during_a_no_barge_in_prompt_are_kept_for_the_next_question() -> None:
    channel, rest = make()
    task = asyncio.create_task(channel.play(["sound:a"], barge_in=False))
    playback_id = await started_playback(rest)
    channel.deliver(dtmf("5"))
    channel.deliver(finished(playback_id))
    assert await task is None
    assert await channel.wait_digit(0.01) == "5"


async def test_wait_digit_times_out() -> None:
    channel, _ = make()
    assert await channel.wait_digit(0.05) is None


async def test_resync_after_reconnect_ends_a_playback_that_finished_meanwhile() -> None:
    channel, rest = make()
    task = asyncio.create_task(channel.play(["sound:a"]))
    playback_id = await started_playback(rest)
    rest.live_playbacks.discard(playback_id)  # its PlaybackFinished was lost while cut
    channel.deliver(Event(RESYNC, {}))
    assert await task is None


@pytest.mark.parametrize("kind", ["StasisEnd", "ChannelHangupRequest", GONE])
async def test_hang_up_surfaces_wherever_the_flow_waits(kind: str) -> None:
    channel, _ = make()
    task = asyncio.create_task(channel.wait_digit(5))
    channel.deliver(Event(kind, {"channel": {"id": "chan-1"}}))
    with pytest.raises(CallerHungUp):
        await task
    assert channel.hung_up


async def test_resync_finds_the_channel_gone() -> None:
    channel, rest = make()
    rest.channel_alive = False
    task = asyncio.create_task(channel.wait_digit(5))
    channel.deliver(Event(RESYNC, {}))
    with pytest.raises(CallerHungUp):
        await task
