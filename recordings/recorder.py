"""Whole-call recording (R-5.1): from answer to hang-up, one file per call.

At answer the caller is put in the call's own mixing bridge, which they stay in until
the end (``hotline.calls.session``): menu prompts, music on hold and the survey are played
into it, and the agent and any supervisor who barges in join it. That bridge is recorded
as wav on the PBX, so the file has both directions of every phase on one clock; the
recording ends when the bridge goes with the call. (A snoop or MixMonitor on the caller's
channel was tried first: Asterisk 22 lost the audio written to the caller in one phase or
another once the channel changed bridges. A voice message is in it too: the caller stays
in the bridge while a snoop on what they send fills the message's own file.)

When the call is over, the file is moved off the PBX (downloaded over ARI, so the PBX may
live on another host) into the recordings store, checked (size, sha256, length), indexed
with its agents and queues, and the call's timeline is written beside it with each
event's offset into the audio, so a supervisor can jump to a moment.

Storing never holds up a call, and a store that is unwritable, full or over its budget
loses nothing: the audio stays on the PBX, the index row says ``failed`` with the reason,
/metrics counts it, and the recorder tries again every ``retry_seconds``. The recorder
owns one task (``run``), started and cancelled by the composition root.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import time
import wave
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydub import AudioSegment

from hotline.ari.errors import AriError, AriNotFound
from hotline.ari.rest import AriRest
from hotline.calls.models import CallEvent
from hotline.calls.session import CallChannel
from hotline.calls.store import CallStore
from hotline.calls.timeline import Kind
from hotline.config import RecordingsConfig
from hotline.db import aware
from recordings.index import RecordingIndex, RecordingStatus, as_list

log = logging.getLogger(__name__)

PBX_FOLDER = "calls"  # under the PBX's recording directory
INCOMING = ".incoming"  # under the store: files being moved in
END_TIMEOUT_S = 15.0  # a recording still live this long after its call ended is stopped
PURGE_EVERY_S = 3600.0


def pbx_name(call_id: str, segment: int = 1) -> str:
    """Where the PBX keeps a call's recording (rows stored by earlier versions may have
    several pieces, joined when stored)."""
    return f"{PBX_FOLDER}/{call_id}" + (f"-{segment}" if segment > 1 else "")


@dataclass
class RecorderMetrics:
    """What /metrics shows of recording."""

    started: int = 0
    stored: int = 0
    failures: Counter[str] = field(default_factory=Counter)  # by stage: start, store
    last_error: str = ""
    backlog: int = 0  # recordings waiting on the PBX to be stored


class StoreFull(OSError):
    """Storing this recording would go over recordings.max_store_mb."""


class Recorder:
    def __init__(
        self,
        ari: AriRest,
        index: RecordingIndex,
        calls: CallStore,
        config: RecordingsConfig,
        store_dir: Path,
        purge: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        self.ari = ari
        self.index = index
        self.calls = calls
        self.config = config
        self.store_dir = store_dir
        self._purge = purge
        self.metrics = RecorderMetrics()
        self._ended: asyncio.Queue[str] = asyncio.Queue()

    # --- on the call's task ------------------------------------------------------------------
    async def start(self, call_id: str, channel: CallChannel, dialled: str) -> None:
        """Begin recording an answered call's bridge. A failure is logged and counted;
        the call goes on unrecorded rather than not at all."""
        if not self.config.enabled:
            return
        if channel.bridge is None:
            self._failed("start", f"call {call_id}: no bridge to record")
            return
        try:
            await self.ari.record_bridge(channel.bridge, pbx_name(call_id), fmt="wav")
        except AriError as exc:
            self._failed("start", f"call {call_id}: cannot start recording: {exc}")
            return
        await self.index.started(
            call_id, channel.caller_number, dialled, pbx_name(call_id), datetime.now(UTC)
        )
        self.metrics.started += 1

    def call_ended(self, call_id: str) -> None:
        """The call's record is closed: store its recording (if it has one)."""
        self._ended.put_nowait(call_id)

    # --- the recorder's own task ------------------------------------------------------------------
    async def run(self) -> None:
        """Store recordings of ended calls; retry failed ones; purge what is past retention."""
        await self._queue_leftovers()
        next_purge = time.monotonic()
        while True:
            if self._purge is not None and time.monotonic() >= next_purge:
                next_purge = time.monotonic() + PURGE_EVERY_S
                try:
                    await self._purge()
                except Exception:
                    log.exception("purging recordings past retention failed")
            try:
                call_id = await asyncio.wait_for(self._ended.get(), self.config.retry_seconds)
            except TimeoutError:
                await self._queue_leftovers()
                continue
            await self.store(call_id)

    async def _queue_leftovers(self) -> None:
        """Recordings whose call is over but which are not stored: left by a controller
        that stopped, or failed for want of a writable store."""
        rows = await self.index.with_status(RecordingStatus.RECORDING, RecordingStatus.FAILED)
        self.metrics.backlog = len(rows)
        for row in rows:
            record = await self.calls.get(row.call_id)
            if record is None or record.ended_at is not None:
                self._ended.put_nowait(row.call_id)

    async def store(self, call_id: str) -> bool:
        """Move one call's recording into the store and index it; False if it stays on
        the PBX for now (the reason is on the index row)."""
        row = await self.index.get(call_id)
        if row is None or row.status not in (RecordingStatus.RECORDING, RecordingStatus.FAILED):
            return False
        names = [pbx_name(call_id, n) for n in range(1, row.segments + 1)]
        for name in names:
            await self._wait_until_finished(name)
        started = aware(row.started_at)
        folder = Path(started.strftime("%Y/%m/%d"))
        audio = folder / f"{call_id}.wav"
        timeline = folder / f"{call_id}.timeline.json"
        incoming = self.store_dir / INCOMING / f"{call_id}.wav.part"
        try:
            size, digest = await self._download(names, incoming)
            budget = self.config.max_store_mb * 1024 * 1024
            if budget and await self.index.stored_bytes() + size > budget:
                raise StoreFull(f"the store is over its budget of {self.config.max_store_mb} MB")
            seconds = _wav_seconds(incoming)
            events = await self.calls.events(call_id)
            target = self.store_dir / audio
            target.parent.mkdir(parents=True, exist_ok=True)
            _write_json(self.store_dir / timeline, _timeline(call_id, started, events))
            os.replace(incoming, target)
        except AriNotFound:
            # No file on the PBX: the call ended before its bridge recorded anything.
            await self.index.update(call_id, status=RecordingStatus.FAILED, error="no audio")
            self._failed("store", f"call {call_id}: the PBX has no recording {row.pbx_name}")
            return False
        except (OSError, AriError) as exc:
            with contextlib.suppress(OSError):
                incoming.unlink(missing_ok=True)
            reason = f"{type(exc).__name__}: {exc}"[:250]
            if row.status != RecordingStatus.FAILED or row.error != reason:
                self._failed("store", f"call {call_id}: recording kept on the PBX: {reason}")
            await self.index.update(call_id, status=RecordingStatus.FAILED, error=reason)
            return False
        compressed = await self._compress(target, audio)
        agents, queues = _people(events)
        await self.index.update(
            call_id,
            status=RecordingStatus.STORED,
            error="",
            path=str(audio),
            timeline_path=str(timeline),
            compressed_path=compressed,
            size_bytes=size,
            sha256=digest,
            duration_s=seconds,
            agents=as_list(agents),
            queues=as_list(queues),
            stored_at=datetime.now(UTC),
        )
        for name in names:  # stored here: the PBX's copy can go
            with contextlib.suppress(AriError):
                await self.ari.delete_stored_recording(name)
        self.metrics.stored += 1
        log.info("call %s: recording stored (%.1f s, %d bytes)", call_id, seconds, size)
        return True

    # --- steps -----------------------------------------------------------------------------
    async def _wait_until_finished(self, name: str) -> None:
        deadline = time.monotonic() + END_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                await self.ari.live_recording(name)
            except AriNotFound:
                return
            except AriError:
                return  # the download will tell
            await asyncio.sleep(0.2)
        with contextlib.suppress(AriError):
            await self.ari.stop_recording(name)

    async def _download(self, names: list[str], dest: Path) -> tuple[int, str]:
        """Fetch the pieces from the PBX and join them into one wav at ``dest``; returns
        its size and sha256."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        pieces: list[Path] = []
        try:
            for number, name in enumerate(names, start=1):
                piece = dest.with_suffix(f".{number}")
                with piece.open("wb") as out:
                    path = f"/recordings/stored/{quote(name, safe='')}/file"
                    await self.ari.download_to(path, out.write)
                pieces.append(piece)
            return await asyncio.to_thread(_join_wavs, pieces, dest)
        finally:
            for piece in pieces:
                with contextlib.suppress(OSError):
                    piece.unlink()

    async def _compress(self, source: Path, audio: Path) -> str:
        fmt = self.config.compress
        if not fmt:
            return ""
        copy = audio.with_suffix(f".{fmt}")
        try:
            await asyncio.to_thread(_export, source, self.store_dir / copy, fmt)
        except Exception as exc:  # pydub raises several kinds; the wav is what counts
            log.warning("recording %s: no %s copy: %s", audio.name, fmt, exc)
            return ""
        return str(copy)

    def _failed(self, stage: str, message: str) -> None:
        self.metrics.failures[stage] += 1
        self.metrics.last_error = message
        log.error("%s", message)


def _timeline(call_id: str, started: datetime, events: Sequence[CallEvent]) -> dict[str, Any]:
    """The call's steps with their offsets into the recording."""
    return {
        "call": call_id,
        "started_at": started.isoformat(),
        "events": [
            {
                "offset_s": round((aware(e.at) - started) / timedelta(seconds=1), 2),
                "at": aware(e.at).isoformat(),
                "kind": e.kind,
                "data": e.data,
            }
            for e in events
        ],
    }


