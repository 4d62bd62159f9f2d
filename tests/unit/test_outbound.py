"""The outbound policy: which numbers a leg may go to (by default national ones only), who
may ask for one, how long it may last on the PBX, and at which desks an agent is rung;
and how the API, the menu checks and a live transfer apply it (nothing refused is dialled)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from acd.store import AcdStore
from hotline.config import DEFAULT_MENU, load_config
from hotline.dialpattern import compile_pattern
from hotline.errors import ConfigError
from hotline.outbound import NumberRefused, OutboundPolicy, Refusal
from ivr.call import DialPlan
from ivr.check import check_text
from prompts.build import load_catalogue
from tests.unit.journey_fixtures import Journey, journey, serving

POLICY = OutboundPolicy()

ALLOWED = {
    "13800138000": "13800138000",  # a mobile
    "+86 138 0013 8000": "13800138000",  # the same, as a carrier or a person writes it
    "008613800138000": "13800138000",
    "19912345678": "19912345678",
    "01088886666": "01088886666",  # Beijing: 010 and 8 digits
    "+86 21 6123 4567": "02161234567",  # Shanghai
    "(0755) 2345-6789": "075523456789",  # Shenzhen: a four-digit area code, 8 digits
    "0571 8765432": "05718765432",  # ... and 7 digits
    "4008001234": "4008001234",  # 400 service number
    "800 810 8888": "8008108888",  # 800 freephone
    "１３８００１３８０００": "13800138000",  # full-width digits are the same number
}

REFUSED = {
    # another country, however it is written
    "+44 20 7946 0000": Refusal.INTERNATIONAL,
    "0044 20 7946 0000": Refusal.INTERNATIONAL,
    "+1 415 555 0100": Refusal.INTERNATIONAL,
    "+85212345678": Refusal.INTERNATIONAL,
    # premium and call-by-call ranges
    "16800168": Refusal.PREMIUM,  # a voice-information line (声讯台)
    "01016800168": Refusal.PREMIUM,  # the same behind Beijing's area code
    "075516012345": Refusal.PREMIUM,  # ... behind Shenzhen's
    "+86 168 0016 8": Refusal.PREMIUM,
    "125900001": Refusal.PREMIUM,  # a pay-per-minute SP service
    "17951008613800138000": Refusal.PREMIUM,  # a call-by-call carrier prefix
    "17909123456": Refusal.PREMIUM,  # one that looks like a mobile (179 is no mobile range)
    # national, but no subscriber number: short and service numbers
    "95588": Refusal.NOT_ALLOWED,
    "96123": Refusal.NOT_ALLOWED,
    "110": Refusal.NOT_ALLOWED,
    "12345": Refusal.NOT_ALLOWED,
    "02112345678": Refusal.NOT_ALLOWED,  # a local number beginning with 1: a service
    "1380013800": Refusal.NOT_ALLOWED,  # a digit short of a mobile
    "138001380001": Refusal.NOT_ALLOWED,  # a digit over
    "12812345678": Refusal.NOT_ALLOWED,  # 12x is no mobile range
    # not a number
    "": Refusal.NOT_A_NUMBER,
    "anonymous": Refusal.NOT_A_NUMBER,
    "sip:13800138000@evil.example": Refusal.NOT_A_NUMBER,
    "١٣٨٠٠١٣٨٠٠٠": Refusal.NOT_A_NUMBER,  # Arabic-Indic digits are not dialled
    "1" * 25: Refusal.NOT_A_NUMBER,
}


@pytest.mark.parametrize(("asked", "dialled"), ALLOWED.items())
def test_national_numbers_are_dialled_in_their_national_form(asked: str, dialled: str) -> None:
    verdict = POLICY.verdict(asked)
    assert (verdict.allowed, verdict.number) == (True, dialled), verdict.why
    assert POLICY.check(asked) == dialled


@pytest.mark.parametrize(("asked", "refusal"), REFUSED.items())
def test_other_numbers_are_refused_with_their_reason(asked: str, refusal: Refusal) -> None:
    verdict = POLICY.verdict(asked)
    assert verdict.refusal is refusal, verdict
    with pytest.raises(NumberRefused) as refused:
        POLICY.check(asked)
    error = refused.value
    assert (error.error_id, error.details["reason"]) == ("number-refused", refusal.value)
    assert error.http_status == (400 if refusal is Refusal.NOT_A_NUMBER else 403)
    assert error.message and len(error.details["number"]) <= 32


def test_the_reason_names_the_rule() -> None:
    assert "outbound.deny: 16[08]X." in POLICY.verdict("16800168").why
    assert "international" in POLICY.verdict("+442079460000").why
    assert "outbound.allow" in POLICY.verdict("95588").why


def test_supervisors_may_transfer_outside_and_agents_only_when_allowed() -> None:
    default = OutboundPolicy.from_config(load_config(None, {}))
    assert default.check("13800138000", "supervisor") == "13800138000"
    with pytest.raises(NumberRefused) as refused:
        default.check("13800138000", "agent")
    assert refused.value.details == {"reason": "role", "number": "13800138000"}
    # The role is checked first: an agent learns nothing about the number rules.
    with pytest.raises(NumberRefused) as refused:
        default.check("+442079460000", "agent")
    assert refused.value.refusal is Refusal.ROLE
    switched_on = load_config(None, {"HOTLINE_ACD_OUTSIDE_TRANSFER": "true"})
    assert OutboundPolicy.from_config(switched_on).check("13800138000", "agent") == "13800138000"
    listed = load_config(None, {"HOTLINE_OUTBOUND_ROLES": "agent,supervisor"})
    assert OutboundPolicy.from_config(listed).may_transfer("agent")
    nobody = OutboundPolicy.from_config(load_config(None, {"HOTLINE_OUTBOUND_ROLES": ""}))
    assert not nobody.may_transfer("supervisor")
    assert nobody.check("13800138000") == "13800138000"  # what admins configured: no role


def test_an_outside_leg_is_limited_on_the_pbx_from_its_originate() -> None:
    config = load_config(
        None,
        {
            "HOTLINE_OUTBOUND_MAX_LEG_SECONDS": "90",
            "HOTLINE_PBX_OUTSIDE_DIAL": "PJSIP/{target}@trunk2",
        },
    )
    leg = OutboundPolicy.from_config(config).leg("+86 10 8888 6666")
    assert (leg.number, leg.endpoint) == ("01088886666", "PJSIP/01088886666@trunk2")
    assert leg.variables == {"TIMEOUT(absolute)": "90"}
    with pytest.raises(NumberRefused):
        OutboundPolicy.from_config(config).leg("+442079460000")


def test_admins_widen_or_narrow_the_ranges_with_dial_patterns() -> None:
    config = load_config(
        None,
        {
            "HOTLINE_OUTBOUND_ALLOW": "_1[3-9]XXXXXXXXX,95XXX,+852XXXXXXXX",
            "HOTLINE_OUTBOUND_DENY": "170.,171.",
        },
    )
    policy = OutboundPolicy.from_config(config)
    assert policy.check("95588") == "95588"
    assert policy.check("+852 1234 5678") == "+85212345678"  # Hong Kong, and only that
    assert policy.verdict("+44 20 7946 0000").refusal is Refusal.INTERNATIONAL
    assert policy.verdict("17012345678").refusal is Refusal.PREMIUM
    assert policy.verdict("01088886666").refusal is Refusal.NOT_ALLOWED  # not listed now


@pytest.mark.parametrize(
    ("pattern", "matches", "misses"),
    [
        ("1[3-9]XXXXXXXXX", "13800138000", "12800138000"),
        ("_NXXX", "2000", "1000"),
        ("0Z.", "0123", "00123"),
        ("400!", "400", "40"),
        ("[135]9", "39", "29"),
        ("+852X.", "+85212", "85212"),
    ],
)
def test_dial_patterns_match_whole_numbers(pattern: str, matches: str, misses: str) -> None:
    compiled = compile_pattern(pattern)
    assert compiled.fullmatch(matches) and not compiled.fullmatch(misses)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("1[3-9", "a set is digits"),
        ("1[9-3]X", "runs backwards"),
        ("1.X", "may only end"),
        ("13800138000;", "not a pattern character"),
        ("1+3", "not a pattern character"),
        ("_", "empty"),
    ],
)
def test_a_bad_pattern_is_refused_at_load_naming_the_key(value: str, problem: str) -> None:
    with pytest.raises(ConfigError) as bad:
        load_config(None, {"HOTLINE_OUTBOUND_DENY": f"16[08]X.,{value}"})
    assert "key 'outbound.deny'" in bad.value.message and problem in bad.value.message


def test_an_empty_deny_list_bad_roles_and_limits(tmp_path: Path) -> None:
    assert load_config(None, {"HOTLINE_OUTBOUND_DENY": ""}).outbound.deny == []
    with pytest.raises(ConfigError, match="outbound.roles.*not boss"):
        load_config(None, {"HOTLINE_OUTBOUND_ROLES": "boss"})
    with pytest.raises(ConfigError, match="outbound.max_leg_seconds.*at least 5"):
        load_config(None, {"HOTLINE_OUTBOUND_MAX_LEG_SECONDS": "1"})
    path = tmp_path / "hotline.yaml"
    path.write_text("outbound:\n  allow: ['1[3-9]XXXXXXXXX']\n  max_leg_seconds: 600\n")
    config = load_config(path, {})
    assert (config.outbound.allow, config.outbound.max_leg_seconds) == (["1[3-9]XXXXXXXXX"], 600)


DESKS = {"1001": ("7101", "7201"), "1002": ("7102", "7201"), "1003": ("7103",)}


@pytest.mark.parametrize(
    ("agent", "extension", "refusal"),
    [
        ("1001", "7101", None),  # their own desk
        ("1001", "7201", None),  # a hot desk listed for them
        ("1003", "7201", Refusal.COLLEAGUES_DESK),  # listed for others, not for 1003
        ("1001", "7102", Refusal.COLLEAGUES_DESK),
        ("1001", "7999", Refusal.NOT_A_DESK),
        ("1001", "٧١٠١", Refusal.NOT_A_NUMBER),
        ("1001", "７１０１", Refusal.NOT_A_NUMBER),
        ("1001", "7101#", Refusal.NOT_A_NUMBER),
        ("4242", "7101", Refusal.COLLEAGUES_DESK),
    ],
)
def test_agents_are_rung_only_at_their_own_desks(
    agent: str, extension: str, refusal: Refusal | None
) -> None:
    if refusal is None:
        assert OutboundPolicy.desk(agent, extension, DESKS) == extension
        return
    with pytest.raises(NumberRefused) as refused:
        OutboundPolicy.desk(agent, extension, DESKS)
    assert refused.value.refusal is refusal


# --- the menu's outside: targets ----------------------------------------------------------------
def test_a_menu_with_an_outside_target_the_policy_refuses_is_rejected() -> None:
    text = DEFAULT_MENU.read_text(encoding="utf-8")
    prompts = load_catalogue({"name_zh": "XX", "name_en": "XX"})
    assert "to: outside:01088886666" in text  # the head office: a Beijing line
    menu, findings = check_text(DEFAULT_MENU, text, prompts, POLICY)
    assert menu is not None, findings
    line = text.splitlines().index("    to: outside:01088886666") + 1
    for number, refusal in (("0044207946000", "international"), ("16800168", "premium")):
        changed = text.replace("outside:01088886666", f"outside:{number}")
        menu, findings = check_text(DEFAULT_MENU, changed, prompts, POLICY)
        assert menu is None
        errors = [f.message for f in findings if f.level == "error"]
        assert len(errors) == 1, errors
        assert errors[0].startswith(f"{DEFAULT_MENU}:{line}: nodes.head-office.to: refused")
        assert refusal in errors[0]
        # Without a policy (a stored version rebuilt for a call still on it) it loads.
        assert check_text(DEFAULT_MENU, changed, prompts)[0] is not None


def test_the_menus_outside_targets_are_dialled_through_the_policy() -> None:
    plan = DialPlan(app="hotline", agent="PJSIP/{target}", outbound=POLICY, message_max_silence=5)
    assert plan.leg("outside:+86 10 8888 6666") == (
        "PJSIP/01088886666@carrier",
        {"TIMEOUT(absolute)": "1800"},
    )
    assert plan.leg("agent:8000") == ("PJSIP/8000", {})  # a desk inside: no time limit
    with pytest.raises(NumberRefused):
        plan.leg("outside:16800168")


# --- over the API, on a live call (the fake PBX) ------------------------------------------------
async def supervisor_on_a_call(trip: Journey) -> dict[str, str]:
    await trip.agent_ready("9001", "7109")
    await trip.call_in()
    await trip.playing("main-menu")
    trip.fake.press("caller-1", "1")
    await trip.wait_phase("talking")
    issued = await AcdStore(trip.wiring.engine).issue_token("9001", "supervisor", 600)
    return {"Authorization": f"Bearer {issued.token}"}


def outside_dials(trip: Journey, since: int) -> list[str]:
    return [
        r.params["endpoint"]
        for r in trip.fake.requests[since:]
        if r.matches("POST", "/channels") and r.params["endpoint"].endswith("@carrier")
    ]


async def test_a_refused_transfer_is_403_and_nothing_is_dialled(tmp_path: Path) -> None:
    async with journey(tmp_path) as trip, serving(trip) as client:
        headers = await supervisor_on_a_call(trip)
        mark = len(trip.fake.requests)
        for to, reason in (
            ("outside:+44 20 7946 0000", "international"),
            ("outside:0044 20 7946 0000", "international"),
            ("outside:16800168", "premium"),
            ("outside:95588", "not-allowed"),
        ):
            response = await client.post("/api/me/call/transfer", json={"to": to}, headers=headers)
            body = await response.json()
            assert (response.status, body["error_id"]) == (403, "number-refused"), body
            assert body["details"]["reason"] == reason and body["message"]
        response = await client.post(
            "/api/me/call/transfer", json={"to": "outside:call-me"}, headers=headers
        )
        assert (response.status, (await response.json())["details"]["reason"]) == (
            400,
            "not-a-number",
        )
        assert outside_dials(trip, mark) == []
        assert trip.acd.call_of("9001")  # still talking to the caller
        # A national number goes out, in its national form, limited on the PBX.
        trip.fake.script_endpoint("PJSIP/02161234567@carrier", never=True)
        response = await client.post(
            "/api/me/call/transfer", json={"to": "outside:+86 21 6123 4567"}, headers=headers
        )
        assert (response.status, (await response.json())["transferred"]) == (200, "02161234567")
        await trip.until(lambda: outside_dials(trip, mark) != [], "the outside number dialled")
        [dialled] = [r for r in trip.fake.requests[mark:] if r.matches("POST", "/channels")][-1:]
        assert dialled.params["endpoint"] == "PJSIP/02161234567@carrier"
        assert dialled.body == {"variables": {"TIMEOUT(absolute)": "1800"}}


async def test_a_transfer_refused_when_its_phase_runs_dials_nothing(tmp_path: Path) -> None:
    """Where the leg would be dialled the policy is asked again (a stored transfer-out
    resumed after the rules were narrowed): nothing goes out, the caller is queued again."""
    async with journey(tmp_path) as trip:
        await supervisor_on_a_call(trip)
        call_id = trip.acd.call_of("9001")
        mark = len(trip.fake.requests)
        await asyncio.wait_for(
            trip.acd.act(call_id, "transfer-outside", by="9001", number="+442079460000"), 3
        )
        await trip.wait_phase("queued")
        assert await trip.phases(call_id) == [
            "answering",
            "menu",
            "queued",
            "talking",
            "transfer-out",
            "queued",
        ]
        assert outside_dials(trip, mark) == []
        transfers = [e.data for e in await trip.store.events(call_id) if e.kind == "transfer"]
        assert transfers == [
            {"to": "outside:+442079460000", "answered": False, "refused": "international"}
        ]


# --- logging in at a desk -------------------------------------------------------------------
async def test_a_login_is_refused_at_a_colleagues_or_unknown_desk(tmp_path: Path) -> None:
    async with journey(tmp_path) as trip, serving(trip) as client:
        store = AcdStore(trip.wiring.engine)
        for agent in ("1001", "1002"):
            await store.set_password(agent, "desk-pass-1")

        async def login(agent: str, extension: str) -> tuple[int, dict[str, object]]:
            body = {"agent": agent, "extension": extension, "password": "desk-pass-1"}
            response = await client.post("/api/login", json=body)
            return response.status, await response.json()

        for extension, status, reason in (
            ("7102", 403, "colleagues-desk"),  # 1002's own desk
            ("7999", 403, "not-a-desk"),  # nobody's
        ):
            code, body = await login("1001", extension)
            assert (code, body["error_id"], body["details"]) == (
                status,
                "number-refused",
                {"reason": reason, "number": extension},
            )
        assert trip.acd.session("1001").state == "logged-out"
        code, body = await login("1001", "７１０１")  # not ASCII: refused before the password
        assert (code, body["details"]) == (400, {"field": "extension"})
        # A wrong password says nothing about desks.
        response = await client.post(
            "/api/login", json={"agent": "1001", "extension": "7102", "password": "wrong-pw"}
        )
        assert response.status == 401
        # A hot desk listed for both: the first to log in has it; the other waits.
        assert (await login("1001", "7201"))[0] == 200
        assert trip.acd.session("1001").extension == "7201"
        code, body = await login("1002", "7201")
        assert (code, body["error_id"]) == (409, "desk-in-use")
        assert (await login("1002", "7102"))[0] == 200  # their own desk
        assert (await login("1001", "7101"))[0] == 200  # moving desks is fine
        assert trip.acd.session("1001").extension == "7101"
        assert (await login("1002", "7201"))[0] == 200  # free again
