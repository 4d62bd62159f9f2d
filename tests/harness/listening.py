"""Finding a known sound in a stored recording."""

from __future__ import annotations

from pathlib import Path

from ivr.scenario import hearing


def found(template: Path, audio: hearing.Samples, what: str) -> float:
    """Where ``template`` is in ``audio`` (seconds); fails when it is not there."""
    match = hearing.find(hearing.read_wav(template), audio)
    assert match.score >= hearing.MATCH_THRESHOLD, f"{what} is not in the recording ({match})"
    return match.offset_s
