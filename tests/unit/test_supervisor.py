"""The supervisor: restarts with backoff, fatal exits, bounded teardown, /health and /metrics;
and the real recorder under it, with its database write broken once."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import time
import wave
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy.exc import OperationalError

from hotline.ari.errors import ApplicationReplaced, AriNotFound
from hotline.ari.rest import AriRest
from hotline.calls.store import CallStore
from hotline.config import RecordingsConfig
from hotline.supervisor import Supervisor
from recordings.index import RecordingIndex, RecordingStatus
from recordings.recorder import Recorder, pbx_name
from tests.unit.recordings_fixtures import temporary_index

DEADLINE = 2.0  # seconds: every wait below is bounded by it


def fast(**overrides: Any) -> Supervisor:
    """Millisecond backoffs, a 20 ms settle."""
    options: dict[str, Any] = {"backoff": 0.001, "max_backoff": 0.008, "settle": 0.02}
    return Supervisor(**(options | overrides))


def state(sup: Supervisor, name: str) -> dict[str, Any]:
    task: dict[str, Any] = sup.health()["tasks"][name]
    return task


async def until(sup: Supervisor, predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(DEADLINE):
        await sup.wait_until(predicate)


class Gate:
    """A backoff sleep that records its delays and holds until the test opens it."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.open = asyncio.Event()

    async def sleep(self, delay: float) -> None:
        self.delays.append(delay)
        await self.open.wait()


async def test_a_task_that_raises_once_is_restarted_counted_and_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = Gate()
    runs: list[int] = []
    forever = asyncio.Event()

    async def flaky() -> None:
        runs.append(len(runs) + 1)
        if len(runs) == 1:
            raise RuntimeError("disk hiccup")
        await forever.wait()

    sup = fast(sleep=gate.sleep)
    sup.add("flaky", flaky)
    async with sup:
        await until(sup, lambda: state(sup, "flaky")["state"] == "restarting")
        health = sup.health()
        assert health["status"] == "degraded"
        task = health["tasks"]["flaky"]
        assert (task["failures"], task["restarts"], task["degraded"]) == (1, 0, True)
        assert task["last_error"] == "RuntimeError: disk hiccup"
        assert datetime.fromisoformat(task["last_failure_at"]).tzinfo is not None
        assert gate.delays == [0.001]
        gate.open.set()
        await until(sup, lambda: state(sup, "flaky")["state"] == "running")
        assert runs == [1, 2]
        assert sup.health()["status"] == "degraded"  # restarted, not yet settled
        await until(sup, lambda: not state(sup, "flaky")["degraded"])
        assert sup.health() == {
            "status": "ok",
            "tasks": {
                "flaky": task | {"state": "running", "restarts": 1, "degraded": False},
            },
        }
        assert sup.metrics_lines() == [
            "# HELP hotline_task_failures_total Supervised task failures.",
            "# TYPE hotline_task_failures_total counter",
            'hotline_task_failures_total{task="flaky"} 1',
            "# HELP hotline_task_restarts_total Supervised task restarts.",
            "# TYPE hotline_task_restarts_total counter",
            'hotline_task_restarts_total{task="flaky"} 1',
            "# HELP hotline_task_up 1 while a supervised task runs, else 0.",
            "# TYPE hotline_task_up gauge",
            'hotline_task_up{task="flaky"} 1',
        ]
    failure = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in failure] == ["task flaky failed; restarting in 0.001 s"]
    assert failure[0].exc_info is not None  # logged with its traceback
    assert state(sup, "flaky")["state"] == "stopped"


async def test_repeated_failures_back_off_doubling_to_the_cap() -> None:
    delays: list[float] = []

    async def record(delay: float) -> None:
        delays.append(delay)
        await asyncio.sleep(0)

    async def broken() -> None:
        raise ValueError("always")

    sup = fast(sleep=record)
    sup.add("broken", broken)
    async with sup:
        await until(sup, lambda: state(sup, "broken")["failures"] >= 6)
        assert delays[:6] == [0.001, 0.002, 0.004, 0.008, 0.008, 0.008]
        assert state(sup, "broken")["degraded"]  # a crash loop never looks healthy


async def test_the_backoff_starts_again_after_a_long_healthy_run() -> None:
    now = [0.0]
    delays: list[float] = []
    runs = 0

    async def record(delay: float) -> None:
        delays.append(delay)
        await asyncio.sleep(0)

    async def fails_later() -> None:
        nonlocal runs
        runs += 1
        if runs == 4:
            now[0] += 61.0  # this run lasted past reset_after before it failed
        raise ValueError(f"run {runs}")

    sup = fast(sleep=record, clock=lambda: now[0], reset_after=60.0)
    sup.add("t", fails_later)
    async with sup:
        await until(sup, lambda: state(sup, "t")["failures"] >= 5)
    assert delays[:5] == [0.001, 0.002, 0.004, 0.001, 0.002]


