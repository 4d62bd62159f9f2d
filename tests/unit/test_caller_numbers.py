"""Every place a caller's number is compared or stored sees its one form (hotline/numbers.py):
the ACD's VIPs, owners, pinned numbers and regions, a caller joining a queue, and the
call's record."""

from __future__ import annotations

from pathlib import Path

import pytest

from acd.engine import Acd
from acd.loader import AcdError, parse_acd
from hotline.calls.models import CallRecord
from hotline.calls.registry import CallRegistry
from hotline.calls.session import CallChannel
from hotline.calls.store import CallStore
from tests.fakes.ari import FakeAri
from tests.unit.acd_fixtures import MemoryStore

# Configured numbers written the ways admins write them; looked up the ways carriers send.
CENTRE = """
queues:
  repair: {skills: [repair]}
agents:
  "1": {name: A, skills: {repair: 2}, region: shanghai}
  "2": {name: B, skills: {repair: 3}, region: beijing}
vip: ["+86 139 0000 0001", 13900000002]
owners: {"008613800000001": "1", "13800000003": "2"}
pinned: {"86 138 0000 0002": "2"}
regions:
  shanghai: {prefixes: ["021"]}
  beijing: {prefixes: ["010"]}
  jiangsu: {prefixes: ["1391234"]}
"""
SETUP = parse_acd(Path("centre.yaml"), CENTRE)


def test_configured_numbers_are_stored_normalised() -> None:
    assert SETUP.vip == {"13900000001", "13900000002"}
    assert dict(SETUP.owners) == {"13800000001": "1", "13800000003": "2"}
    assert dict(SETUP.pinned) == {"13800000002": "2"}


VIP_FORMS = [
    "13900000001",
    "+8613900000001",
    "008613900000001",
    "8613900000001",
    '"x" <sip:+8613900000001@h>',
]


@pytest.mark.parametrize("caller", VIP_FORMS)
def test_a_vip_is_one_in_every_form(caller: str) -> None:
    assert SETUP.is_vip(caller)
    assert not SETUP.is_vip(caller.replace("0001", "0009"))


@pytest.mark.parametrize(
    ("caller", "agent"),
    [
        ("+86 138 0000 0001", "1"),  # the owner
        ("<sip:008613800000001@carrier;user=phone>", "1"),
        ("8613800000002", "2"),  # pinned
        ("+8613800000003", "2"),
        ("+8613800000009", ""),
        ("anonymous", ""),
        ("", ""),
    ],
)
def test_owners_and_pinned_numbers_in_every_form(caller: str, agent: str) -> None:
    assert SETUP.preferred_agent(caller) == agent


@pytest.mark.parametrize(
    ("caller", "region"),
    [
        ("02161234567", "shanghai"),
        ("+86 21 6123 4567", "shanghai"),
        ('"x" <sip:+862161234567@h>', "shanghai"),
        ("862161234567", "shanghai"),
        ("0086 10 5000 0001", "beijing"),
        ("+86 139 1234 5678", "jiangsu"),  # a mobile's 号段
        ("+1 212 555 0100", ""),  # not one of ours, even if its digits look like one
        ("+442161234567", ""),
        ("anonymous", ""),
    ],
)
def test_regions_of_prefixed_callers(caller: str, region: str) -> None:
    assert SETUP.regions.of(caller) == region


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ('vip: ["sip:13900000001@h"]', "vip.0", "phone number"),
        ('vip: ["139 abc"]', "vip.0", "phone number"),
        ('owners: {"anonymous": "1"}', "owners.anonymous", "phone number"),
        (
            'owners: {"13800000001": "1", "+8613800000001": "2"}',
            "owners.+8613800000001",
            "the same number as 13800000001",
        ),
    ],
)
def test_numbers_that_are_not_one_or_twice_the_same_are_errors(
    text: str, key: str, problem: str
) -> None:
    base = 'queues: {a: {}}\nagents:\n  "1": {name: A}\n  "2": {name: B}\n'
    with pytest.raises(AcdError) as caught:
        parse_acd(Path("acd.yaml"), base + text + "\n")
    message = caught.value.message
    assert f": {key}: " in message and problem in message, message


async def test_a_caller_joins_a_queue_under_the_normalised_number() -> None:
    acd = Acd(lambda: SETUP, MemoryStore(), clock=lambda: 1000.0)
    await acd.log_in("1", "801")
    waiter = await acd.join("c1", "repair", (), 5, "+86 139 0000 0001", "zh", lambda e: None)
    assert waiter is not None
    assert waiter.caller == "13900000001" and waiter.call.vip
    owned = await acd.join("c2", "repair", (), 5, "008613800000001", "zh", lambda e: None)
    assert owned is not None and owned.call.preferred == "1"
    city = await acd.join("c3", "repair", (), 5, "+86 21 6123 4567", "zh", lambda e: None)
    assert city is not None and city.call.region == "shanghai"


# --- the call's record ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("+8613500135000", "13500135000"),
        ("0086 21 6123 4567", "02161234567"),
        ("13700137005", "13700137005"),
        ("+14155550100", "+14155550100"),
        ("", "anonymous"),
        ("Restricted", "anonymous"),
    ],
)
async def test_the_call_record_and_the_call_keep_the_normalised_number(
    store: CallStore, sent: str, stored: str
) -> None:
    fake, seen = FakeAri(), list[str]()

    async def flow(call_id: str, channel: CallChannel, dialled: str, _: CallRecord | None) -> str:
        seen.append(channel.caller_number)
        await channel.wait_digit(30)
        return "done"

    registry = CallRegistry(fake, "hotline", store, flow)
    fake.on_event = registry.on_event
    fake.caller_arrives("c-1", caller=sent)
    await fake.wait_for(lambda: bool(seen))
    record = await store.by_channel("c-1")
    assert record is not None and record.caller_number == stored
    assert seen == [stored]
    await registry.aclose(hand_over=False)