def _people(events: Sequence[CallEvent]) -> tuple[list[str], list[str]]:
    """The agents who talked to the caller and the queues the call waited in."""
    agents: list[str] = []
    queues: list[str] = []
    for e in events:
        data = e.data or {}
        if e.kind in (Kind.ANSWERED, Kind.PICKED_UP) and data.get("agent"):
            agents.append(str(data["agent"]))
        elif (
            e.kind == Kind.ACTION and data.get("action") in ("barge", "takeover") and data.get("by")
        ):
            agents.append(str(data["by"]))
        elif e.kind == Kind.WAITING and data.get("queue"):
            queues.append(str(data["queue"]))
        elif e.kind == Kind.OVERFLOW and data.get("to"):
            queues.append(str(data["to"]))
    return list(dict.fromkeys(agents)), list(dict.fromkeys(queues))


def _wav_seconds(path: Path) -> float:
    try:
        with wave.open(str(path), "rb") as w:
            return round(w.getnframes() / w.getframerate(), 2)
    except (wave.Error, EOFError):
        return 0.0


def _join_wavs(pieces: list[Path], dest: Path) -> tuple[int, str]:
    """One wav of the pieces' audio, in order (they share Asterisk's format: 8 kHz mono
    16-bit); returns its size and sha256. A piece the PBX left broken is skipped."""
    with wave.open(str(dest), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        for piece in pieces:
            try:
                with wave.open(str(piece), "rb") as w:
                    if w.getnchannels() != 1 or w.getsampwidth() != 2:
                        raise wave.Error("not 16-bit mono")
                    if w.getframerate() != 8000:
                        raise wave.Error(f"{w.getframerate()} Hz, not 8000")
                    out.writeframes(w.readframes(w.getnframes()))
            except (wave.Error, EOFError) as exc:
                log.warning("recording piece %s skipped: %s", piece.name, exc)
        out.writeframes(b"")
    digest = hashlib.sha256()
    with dest.open("rb+") as f:
        os.fsync(f.fileno())
        while block := f.read(1 << 16):
            digest.update(block)
    return dest.stat().st_size, digest.hexdigest()


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(".part")
    with part.open("w", encoding="utf-8") as out:
        json.dump(data, out, ensure_ascii=False, indent=1, default=str)
    os.replace(part, path)


def _export(source: Path, dest: Path, fmt: str) -> None:
    AudioSegment.from_wav(str(source)).export(str(dest), format=fmt)
