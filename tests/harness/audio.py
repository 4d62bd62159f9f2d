"""Audio checks on what a caller heard: "was this prompt heard, and when", energy.

Matching is normalised cross-correlation (FFT) of the prompt's own 8 kHz audio against
the tester's recording; a G.711 round trip keeps the score of a real match near 1.0 while
different speech scores well under 0.5.
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
    with wave.open(str(path), "rb") as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)


@dataclass(frozen=True)
class Match:
    offset_s: float  # where in the heard audio the template starts
    score: float


def find(template: Samples, heard: Samples) -> Match:
    """Best alignment of ``template`` inside ``heard`` (heard may start mid-template)."""
    template = _trim_silence(template)
    n = len(template)
    # Pad in front so a recording that began a little late still aligns.
    padded = np.concatenate([np.zeros(n), heard])
    if len(padded) < n:
        return Match(0.0, 0.0)
    size = 1 << int(np.ceil(np.log2(len(padded) + n)))
    corr = np.fft.irfft(np.fft.rfft(padded, size) * np.conj(np.fft.rfft(template, size)), size)
    corr = corr[: len(padded) - n + 1]
    energy = np.concatenate([[0.0], np.cumsum(padded**2)])
    window = energy[n:] - energy[:-n]
    norm = np.sqrt(np.maximum(window, 1e-9)) * np.sqrt(np.sum(template**2))
    score = corr / norm
    score[window < 1e3 * n] = 0.0  # ignore near-silent windows
    best = int(np.argmax(score))
    return Match(offset_s=(best - n) / RATE, score=float(score[best]))


def rms_dbfs(samples: Samples) -> float:
    if len(samples) == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(samples**2)))
    return float(20 * np.log10(max(rms, 1e-9) / 32768.0))


def _trim_silence(samples: Samples, threshold: float = 200.0) -> Samples:
    loud = np.flatnonzero(np.abs(samples) > threshold)
    return samples[loud[0] : loud[-1] + 1] if len(loud) else samples
