"""An admin's own recordings (an mp3, a 44.1 kHz stereo wav) replace prompts and are what
callers hear on the next call (R-2.10)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from ivr.scenario import hearing
from tests.harness.cli import hotline
from tests.harness.stack import Stack
from tests.harness.tester import Tester


def speak(text: str, out: Path, *ffmpeg_args: str) -> Path:
    """An admin's recording: speech, encoded the way their tools would."""
    raw = out.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", "en", "-s", "150", "-w", str(raw), text], check=True)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(raw), *ffmpeg_args, str(out)], check=True
    )
    return out


def as_heard(source: Path, work: Path) -> Path:
    """The source as 8 kHz mono, converted independently of the product's own code."""
    out = work / f"{source.stem}.8k.wav"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(source), "-ac", "1", "-ar", "8000", str(out)],
        check=True,
    )
    return out


async def test_imported_mp3_and_stereo_wav_are_heard_in_a_call(
    controller: Stack, tester: Tester
) -> None:
    work = controller.state / "admin-recordings"
    work.mkdir(exist_ok=True)
    mp3 = await asyncio.to_thread(
        speak, "Repairs. Water, press one. Gas, press two.", work / "repair.mp3", "-ar", "44100"
    )
    wav = await asyncio.to_thread(
        speak, "One moment, connecting you now.", work / "transfer.wav", "-ar", "44100", "-ac", "2"
    )
    synthesised = hearing.read_wav(controller.prompt("repair-menu"))
    config = str(controller.config_file)
    for prompt_id, source in (("repair-menu", mp3), ("transferring", wav)):
        code, out, err = await hotline(
            "--config", config, "prompts", "import", prompt_id, str(source)
        )
        assert code == 0, err
    imported = hearing.read_wav(controller.prompt("repair-menu"))
    assert hearing.find(synthesised, imported).score < hearing.MATCH_THRESHOLD  # replaced

    tester.phone("8000", mode="never")
    caller = await tester.call("4008001234", caller_id="13600136010")
    menu = await caller.expect_heard(controller.prompt("main-menu"), timeout=25)
    await caller.press("2")
    repair = await caller.expect_heard(as_heard(mp3, work), timeout=15, after_s=menu.offset_s)
    await caller.press("1")
    await caller.expect_heard(as_heard(wav, work), timeout=20, after_s=repair.offset_s)
    await caller.hangup()
