"""A DTMF flood is bounded where it arrives (hotline.calls.keys, CallChannel.deliver): a
machine sending keys by the thousand grows nothing and cannot keep the call from its
hang-up; a person pressing keys loses none."""

from __future__ import annotations

import pytest

from hotline.ari import Event
from hotline.calls.keys import KEYS_PER_CALL, KEYS_PER_SECOND, KeyGate
from hotline.calls.session import CallerHungUp
from tests.unit.test_call_channel import dtmf, make


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_keys_faster_than_a_person_are_dropped_beyond_the_second() -> None:
    clock = Clock()
    gate = KeyGate(clock=clock)
    burst = [gate.admit() for _ in range(100)]  # all within one instant
    assert burst == [True] * KEYS_PER_SECOND + [False] * (100 - KEYS_PER_SECOND)
    clock.now += 0.999
    assert not gate.admit()  # still the same second as the first admitted
    clock.now += 0.002
    next_second = [gate.admit() for _ in range(KEYS_PER_SECOND + 1)]
    assert next_second == [True] * KEYS_PER_SECOND + [False]
    assert gate.dropped == 100 - KEYS_PER_SECOND + 2


def test_a_person_pressing_keys_loses_none() -> None:
    clock = Clock()
    gate = KeyGate(clock=clock)
    for _ in range(150):  # 10 keys a second for 15 s: a long account number and PIN, twice
        assert gate.admit()
        clock.now += 0.1
    assert gate.dropped == 0


def test_a_call_takes_at_most_its_bound_of_keys_in_all() -> None:
    clock = Clock()
    gate = KeyGate(clock=clock)
    admitted = 0
    for _ in range(KEYS_PER_CALL + 100):
        admitted += gate.admit()
        clock.now += 0.2  # a polite pace: only the count stops it
    assert admitted == KEYS_PER_CALL and gate.dropped == 100


async def test_a_flood_grows_nothing_and_the_hang_up_still_gets_through() -> None:
    channel, _ = make()
    clock = Clock()
    channel.keys = KeyGate(clock=clock)
    for i in range(50_000):  # 50 s of keys at 1000 a second
        channel.deliver(dtmf("0123456789*#"[i % 12]))
        clock.now += 0.001
    assert channel.events.qsize() == KEYS_PER_CALL  # not 50 000 events waiting
    assert channel.keys.dropped == 50_000 - KEYS_PER_CALL
    channel.deliver(Event("ChannelHangupRequest", {"channel": {"id": "chan-1"}}))
    taken = 0
    with pytest.raises(CallerHungUp):
        while True:
            assert await channel.wait_digit(1) is not None
            taken += 1
    assert taken == KEYS_PER_CALL  # what was let in, and then the hang-up at once
    channel.deliver(dtmf("5"))
    assert channel.events.qsize() == 0  # still dropped: the call's bound is spent
