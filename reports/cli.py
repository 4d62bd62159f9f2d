"""``hotline report``: call-centre KPIs from the call log."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from hotline.commands import Subparsers, instant, on_database, say
from hotline.config import Config
from reports.kpis import DIMENSIONS, CallFacts, kpis

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine


def add_commands(sub: Subparsers) -> None:
    report = sub.add_parser("report", help="call-centre KPIs from the call log")
    report.add_argument(
        "--by", default="queue", choices=DIMENSIONS, help="the grouping (default: queue)"
    )
    report.add_argument(
        "--since", type=instant, help="calls started at or after (ISO; naive is UTC)"
    )
    report.add_argument("--until", type=instant, help="calls started before (ISO; naive is UTC)")
    report.add_argument(
        "--charts", type=Path, metavar="DIR", help="also write calls-by-hour.png and queues.png"
    )
    report.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace, config: Config, environ: Mapping[str, str]) -> int:
    from reports.store import call_facts
    from reports.tables import render

    if args.since is not None and args.until is not None and args.since >= args.until:
        print("hotline: --since must be before --until", file=sys.stderr)
        return 1

    async def run(engine: AsyncEngine) -> list[CallFacts]:
        return await call_facts(engine, args.since, args.until)

    calls = on_database(config, run)
    threshold, tz = config.reports.service_level_seconds, config.reports.timezone
    print(render(kpis(calls, args.by, threshold, tz), args.by), end="")
    if args.charts is not None:
        # matplotlib loads only when charts are asked for.
        from reports.charts import write_charts

        per_hour = kpis(calls, "hour", threshold, tz)
        per_queue = kpis(calls, "queue", threshold, tz)
        for path in write_charts(per_hour, per_queue, args.charts):
            say(f"chart written to {path}")
    return 0
