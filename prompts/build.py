"""Prompt audio: synthesise the catalogue offline and convert to what Asterisk plays as is.

For each prompt and language we write ``<dir>/<lang>/<id>.wav`` (8 kHz 16-bit mono),
``.ulaw`` (raw G.711 mu-law, picked by Asterisk for ulaw calls without transcoding) and
``.wav16`` (16 kHz, for wideband calls). A manifest remembers the text each file was made
from, so a changed text is re-synthesised and an admin's imported recording is kept.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydub import AudioSegment

from hotline.errors import SetupError

CATALOGUE = Path(__file__).with_name("catalogue.yaml")
LANGUAGES = ("zh", "en")
VOICES = {"zh": "cmn", "en": "en-us"}
TARGET_DBFS = -18.0  # loudness every prompt is normalised to (RMS)
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Prompt:
    id: str
    texts: Mapping[str, str]


def load_catalogue(names: Mapping[str, str], path: Path = CATALOGUE) -> dict[str, Prompt]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    prompts = {}
    for prompt_id, texts in data.items():
        missing = [lang for lang in LANGUAGES if lang not in texts]
        if missing:
            raise SetupError(f"{path}: prompt '{prompt_id}' has no text for {missing}")
        prompts[prompt_id] = Prompt(prompt_id, {k: v.format(**names) for k, v in texts.items()})
    return prompts


def audio_path(prompts_dir: Path, lang: str, prompt_id: str, ext: str = "wav") -> Path:
    return prompts_dir / lang / f"{prompt_id}.{ext}"


def build(prompts_dir: Path, catalogue: Mapping[str, Prompt], say: Callable[[str], None]) -> int:
    """Synthesise every prompt whose audio is missing or stale. Returns how many."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise SetupError(
            "espeak-ng is not installed: run 'make run' as root, or 'apt-get install espeak-ng'."
        )
    manifest = _read_manifest(prompts_dir)
    made = 0
    for prompt in catalogue.values():
        for lang in LANGUAGES:
            key = f"{lang}/{prompt.id}"
            entry = manifest.get(key, {})
            fresh = entry.get("text") == prompt.texts[lang] or entry.get("source") == "import"
            if fresh and audio_path(prompts_dir, lang, prompt.id, "ulaw").exists():
                continue
            audio = _synthesise(espeak, VOICES[lang], prompt.texts[lang])
            write_formats(audio, prompts_dir, lang, prompt.id)
            manifest[key] = {"source": "tts", "text": prompt.texts[lang]}
            made += 1
    _write_manifest(prompts_dir, manifest)
    say(
        f"prompts: {made} synthesised, {len(catalogue) * len(LANGUAGES) - made} up to date "
        f"in {prompts_dir}"
    )
    return made


def import_prompt(
    prompts_dir: Path, catalogue: Mapping[str, Prompt], prompt_id: str, lang: str, source: Path
) -> float:
    """An admin's own recording (mp3, 44.1 kHz stereo wav, ...) replaces a prompt.
    Returns its duration in seconds. ``build`` will not overwrite it."""
    if prompt_id not in catalogue:
        known = ", ".join(sorted(catalogue)[:8])
        raise SetupError(f"no prompt '{prompt_id}' in the catalogue (e.g. {known}, ...)")
    if lang not in LANGUAGES:
        raise SetupError(f"language must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    try:
        with source.open("rb") as data:
            audio = AudioSegment.from_file(data, format=source.suffix.lstrip(".") or None)
    except FileNotFoundError:
        raise SetupError(f"{source}: no such file") from None
    except Exception as exc:  # pydub/ffmpeg report any unreadable input this way
        raise SetupError(f"{source}: not an audio file ffmpeg can read ({exc})") from None
    if len(audio) < 200:
        raise SetupError(f"{source}: too short to be a prompt ({len(audio)} ms)")
    write_formats(audio, prompts_dir, lang, prompt_id)
    manifest = _read_manifest(prompts_dir)
    manifest[f"{lang}/{prompt_id}"] = {"source": "import", "file": source.name}
    _write_manifest(prompts_dir, manifest)
    return len(audio) / 1000


def write_formats(audio: AudioSegment, prompts_dir: Path, lang: str, prompt_id: str) -> None:
    """Normalise and write the .wav, .ulaw and .wav16 files of one prompt."""
    import audioop

    mono = audio.set_channels(1).set_sample_width(2)
    if mono.dBFS != float("-inf"):
        mono = mono.apply_gain(TARGET_DBFS - mono.dBFS)
    narrow = mono.set_frame_rate(8000)
    wide = mono.set_frame_rate(16000)
    target = audio_path(prompts_dir, lang, prompt_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    _export_wav(narrow, target)
    audio_path(prompts_dir, lang, prompt_id, "ulaw").write_bytes(
        audioop.lin2ulaw(narrow.raw_data, 2)
    )
    _export_wav(wide, audio_path(prompts_dir, lang, prompt_id, "wav16"))


def _export_wav(audio: AudioSegment, path: Path) -> None:
    with path.open("wb") as out:  # pydub leaves its own handles open
        audio.export(out, format="wav")


def _synthesise(espeak: str, voice: str, text: str) -> AudioSegment:
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        subprocess.run(
            [espeak, "-v", voice, "-s", "160", "-w", tmp.name, text],
            check=True,
            capture_output=True,
        )
        with open(tmp.name, "rb") as wav:
            return AudioSegment.from_wav(wav)


def _read_manifest(prompts_dir: Path) -> dict[str, dict[str, str]]:
    path = prompts_dir / MANIFEST
    if not path.exists():
        return {}
    data: dict[str, dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _write_manifest(prompts_dir: Path, manifest: Mapping[str, object]) -> None:
    prompts_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True)
    (prompts_dir / MANIFEST).write_text(text, encoding="utf-8")
