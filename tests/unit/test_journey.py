"""The call's journey through its phases, against the fake ARI (no PBX)."""

from __future__ import annotations

from pathlib import Path

from tests.unit.journey_fixtures import journey


async def test_a_caller_walks_the_menu_and_hangs_up(tmp_path: Path) -> None:
    async with journey(tmp_path) as trip:
        await trip.call_in()
        await trip.playing("main-menu")
        trip.fake.press("caller-1", "2")
        await trip.hear_out("goodbye")
        record = await trip.ended()
        assert record.disposition == "completed"
        assert await trip.phases(record.id) == ["answering", "menu"]
        assert trip.fake.leaks() == []


async def test_a_queued_caller_talks_to_an_agent_then_rates_them(tmp_path: Path) -> None:
    async with journey(tmp_path) as trip:
        await trip.agent_ready("1001", "7101")
        await trip.call_in()
        await trip.playing("main-menu")
        trip.fake.press("caller-1", "1")
        await trip.wait_phase("talking")
        [leg] = trip.legs()
        record = await trip.record()
        assert (record.agent, record.queue, record.phase) == (
            "1001",
            "repair",
            {"agent": "1001", "leg": leg, "queue": "repair", "priority": 5, "fallback": "person"},
        )
        assert trip.acd.session("1001").state == "on-call"
        trip.fake.leg_hangs_up(leg)
        await trip.playing("survey")
        trip.fake.press("caller-1", "1")
        trip.fake.auto_finish_playbacks = True  # the thanks, then goodbye
        record = await trip.ended()
        assert record.disposition == "answered"
        assert await trip.phases(record.id) == ["answering", "menu", "queued", "talking", "survey"]
        kinds = await trip.kinds(record.id)
        for kind in ("queued", "waiting", "offer", "answered", "agent-hung-up", "survey"):
            assert kind in kinds, kind
        assert trip.acd.session("1001").state == "wrap-up"
        assert trip.fake.leaks() == []
