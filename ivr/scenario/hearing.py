"""Was this prompt heard, and when: matching a prompt's audio in what a caller heard.

Matching is normalised cross-correlation (FFT) of the prompt's own 8 kHz audio against
a recording of what the caller heard; a G.711 round trip keeps the score of a real match
near 1.0 while different speech scores well under 0.5. Scenario runs (``hotline scenario
run``) and the test harness both use it.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

RATE = 8000
Samples = npt.NDArray[np.float64]
MATCH_THRESHOLD = 0.7


def read_sln(path: Path) -> Samples:
    """Raw signed-linear 16-bit 8 kHz (Asterisk's .sln), possibly still being written."""
    data = path.read_bytes() if path.exists() else b""
    data = data[: len(data) // 2 * 2]
    return np.frombuffer(data, dtype="<i2").astype(np.float64)


def read_wav(path: Path) -> Samples:
    """A prompt's own audio: 8 kHz, mono, 16-bit wav (what ``hotline prompts build`` writes)."""
    with wave.open(str(path), "rb") as w:
        layout = (w.getframerate(), w.getnchannels(), w.getsampwidth())
        if layout != (RATE, 1, 2):
            rate, channels, width = layout
            raise ValueError(
                f"{path}: expected {RATE} Hz mono 16-bit audio, got {rate} Hz, "
                f"{channels} channel(s), {8 * width}-bit"
            )
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)


@dataclass(frozen=True)
class Match:
    offset_s: float  # where in the heard audio the template starts
    score: float


CHUNK = RATE // 2  # match in half-second pieces
SLIP = RATE // 10  # how far a piece may drift from where the previous one was found
SHORTEST = RATE // 10  # prompts shorter than this (after trimming silence) never match


def find(template: Samples, heard: Samples, after_s: float | None = None) -> Match:
    """Earliest good alignment of ``template`` inside ``heard``.

    Real calls slip: a jitter buffer adds or drops a 20 ms frame now and then, and one slip
    decorrelates a long prompt as a whole. So the prompt is matched in half-second pieces,
    each searched a little around where the previous piece was found; the score is the
    mean of the pieces' normalised correlations. A recording that began a little late
    (the first pieces missing) still matches on the pieces it has.

    With ``after_s``, only alignments starting at or after that many seconds into
    ``heard`` count (the offset returned is still from the start of ``heard``). A prompt
    whose beginning lies before ``after_s`` is not matched on its tail: that tail is
    usually the previous, already matched play of the same prompt.
    """
    if after_s is not None:
        skip = max(0, int(after_s * RATE))
        match = _find(template, heard[skip:], early_start=False)
        return Match(match.offset_s + skip / RATE, match.score)
    return _find(template, heard, early_start=True)


def trim_silence(samples: Samples, threshold: float = 200.0) -> Samples:
    """The audio from its first to its last loud sample (what ``find`` matches)."""
    loud = np.flatnonzero(np.abs(samples) > threshold)
    return samples[loud[0] : loud[-1] + 1] if len(loud) else samples


def _find(template: Samples, heard: Samples, early_start: bool) -> Match:
    template = trim_silence(template)
    # A short prompt (a digit) in quarter-second pieces: a frame a mixing bridge slipped
    # inside it must not sink it (a half-second piece would be all of it).
    size = CHUNK if len(template) >= 2 * CHUNK else CHUNK // 2
    pieces = [template[i : i + size] for i in range(0, len(template) - size // 2, size)]
    if not pieces and len(template) >= SHORTEST:
        pieces = [template]  # a very short prompt (a digit) is one piece of its own
    if not pieces or len(heard) < min(CHUNK, len(template)):
        return Match(0.0, 0.0)
    best = Match(0.0, 0.0)
    earliest = -len(template) if early_start else 0
    for start in _candidates(template, pieces[0], heard, earliest):
        match = _follow(pieces, heard, start, size)
        if match.score >= MATCH_THRESHOLD:
            return match
        best = max(best, match, key=lambda m: m.score)
    return best


def _candidates(template: Samples, first: Samples, heard: Samples, earliest: int) -> list[int]:
    """Start positions (from ``earliest`` on) worth following, earliest first: peaks of the
    first piece's correlation, and of the whole template's (which survives a missing first
    piece)."""
    starts: set[int] = set()
    for probe, floor in ((first, 0.5), (template, 0.3)):
        score = _ncc(probe, np.concatenate([np.zeros(len(template)), heard]))
        peaks = np.flatnonzero(score >= floor)
        for peak in peaks:
            lo, hi = max(0, peak - SLIP), peak + SLIP
            start = int(peak) - len(template)
            if start >= earliest and score[peak] == score[lo:hi].max():
                starts.add(start)
    return sorted(starts)[:20]


def _follow(pieces: list[Samples], heard: Samples, start: int, size: int) -> Match:
    scores: list[float] = []
    expected = start
    found_start: int | None = None
    for index, piece in enumerate(pieces):
        if expected < 0:  # this piece was played before the recording began
            expected += len(piece)
            continue
        lo = max(0, expected - SLIP)
        hi = min(len(heard), expected + SLIP + len(piece))
        if hi - lo < len(piece):
            scores.append(0.0)  # past the end of what was heard (so far)
            expected += len(piece)
            continue
        local = _ncc(piece, heard[lo:hi])
        at = int(np.argmax(local))
        scores.append(float(local[at]))
        expected = lo + at + len(piece)
        if found_start is None:
            found_start = lo + at - index * size
    offset = (start if found_start is None else found_start) / RATE
    if len(scores) < max(1, len(pieces) // 2):
        return Match(offset, 0.0)
    return Match(offset_s=offset, score=float(np.mean(scores)))


def _ncc(probe: Samples, signal: Samples) -> Samples:
    """Normalised cross-correlation of ``probe`` at every offset inside ``signal``."""
    n = len(probe)
    if len(signal) < n:
        return np.zeros(1)
    size = 1 << int(np.ceil(np.log2(len(signal) + n)))
    corr = np.fft.irfft(np.fft.rfft(signal, size) * np.conj(np.fft.rfft(probe, size)), size)
    corr = corr[: len(signal) - n + 1]
    energy = np.concatenate([[0.0], np.cumsum(signal**2)])
    window = energy[n:] - energy[:-n]
    norm = np.sqrt(np.maximum(window, 1e-9)) * np.sqrt(np.sum(probe**2) + 1e-9)
    score = corr / norm
    score[window < 1e3 * n] = 0.0  # near-silent stretches match nothing
    return np.asarray(score, dtype=np.float64)


def rms_dbfs(samples: Samples) -> float:
    if len(samples) == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(samples**2)))
    return float(20 * np.log10(max(rms, 1e-9) / 32768.0))
