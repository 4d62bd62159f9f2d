"""``hotline recordings``: find, export and purge whole-call recordings."""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from hotline.commands import Subparsers, instant, on_database, say
from hotline.config import Config

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from recordings.index import Recording


def add_commands(sub: Subparsers) -> None:
    recs = sub.add_parser("recordings", help="whole-call recordings and their store")
    recs_sub = recs.add_subparsers(required=True, metavar="ACTION")
    recs_list = recs_sub.add_parser("list", help="find recordings, newest first")
    recs_list.add_argument("--caller", default="", help="the caller's number")
    recs_list.add_argument("--agent", default="", help="an agent's number")
    recs_list.add_argument("--queue", default="", help="a queue's name")
    recs_list.add_argument("--since", type=instant, help="started at or after (ISO; naive is UTC)")
    recs_list.add_argument("--until", type=instant, help="started before (ISO; naive is UTC)")
    recs_list.add_argument("--limit", type=_limit, default=100, help="1-1000 (default 100)")
    recs_list.set_defaults(handler=cmd_recordings_list)
    recs_export = recs_sub.add_parser(
        "export", help="copy a call's audio and timeline to a directory, checking the audio"
    )
    recs_export.add_argument("call", help="the call id")
    recs_export.add_argument("dest", type=Path, metavar="DEST_DIR")
    recs_export.set_defaults(handler=cmd_recordings_export)
    recs_purge = recs_sub.add_parser(
        "purge", help="delete recordings older than recordings.retention_days"
    )
    recs_purge.add_argument("--dry-run", action="store_true", help="only show what would go")
    recs_purge.set_defaults(handler=cmd_recordings_purge)


def _limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise argparse.ArgumentTypeError(f"expected a whole number 1-1000, got {text!r}")
    return int(text)


def cmd_recordings_list(
    args: argparse.Namespace, config: Config, environ: Mapping[str, str]
) -> int:
    from recordings.index import RecordingIndex, Search

    search = Search(
        caller=args.caller,
        agent=args.agent,
        queue=args.queue,
        since=args.since,
        until=args.until,
        limit=args.limit,
    )

    async def run(engine: AsyncEngine) -> Sequence[Recording]:
        return await RecordingIndex(engine).search(search)

    rows = on_database(config, run)
    if not rows:
        print("no recordings found")
        return 0
    header = ["call", "started (UTC)", "duration", "caller", "agents", "queues", "status", "size"]
    print(_table(header, [_recording_cells(row) for row in rows]))
    return 0


def _recording_cells(row: Recording) -> list[str]:
    from hotline.db import aware

    minutes, seconds = divmod(round(row.duration_s), 60)
    return [
        row.call_id,
        aware(row.started_at).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        f"{minutes}:{seconds:02d}",
        row.caller_number,
        ",".join(row.agent_list()) or "-",
        ",".join(row.queue_list()) or "-",
        row.status,
        _size(row.size_bytes),
    ]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    )


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):.1f} MiB"


def cmd_recordings_export(
    args: argparse.Namespace, config: Config, environ: Mapping[str, str]
) -> int:
    import shutil

    from recordings.index import RecordingIndex, RecordingStatus
    from recordings.retention import file_in_store, is_call_id

    call = args.call
    if not is_call_id(call):
        print(f"hotline: {call!r} is not a call id (a lower-case UUID)", file=sys.stderr)
        return 1

    async def run(engine: AsyncEngine) -> Recording | None:
        return await RecordingIndex(engine).get(call)

    row = on_database(config, run)
    if row is None:
        print(f"hotline: no recording of call {call}", file=sys.stderr)
        return 1
    if row.status != RecordingStatus.STORED:
        print(f"hotline: recording {call} is {row.status}, not stored: no audio", file=sys.stderr)
        return 1
    store = config.recordings_store
    audio = file_in_store(store, row.path)
    if audio is None or not audio.is_file():
        print(f"hotline: the audio of {call} is not in the store ({row.path!r})", file=sys.stderr)
        return 1
    args.dest.mkdir(parents=True, exist_ok=True)
    copied = Path(shutil.copy2(audio, args.dest / audio.name))
    actual = _sha256(copied)
    if row.sha256 and actual != row.sha256:
        print(
            f"hotline: {copied}: sha256 {actual} does not match the index ({row.sha256}); "
            "the stored audio may be damaged",
            file=sys.stderr,
        )
        return 1
    print(copied)
    for label, relative in (("timeline", row.timeline_path), ("compressed", row.compressed_path)):
        if not relative:
            continue
        source = file_in_store(store, relative)
        if source is None or not source.is_file():
            print(f"warning: the {label} file of {call} is not in the store ({relative!r})")
            continue
        print(shutil.copy2(source, args.dest / source.name))
    say(f"recording {call} exported" + (", audio checked (sha256)" if row.sha256 else ""))
    return 0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def cmd_recordings_purge(
    args: argparse.Namespace, config: Config, environ: Mapping[str, str]
) -> int:
    from recordings.index import RecordingIndex
    from recordings.retention import PurgeResult, purge

    days = config.recordings.retention_days

    async def run(engine: AsyncEngine) -> PurgeResult:
        index = RecordingIndex(engine)
        return await purge(index, config.recordings_store, days, datetime.now(UTC), args.dry_run)

    result = on_database(config, run)
    verb = "would remove" if result.dry_run else "removed"
    for call in result.calls:
        print(f"{verb} {call}")
    for call, paths in result.refused.items():
        print(f"warning: {call}: paths outside the store left alone: {', '.join(paths)}")
    for call, why in result.failed.items():
        print(f"hotline: {call}: cannot delete its files: {why}", file=sys.stderr)
    count = f"{len(result.calls)} recording" + ("" if len(result.calls) == 1 else "s")
    freed = f"{result.freed_bytes} bytes ({_size(result.freed_bytes)})"
    if result.dry_run:
        summary = f"{count} would be removed, freeing {freed}"
    else:
        summary = f"{count} removed, {freed} freed"
    say(f"retention {days} days (before {result.cutoff:%Y-%m-%d %H:%M} UTC): {summary}")
    return 1 if result.failed else 0
