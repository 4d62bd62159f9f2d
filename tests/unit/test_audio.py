"""The harness's prompt matcher finds a prompt where it is and nowhere else."""

from __future__ import annotations

import numpy as np

from ivr.scenario import hearing as audio


def chirp(seconds: float, f0: float, f1: float) -> audio.Samples:
    t = np.arange(int(seconds * audio.RATE)) / audio.RATE
    return 8000 * np.sin(2 * np.pi * (f0 + (f1 - f0) * t / seconds / 2) * t)


def test_finds_template_at_its_offset_in_noise() -> None:
    rng = np.random.default_rng(1)
    template = chirp(1.0, 300, 1500)
    heard = rng.normal(0, 300, 5 * audio.RATE)
    heard[16000 : 16000 + len(template)] += template
    match = audio.find(template, heard)
    assert abs(match.offset_s - 2.0) < 0.01
    assert match.score > 0.9


def test_different_sound_does_not_match() -> None:
    rng = np.random.default_rng(2)
    heard = np.concatenate([rng.normal(0, 300, 8000), chirp(1.0, 1500, 300)])
    assert audio.find(chirp(1.0, 300, 1500), heard).score < audio.MATCH_THRESHOLD


def test_recording_that_began_late_still_matches() -> None:
    template = chirp(1.0, 300, 1500)
    heard = np.concatenate([template[800:], np.zeros(8000)])  # first 0.1 s missed
    match = audio.find(template, heard)
    assert match.score > audio.MATCH_THRESHOLD
    assert abs(match.offset_s + 0.1) < 0.01


def test_silence_scores_zero() -> None:
    assert audio.find(chirp(1.0, 300, 1500), np.zeros(4 * audio.RATE)).score == 0.0
    assert audio.rms_dbfs(np.zeros(10)) < -100


def test_a_slipped_frame_in_the_middle_still_matches() -> None:
    rng = np.random.default_rng(3)
    template = rng.normal(0, 3000, 6 * audio.RATE)  # noise-like, decorrelates on any shift
    slipped = np.concatenate([template[:24000], np.zeros(160), template[24000:]])
    heard = np.concatenate([np.zeros(8000), slipped, np.zeros(8000)])
    match = audio.find(template, heard)
    assert match.score > 0.95
    assert abs(match.offset_s - 1.0) < 0.01


def test_the_earliest_of_two_plays_is_found() -> None:
    template = chirp(1.0, 300, 1500)
    heard = np.concatenate([np.zeros(8000), template, np.zeros(8000), template])
    assert abs(audio.find(template, heard).offset_s - 1.0) < 0.01
