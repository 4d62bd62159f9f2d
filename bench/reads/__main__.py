"""Heavy reads off the call path: key -> next prompt, heard by callers walking the menu,
with and without a month of history being read.

The database is given a month of history first (``bench.reads.history``: finished calls
of 25 events each, over a million call events), then the stack starts as the tests start
it. In each round 20 callers dial in side by side and walk the menu: at the main menu
they press 2 and wait to hear the repair menu begin, there they press * and wait to hear
the main menu begin, and so on. Rounds alternate: quiet, then loaded (``/metrics``
scraped every second, and month reports (``by=day`` over 30 days) requested one after
another by a supervisor for the whole round), twice over.

Key -> prompt is measured at the caller: from just before the tester sends the DTMF to
the start of the next prompt in what the caller hears. The caller's recording is placed
on the monotonic clock by sampling its length as it grows (its earliest start seen: a
file being written is never ahead of real time), and the prompt's start is found in it
by its audio (the tests' matcher).

    flock /tmp/hotline-sip.lock .venv/bin/python -m bench.reads [--calls 20] [--presses 6]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import aiohttp

from bench.reads.history import EVENTS_PER_CALL, fill
from bench.ready.__main__ import describe  # the same table row: n, median, p90, max
from tests.harness.centre import EXTENSIONS, PASSWORD
from tests.harness.cli import hotline
from tests.harness.desk import Desk
from tests.harness.stack import Stack
from tests.harness.tester import Caller, Tester
from tests.integration.test_kpis import opening

HISTORY_DAYS = 30
RATIO_LIMIT = 1.2


class Anchor:
    """Where a caller's recording started on the monotonic clock, from its growing length."""

    def __init__(self, caller: Caller) -> None:
        self.caller = caller
        self.start = float("inf")

    async def follow(self) -> None:
        while True:
            heard = self.caller.position()
            if heard > 0:
                self.start = min(self.start, time.monotonic() - heard)
            await asyncio.sleep(0.02)

    def at(self, offset_s: float) -> float:
        return self.start + offset_s


@dataclass
class Load:
    """What the loaded rounds asked of the controller, and how long it took."""

    scrapes: list[float] = field(default_factory=list)
    reports: list[float] = field(default_factory=list)


async def walk(
    tester: Tester, caller_id: str, presses: int, menus: dict[str, Path], main: Path
) -> list[float]:
    """One caller's walk: each key -> next prompt, in seconds."""
    caller = await tester.call("4008001234", caller_id=caller_id)
    anchor = Anchor(caller)
    following = asyncio.create_task(anchor.follow())
    samples = []
    try:
        await caller.expect_heard(main, 20)
        for n in range(presses):
            key = "2" if n % 2 == 0 else "*"
            mark = caller.position()
            pressed = time.monotonic()
            await caller.press(key)
            heard = await caller.expect_heard(menus[key], 10, after_s=mark)
            samples.append(anchor.at(heard.offset_s) - pressed)
    finally:
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
        await caller.hangup()
    return samples


async def scrape(base: str, load: Load, stop: asyncio.Event) -> None:
    async with aiohttp.ClientSession() as http:
        while not stop.is_set():
            began = time.monotonic()
            async with http.get(f"{base}/metrics") as response:
                assert response.status == 200, response.status
                await response.read()
            load.scrapes.append(time.monotonic() - began)
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - began)))


async def month_reports(supervisor: Desk, load: Load, stop: asyncio.Event) -> None:
    """Month reports one after another until the round ends; the last one is waited for,
    so none runs on into the next (quiet) round."""
    while not stop.is_set():
        since = quote((datetime.now(UTC) - timedelta(days=HISTORY_DAYS)).isoformat())
        began = time.monotonic()
        body = await supervisor.get(f"/api/reports?by=day&since={since}")
        assert len(body["rows"]) >= HISTORY_DAYS, sorted(body["rows"])
        load.reports.append(time.monotonic() - began)


