"""A background task that fails does not touch the calls: the recorder's database write
breaks once while two calls are up; the supervisor restarts it, counts it, shows it on
/health and /metrics, and both calls go on to their ends with their recordings stored."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from recordings.index import RecordingIndex, RecordingStatus
from tests.unit.journey_fixtures import journey


async def test_a_recorder_that_fails_once_is_restarted_and_calls_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    breaks = [1]
    update = RecordingIndex.update

    async def broken_once(self: RecordingIndex, call_id: str, **fields: Any) -> None:
        if fields.get("status") == RecordingStatus.STORED and breaks[0]:
            breaks[0] -= 1
            raise OperationalError("UPDATE recordings", {}, Exception("database is locked"))
        await update(self, call_id, **fields)

    monkeypatch.setattr(RecordingIndex, "update", broken_once)
    async with journey(tmp_path) as trip:
        await trip.call_in("caller-1")
        await trip.call_in("caller-2", caller="13900139000")
        await trip.until(lambda: len(trip.fake.playing()) == 2, "both hear the main menu")
        trip.fake.press("caller-1", "2")
        await trip.hear_out("goodbye")
        first = await trip.ended("caller-1")

        def recorder() -> dict[str, Any]:
            task: dict[str, Any] = trip.supervisor.health()["tasks"]["recorder"]
            return task

        await trip.until(lambda: recorder()["restarts"] == 1, "the recorder restarted", 5)
        assert trip.supervisor.health()["status"] == "degraded"
        assert recorder()["failures"] == 1 and "database is locked" in recorder()["last_error"]
        assert 'hotline_task_failures_total{task="recorder"} 1' in trip.supervisor.metrics_lines()

        # The other call never noticed: it goes on through the menu to its end.
        assert (await trip.record("caller-2")).ended_at is None
        trip.fake.press("caller-2", "2")
        await trip.hear_out("goodbye")
        second = await trip.ended("caller-2")
        assert (first.disposition, second.disposition) == ("completed", "completed")

        index = RecordingIndex(trip.wiring.engine)

        async def stored(call_id: str) -> bool:
            row = await index.get(call_id)
            return row is not None and row.status == RecordingStatus.STORED

        for call_id in (first.id, second.id):
            await trip.until_async(functools.partial(stored, call_id), f"{call_id} stored", 5)
        await trip.until(lambda: not recorder()["degraded"], "the recorder is healthy again")
        assert trip.supervisor.health()["status"] == "ok"
        assert trip.fake.leaks() == []
