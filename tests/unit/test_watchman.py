"""The watchman's decisions (hotline.watchman): which of the app's channels it hands to
the fallback or hangs up once the controller is gone, and when; over the fake ARI."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hotline.calls.store import CallStore
from hotline.calls.timeline import Kind
from hotline.config import Config, HttpConfig, WatchmanConfig, load_config
from hotline.errors import ConfigError
from hotline.watchman import Action, Move, Watchman, health_url, lone_channels
from tests.fakes.ari import FakeAri

FALLBACK, HANG_UP = Move.FALLBACK, Move.HANG_UP


@pytest.mark.parametrize(
    ("held", "bridges", "expected"),
    [
        # A caller in the menu or waiting, in the call's bridge on their own.
        (["c1"], [["c1"]], [(FALLBACK, "c1")]),
        # Not even in a bridge (just answered; the bridge could not be made).
        (["c1"], [], [(FALLBACK, "c1")]),
        # A caller talking to an agent: left alone, both of them.
        (["c1", "leg-a"], [["c1", "leg-a"]], []),
        # A phone ringing for a waiting caller nobody will connect: caller first.
        (["leg-a", "c1"], [["c1"]], [(FALLBACK, "c1"), (HANG_UP, "leg-a")]),
        # The caller hung up on the agent: the agent's phone is hung up.
        (["leg-a"], [["leg-a"]], [(HANG_UP, "leg-a")]),
        # The agent hung up: the caller goes to the fallback.
        (["c1"], [["c1"], []], [(FALLBACK, "c1")]),
        # A supervisor listening in (a snoop on the agent, bridged with the supervisor).
        (
            ["c1", "leg-a", "leg-snoop", "leg-sup"],
            [["c1", "leg-a"], ["leg-snoop", "leg-sup"]],
            [],
        ),
        # What is not the app's is no company: a caller with a bridge's recorder, or a
        # channel of another application.
        (["c1"], [["c1", "Recorder/x", "other-app-channel"]], [(FALLBACK, "c1")]),
        # A snoop listening to a caller in the menu (the line check): the caller goes, the
        # snoop is hung up.
        (["c1", "leg-ear-1"], [["c1"]], [(FALLBACK, "c1"), (HANG_UP, "leg-ear-1")]),
    ],
)
def test_lone_channels(
    held: list[str], bridges: list[list[str]], expected: list[tuple[Move, str]]
) -> None:
    assert lone_channels(held, bridges) == [Action(move, c) for move, c in expected]


def test_the_grace_is_five_seconds_unless_configured_and_is_checked() -> None:
    assert load_config(None, {}).watchman.grace == 5.0
    assert load_config(None, {"HOTLINE_WATCHMAN_GRACE": "15"}).watchman.grace == 15.0
    with pytest.raises(ConfigError, match="watchman.grace"):
        load_config(None, {"HOTLINE_WATCHMAN_GRACE": "0"})


def test_health_url_reaches_a_wildcard_listener_on_loopback() -> None:
    def url(host: str) -> str:
        return health_url(Config(http=HttpConfig(host=host, port=8080)))

    assert url("127.0.0.1") == "http://127.0.0.1:8080/health"
    assert url("0.0.0.0") == "http://127.0.0.1:8080/health"
    assert url("::") == "http://[::1]:8080/health"


class Scene:
    """A controller that answers or not, a clock the test moves, the fake PBX."""

    def __init__(self, store: CallStore | None = None) -> None:
        self.now = 1000.0
        self.answers = True
        self.asked = 0
        self.fake = FakeAri()
        self.watchman = Watchman(
            WatchmanConfig(grace=5.0, every=1.0),
            "hotline",
            self.probe,
            self.fake,
            store,
            clock=lambda: self.now,
        )

    async def probe(self) -> dict[str, Any] | None:
        self.asked += 1
        return {"status": "ok"} if self.answers else None

    async def check(self) -> None:
        await self.watchman.check(asyncio.Event())
        await self.fake.settle()


async def _conversation(fake: FakeAri, caller: str, leg: str, endpoint: str) -> None:
    """``caller`` in its bridge with ``leg`` answered, as the ACD leaves them."""
    fake.caller_arrives(caller, announce=False)
    fake.script_endpoint(endpoint, answer=True)
    await fake.originate(endpoint, "hotline", leg, app_args="leg")
    await fake.settle()
    await fake.create_bridge(f"br-{caller}", "mixing")
    await fake.add_to_bridge(f"br-{caller}", [caller, leg])


async def test_nothing_is_touched_while_the_controller_answers_or_within_the_grace() -> None:
    scene = Scene()
    scene.fake.caller_arrives("c1", announce=False)
    await scene.fake.settle()
    scene.fake.forget()
    await scene.check()
    scene.now += 30  # it answered a moment ago, whatever the time was before
    await scene.check()
    scene.answers = False
    scene.now += 5.0  # away exactly the grace: not more
    await scene.check()
    assert scene.fake.requests == [] and not scene.watchman.away


async def test_after_the_grace_lone_callers_go_to_the_fallback_and_lone_legs_hang_up() -> None:
    scene = Scene()
    fake = scene.fake
    await _conversation(fake, "talking", "leg-talking", "PJSIP/1001")
    await _conversation(fake, "left", "leg-left", "PJSIP/1002")
    fake.caller_arrives("waiting", announce=False)
    fake.script_endpoint("PJSIP/1003", never=True)  # its agent's phone rings
    await fake.originate("PJSIP/1003", "hotline", "leg-ringing", app_args="leg")
    await fake.settle()
    fake.caller_hangs_up("left")
    await fake.settle()
    fake.forget()

    scene.answers = False
    scene.now += 5.5
    await scene.check()
    assert scene.watchman.away
    assert scene.watchman.handed == ["waiting"]
    assert sorted(scene.watchman.hung_up) == ["leg-left", "leg-ringing"]
    assert fake.pbx.channels["waiting"].context == "fallback"
    assert sorted(fake.pbx.channels) == ["leg-talking", "talking", "waiting"]
    # The agent hangs up later: the caller is on their own at the next check.
    fake.caller_hangs_up("leg-talking")
    await fake.settle()
    scene.now += 1
    await scene.check()
    assert scene.watchman.handed == ["waiting", "talking"]


async def test_a_controller_back_while_the_watchman_looks_keeps_its_calls() -> None:
    scene = Scene()
    scene.fake.caller_arrives("c1", announce=False)
    await scene.fake.settle()
    scene.answers = False
    scene.now += 6

    answers = iter([None, {"status": "ok"}])  # away at the check, back before acting

    async def probe() -> dict[str, Any] | None:
        return next(answers)

    scene.watchman.probe = probe
    await scene.check()
    assert scene.watchman.handed == []
    assert scene.fake.pbx.channels["c1"].context != "fallback"


async def test_the_caller_s_record_says_it_went_to_the_fallback(store: CallStore) -> None:
    scene = Scene(store)
    scene.fake.caller_arrives("c1", announce=False)
    await scene.fake.settle()
    await store.open_call("call-1", "c1", "4008001234", "13800138000", state="menu")
    scene.answers = False
    scene.now += 7
    await scene.check()
    record = await store.get("call-1")
    assert record is not None and record.state == "fallback" and record.ended_at is None
    handed = [e for e in await store.events("call-1") if e.kind == Kind.FALLBACK]
    assert [e.data for e in handed] == [{"away": 7.0}]


async def test_a_database_fault_does_not_stop_the_hand_over() -> None:
    class Broken(CallStore):
        def __init__(self) -> None:
            pass

        async def by_channel(self, channel_id: str) -> Any:
            raise OSError("disk I/O error")

    scene = Scene(Broken())
    scene.fake.caller_arrives("c1", announce=False)
    scene.fake.caller_arrives("c2", announce=False)
    await scene.fake.settle()
    scene.answers = False
    scene.now += 6
    await scene.check()
    assert scene.watchman.handed == ["c1", "c2"]