async def one_round(
    stack: Stack,
    tester: Tester,
    args: argparse.Namespace,
    menus: dict[str, Path],
    main: Path,
    supervisor: Desk | None,
    load: Load,
    number: int,
) -> list[float]:
    stop = asyncio.Event()
    loaders = []
    if supervisor is not None:
        base = f"http://127.0.0.1:{stack.config.http.port}"
        loaders = [
            asyncio.create_task(scrape(base, load, stop)),
            asyncio.create_task(month_reports(supervisor, load, stop)),
        ]
        await asyncio.sleep(1.0)  # the first report is under way before the callers dial
    try:
        walks = await asyncio.gather(
            *(
                walk(tester, f"1390000{number}{n:03d}", args.presses, menus, main)
                for n in range(args.calls)
            )
        )
    finally:
        stop.set()
        await asyncio.gather(*loaders)
    return [s for w in walks for s in w]


async def run(args: argparse.Namespace) -> tuple[str, float]:
    state = Path(tempfile.mkdtemp(prefix="hotline-bench-reads-"))
    stack = Stack(state)
    now = datetime.now(UTC)
    began = time.monotonic()
    events = await fill(
        stack.config.state_dir / "hotline.db",
        args.history_calls,
        now - timedelta(days=HISTORY_DAYS),
        now,
    )
    print(f"  history: {events} call events in {time.monotonic() - began:.0f} s", file=sys.stderr)
    await stack.up()  # builds the prompts
    menus = {
        "2": opening(stack.prompt("repair-menu"), 1.0, state),
        "*": opening(stack.prompt("main-menu"), 1.0, state),
    }
    spec = stack.tester_spec
    tester = Tester(
        spec.ari_url, spec.ari_user, spec.ari_password, spec.recordings_dir, state / "tester-media"
    )
    await tester.start()
    load = Load()
    quiet: list[float] = []
    loaded: list[float] = []
    try:
        code, _out, err = await hotline(
            "--config", str(stack.config_file), "agent", "password", "9001", "--password", PASSWORD
        )
        assert code == 0, err
        base = f"http://127.0.0.1:{stack.config.http.port}"
        supervisor = await Desk.login(base, "9001", EXTENSIONS["9001"], PASSWORD)
        for number, under_load in enumerate([False, True, False, True]):
            desk = supervisor if under_load else None
            samples = await one_round(stack, tester, args, menus, menus["*"], desk, load, number)
            (loaded if under_load else quiet).extend(samples)
            print(
                f"  round {number + 1} ({'loaded' if under_load else 'quiet'}): "
                f"median {statistics.median(samples) * 1000:.0f} ms",
                file=sys.stderr,
            )
    finally:
        await tester.close()
        await stack.down()
    ratio = statistics.median(loaded) / statistics.median(quiet)
    scrape_p90 = sorted(load.scrapes)[int(0.9 * (len(load.scrapes) - 1))]
    table = "\n".join(
        [
            f"History: {events} call events ({args.history_calls} calls of {EVENTS_PER_CALL}, "
            f"{HISTORY_DAYS} days); {args.calls} callers at once, {args.presses} keys each, "
            "two rounds of each kind.",
            "",
            "| key → next prompt, at the caller | keys | median | p90 | max |",
            "|---|---:|---:|---:|---:|",
            describe("quiet", quiet),
            describe("/metrics every 1 s + month reports back to back", loaded),
            "",
            f"Under load: {len(load.reports)} month reports (median "
            f"{statistics.median(load.reports):.1f} s each), {len(load.scrapes)} scrapes "
            f"(p90 {scrape_p90 * 1000:.0f} ms).",
            f"Loaded / quiet median: {ratio:.2f}x (limit {RATIO_LIMIT}x)",
        ]
    )
    return table, ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20, help="callers at once")
    parser.add_argument("--presses", type=int, default=6, help="keys each caller presses")
    parser.add_argument(
        "--history-calls", type=int, default=42_000, help="calls in the month of history"
    )
    args = parser.parse_args()
    table, ratio = asyncio.run(run(args))
    print(table)
    return 0 if ratio <= RATIO_LIMIT else 1


if __name__ == "__main__":
    raise SystemExit(main())
