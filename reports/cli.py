"""``hotline report``: call-centre KPIs from the call log."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from hotline.api import BadRequest
from hotline.commands import Subparsers, instant, on_database, say
from hotline.config import Config
from reports.grouping import Kpis
from reports.kpis import DIMENSIONS
from reports.period import DEFAULT_DAYS, MAX_DAYS, report_period

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine


def add_commands(sub: Subparsers) -> None:
    report = sub.add_parser("report", help="call-centre KPIs from the call log")
    report.add_argument(
        "--by", default="queue", choices=DIMENSIONS, help="the grouping (default: queue)"
    )
    report.add_argument(
        "--since",
        type=instant,
        help=f"calls started at or after (ISO; naive is UTC; default {DEFAULT_DAYS} days "
        "before --until)",
    )
    report.add_argument(
        "--until",
        type=instant,
        help=f"calls started before (ISO; naive is UTC; default now); at most {MAX_DAYS} days",
    )
    report.add_argument(
        "--charts", type=Path, metavar="DIR", help="also write calls-by-hour.png and queues.png"
    )
    report.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace, config: Config, environ: Mapping[str, str]) -> int:
    from reports.store import report_rows
    from reports.tables import render

    try:
        since, until = report_period(args.since, args.until, datetime.now(UTC))
    except BadRequest as exc:
        print(f"hotline: {exc.message.replace('since:', '--since')}", file=sys.stderr)
        return 1

    async def schema(_engine: AsyncEngine) -> None:
        pass  # a database made by an older version grows what the report reads

    on_database(config, schema)
    threshold, tz = config.reports.service_level_seconds, config.reports.timezone

    def rows(by: str) -> dict[str, Kpis]:
        # Each grouping streams the period once: a month is never held in memory.
        return report_rows(config.db_url, since, until, by, threshold, tz)

    print(render(rows(args.by), args.by), end="")
    if args.charts is not None:
        # matplotlib loads only when charts are asked for.
        from reports.charts import write_charts

        per_hour, per_queue = rows("hour"), rows("queue")
        for path in write_charts(per_hour, per_queue, args.charts):
            say(f"chart written to {path}")
    return 0
