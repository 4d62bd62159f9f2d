"""The listener's reading of the snoop's file: pieces as the PBX writes them, late audio,
and a line that sends nothing at all (no ARI here: the file is written by the test)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import numpy as np

from hotline.ari.rest import AriRest
from hotline.calls.session import CallChannel
from ivr.line.classifier import FRAME_S, LineClass, Thresholds
from ivr.line.listener import SPEECH_EVENT, LineListener
from tests.harness.corpus import Corpus


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make_listener(tmp_path: Path, clock: Clock) -> tuple[LineListener, CallChannel]:
    channel = CallChannel(cast(AriRest, None), "caller-1")

    def no_legs(*_: str) -> None:
        pass

    listener = LineListener(
        cast(AriRest, None), channel, "hotline", tmp_path, no_legs, no_legs, clock=clock
    )
    listener.path.parent.mkdir(parents=True)
    listener.listening_since(clock.now)
    return listener, channel


def write(listener: LineListener, samples: Any) -> None:
    with listener.path.open("ab") as f:
        f.write(np.asarray(samples).astype("<i2").tobytes())


def test_speech_written_in_odd_pieces_is_speech_and_is_announced_once(tmp_path: Path) -> None:
    clock = Clock()
    listener, channel = make_listener(tmp_path, clock)
    speech = Corpus().speech("en", 0, "en-us", -20.0)
    watch = listener.watch_speech(1.5, Thresholds())
    for start in range(0, len(speech), 1234):  # not whole frames: the rest waits
        write(listener, speech[start : start + 1234])
        clock.now += 1234 / 8000
        listener.read()
    assert abs(len(listener.frames) * FRAME_S - len(speech) / 8000) < 0.05
    assert listener.evidence(5.0, Thresholds()).verdict is LineClass.SPEECH
    events = [channel.events.get_nowait() for _ in range(channel.events.qsize())]
    assert [e.type for e in events] == [SPEECH_EVENT]
    assert events[0].raw["evidence"]["verdict"] == "speech"
    assert events[0].raw["watch"] == watch  # a later watch will not take it for its own
    assert listener.watch_speech(1.5, Thresholds()) == watch + 1


def test_a_line_that_sends_nothing_is_silent_but_late_audio_is_not_silence(
    tmp_path: Path,
) -> None:
    clock = Clock()
    listener, _ = make_listener(tmp_path, clock)
    noise = Corpus().babble(1) * 0.5
    write(listener, noise[:8000])  # one second of a crowd, in time
    clock.now += 1.0
    listener.read()
    clock.now += 0.8  # the next piece is late, but within the PBX's buffering
    listener.read()
    assert len(listener.frames) == 50  # no silence made up
    clock.now += 6.0  # then nothing at all for six seconds
    listener.read()
    evidence = listener.evidence(5.0, Thresholds())
    assert evidence.verdict is LineClass.SILENT and evidence.loud_db == -120.0
    assert abs(len(listener.frames) * FRAME_S - (7.8 - 1.0)) < 0.05  # keeps step, 1 s behind
