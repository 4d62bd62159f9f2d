"""Time from an agent becoming ready to their phone ringing, with a caller waiting:
this controller's ACD against Asterisk's app_queue, configured alike, on the same PBX.

Both rings go over SIP to a phone on the tester that never answers, so each round ends
by itself after the 5 s ring time; "ready" is, for us, ``POST /api/me/state`` by the
agent, and for app_queue the member's state interface (an ARI-controlled device state,
as a presence or pause button would set it) turning NOT_INUSE. The clock starts just
before that request and stops when the tester sees the phone's INVITE.

    python -m bench.ready [--rounds 10]

app_queue is given ``retry = 1`` (its default is 5 s): it tries a waiting caller again
only that often, so that setting is the one that matters; the README gives both.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from hotline.app import ASTERISK_CONF
from hotline.pbx.instance import Instance
from tests.harness.centre import EXTENSIONS, PASSWORD, wait_queued
from tests.harness.cli import hotline
from tests.harness.db import call_for
from tests.harness.desk import Desk
from tests.harness.stack import Stack
from tests.harness.tester import AgentPhone, AriWatcher, Tester

MEMBER_EXTENSION = "7104"
DEVICE = "Stasis:bench-member"


def app_queue_conf(state: Path, retry: int) -> Path:
    """A copy of the PBX's own configuration plus app_queue, a queue like ours and a way
    into it (the configuration is mounted read-only, so no file can be added on top)."""
    folder = state / "asterisk-conf"
    shutil.copytree(ASTERISK_CONF, folder)
    modules = folder / "modules.conf"
    modules.write_text(
        (ASTERISK_CONF / "modules.conf").read_text() + "load = app_queue.so\n", encoding="utf-8"
    )
    queues = folder / "queues.conf"
    queues.write_text(
        "[general]\n\n[benchq]\nstrategy = leastrecent\ntimeout = 5\n"
        f"retry = {retry}\nwrapuptime = 3\nringinuse = no\n"
        f"member => PJSIP/{MEMBER_EXTENSION}@carrier,0,bench,{DEVICE}\n",
        encoding="utf-8",
    )
    extensions = folder / "extensions.conf"
    extensions.write_text(
        (ASTERISK_CONF / "extensions.conf").read_text()
        + "\n[bench-app-queue]\nexten => s,1,Answer()\n same => n,Queue(benchq)\n"
        " same => n,Hangup()\n",
        encoding="utf-8",
    )
    return folder


async def ours(stack: Stack, tester: Tester, rounds: int) -> list[float]:
    for number in ("1001",):
        await hotline(
            "--config", str(stack.config_file), "agent", "password", number, "--password", PASSWORD
        )
    phone = tester.phone(EXTENSIONS["1001"], mode="never")
    base = f"http://127.0.0.1:{stack.config.http.port}"
    desk = await Desk.login(base, "1001", EXTENSIONS["1001"], PASSWORD)
    caller = await tester.call("4008001234", caller_id="13800009999")
    await caller.press("4")  # complaints: 1001 serves it
    record = await call_for(stack, "13800009999", 10)
    await wait_queued(stack, record.id)
    times = []
    try:
        for _ in range(rounds):
            await desk.wait_me(lambda m: m["state"] == "not-ready", 20, "not ready")
            count = len(phone.calls)
            began = time.monotonic()
            await desk.ready()
            await phone.wait_call(count + 1, 10)
            times.append(phone.rang_at[-1] - began)
    finally:
        await caller.hangup()
        await desk.post("/api/logout")
    return times


async def app_queue(stack: Stack, tester: Tester, probe: AriWatcher, rounds: int) -> list[float]:
    phone: AgentPhone = tester.phone(MEMBER_EXTENSION, mode="never")
    ari = probe.rest

    async def member(state: str) -> None:
        await ari.request("PUT", f"/deviceStates/{DEVICE}", {"deviceState": state})

    await member("INUSE")
    caller = "bench-queue-caller"
    await ari.originate("Local/s@bench-app-queue", "probe", caller)
    await probe.wait_for(
        lambda e: e.type == "StasisStart" and e.channel is not None and e.channel.id == caller,
        10,
        "the app_queue caller",
    )
    await asyncio.sleep(2)  # let Queue() take the caller in (no AMI here to watch it)
    times = []
    try:
        for _ in range(rounds):
            count = len(phone.calls)
            began = time.monotonic()
            await member("NOT_INUSE")
            await phone.wait_call(count + 1, 15)
            times.append(phone.rang_at[-1] - began)
            await member("INUSE")
            await _ring_over(tester, phone.calls[-1])
    finally:
        await ari.hangup(caller)
    return times


async def _ring_over(tester: Tester, channel_id: str) -> None:
    await tester.wait_for(
        lambda e: (
            e.type in ("StasisEnd", "ChannelDestroyed")
            and e.channel is not None
            and e.channel.id == channel_id
        ),
        15,
        "the end of the unanswered ring",
    )


def describe(name: str, times: list[float]) -> str:
    ordered = sorted(times)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return (
        f"| {name} | {len(times)} | {statistics.median(times) * 1000:.0f} ms "
        f"| {p90 * 1000:.0f} ms | {max(times) * 1000:.0f} ms |"
    )


async def run(rounds: int, retry: int) -> str:
    state = Path(tempfile.mkdtemp(prefix="hotline-bench-ready-"))
    stack = Stack(state)
    conf = app_queue_conf(state, retry)
    stack.pbx = Instance(
        dataclasses.replace(stack.pbx.spec, conf_dir=conf), stack.podman, lambda _m: None
    )
    await stack.up()
    spec = stack.tester_spec
    tester = Tester(
        spec.ari_url, spec.ari_user, spec.ari_password, spec.recordings_dir, state / "tester-media"
    )
    pbx = stack.pbx.spec
    probe = AriWatcher(pbx.ari_url, pbx.ari_user, pbx.ari_password, "probe")
    await tester.start()
    await probe.start()
    try:
        mine = await ours(stack, tester, rounds)
        print(f"  ours: {len(mine)} rounds", file=sys.stderr)
        theirs = await app_queue(stack, tester, probe, rounds)
        print(f"  app_queue: {len(theirs)} rounds", file=sys.stderr)
    finally:
        await probe.close()
        await tester.close()
        await stack.down()
    ratio = statistics.median(theirs) / statistics.median(mine)
    return "\n".join(
        [
            "| agent ready → phone rings | rounds | median | p90 | max |",
            "|---|---:|---:|---:|---:|",
            describe("this ACD", mine),
            describe(f"app_queue (retry = {retry})", theirs),
            "",
            f"app_queue's median / ours: {ratio:.1f}x",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--retry", type=int, default=1, help="app_queue's retry seconds")
    args = parser.parse_args()
    print(asyncio.run(run(args.rounds, args.retry)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
