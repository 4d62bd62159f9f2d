"""A labelled corpus of caller audio, generated here (numpy, espeak-ng, sox): what the line
classifier is measured on (``bench/classifier``) and what test callers play over SIP.

Every clip is 8 kHz mono, ``CLIP_S`` seconds, labelled with the class the classifier must
give it (``ivr.line.classifier.LineClass`` values). Levels are dBFS: RMS for noise, the
active speech level (frames within 25 dB of the loudest) for speech. Random sources are
seeded, so the corpus is the same on every machine with the same espeak-ng.
"""

from __future__ import annotations

import subprocess
import tempfile
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

RATE = 8000
CLIP_S = 6.0
Samples = npt.NDArray[np.float64]

SENTENCES = {
    "zh": [
        "您好,我家的水管坏了,厨房一直在漏水,请问什么时候可以派人来修?",
        "我想查询一下上个月的账单,为什么比平时多了两百块钱。",
        "喂,你好,我要报装一部电话,地址是人民路一百二十八号。",
        "请帮我转人工服务,我的燃气表好像有问题,闻到一点味道。",
    ],
    "en": [
        "Hello, my water pipe is broken and the kitchen keeps leaking, when can someone come?",
        "I would like to check last month's bill, it is two hundred more than usual.",
        "Hi, I want to have a phone line installed at one twenty eight People's Road.",
        "Could you put me through to an agent, I think my gas meter has a problem.",
    ],
}
VOICES = {"zh": ["cmn", "cmn+f3"], "en": ["en-us", "en-gb+f2"]}


@dataclass(frozen=True)
class Clip:
    name: str
    label: str
    samples: Samples  # float, int16 range

    def write_wav(self, path: Path) -> Path:
        data = np.clip(np.round(self.samples), -32768, 32767).astype("<i2")
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(data.tobytes())
        return path


# --- sources -------------------------------------------------------------------------------
def speak(text: str, voice: str, speed: int = 165) -> Samples:
    """espeak-ng speech, resampled to 8 kHz by sox."""
    with tempfile.TemporaryDirectory() as tmp:
        raw, out = Path(tmp) / "raw.wav", Path(tmp) / "out.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(raw), text],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            ["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(out)],
            check=True,
            capture_output=True,
        )
        with wave.open(str(out), "rb") as w:
            return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)


