"""The line classifier on the generated corpus (the same numbers as bench/classifier),
and the listener's bookkeeping of audio that arrives late or not at all."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from ivr.line.classifier import (
    FRAME,
    Frames,
    LineClass,
    classify,
    classify_samples,
    frame_features,
)
from tests.harness.corpus import Clip, Corpus


@pytest.fixture(scope="module")
def corpus() -> list[Clip]:
    return list(Corpus().clips())


def test_corpus_covers_every_class_and_condition(corpus: list[Clip]) -> None:
    labels = Counter(c.label for c in corpus)
    assert set(labels) == {c.value for c in LineClass}
    names = " ".join(c.name for c in corpus)
    for needed in (
        "digital-silence", "comfort-noise-72", "white-", "pink-", "brown-", "hum50",
        "babble", "speech-zh", "speech-en", "quiet-zh", "quiet-en", "snr20", "snr10",
        "snr5", "dtmf-in",
    ):  # fmt: skip
        assert needed in names


def test_corpus_accuracy_and_speech_is_never_silent_or_noisy(corpus: list[Clip]) -> None:
    verdicts = {c.name: classify_samples(c.samples).verdict.value for c in corpus}
    right = sum(verdicts[c.name] == c.label for c in corpus)
    assert right / len(corpus) >= 0.95, {
        c.name: verdicts[c.name] for c in corpus if verdicts[c.name] != c.label
    }
    speech = [c for c in corpus if c.label == "speech"]
    assert not [c.name for c in speech if verdicts[c.name] in ("silent", "noisy")]


def test_levels_in_the_evidence_are_the_clip_levels(corpus: list[Clip]) -> None:
    by_name = {c.name: c for c in corpus}
    white = classify_samples(by_name["white-36"].samples)
    assert white.verdict is LineClass.NOISY and abs(white.level_db + 36) < 1
    comfort = classify_samples(by_name["comfort-noise-72"].samples)
    assert comfort.verdict is LineClass.SILENT and abs(comfort.level_db + 72) < 1
    quiet = classify_samples(by_name["quiet-zh0-cmn"].samples)
    assert quiet.verdict is LineClass.QUIET and quiet.syllables > 0.17


def test_features_in_pieces_equal_features_at_once(corpus: list[Clip]) -> None:
    samples = next(c for c in corpus if c.name.startswith("snr10")).samples
    whole = frame_features(samples)
    frames, previous = Frames.empty(), None
    for start in range(0, len(samples), 7 * FRAME):  # as the listener reads: in chunks
        piece = samples[start : start + 7 * FRAME]
        frames = frames.extend(frame_features(piece, previous))
        previous = piece[-FRAME:]
    assert np.allclose(frames.level_db, whole.level_db)
    assert np.allclose(frames.voicing, whole.voicing)
    assert classify(frames).verdict == classify(whole).verdict == LineClass.SPEECH


def test_a_short_window_of_speech_is_speech_and_nothing_at_all_is_silent(
    corpus: list[Clip],
) -> None:
    speech = next(c for c in corpus if c.name.startswith("speech-en0")).samples
    frames = frame_features(speech)
    assert classify(frames.tail(1.5)).verdict is LineClass.SPEECH
    assert classify(Frames.empty()).verdict is LineClass.SILENT
