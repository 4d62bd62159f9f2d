"""Retention and disk budget of the recordings store (R-5.3), and the path rules every
reader and deleter of the store follows.

Nothing younger than ``retention_days`` is deleted, whatever the disk budget: a store that
runs full makes new recordings wait on the PBX (``failed``, retried later), it never eats
old ones early. Only paths that resolve inside the store are read or deleted, so a row
whose path was tampered with (``../../etc/passwd``) can neither leak nor destroy a file.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hotline.db import aware
from hotline.errors import ConfigError
from recordings.index import Recording, RecordingIndex, RecordingStatus

log = logging.getLogger(__name__)

MEBIBYTE = 1024 * 1024

# Call ids are lower-case UUID4 strings; anything else is refused before it nears a path.
CALL_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def is_call_id(value: str) -> bool:
    return CALL_ID.fullmatch(value) is not None


def file_in_store(store_dir: Path, relative: str) -> Path | None:
    """The absolute path of a stored file, or None when ``relative`` is empty or resolves
    (through ``..``, an absolute path or a symlink) to anywhere outside the store."""
    if not relative:
        return None
    try:
        root = store_dir.resolve()
        path = (root / relative).resolve()
    except (OSError, ValueError, RuntimeError):
        return None  # a NUL byte (ValueError) or a symlink loop (RuntimeError before 3.13)
    return path if path != root and path.is_relative_to(root) else None


def recording_files(store_dir: Path, row: Recording) -> tuple[list[Path], list[str]]:
    """A row's files inside the store (audio, timeline, compressed copy), and the stored
    paths that were refused because they point outside it."""
    inside: list[Path] = []
    refused: list[str] = []
    for relative in (row.path, row.timeline_path, row.compressed_path):
        if not relative:
            continue
        path = file_in_store(store_dir, relative)
        if path is None:
            refused.append(relative)
        else:
            inside.append(path)
    return inside, refused


@dataclass
class PurgeResult:
    dry_run: bool
    cutoff: datetime
    # Calls whose files were deleted (or would be, on a dry run) and that are now purged.
    calls: list[str] = field(default_factory=list)
    freed_bytes: int = 0
    # Call id -> why its files could not be deleted; the row stays stored for next time.
    failed: dict[str, str] = field(default_factory=dict)
    # Call id -> stored paths outside the store, left alone (the row is purged anyway).
    refused: dict[str, list[str]] = field(default_factory=dict)


async def purge(
    index: RecordingIndex,
    store_dir: Path,
    retention_days: int,
    now: datetime,
    dry_run: bool = False,
) -> PurgeResult:
    """Delete the files of stored recordings that began before ``now - retention_days``
    and mark them purged. A file already gone is fine; one that cannot be deleted leaves
    its row stored (and is reported) so the next purge tries again."""
    if retention_days < 1:
        # 0 would delete a call stored a second ago: never what a retention policy means.
        raise ConfigError(f"recordings.retention_days: at least 1, got {retention_days}")
    # SQLite keeps datetimes without their offset and the index stores UTC: compare in UTC.
    cutoff = aware(now).astimezone(UTC) - timedelta(days=retention_days)
    purged_at = aware(now).astimezone(UTC)
    result = PurgeResult(dry_run=dry_run, cutoff=cutoff)
    for row in await index.stored_before(cutoff):
        # The query already says so; checked again because deleting is not undoable.
        if row.status != RecordingStatus.STORED or aware(row.started_at) >= cutoff:
            continue
        files, refused = recording_files(store_dir, row)
        if refused:
            log.warning(
                "recording %s: paths outside the store left alone: %s", row.call_id, refused
            )
            result.refused[row.call_id] = refused
        try:
            freed = await asyncio.to_thread(_delete, files, dry_run)
        except OSError as exc:
            log.error("recording %s: cannot delete its files: %s", row.call_id, exc)
            result.failed[row.call_id] = f"{exc.filename}: {exc.strerror}"
            continue
        result.calls.append(row.call_id)
        result.freed_bytes += freed
        if not dry_run:
            await index.update(row.call_id, status=RecordingStatus.PURGED, purged_at=purged_at)
    return result


def _delete(files: list[Path], dry_run: bool) -> int:
    """Delete ``files`` (or only measure them), returning the bytes freed."""
    freed = 0
    for path in files:
        try:
            size = path.stat().st_size
            if not dry_run:
                path.unlink()
        except FileNotFoundError:
            continue  # deleted by an earlier purge that stopped before updating the row
        freed += size
    return freed


async def over_budget(index: RecordingIndex, max_store_mb: int, incoming_bytes: int) -> bool:
    """Whether storing ``incoming_bytes`` more would take the store over its budget of
    ``max_store_mb`` MiB (0: no budget)."""
    if max_store_mb < 0:
        raise ConfigError(f"recordings.max_store_mb: 0 (no limit) or more, got {max_store_mb}")
    if max_store_mb == 0:
        return False
    return await index.stored_bytes() + incoming_bytes > max_store_mb * MEBIBYTE
