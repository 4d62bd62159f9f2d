"""Prompt audio: built offline from nothing; an admin's mp3 or 44.1 kHz stereo wav becomes
what Asterisk plays without transcoding, and a rebuild keeps it."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import pytest

from hotline.errors import SetupError
from prompts.build import audio_path, build, import_prompt, load_catalogue

CATALOGUE = load_catalogue({"name_zh": "XX", "name_en": "XX"})


def tone(path: Path, *args: str) -> Path:
    """A 2-second test recording made with ffmpeg (sine 440 Hz)."""
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=2",
            *args,
            str(path),
        ],
        check=True,
    )
    return path


def formats_ok(prompts: Path, lang: str, prompt_id: str, seconds: float) -> None:
    with wave.open(str(audio_path(prompts, lang, prompt_id)), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        assert abs(w.getnframes() / 8000 - seconds) < 0.1
    with wave.open(str(audio_path(prompts, lang, prompt_id, "wav16")), "rb") as w:
        assert (w.getframerate(), w.getnchannels()) == (16000, 1)
    ulaw = audio_path(prompts, lang, prompt_id, "ulaw").read_bytes()
    assert abs(len(ulaw) / 8000 - seconds) < 0.1  # one byte per sample at 8 kHz


def test_build_from_nothing_makes_every_prompt_in_both_languages(tmp_path: Path) -> None:
    made = build(tmp_path, CATALOGUE, lambda _m: None)
    assert made == len(CATALOGUE) * 2
    with wave.open(str(audio_path(tmp_path, "zh", "greeting")), "rb") as w:
        assert w.getframerate() == 8000 and w.getnframes() > 8000 * 3  # a real sentence
    assert build(tmp_path, CATALOGUE, lambda _m: None) == 0  # idempotent


@pytest.mark.parametrize(
    "args",
    [["-ac", "2", "-b:a", "128k"], ["-ac", "2", "-ar", "44100"]],
    ids=["mp3", "wav-44k-stereo"],
)
def test_import_converts_and_survives_a_rebuild(tmp_path: Path, args: list[str]) -> None:
    suffix = ".mp3" if "-b:a" in args else ".wav"
    source = tone(tmp_path / f"own{suffix}", *args)
    prompts = tmp_path / "prompts"
    build(prompts, CATALOGUE, lambda _m: None)
    seconds = import_prompt(prompts, CATALOGUE, "greeting", "zh", source)
    assert abs(seconds - 2.0) < 0.1
    formats_ok(prompts, "zh", "greeting", 2.0)
    build(prompts, CATALOGUE, lambda _m: None)
    formats_ok(prompts, "zh", "greeting", 2.0)  # not re-synthesised over the import


def test_import_refuses_unknown_prompt_and_non_audio(tmp_path: Path) -> None:
    junk = tmp_path / "notes.wav"
    junk.write_text("not audio")
    with pytest.raises(SetupError, match="no prompt 'gretting'"):
        import_prompt(tmp_path, CATALOGUE, "gretting", "zh", junk)
    with pytest.raises(SetupError, match="not an audio file"):
        import_prompt(tmp_path, CATALOGUE, "greeting", "zh", junk)
