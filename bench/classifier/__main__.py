"""The line classifier's benchmark: the labelled corpus (tests/harness/corpus.py) through
the classifier offline and over real SIP; a confusion matrix and the CPU it costs.

    .venv/bin/python -m bench.classifier          # offline (seconds)
    .venv/bin/python -m bench.classifier --sip    # also over SIP (a few minutes)

Over SIP, each clip is sent by a tester caller into the running hotline (PBX and
controller started as by the tests), and the verdict is the one the controller stores
when the main menu's key wait ends: the audio went through G.711, RTP and the snoop.
CPU is reported per call-minute, and as a ratio of one core (real-time factor).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from hotline.calls.timeline import Kind
from ivr.line.classifier import FRAME, Frames, LineClass, Thresholds, classify, frame_features
from tests.harness.cli import hotline
from tests.harness.corpus import RATE, Clip, Corpus
from tests.harness.db import call_for, events_of
from tests.harness.stack import Stack
from tests.harness.tester import Tester

LABELS = [c.value for c in LineClass]
CHUNK = RATE // 10  # the listener reads every 100 ms while watching for speech
BATCH = 8  # concurrent calls over SIP
HOLD_S = 30.0  # how long the calls of a cost sample are held


def confusion(results: Iterable[tuple[str, str]]) -> str:
    """A markdown confusion matrix: rows are the labels, columns the verdicts."""
    counts = Counter(results)
    head = "| label \\ verdict | " + " | ".join(LABELS) + " | correct |"
    rule = "|---" * (len(LABELS) + 2) + "|"
    rows = [head, rule]
    for label in LABELS:
        n = sum(counts[(label, v)] for v in LABELS)
        if n == 0:
            continue
        cells = " | ".join(str(counts[(label, v)] or "") for v in LABELS)
        rows.append(f"| {label} | {cells} | {counts[(label, label)]}/{n} |")
    return "\n".join(rows)


def summary(name: str, results: Sequence[tuple[str, str]]) -> str:
    right = sum(label == verdict for label, verdict in results)
    speech_lost = sum(
        label == "speech" and verdict in ("silent", "noisy") for label, verdict in results
    )
    return (
        f"{name}: {right}/{len(results)} correct ({100 * right / len(results):.1f} %), "
        f"speech taken for silent or noisy: {speech_lost}"
    )


# --- offline ------------------------------------------------------------------------------
def offline(clips: Sequence[Clip]) -> list[tuple[str, str]]:
    return [(c.label, classify(frame_features(c.samples)).verdict.value) for c in clips]


def cpu_per_call_minute(clips: Sequence[Clip]) -> float:
    """CPU seconds the controller spends on one minute of a caller's audio, done as the
    listener does it: features of each 100 ms read, and (the worst case, a sequence
    watching for speech) a verdict on the last 1.5 s after every read."""
    audio = np.concatenate([c.samples for c in clips])[: 60 * RATE]
    limits = Thresholds()
    started = time.process_time()
    frames, previous = Frames.empty(), None
    for start in range(0, len(audio), CHUNK):
        piece = audio[start : start + CHUNK]
        frames = frames.extend(frame_features(piece, previous))
        previous = piece[-FRAME:]
        classify(frames.tail(1.5), limits)
    classify(frames.tail(5.0), limits)  # the judgement at the end of a key wait
    return time.process_time() - started


# --- over SIP -----------------------------------------------------------------------------
async def over_sip(
    clips: Sequence[Clip],
) -> tuple[list[tuple[str, str]], float, float, tuple[tuple[float, float], ...]]:
    """Returns the results, the PBX's CPU seconds and the call-minutes they served, and
    (PBX, controller) CPU seconds per call-minute without and with listening."""
    state = Path(tempfile.mkdtemp(prefix="hotline-bench-"))
    stack = Stack(state)
    await stack.up()
    spec = stack.tester_spec
    tester = Tester(
        spec.ari_url, spec.ari_user, spec.ari_password, spec.recordings_dir, state / "tester-media"
    )
    await tester.start()
    media = state / "corpus"
    media.mkdir()
    results: list[tuple[str, str]] = []
    call_seconds = 0.0
    asterisk = await _asterisk_pid(stack)
    cpu_before = _cpu(asterisk)

    async def one(index: int, clip: Clip) -> None:
        nonlocal call_seconds
        wav = clip.write_wav(media / f"bench-{index}.wav")
        caller_id = f"1370000{index:04d}"
        caller = await tester.call("4008001234", caller_id=caller_id)
        began = time.monotonic()
        try:
            await caller.start_sound(wav)
            record = await call_for(stack, caller_id, timeout=10)
            deadline = time.monotonic() + 60
            verdict = ""
            while not verdict and time.monotonic() < deadline:
                events = await events_of(stack, record.id)
                judged = [e.data for e in events if e.kind == Kind.LINE]
                verdict = str(judged[0]["verdict"]) if judged else ""
                await asyncio.sleep(0.5)
            results.append((clip.label, verdict or "none"))
        finally:
            await caller.hangup()
            call_seconds += time.monotonic() - began

    async def held(index: int, wav: Path) -> None:
        """A call held for ``HOLD_S`` with the caller talking (a cost sample)."""
        caller = await tester.call("4008001234", caller_id=f"1360000{index:04d}")
        try:
            await caller.start_sound(wav)
            await asyncio.sleep(HOLD_S)  # the measured thing is time itself: calls held
        finally:
            await caller.hangup()

    async def cost(listening: bool) -> tuple[float, float]:
        """PBX and controller CPU seconds per call-minute, BATCH calls held HOLD_S each."""
        text = stack.menu_file.read_text(encoding="utf-8")
        nodes = "all" if listening else "[]"
        stack.menu_file.write_text(
            re.sub(r"(?m)^  nodes: \S+", f"  nodes: {nodes}", text), encoding="utf-8"
        )
        await hotline("--config", str(stack.config_file), "menu", "reload", timeout=30)
        wav = clips[0].write_wav(media / "cost.wav")
        controller = stack.controller.proc.pid if stack.controller.proc else 0
        pbx_before, controller_before = _cpu(asterisk), _cpu(controller)
        await asyncio.gather(*(held(i + 100 * listening, wav) for i in range(BATCH)))
        minutes = BATCH * HOLD_S / 60
        pbx = (_cpu(asterisk) - pbx_before) / minutes
        return pbx, (_cpu(controller) - controller_before) / minutes

    try:
        for first in range(0, len(clips), BATCH):
            batch = clips[first : first + BATCH]
            await asyncio.gather(*(one(first + i, c) for i, c in enumerate(batch)))
            print(f"  over SIP: {len(results)}/{len(clips)}", file=sys.stderr)
        cpu = _cpu(asterisk) - cpu_before
        costs = (await cost(listening=False), await cost(listening=True))
    finally:
        await tester.close()
        await stack.down()
    return results, cpu, call_seconds / 60, costs


async def _asterisk_pid(stack: Stack) -> int:
    """The PBX container's Asterisk, as a process on this machine."""
    inspect = await stack.podman.run(
        "inspect", "--format", "{{.State.Pid}}", stack.pbx.spec.container
    )
    return int(inspect.out.strip())


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.classifier")
    parser.add_argument("--sip", action="store_true", help="also send the corpus over SIP")
    args = parser.parse_args()
    clips = list(Corpus().clips())
    print(f"corpus: {len(clips)} clips of 6 s: {dict(Counter(c.label for c in clips))}\n")
    results = offline(clips)
    print(summary("offline", results))
    print(confusion(results) + "\n")
    cpu = min(cpu_per_call_minute(clips) for _ in range(3))
    print(
        f"controller CPU per call-minute (listening, worst case): {cpu * 1000:.0f} ms "
        f"= {100 * cpu / 60:.2f} % of one core per call"
    )
    if args.sip:
        sip, pbx_cpu, minutes, (deaf, listening) = asyncio.run(over_sip(clips))
        print("\n" + summary("over SIP", sip))
        print(confusion(sip) + "\n")
        print(
            f"PBX CPU per call-minute (everything: SIP, RTP, prompts, snoop, recording): "
            f"{pbx_cpu / minutes:.2f} s = {100 * pbx_cpu / minutes / 60:.2f} % of one core "
            f"per call ({minutes:.1f} call-minutes)"
        )
        for who, index in (("PBX", 0), ("controller", 1)):
            print(
                f"{who} CPU per call-minute, {BATCH} calls held {HOLD_S:g} s: "
                f"{deaf[index]:.2f} s without listening, {listening[index]:.2f} s with "
                f"(+{100 * (listening[index] - deaf[index]) / 60:.2f} % of one core per call)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