def fit(samples: Samples, seconds: float = CLIP_S) -> Samples:
    """Loop (with a short pause between turns) or cut to ``seconds``."""
    n = int(seconds * RATE)
    pause = np.zeros(RATE // 4)
    out = samples
    while len(out) < n:
        out = np.concatenate([out, pause, samples])
    return out[:n]


def active_level_db(samples: Samples) -> float:
    frames = samples[: len(samples) // 160 * 160].reshape(-1, 160)
    power = np.mean(frames**2, axis=1) + 1e-9
    active = power[power >= power.max() / 10**2.5]
    return float(10 * np.log10(np.mean(active) / 32768.0**2))


def rms_db(samples: Samples) -> float:
    return float(10 * np.log10(np.mean(samples**2) / 32768.0**2 + 1e-20))


def at_level(samples: Samples, db: float, measure: str = "rms") -> Samples:
    now = active_level_db(samples) if measure == "active" else rms_db(samples)
    return samples * 10 ** ((db - now) / 20)


def coloured_noise(colour: str, seconds: float, seed: int) -> Samples:
    """White, pink (1/f power) or brown (1/f^2) noise, unit RMS."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    white = rng.standard_normal(n)
    if colour == "white":
        shaped = white
    else:
        spectrum = np.fft.rfft(white)
        freqs = np.maximum(np.fft.rfftfreq(n, 1 / RATE), 20.0)  # no DC drift
        spectrum /= freqs ** (0.5 if colour == "pink" else 1.0)
        shaped = np.fft.irfft(spectrum, n)
    return np.asarray(shaped / np.sqrt(np.mean(shaped**2)), dtype=np.float64)


def hum(seconds: float, seed: int) -> Samples:
    """Mains hum: 50 Hz and its harmonics, with a little hiss."""
    t = np.arange(int(seconds * RATE)) / RATE
    tone = np.sin(2 * np.pi * 50 * t) + 0.5 * np.sin(2 * np.pi * 100 * t + 0.3)
    tone += 0.3 * np.sin(2 * np.pi * 150 * t + 1.1)
    return tone + 0.02 * coloured_noise("white", seconds, seed)


def dtmf(digits: str, seed: int, seconds: float = CLIP_S) -> Samples:
    """Key tones (100 ms on, 100 ms off) from a random moment, again every 1.5 s (a
    caller pressing keys into the noise; any 5 s window holds some)."""
    table = {
        "1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "4": (770, 1209),
        "5": (770, 1336), "6": (770, 1477), "7": (852, 1209), "8": (852, 1336),
        "9": (852, 1477), "*": (941, 1209), "0": (941, 1336), "#": (941, 1477),
    }  # fmt: skip
    out = np.zeros(int(seconds * RATE))
    start = int(np.random.default_rng(seed).uniform(0.2, 1.0) * RATE)
    t = np.arange(RATE // 10) / RATE
    for burst in range(start, len(out) - len(digits) * RATE // 5, RATE * 3 // 2):
        for i, digit in enumerate(digits):
            low, high = table[digit]
            at = burst + i * RATE // 5
            out[at : at + len(t)] = np.sin(2 * np.pi * low * t) + np.sin(2 * np.pi * high * t)
    return out * 32768 * 10 ** (-13 / 20)  # each tone at -16 dBFS RMS


class Corpus:
    """Builds the clips; speech is synthesised once per sentence and voice."""

    def __init__(self) -> None:
        self._speech: dict[tuple[str, int, str], Samples] = {}

    def sentence(self, lang: str, index: int, voice: str) -> Samples:
        key = (lang, index, voice)
        if key not in self._speech:
            self._speech[key] = speak(SENTENCES[lang][index], voice)
        return self._speech[key]

    def speech(self, lang: str, index: int, voice: str, level_db: float) -> Samples:
        return at_level(fit(self.sentence(lang, index, voice)), level_db, "active")

    def babble(self, seed: int, talkers: int = 8) -> Samples:
        """A crowd: many sentences in both languages, overlapped at random offsets."""
        rng = np.random.default_rng(seed)
        out = np.zeros(int(CLIP_S * RATE))
        for k in range(talkers):
            lang = "zh" if k % 2 == 0 else "en"
            voice = VOICES[lang][k // 2 % 2]
            one = fit(self.sentence(lang, k // 2 % 4, voice), CLIP_S * 2)
            shift = int(rng.uniform(0, CLIP_S) * RATE)
            out += at_level(one[shift : shift + len(out)], -20.0, "active")
        return out

    def clips(self) -> Iterator[Clip]:
        yield Clip("digital-silence", "silent", np.zeros(int(CLIP_S * RATE)))
        for seed, db in enumerate((-72.0, -68.0)):
            noise = coloured_noise("white", CLIP_S, seed)
            yield Clip(f"comfort-noise{db:+.0f}", "silent", at_level(noise, db))
        for seed, colour in enumerate(("white", "pink", "brown"), start=10):
            for db in (-56.0, -50.0, -36.0, -28.0, -20.0):
                label = "open-line" if db < -44 else "noisy"
                noise = at_level(coloured_noise(colour, CLIP_S, seed), db)
                yield Clip(f"{colour}{db:+.0f}", label, noise)
        for db in (-52.0, -30.0, -20.0):
            label = "open-line" if db < -44 else "noisy"
            yield Clip(f"hum50{db:+.0f}", label, at_level(hum(CLIP_S, 20), db))
        for seed, db in enumerate((-52.0, -32.0, -24.0), start=30):
            label = "open-line" if db < -44 else "noisy"
            yield Clip(f"babble{db:+.0f}", label, at_level(self.babble(seed), db))
        for lang, sentences in SENTENCES.items():
            for index in range(len(sentences)):
                voice = VOICES[lang][index % 2]
                name = f"{lang}{index}-{voice}"
                yield Clip(f"speech-{name}", "speech", self.speech(lang, index, voice, -20.0))
                yield Clip(f"quiet-{name}", "quiet", self.speech(lang, index, voice, -40.0))
                for snr in (20.0, 10.0, 5.0):
                    colour = ("white", "pink", "brown")[index % 3]
                    noise = coloured_noise(colour, CLIP_S, 40 + index)
                    mix = self.speech(lang, index, voice, -20.0) + at_level(noise, -20.0 - snr)
                    yield Clip(f"snr{snr:.0f}-{colour}-{name}", "speech", mix)
        for seed, (colour, db) in enumerate((("pink", -40.0), ("white", -32.0)), start=50):
            noise = at_level(coloured_noise(colour, CLIP_S, seed), db)
            yield Clip(f"dtmf-in-{colour}{db:+.0f}", "key", noise + dtmf("15#", seed))


def talking_wav(folder: Path) -> Path:
    """A caller talking (Mandarin, normal level) as a wav a test caller can send: how a
    caller who says things instead of pressing keys sounds to the hotline."""
    path = folder / "clip-talking.wav"
    if not path.exists():
        samples = Corpus().speech("zh", 1, VOICES["zh"][1], -20.0)
        Clip("talking", "speech", samples).write_wav(path)
    return path
