"""Finding a known sound in a stored recording."""

from __future__ import annotations

from pathlib import Path

from ivr.scenario import hearing


def found(template: Path, audio: hearing.Samples, what: str) -> float:
    """Where ``template`` is in ``audio`` (seconds); fails when it is not there."""
    match = hearing.find(hearing.read_wav(template), audio)
    assert match.score >= hearing.MATCH_THRESHOLD, f"{what} is not in the recording ({match})"
    return match.offset_s


def files_of(store: Path, call_id: str) -> list[str]:
    """The names of the call's files in the recordings store."""
    return sorted(p.name for p in store.rglob(f"{call_id}*"))
