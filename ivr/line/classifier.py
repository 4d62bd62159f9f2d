"""What kind of line is this? Deciding from the caller's own audio (R-3.5).

The caller's audio (8 kHz signed-linear, what a snoop with spy=in hears) is cut into
20 ms frames. Each frame gives three numbers:

- its level (RMS, dBFS);
- how voiced it is: the best normalised autocorrelation at a pitch lag of 2.5-12.5 ms
  (80-400 Hz) over the 40 ms ending with the frame, counted only at a real peak;
- whether it is a DTMF tone (Goertzel energies at the eight DTMF frequencies).

A window of frames (the last few seconds) then gets one verdict:

- ``silent``: even the loud frames are below ``silence_db`` (a dead line: digital
  silence, comfort noise);
- ``key``: a DTMF tone in the audio (a key pressed in-band);
- ``speech`` / ``quiet``: syllables, i.e. voiced frames that rise well above the line's
  own floor, often enough; ``quiet`` when even the loud ones stay under ``quiet_db``;
- ``noisy``: steady sound at or above ``noisy_db`` (hiss, hum, wind, a crowd);
- ``open-line``: steady sound below that (a room, a television, nobody speaking).

Steady noise is level-flat or unvoiced; speech is both voiced and modulated by syllables,
even under noise at 5 dB SNR. A crowd (babble) is voiced but its many voices fill each
other's pauses, so it lacks the deep dips of one speaker. Pure numpy, no state besides the
frames: the same code runs live (``LineListener``), offline in the benchmark and in tests.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

RATE = 8000
FRAME = RATE // 50  # 20 ms
FRAME_S = FRAME / RATE
Samples = npt.NDArray[np.float64]

_LAG_MIN, _LAG_MAX = RATE // 400, RATE // 60  # pitch 400 Hz .. 60 Hz
_VOICE_BAND = (200.0, 1000.0)  # where a voice's strong harmonics are: hiss above is ignored
_DTMF_LOW = (697.0, 770.0, 852.0, 941.0)
_DTMF_HIGH = (1209.0, 1336.0, 1477.0, 1633.0)
_FLOOR_DB = -120.0


class LineClass(enum.StrEnum):
    SILENT = "silent"
    OPEN_LINE = "open-line"
    NOISY = "noisy"
    QUIET = "quiet"
    SPEECH = "speech"
    KEY = "key"

    @property
    def caller_present(self) -> bool:
        """The caller is evidently there and usable: speech or a key."""
        return self in (LineClass.SPEECH, LineClass.KEY)


@dataclass(frozen=True)
class Thresholds:
    """Where the classes part; the menu YAML's ``line_check.thresholds`` override these."""

    silence_db: float = -60.0  # loud frames (90th percentile) below this: a dead line
    noisy_db: float = -44.0  # steady sound with a median at or above this: noisy
    quiet_db: float = -32.0  # speech whose loud frames stay under this: too quiet
    syllable_db: float = 6.0  # a voiced frame this far above the floor is a syllable
    syllables: float = 0.17  # share of frames that must be syllables for speech
    dips_db: float = 6.0  # speech dips this far between syllables (90th - 10th pct)


@dataclass(frozen=True)
class Frames:
    """Per-frame features, in time order."""

    level_db: Samples
    voicing: Samples
    tone: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.level_db)

    def tail(self, seconds: float) -> Frames:
        """The frames of the last ``seconds``."""
        return self.last(max(1, round(seconds / FRAME_S)))

    def last(self, n: int) -> Frames:
        """The last ``n`` frames (fewer if there are fewer)."""
        if n <= 0:
            return Frames.empty()
        return Frames(self.level_db[-n:], self.voicing[-n:], self.tone[-n:])

    @staticmethod
    def silence(n: int) -> Frames:
        """``n`` frames of nothing at all (a line that sends no audio)."""
        return Frames(np.full(n, _FLOOR_DB), np.zeros(n), np.zeros(n, dtype=bool))

    @staticmethod
    def empty() -> Frames:
        return Frames(np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool))

    def extend(self, more: Frames) -> Frames:
        return Frames(
            np.concatenate([self.level_db, more.level_db]),
            np.concatenate([self.voicing, more.voicing]),
            np.concatenate([self.tone, more.tone]),
        )


@dataclass(frozen=True)
class Evidence:
    """A verdict and the numbers behind it (stored on the call's timeline)."""

    verdict: LineClass
    seconds: float  # how much audio was judged
    level_db: float  # median frame level
    loud_db: float  # 90th percentile: the loud parts
    floor_db: float  # 10th percentile: the line's floor
    syllables: float  # share of frames that are voiced and well above the floor
    tone_s: float  # seconds of DTMF tone

    def as_dict(self) -> dict[str, str | float]:
        data: dict[str, str | float] = {
            k: round(v, 2) if isinstance(v, float) else str(v) for k, v in asdict(self).items()
        }
        data["verdict"] = self.verdict.value
        return data


