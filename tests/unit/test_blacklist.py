"""Blacklist matching: exact numbers beat prefixes, the longest prefix wins; a listed
number or prefix is refused however the caller's number is written."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline.db import session_factory
from ivr.blacklist import Action, Blacklist, BlacklistEntry, BlacklistError, Verdict, match
from tests.unit.test_numbers import FAST, written_forms


def entry(pattern: str, prefix: bool, action: Action) -> BlacklistEntry:
    return BlacklistEntry(
        pattern=pattern, prefix=prefix, action=action.value, reason="", created_at=datetime.now(UTC)
    )


ENTRIES = [
    entry("170", True, Action.SILENT),
    entry("1701", True, Action.REFUSE),
    entry("17000000000", False, Action.REFUSE),
    entry("13800138000", False, Action.SILENT),
]


def test_matching_precedence() -> None:
    assert match(ENTRIES, "17099999999") == match(ENTRIES[:1], "17099999999")
    assert match(ENTRIES, "17099999999").action is Action.SILENT  # type: ignore[union-attr]
    assert match(ENTRIES, "17012345678").pattern == "1701"  # type: ignore[union-attr]
    assert match(ENTRIES, "17000000000").pattern == "17000000000"  # type: ignore[union-attr]
    assert match(ENTRIES, "13800138000").action is Action.SILENT  # type: ignore[union-attr]
    assert match(ENTRIES, "13800138001") is None
    assert match(ENTRIES, "1380013800") is None


# --- every written form of a listed number (hotline/numbers.py) ----------------------------
FORMS = [
    "13500135000",
    "+8613500135000",
    "008613500135000",
    "8613500135000",
    "+86 135-0013-5000",
    '"x" <sip:+8613500135000@h>',
    "<sip:13500135000@carrier;user=phone>",
]


@pytest.fixture
def blacklist(engine: AsyncEngine) -> Blacklist:
    return Blacklist(engine)


@pytest.mark.parametrize("caller", FORMS)
def test_a_number_is_refused_in_every_form(caller: str) -> None:
    entries = [entry("13500135000", False, Action.SILENT), entry("170", True, Action.REFUSE)]
    assert match(entries, caller) == Verdict("13500135000", Action.SILENT)
    prefixed = caller.replace("135", "170", 1)
    assert match(entries, prefixed) == Verdict("170", Action.REFUSE)


def test_entries_stored_before_normalising_still_match() -> None:
    legacy = [entry("8613500135000", False, Action.REFUSE), entry("0086170", True, Action.SILENT)]
    assert match(legacy, "13500135000") == Verdict("8613500135000", Action.REFUSE)
    assert match(legacy, "+86 170 1234 5678") == Verdict("0086170", Action.SILENT)
    assert match([entry("", True, Action.SILENT)], "13500135000") is None  # matches nothing
    # A bare 86 prefix meant callers who sent 86...; they are normalised without it now.
    bare = [entry("86170", True, Action.SILENT)]
    for caller in ("8617012345678", "+86 170 1234 5678", "17012345678"):
        assert match(bare, caller) == Verdict("86170", Action.SILENT), caller
    assert match([entry("8612", True, Action.REFUSE)], "86123456") is not None  # a local number


def test_other_countries_and_anonymous_callers() -> None:
    entries = [entry("+1", True, Action.REFUSE), entry("1", True, Action.SILENT)]
    assert match(entries, "+1 415 555 0100") == Verdict("+1", Action.REFUSE)
    assert match(entries, "001 415 555 0100") == Verdict("+1", Action.REFUSE)
    assert match(entries, "14155550100") == Verdict("1", Action.SILENT)  # national: a mobile
    assert match(entries, "anonymous") is None
    assert match(entries, "") is None


@FAST
@given(written_forms(), st.integers(min_value=3, max_value=12))
def test_every_written_form_is_refused_by_its_number_and_its_prefixes(
    case: tuple[str, str], length: int
) -> None:
    national, form = case
    assert match([entry(national, False, Action.REFUSE)], form) is not None, form
    assert match([entry(national[:length], True, Action.REFUSE)], form) is not None, form


async def test_the_stored_blacklist_refuses_every_form(blacklist: Blacklist) -> None:
    assert await blacklist.add("+86 135 0013 5000", False, Action.REFUSE) == "13500135000"
    assert await blacklist.add("0086 170", True, Action.SILENT) == "170"
    assert [(e.pattern, e.prefix) for e in await blacklist.entries()] == [
        ("13500135000", False),
        ("170", True),
    ]
    for caller in FORMS:
        assert await blacklist.screen(caller) == Verdict("13500135000", Action.REFUSE)
        assert await blacklist.screen(caller.replace("135", "170", 1)) == Verdict(
            "170", Action.SILENT
        )
    assert await blacklist.screen("13500135001") is None
    assert await blacklist.screen("anonymous") is None
    assert await blacklist.remove("8613500135000")  # removed in any form too
    assert await blacklist.screen("+8613500135000") is None
    assert not await blacklist.remove("13500135000")


async def test_rows_stored_raw_before_still_match_and_can_be_removed(
    engine: AsyncEngine, blacklist: Blacklist
) -> None:
    async with session_factory(engine).begin() as db:  # as an older version stored it
        db.add(entry("8613500135000", False, Action.REFUSE))
    assert await blacklist.screen('"x" <sip:+8613500135000@h>') == Verdict(
        "8613500135000", Action.REFUSE
    )
    assert await blacklist.remove("+86 135 0013 5000")
    assert await blacklist.entries() == []


@pytest.mark.parametrize("junk", ["abc", "", "sip:13500135000@h", "135abc", "+"])
async def test_what_is_not_a_number_is_refused(blacklist: Blacklist, junk: str) -> None:
    with pytest.raises(BlacklistError):
        await blacklist.add(junk, False, Action.REFUSE)
    with pytest.raises(BlacklistError):
        await blacklist.request(junk, "", "1001")


async def test_an_approved_request_blacklists_the_normalised_number(blacklist: Blacklist) -> None:
    row = await blacklist.request("+86 135 0013 5000", "rude", "1001", call_id="c-1")
    assert row.number == "13500135000"
    await blacklist.decide(row.id, True, "9001")
    assert await blacklist.screen("008613500135000") == Verdict("13500135000", Action.REFUSE)
