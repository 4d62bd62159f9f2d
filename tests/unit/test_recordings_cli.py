"""`hotline recordings list | export | purge` against a temporary state directory.

The command runs its own event loop (asyncio.run), so it is called in a worker thread,
away from the tests' loop."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hotline.cli import main
from recordings.index import RecordingStatus
from tests.unit.recordings_fixtures import add_recording, temporary_index


@pytest.fixture
def config(config_file: Path) -> Path:
    with config_file.open("a") as settings:
        settings.write("recordings:\n  retention_days: 30\n")
    return config_file


async def hotline(config: Path, *args: str) -> int:
    return await asyncio.to_thread(main, ["--config", str(config), "recordings", *args])


async def test_list(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = config.parent / "recordings"
    async with temporary_index(config.parent / "hotline.db") as (_engine, index):
        mine = await add_recording(index, store, agents=["1001"])
        theirs = await add_recording(index, store, agents=["1002", "1003"], queues=["repair"])

    assert await hotline(config, "list") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == [
        "call", "started", "(UTC)", "duration", "caller", "agents", "queues", "status", "size",
    ]  # fmt: skip
    assert mine in out and theirs in out
    assert "1002,1003" in out and "1:02" in out and "2.0 KiB" in out

    assert await hotline(config, "list", "--queue", "repair") == 0
    out = capsys.readouterr().out
    assert theirs in out and mine not in out

    assert await hotline(config, "list", "--since", "2030-01-01") == 0
    assert "no recordings found" in capsys.readouterr().out

    with pytest.raises(SystemExit):
        await hotline(config, "list", "--since", "last week")
    assert "ISO date-time" in capsys.readouterr().err


async def test_export(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "recordings"
    async with temporary_index(tmp_path / "hotline.db") as (_engine, index):
        call = await add_recording(index, store, compressed=True)
        failed = await add_recording(index, store, status=RecordingStatus.FAILED)
        row = await index.get(call)
        assert row is not None

    dest = tmp_path / "export"
    assert await hotline(config, "export", call, str(dest)) == 0
    out = capsys.readouterr().out
    copied = sorted(p.name for p in dest.iterdir())
    assert copied == sorted(f"{call}{ext}" for ext in (".wav", ".json", ".mp3"))
    assert str(dest / f"{call}.wav") in out
    assert hashlib.sha256((dest / f"{call}.wav").read_bytes()).hexdigest() == row.sha256

    # A damaged store file is caught by the check of the copy.
    (store / row.path).write_bytes(b"damaged")
    assert await hotline(config, "export", call, str(tmp_path / "again")) == 1
    assert "does not match" in capsys.readouterr().err

    for bad, why in [
        ("not-a-uuid", "not a call id"),
        ("00000000-0000-4000-8000-000000000000", "no recording"),
        (failed, "failed, not stored"),
    ]:
        assert await hotline(config, "export", bad, str(tmp_path / "nowhere")) == 1
        assert why in capsys.readouterr().err
    assert not (tmp_path / "nowhere").exists()


async def test_purge(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "recordings"
    now = datetime.now(UTC)
    async with temporary_index(tmp_path / "hotline.db") as (_engine, index):
        old = await add_recording(index, store, started_at=now - timedelta(days=31))
        young = await add_recording(index, store, started_at=now - timedelta(days=29))
        old_row, young_row = await index.get(old), await index.get(young)
        assert old_row is not None and young_row is not None
    freed = sum((store / p).stat().st_size for p in (old_row.path, old_row.timeline_path))

    assert await hotline(config, "purge", "--dry-run") == 0
    out = capsys.readouterr().out
    assert f"would remove {old}" in out and young not in out
    assert f"1 recording would be removed, freeing {freed} bytes" in out
    assert (store / old_row.path).is_file()

    assert await hotline(config, "purge") == 0
    out = capsys.readouterr().out
    assert f"removed {old}" in out
    assert f"1 recording removed, {freed} bytes" in out
    assert not (store / old_row.path).exists()
    assert (store / young_row.path).is_file()