def frame_features(samples: Samples, previous: Samples | None = None) -> Frames:
    """Features of every whole 20 ms frame in ``samples``. ``previous`` is the frame
    before the first one (for the 40 ms voicing window); silence when absent."""
    n = len(samples) // FRAME
    if n == 0:
        return Frames.empty()
    frames = samples[: n * FRAME].reshape(n, FRAME)
    before = np.zeros(FRAME) if previous is None or len(previous) != FRAME else previous
    windows = np.concatenate([np.vstack([before, frames[:-1]]), frames], axis=1)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    level = 20 * np.log10(np.maximum(rms, 1e-6) / 32768.0)
    return Frames(np.maximum(level, _FLOOR_DB), _voicing(windows), _tones(windows))


def _voicing(windows: Samples) -> Samples:
    """Peak normalised autocorrelation at pitch lags, per 40 ms window."""
    x = windows - windows.mean(axis=1, keepdims=True)
    size = x.shape[1]
    power = np.abs(np.fft.rfft(x, 2 * size, axis=1)) ** 2
    freqs = np.fft.rfftfreq(2 * size, 1 / RATE)
    power[:, (freqs < _VOICE_BAND[0]) | (freqs > _VOICE_BAND[1])] = 0.0
    acf = np.fft.irfft(power, axis=1)[:, : _LAG_MAX + 2]
    energy = acf[:, :1]
    lags = np.arange(acf.shape[1])
    unbiased = acf * (size / np.maximum(size - lags, 1))
    norm = np.where(energy > 1e-3, unbiased / np.maximum(energy, 1e-9), 0.0)
    inner = norm[:, _LAG_MIN : _LAG_MAX + 1]
    left = norm[:, _LAG_MIN - 1 : _LAG_MAX]
    right = norm[:, _LAG_MIN + 1 : _LAG_MAX + 2]
    peaks = np.where((inner >= left) & (inner >= right), inner, 0.0)
    return np.asarray(np.clip(peaks.max(axis=1), 0.0, 1.0), dtype=np.float64)


def _goertzel(x: Samples, freq: float) -> Samples:
    """Energy at ``freq`` per row, as a share of the row's sum(x**2) for a pure tone.

    An element-wise product, not ``x @ ref``: a matrix product goes to BLAS, whose worker
    threads spin for a while after each call, which at ten reads a second per call costs
    far more CPU than the arithmetic (measured: 1 s per call-minute)."""
    n = x.shape[1]
    phase = 2 * np.pi * freq * np.arange(n) / RATE
    re = (x * np.cos(phase)).sum(axis=1)
    im = (x * np.sin(phase)).sum(axis=1)
    return np.asarray((re**2 + im**2) * 2 / n, dtype=np.float64)


def _tones(windows: Samples) -> npt.NDArray[np.bool_]:
    """A DTMF pair carries most of the window's energy, and is loud enough to be a key."""
    x = windows - windows.mean(axis=1, keepdims=True)
    total = np.sum(x**2, axis=1) + 1e-9
    low = np.stack([_goertzel(x, f) for f in _DTMF_LOW], axis=1)
    high = np.stack([_goertzel(x, f) for f in _DTMF_HIGH], axis=1)
    pair = low.max(axis=1) + high.max(axis=1)
    rms_db = 10 * np.log10(total / x.shape[1] / 32768.0**2)
    both = (low.max(axis=1) > 0.15 * total) & (high.max(axis=1) > 0.15 * total)
    return np.asarray((pair > 0.6 * total) & both & (rms_db > -40.0))


def classify(frames: Frames, limits: Thresholds = Thresholds()) -> Evidence:
    """One verdict for a window of frames."""
    seconds = len(frames) * FRAME_S
    if len(frames) == 0:
        return Evidence(LineClass.SILENT, 0.0, _FLOOR_DB, _FLOOR_DB, _FLOOR_DB, 0.0, 0.0)
    level = frames.level_db
    loud, median, floor = (float(np.percentile(level, p)) for p in (90, 50, 10))
    tone_s = _longest_run(frames.tone) * FRAME_S
    syllable = (frames.voicing >= 0.5) & (level >= floor + limits.syllable_db)
    syllables = float(np.mean(syllable))

    def verdict(kind: LineClass) -> Evidence:
        return Evidence(kind, seconds, median, loud, floor, syllables, tone_s)

    if tone_s >= 0.04:
        return verdict(LineClass.KEY)
    if loud < limits.silence_db:
        return verdict(LineClass.SILENT)
    if syllables >= limits.syllables and loud - floor >= limits.dips_db:
        speech_db = float(np.percentile(level[syllable], 90))
        return verdict(LineClass.SPEECH if speech_db >= limits.quiet_db else LineClass.QUIET)
    return verdict(LineClass.NOISY if median >= limits.noisy_db else LineClass.OPEN_LINE)


def _longest_run(flags: npt.NDArray[np.bool_]) -> int:
    best = run = 0
    for flag in flags:
        run = run + 1 if flag else 0
        best = max(best, run)
    return best


def classify_samples(samples: Samples, limits: Thresholds = Thresholds()) -> Evidence:
    return classify(frame_features(samples), limits)