async def test_a_fatal_exception_ends_wait_with_it_and_is_not_restarted() -> None:
    other_cancelled = asyncio.Event()

    async def stream() -> None:
        raise ApplicationReplaced("another websocket took the app")

    async def other() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            other_cancelled.set()

    sup = fast()
    sup.add("ari-events", stream, critical=True, fatal=(ApplicationReplaced,))
    sup.add("other", other)
    stop = asyncio.Event()
    with pytest.raises(ApplicationReplaced, match="another websocket"):
        async with asyncio.timeout(DEADLINE), sup:
            await sup.wait(stop)
    assert other_cancelled.is_set()
    task = state(sup, "ari-events")
    assert (task["state"], task["failures"], task["restarts"]) == ("failed", 1, 0)
    assert sup.health()["status"] == "degraded"


async def test_wait_returns_none_when_the_stop_event_is_set() -> None:
    sup = fast()
    sup.add("idle", asyncio.Event().wait)
    stop = asyncio.Event()
    async with asyncio.timeout(DEADLINE), sup:
        stop.set()
        assert await sup.wait(stop) is None


async def test_a_critical_task_that_returns_ends_wait_with_its_name() -> None:
    async def done() -> None:
        return None

    sup = fast()
    sup.add("ari-events", done, critical=True)
    async with asyncio.timeout(DEADLINE), sup:
        assert await sup.wait(asyncio.Event()) == "ari-events"
    assert state(sup, "ari-events")["state"] == "finished"


async def test_cancelling_the_owner_cancels_every_task_and_propagates() -> None:
    started = [asyncio.Event() for _ in range(3)]
    cancelled: list[int] = []

    def forever(n: int) -> Callable[[], Any]:
        async def run() -> None:
            started[n].set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append(n)
                raise

        return run

    sup = fast()
    for n in range(3):
        sup.add(f"t{n}", forever(n))

    async def owner() -> None:
        async with sup:
            await sup.wait(asyncio.Event())

    owning = asyncio.create_task(owner())
    async with asyncio.timeout(DEADLINE):
        for event in started:
            await event.wait()
        owning.cancel()
        with pytest.raises(asyncio.CancelledError):
            await owning
    assert sorted(cancelled) == [0, 1, 2]
    assert {t["state"] for t in sup.health()["tasks"].values()} == {"stopped"}


async def test_teardown_is_bounded_and_never_swallows_the_callers_cancel() -> None:
    release = asyncio.Event()
    entered = asyncio.Event()

    async def stubborn() -> None:
        entered.set()
        while not release.is_set():  # ignores every cancel until the test lets it go
            try:
                await release.wait()
            except asyncio.CancelledError:
                pass

    sup = fast()
    sup.add("stubborn", stubborn)
    sup.start()
    async with asyncio.timeout(DEADLINE):
        await entered.wait()
        began = time.monotonic()
        await sup.aclose(timeout=0.05)  # returns at its deadline, task still running
        assert 0.04 <= time.monotonic() - began < 1.0
        closing = asyncio.create_task(sup.aclose(timeout=30))
        await asyncio.sleep(0)  # let it reach its wait
        closing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await closing
        release.set()
        await until(sup, lambda: state(sup, "stubborn")["state"] == "finished")
    assert state(sup, "stubborn")["restarts"] == 0


async def test_other_tasks_keep_running_while_one_fails() -> None:
    jobs: asyncio.Queue[int] = asyncio.Queue()
    done: list[int] = []
    worked = asyncio.Event()

    async def worker() -> None:
        while True:
            done.append(await jobs.get())
            worked.set()

    async def broken() -> None:
        raise OSError("no such file")

    sup = fast()
    sup.add("worker", worker)
    sup.add("broken", broken)
    async with sup:
        await until(sup, lambda: state(sup, "broken")["failures"] >= 3)
        jobs.put_nowait(7)
        async with asyncio.timeout(DEADLINE):
            await worked.wait()
        assert done == [7]
        worker_state = state(sup, "worker")
        assert (worker_state["state"], worker_state["failures"]) == ("running", 0)
        assert not worker_state["degraded"]
        assert 'hotline_task_up{task="worker"} 1' in sup.metrics_lines()


async def test_a_task_that_returns_is_finished_and_not_restarted() -> None:
    calls = 0

    async def once() -> None:
        nonlocal calls
        calls += 1

    sup = fast()
    sup.add("watch", once)
    async with sup:
        await until(sup, lambda: state(sup, "watch")["state"] == "finished")
    assert calls == 1
    watch = state(sup, "watch")
    assert (watch["state"], watch["failures"], watch["restarts"]) == ("finished", 0, 0)
    assert sup.health()["status"] == "ok"
    assert 'hotline_task_up{task="watch"} 0' in sup.metrics_lines()


