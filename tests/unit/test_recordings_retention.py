"""Retention: only stored recordings past retention lose their files, nothing outside the
store is touched, a dry run changes nothing; and the disk budget's arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from hotline.errors import ConfigError
from recordings.index import Recording, RecordingIndex, RecordingStatus
from recordings.retention import (
    MEBIBYTE,
    file_in_store,
    is_call_id,
    over_budget,
    purge,
    recording_files,
)
from tests.unit.recordings_fixtures import add_recording, temporary_index

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
DAYS = 30


async def row_of(index: RecordingIndex, call: str) -> Recording:
    row = await index.get(call)
    assert row is not None
    return row


async def files_of(index: RecordingIndex, store: Path, call: str) -> list[Path]:
    files, refused = recording_files(store, await row_of(index, call))
    assert not refused
    return files


async def test_purge_removes_only_expired_stored_recordings(tmp_path: Path) -> None:
    store = tmp_path / "store"
    async with temporary_index(tmp_path / "hotline.db") as (_engine, index):
        old = NOW - timedelta(days=DAYS + 1)
        expired = [
            await add_recording(index, store, started_at=old, compressed=True),
            await add_recording(index, store, started_at=old - timedelta(days=300)),
        ]
        young = [
            await add_recording(index, store, started_at=NOW - timedelta(days=DAYS - 1)),
            # Exactly at the cutoff is not past it.
            await add_recording(index, store, started_at=NOW - timedelta(days=DAYS)),
        ]
        untouched = {
            status: await add_recording(index, store, started_at=old, status=status)
            for status in (RecordingStatus.RECORDING, RecordingStatus.FAILED)
        }
        # Files a failed row would get once it is stored: they must survive too.
        for call in untouched.values():
            for path in await files_of(index, store, call):
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"on its way")
        expired_files = [p for c in expired for p in await files_of(index, store, c)]
        kept_files = [
            p for c in [*young, *untouched.values()] for p in await files_of(index, store, c)
        ]
        assert len(expired_files) == 5
        assert all(p.is_file() for p in [*expired_files, *kept_files])
        sizes = sum(p.stat().st_size for p in expired_files)

        result = await purge(index, store, DAYS, NOW)

        assert sorted(result.calls) == sorted(expired)
        assert result.freed_bytes == sizes
        assert not result.dry_run and not result.failed and not result.refused
        assert not any(p.exists() for p in expired_files)
        assert all(p.is_file() for p in kept_files)
        for call in expired:
            row = await row_of(index, call)
            assert row.status == RecordingStatus.PURGED
            assert row.purged_at is not None
        for call in young:
            assert (await row_of(index, call)).status == RecordingStatus.STORED
        for status, call in untouched.items():
            assert (await row_of(index, call)).status == status
        young_sizes = [(await row_of(index, c)).size_bytes for c in young]
        assert await index.stored_bytes() == sum(young_sizes)

        # A second purge finds nothing more.
        again = await purge(index, store, DAYS, NOW)
        assert (again.calls, again.freed_bytes) == ([], 0)


async def test_a_dry_run_deletes_nothing(tmp_path: Path) -> None:
    store = tmp_path / "store"
    async with temporary_index(tmp_path / "hotline.db") as (_engine, index):
        call = await add_recording(index, store, started_at=NOW - timedelta(days=DAYS * 2))
        files = await files_of(index, store, call)
        size = sum(p.stat().st_size for p in files)

        result = await purge(index, store, DAYS, NOW, dry_run=True)

        assert result.dry_run
        assert (result.calls, result.freed_bytes) == ([call], size)
        assert all(p.is_file() for p in files)
        assert (await row_of(index, call)).status == RecordingStatus.STORED


async def test_missing_files_are_not_an_error(tmp_path: Path) -> None:
    store = tmp_path / "store"
    async with temporary_index(tmp_path / "hotline.db") as (_engine, index):
        call = await add_recording(index, store, started_at=NOW - timedelta(days=DAYS * 2))
        audio, timeline = await files_of(index, store, call)
        audio.unlink()  # an earlier purge stopped after deleting it
        left = timeline.stat().st_size

        result = await purge(index, store, DAYS, NOW)

        assert (result.calls, result.freed_bytes, result.failed) == ([call], left, {})
        assert not timeline.exists()
        assert (await row_of(index, call)).status == RecordingStatus.PURGED


async def test_nothing_outside_the_store_is_deleted(tmp_path: Path) -> None:
    store = tmp_path / "store"
    secret = tmp_path / "etc" / "passwd"
    secret.parent.mkdir()
    secret.write_text("root:x:0:0")
    async with temporary_index(tmp_path / "hotline.db") as (_engine, index):
        call = await add_recording(index, store, started_at=NOW - timedelta(days=DAYS * 2))
        row = await row_of(index, call)
        timeline = store / row.timeline_path
        await index.update(call, path="../etc/passwd", compressed_path=str(secret))

        result = await purge(index, store, DAYS, NOW)

        assert secret.read_text() == "root:x:0:0"
        assert result.refused == {call: ["../etc/passwd", str(secret)]}
        # What was inside the store went; the row cannot be served any more either way.
        assert not timeline.exists()
        assert result.calls == [call]


async def test_the_cutoff_is_taken_in_utc(tmp_path: Path) -> None:
    """A ``now`` in Beijing time means the same instant; SQLite keeps no offsets."""
    store = tmp_path / "store"
    async with temporary_index(tmp_path / "hotline.db") as (_engine, index):
        cutoff = NOW - timedelta(days=DAYS)
        before = await add_recording(index, store, started_at=cutoff - timedelta(minutes=1))
        after = await add_recording(index, store, started_at=cutoff + timedelta(minutes=1))
        beijing = NOW.astimezone(timezone(timedelta(hours=8)))

        result = await purge(index, store, DAYS, beijing, dry_run=True)

        assert result.calls == [before]
        assert after not in result.calls


async def test_retention_must_be_at_least_a_day(tmp_path: Path) -> None:
    async with temporary_index(tmp_path / "hotline.db") as (_engine, index):
        with pytest.raises(ConfigError, match="retention_days"):
            await purge(index, tmp_path, 0, NOW)


async def test_over_budget_arithmetic(tmp_path: Path) -> None:
    store = tmp_path / "store"
    async with temporary_index(tmp_path / "hotline.db") as (_engine, index):
        assert not await over_budget(index, 1, MEBIBYTE)  # empty: exactly the budget fits
        assert await over_budget(index, 1, MEBIBYTE + 1)
        await add_recording(index, store, audio=b"\0" * (MEBIBYTE // 2))
        # Failed recordings are not in the store: they do not count.
        await add_recording(index, store, status=RecordingStatus.FAILED, size_bytes=MEBIBYTE)
        assert await index.stored_bytes() == MEBIBYTE // 2
        assert not await over_budget(index, 1, MEBIBYTE // 2)
        assert await over_budget(index, 1, MEBIBYTE // 2 + 1)
        assert not await over_budget(index, 0, 10**15)  # 0: no limit
        with pytest.raises(ConfigError):
            await over_budget(index, -1, 0)


def test_store_paths_and_call_ids(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    assert file_in_store(store, "2026/11/22/a.wav") == store.resolve() / "2026/11/22/a.wav"
    (store / "loop").symlink_to(store / "loop")
    (store / "out").symlink_to(tmp_path)
    hostile_paths = ("", ".", "..", "../x.wav", "a/../../x.wav", "/etc/passwd", "out/x.wav")
    for hostile in (*hostile_paths, "loop/x.wav", "a\0.wav"):
        assert file_in_store(store, hostile) is None, hostile
    assert is_call_id("3f2c9a7e-1b4d-4c8e-9f00-0123456789ab")
    for bad in ("3F2C9A7E-1B4D-4C8E-9F00-0123456789AB", "../../etc/passwd", "", "x" * 36):
        assert not is_call_id(bad), bad
