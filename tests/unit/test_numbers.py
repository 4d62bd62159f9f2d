"""One written form of a caller's number (hotline/numbers.py): the rules as a table, then
properties over generated numbers and text (hypothesis, derandomised: the same examples
on every run, so CI never sees a new failure it cannot reproduce)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.numbers import (
    ANONYMOUS,
    MAX_DIGITS,
    normalise,
    normalise_prefix,
    prefix_readings,
    same_number,
    written,
)

ROOT = Path(__file__).resolve().parents[2]
# Deterministic and quick: a few hundred examples each, no example database on disk.
FAST = settings(derandomize=True, max_examples=200, database=None, deadline=None)
CANONICAL = re.compile(rf"{ANONYMOUS}|\+?[0-9]{{1,{MAX_DIGITS}}}")

RULES = [
    # already national: kept as it is
    ("13500135000", "13500135000"),
    ("02161234567", "02161234567"),
    ("01050000001", "01050000001"),
    ("4008001234", "4008001234"),
    ("95588", "95588"),
    ("10086", "10086"),
    # China's country code, written every way
    ("+8613500135000", "13500135000"),
    ("008613500135000", "13500135000"),
    ("8613500135000", "13500135000"),
    ("+86 135 0013 5000", "13500135000"),
    ("+86-135-0013-5000", "13500135000"),
    ("(+86) 135.0013.5000", "13500135000"),
    ("+86 013500135000", "13500135000"),  # a trunk 0 written after the country code
    ("013500135000", "13500135000"),  # an out-of-town mobile with its trunk 0
    # landlines get the trunk 0 they carry nationally
    ("+86 21 6123 4567", "02161234567"),
    ("+86 10 5000 0001", "01050000001"),
    ("0086 10 6123 4567", "01061234567"),
    ("008601061234567", "01061234567"),
    ("862161234567", "02161234567"),
    ("+86 571 8888 8888", "057188888888"),
    ("+86 (021) 6123-4567", "02161234567"),
    ("(021) 6123-4567", "02161234567"),
    # 400/800 numbers and short numbers have no trunk prefix
    ("+86 400 800 1234", "4008001234"),
    ("+86 95588", "95588"),
    ("0086 10086", "10086"),
    # a bare 86 before something that is not a complete number is not a country code
    ("8695588", "8695588"),
    ("86123456", "86123456"),
    # SIP and tel URIs, display names
    ('"Bob" <sip:+8613500135000@carrier;user=phone>', "13500135000"),
    ("<sip:+8613500135000@10.0.0.1:5060>", "13500135000"),
    ("sip:008613500135000@carrier.example", "13500135000"),
    ("sips:13500135000@carrier", "13500135000"),
    ("tel:+86-21-6123-4567;phone-context=+86", "02161234567"),
    ('"13900000000 VIP" <sip:13500135000@h>', "13500135000"),  # the name is not the number
    ('"a \\" <b>" <sip:13500135000@h>', "13500135000"),  # quotes escaped in the name
    ('"13500135000"', "13500135000"),  # the quoted name is all there is
    ("Bob <sip:13500135000@h>", "13500135000"),
    ("%2B8613500135000", "13500135000"),
    ("＋８６ １３５ ００１３ ５０００", "13500135000"),  # full-width, from a Chinese keyboard
    # anonymous, in every spelling
    ("anonymous", ANONYMOUS),
    ("Anonymous", ANONYMOUS),
    ("unknown", ANONYMOUS),
    ("restricted", ANONYMOUS),
    ("private", ANONYMOUS),
    ("", ANONYMOUS),
    ("   ", ANONYMOUS),
    ('"Anonymous" <sip:anonymous@anonymous.invalid>', ANONYMOUS),
    ('"13500135000" <sip:anonymous@anonymous.invalid>', ANONYMOUS),
    ("+", ANONYMOUS),
    ("00", ANONYMOUS),
    ("--", ANONYMOUS),
    # other junk goes, digits stay
    ("135x0013y5000", "13500135000"),
    ("\t13500135000\n", "13500135000"),
    # other countries keep + and their digits: never a national number
    ("+1 415 555 0100", "+14155550100"),
    ("+1 (415) 555-0100", "+14155550100"),
    ("00441234567890", "+441234567890"),
    ('"Ann" <sip:+442071234567@carrier>', "+442071234567"),
    # after +86, what no national number starts with stays international
    ("+86", "+86"),
    ("0086", "+86"),
    ("+86 0012", "+860012"),
    # over-long ids are cut
    ("1" * 2000, "1" * MAX_DIGITS),
    ("+" + "9" * 2000, "+" + "9" * MAX_DIGITS),
    ("x" * 2000, ANONYMOUS),
]


@pytest.mark.parametrize(("raw", "expected"), RULES)
def test_the_rules(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


PREFIXES = [
    ("170", "170"),
    ("+86 170", "170"),
    ("0086170", "170"),
    ("86170", "86170"),  # a bare 86: a prefix is never known to be complete
    ("+86 21", "021"),
    ("+86 10", "010"),  # Beijing, not a mobile
    ("+86 871", "0871"),
    ("+86 021", "021"),
    ("+86 400", "400"),
    ("+1", "+1"),
    ("0044 20", "+4420"),
    ("+86", ""),
    ("abc", ""),
]


@pytest.mark.parametrize(("raw", "expected"), PREFIXES)
def test_prefixes(raw: str, expected: str) -> None:
    assert normalise_prefix(raw) == expected


def test_a_bare_86_prefix_is_read_both_ways() -> None:
    assert prefix_readings("86170") == ("86170", "170")
    assert prefix_readings("8621") == ("8621", "021")
    assert prefix_readings("86") == ("86",)
    assert prefix_readings("+86 170") == ("170",)
    assert prefix_readings("abc") == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+86 135 0013 5000", "13500135000"),
        ("(+86) 21-6123-4567", "02161234567"),
        ("13900000000", "13900000000"),
        ("abc", None),
        ("135abc", None),  # not picked out of letters: an admin's typo is refused
        ("sip:13500135000@h", None),
        ("", None),
        ("+", None),
        ("1" * (MAX_DIGITS + 1), None),  # normalise would cut it: refuse it instead
    ],
)
def test_numbers_people_write(text: str, expected: str | None) -> None:
    assert written(text) == expected


def test_same_number() -> None:
    assert same_number("+8613500135000", '"x" <sip:13500135000@h>')
    assert not same_number("13500135000", "13500135001")
    assert not same_number("anonymous", "")  # two anonymous callers are not one person
    assert not same_number("+14155550100", "14155550100")


# --- properties ---------------------------------------------------------------------------
MOBILES = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
# Area code without the trunk 0 + subscriber: Beijing and the 2x cities have 8 digits;
# 3-digit codes (311, 571, 871, ...; never a 0 second) have 7 or 8.
LANDLINE_NSN = st.one_of(
    st.from_regex(r"(?:10|2[0-9])[0-9]{8}", fullmatch=True),
    st.from_regex(r"[3-9][1-9][0-9][0-9]{7,8}", fullmatch=True),
)
NAMES = st.text(st.characters(categories=("L", "N", "Zs")), max_size=12)
SEPARATORS = st.sampled_from(["", "", "", " ", "-", "."])


@st.composite
def spaced(draw: st.DrawFn, number: str) -> str:
    """The number with spaces, dashes or dots where a person might put them."""
    return "".join(draw(SEPARATORS) + ch for ch in number).lstrip(" -.")


@st.composite
def chinese_number(draw: st.DrawFn) -> tuple[str, str]:
    """A national number and its national significant part (what follows +86)."""
    if draw(st.booleans()):
        mobile = draw(MOBILES)
        return mobile, mobile
    nsn = draw(LANDLINE_NSN)
    return "0" + nsn, nsn


@st.composite
def written_forms(draw: st.DrawFn) -> tuple[str, str]:
    """(the national form, one way a carrier or person writes that number)."""
    national, nsn = draw(chinese_number())
    country = draw(st.sampled_from(["", "+86", "0086", "86", "+86 ", "0086 ", "+86-"]))
    body = nsn if country else national
    if country and draw(st.booleans()) and national.startswith("0"):
        body = national  # the trunk 0 written after the country code
    form = country + draw(spaced(body))
    if draw(st.booleans()):
        user = form.replace(" ", "")  # a SIP user part has no spaces
        host = draw(st.sampled_from(["carrier", "10.0.0.1:5060", "sbc.example.cn"]))
        params = draw(st.sampled_from(["", ";user=phone", ";user=phone;transport=udp"]))
        name = draw(NAMES)
        form = f'"{name}" <sip:{user}@{host}{params}>' if name else f"<sip:{user}@{host}>"
    return national, form


NUMBERISH = st.text("+0123456789 -.()<>@;:\"'sipte86%", max_size=40)


@FAST
@given(st.one_of(st.text(max_size=80), NUMBERISH))
def test_normalising_twice_changes_nothing(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once
    assert normalise_prefix(normalise_prefix(text)) == normalise_prefix(text)


@FAST
@given(st.one_of(st.text(max_size=80), NUMBERISH, st.text(max_size=3000)))
def test_the_result_is_short_ascii_and_one_of_three_shapes(text: str) -> None:
    result = normalise(text)
    assert result.isascii() and len(result) <= MAX_DIGITS + 1
    assert CANONICAL.fullmatch(result), result


@FAST
@given(written_forms())
def test_every_written_form_of_a_chinese_number_is_its_national_form(
    case: tuple[str, str],
) -> None:
    national, form = case
    assert normalise(form) == national, form
    assert normalise(national) == national  # a national number is kept as it is


@FAST
@given(chinese_number(), st.integers(min_value=3, max_value=12))
def test_a_prefix_written_with_the_country_code_is_the_national_prefix(
    number: tuple[str, str], length: int
) -> None:
    national, nsn = number
    cut = nsn[:length]
    expected = national[: len(cut) + len(national) - len(nsn)]
    assert normalise_prefix("+86 " + cut) == expected
    assert normalise(national).startswith(normalise_prefix("0086" + cut))


@FAST
@given(st.from_regex(r"[1-9][0-9]{6,12}", fullmatch=True).filter(lambda d: d[:2] != "86"))
def test_other_countries_keep_their_plus_and_never_meet_a_national_number(number: str) -> None:
    assert normalise("+" + number) == normalise("00" + number) == "+" + number
    assert normalise("+" + number) != normalise(number)


# --- the test suite's own caller ids --------------------------------------------------------
# The integration tests call with national numbers and look them up again (in records, on
# the agents' phones' displays, in the blacklist): normalising must leave each one as it is.
CALLER_ID = re.compile(r"""caller_id(?:: str)?\s*=\s*["']([^"']*)["']""")
NUMBER_LITERAL = re.compile(r"""["'](\+?[0-9]{5,20})["']""")
# Numbers the suite only ever dials (never a caller id), which may change when normalised.
DIALLED_ONLY = {"0085212345678": "test_call_basics: the carrier may not reach outside lines"}


def suite_files() -> list[Path]:
    tests = ROOT / "tests"
    files = [*(tests / "integration").rglob("*.py"), *(tests / "harness").rglob("*.py")]
    return [*files, tests / "tester" / "acd.yaml", *(ROOT / "ivr" / "scenarios").glob("*.yaml")]


def found(pattern: re.Pattern[str]) -> set[str]:
    return {m for f in suite_files() for m in pattern.findall(f.read_text(encoding="utf-8"))}


def test_the_integration_tests_caller_ids_stay_byte_identical() -> None:
    caller_ids = found(CALLER_ID)
    assert len(caller_ids) > 40 and {"13700137005", "01050000001"} <= caller_ids
    assert {c: normalise(c) for c in caller_ids if normalise(c) != c} == {}


def test_every_number_in_the_suite_stays_byte_identical() -> None:
    """Caller ids also go by position (``call_for(stack, "13800000101")``, the test
    centre's VIPs and owners): every number literal, bar the few only dialled."""
    numbers = found(NUMBER_LITERAL)
    assert set(DIALLED_ONLY) <= numbers  # the exceptions are still needed
    changed = {n: normalise(n) for n in numbers - set(DIALLED_ONLY) if normalise(n) != n}
    assert changed == {}