async def test_a_task_that_fails_then_returns_is_finished_and_healthy() -> None:
    calls = 0

    async def flaky_once() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("first scan failed")

    sup = fast(settle=60.0)  # it ends before it could settle
    sup.add("scan", flaky_once)
    async with sup:
        await until(sup, lambda: state(sup, "scan")["state"] == "finished")
    scan = state(sup, "scan")
    assert (calls, scan["failures"], scan["restarts"], scan["degraded"]) == (2, 1, 1, False)
    assert sup.health()["status"] == "ok"


async def test_restart_on_return_runs_a_returning_task_again() -> None:
    calls = 0

    async def once() -> None:
        nonlocal calls
        calls += 1

    sup = fast()
    sup.add("poll", once, restart_on_return=True)
    async with sup:
        await until(sup, lambda: state(sup, "poll")["restarts"] >= 2)
    assert calls >= 3
    assert state(sup, "poll")["failures"] == 0


def test_two_tasks_cannot_share_a_name() -> None:
    sup = fast()
    sup.add("x", asyncio.Event().wait)
    with pytest.raises(ValueError, match="'x'"):
        sup.add("x", asyncio.Event().wait)


# --- the real recorder under the supervisor ------------------------------------------------


def _wav(seconds: float) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x01\x00" * int(8000 * seconds))
    return out.getvalue()


class FakeAri:
    """The PBX side of storing: every recording has finished and downloads as ``audio``."""

    def __init__(self, audio: bytes) -> None:
        self.audio = audio
        self.downloads: list[str] = []
        self.deleted: asyncio.Queue[str] = asyncio.Queue()

    async def live_recording(self, name: str) -> None:
        raise AriNotFound(f"no live recording {name}", status=404)

    async def download_to(self, path: str, write: Callable[[bytes], object]) -> int:
        self.downloads.append(path)
        write(self.audio)
        return len(self.audio)

    async def delete_stored_recording(self, name: str) -> None:
        self.deleted.put_nowait(name)


class IndexBrokenOnce(RecordingIndex):
    """The index whose first write of a stored recording fails as SQLite does when locked."""

    breaks = 1

    async def update(self, call_id: str, **fields: Any) -> None:
        if fields.get("status") == RecordingStatus.STORED and self.breaks:
            self.breaks -= 1
            raise OperationalError("UPDATE recordings", {}, Exception("database is locked"))
        await super().update(call_id, **fields)


async def _ended_call(calls: CallStore, index: RecordingIndex, call_id: str) -> None:
    await calls.open_call(call_id, f"chan-{call_id}", "4008000000", "13800138000", "menu")
    await index.started(call_id, "13800138000", "4008000000", pbx_name(call_id), datetime.now(UTC))
    await calls.close_call(call_id, "caller_hangup")


async def test_a_supervised_recorder_whose_index_write_fails_is_restarted_and_keeps_storing(
    tmp_path: Path,
) -> None:
    audio = _wav(0.5)
    async with temporary_index(tmp_path / "hotline.db") as (engine, _plain):
        index = IndexBrokenOnce(engine)
        calls = CallStore(engine)
        ari = FakeAri(audio)
        store_dir = tmp_path / "store"
        recorder = Recorder(
            cast(AriRest, ari), index, calls, RecordingsConfig(retry_seconds=60), store_dir
        )
        await _ended_call(calls, index, "call-a")  # left over: run() picks it up at start
        sup = fast()
        sup.add("recorder", recorder.run)
        async with sup, asyncio.timeout(DEADLINE):
            # The first store of call-a raises out of run(); the restarted run() finds the
            # row still unstored and stores it.
            assert await ari.deleted.get() == pbx_name("call-a")
            task = state(sup, "recorder")
            assert (task["failures"], task["restarts"], task["state"]) == (1, 1, "running")
            assert task["last_error"].startswith("OperationalError: (builtins.Exception) ")
            assert "database is locked" in task["last_error"]
            assert 'hotline_task_failures_total{task="recorder"} 1' in sup.metrics_lines()
            # and the restarted recorder goes on with the next call
            await _ended_call(calls, index, "call-b")
            recorder.call_ended("call-b")
            assert await ari.deleted.get() == pbx_name("call-b")
            await until(sup, lambda: not state(sup, "recorder")["degraded"])

        assert recorder.metrics.stored == 2
        assert len(ari.downloads) == 3  # call-a twice (before and after the restart), call-b
        assert state(sup, "recorder")["failures"] == 1
        for call_id in ("call-a", "call-b"):
            row = await index.get(call_id)
            assert row is not None
            assert (row.status, row.error, row.size_bytes) == (
                RecordingStatus.STORED,
                "",
                len(audio),
            )
            assert row.duration_s == 0.5
            stored = (store_dir / row.path).read_bytes()
            assert row.sha256 == hashlib.sha256(stored).hexdigest()
        assert not list((store_dir / ".incoming").iterdir())
