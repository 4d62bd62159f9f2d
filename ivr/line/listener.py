"""Listening to a caller while prompts play: a snoop on the caller's channel, recorded as
raw slin into the PBX's recordings directory and read here as it grows.

Why a snoop recording and not externalMedia: the snoop is one extra channel and no
socket. Asterisk writes 16 kB/s per call into a directory the controller already shares
with the PBX (prompts and voice messages live there too), and the controller reads only
the new bytes, ten times a second while a sequence waits for speech and four otherwise.
externalMedia needs a snoop too, plus a bridge, an RTP channel and a UDP port per call,
for the same audio. bench/classifier measures the cost on both sides.

A channel's operations run one after another (ARI-NOTES), so the caller's own channel
cannot play and record at once; the snoop runs beside it, bridged or not, and hangs up
with the caller. The listener owns one task (the reader), cancelled by ``stop``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hotline.ari.errors import AriError
from hotline.ari.models import Event
from hotline.ari.rest import AriRest
from hotline.calls.registry import LEG_PREFIX
from hotline.calls.session import CallChannel
from ivr.line.classifier import (
    FRAME,
    FRAME_S,
    Evidence,
    Frames,
    LineClass,
    Thresholds,
    classify,
    frame_features,
)

log = logging.getLogger(__name__)

LISTEN_DIR = "listen"  # under the PBX's recordings directory
SPEECH_EVENT = "HotlineLineSpeech"  # synthetic event put in the call's queue
POLL_S = 0.1  # reads while a sequence watches for speech
IDLE_POLL_S = 0.25  # reads otherwise (the judgement at the end of a wait needs no haste)
KEEP_FRAMES = int(60.0 / FRAME_S)  # a minute of frames is kept for judging
# Audio this far behind the clock is late (the PBX writes the file in buffered pieces);
# further behind, the line is sending nothing.
STALL_FRAMES = int(1.0 / FRAME_S)
SETUP_TIMEOUT_S = 3.0


class LineListener:
    def __init__(
        self,
        ari: AriRest,
        channel: CallChannel,
        app: str,
        recordings_dir: Path,
        attach_leg: Callable[[str, str], None],
        detach_leg: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ari = ari
        self.clock = clock
        self.channel = channel
        self.app = app
        self.snoop_id = f"{LEG_PREFIX}ear-{uuid.uuid4().hex[:16]}"
        self.recording = f"{LISTEN_DIR}/{self.snoop_id}"
        self.path = recordings_dir / LISTEN_DIR / f"{self.snoop_id}.sln"
        self._attach, self._detach = attach_leg, detach_leg
        self.frames = Frames.empty()
        self._previous: np.ndarray | None = None
        self._pending = b""
        self._offset = 0
        self._task: asyncio.Task[None] | None = None
        self._started_at = 0.0
        self._total = 0  # frames added since the start (the clock's count)
        self._watch: tuple[float, Thresholds] | None = None
        self._watches = 0

    # --- life cycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Snoop on the caller and start reading. Raises ``AriError`` or ``TimeoutError``
        when the PBX does not cooperate (then ``stop`` cleans up)."""
        self._attach(self.snoop_id, self.channel.channel_id)
        await self.ari.snoop(self.channel.channel_id, self.snoop_id, self.app, spy="in")
        await self.channel.wait_event(
            lambda e: e.type == "StasisStart" and e.about(self.snoop_id), SETUP_TIMEOUT_S
        )
        await self.ari.record(self.snoop_id, self.recording, fmt="sln")
        self.listening_since(self.clock())
        self._task = asyncio.create_task(self._read_forever(), name=f"listen-{self.snoop_id}")

    def listening_since(self, started_at: float) -> None:
        """The clock time the recording began (frames are counted from it)."""
        self._started_at = started_at

    async def stop(self) -> None:
        """Stop reading, hang up the snoop (which ends its recording), delete the audio."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task], timeout=SETUP_TIMEOUT_S)
        with contextlib.suppress(AriError):
            await self.ari.hangup(self.snoop_id)
        self._detach(self.snoop_id)
        try:
            self.path.unlink(missing_ok=True)
        except PermissionError:  # written by the PBX's user: let the PBX delete it
            with contextlib.suppress(AriError):
                await self.ari.delete_stored_recording(self.recording)

    # --- what was heard --------------------------------------------------------------------------
    def evidence(self, seconds: float, limits: Thresholds) -> Evidence:
        """The verdict on the last ``seconds`` of the caller's audio."""
        return classify(self.frames.tail(seconds), limits)

    def watch_speech(self, window: float, limits: Thresholds) -> int:
        """From now on, put one ``SPEECH_EVENT`` in the call's queue when the last
        ``window`` seconds sound like usable speech (or an in-band key). Returns the
        watch's number, which the event carries: an event a finished watch sent just
        before it ended is then recognised as stale."""
        self._watches += 1
        self._watch = (window, limits)
        self._check_speech()
        return self._watches

    def unwatch(self) -> None:
        self._watch = None

    # --- the reader ---------------------------------------------------------------------------
    async def _read_forever(self) -> None:
        while True:
            try:
                self.read()
            except OSError as exc:
                log.warning("listening on %s: %s", self.channel.channel_id, exc)
            await asyncio.sleep(POLL_S if self._watch is not None else IDLE_POLL_S)

    def read(self) -> None:
        """Take in what the PBX wrote since the last read (the reader does, several times
        a second); announce speech if asked to watch for it."""
        data = b""
        if self.path.exists():
            with self.path.open("rb") as f:
                f.seek(self._offset)
                data = f.read()
        self._offset += len(data)
        data = self._pending + data
        usable = len(data) // (2 * FRAME) * (2 * FRAME)
        self._pending = data[usable:]
        if usable:
            samples = np.frombuffer(data[:usable], dtype="<i2").astype(np.float64)
            self._add(frame_features(samples, self._previous))
            self._previous = samples[-FRAME:]
        # A line that sends nothing gives the snoop nothing to write: once the audio is
        # further behind the clock than the PBX's write buffering explains, that time is
        # silence, and the frames keep step with the clock.
        behind = int((self.clock() - self._started_at) / FRAME_S) - self._total
        if behind > STALL_FRAMES:
            self._add(Frames.silence(behind - STALL_FRAMES))
            self._previous = None
        self._check_speech()

    def _add(self, frames: Frames) -> None:
        self.frames = self.frames.extend(frames)
        self._total += len(frames)
        if len(self.frames) > 2 * KEEP_FRAMES:
            self.frames = self.frames.last(KEEP_FRAMES)

    def _check_speech(self) -> None:
        if self._watch is None:
            return
        window, limits = self._watch
        evidence = self.evidence(window, limits)
        if evidence.verdict in (LineClass.SPEECH, LineClass.KEY):
            self._watch = None
            event = Event(SPEECH_EVENT, {"watch": self._watches, "evidence": evidence.as_dict()})
            self.channel.deliver(event)


def forget_stale_listening(recordings_dir: Path) -> None:
    """At start-up: audio left by listeners of a controller that died (their snoops are
    hung up by reconciliation; calls picked up again listen afresh)."""
    for stale in (recordings_dir / LISTEN_DIR).glob("*.sln"):
        with contextlib.suppress(OSError):
            stale.unlink()
