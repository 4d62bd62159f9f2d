"""``hotline report``: the period's KPIs from the call log, the same period rules as the
API (a default, a longest period refused with the reason)."""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from hotline.config import Config, ReportsConfig
from hotline.db import create_schema, make_engine
from reports.cli import cmd_report
from tests.unit.test_reports_store import DAY, abandoned, add_call, answered


def report(config: Config, **options: object) -> int:
    args = argparse.Namespace(by="queue", since=None, until=None, charts=None)
    for name, value in options.items():
        setattr(args, name, value)
    return cmd_report(args, config, {})


async def history(config: Config) -> None:
    engine = make_engine(config.db_url)
    await create_schema(engine)
    await add_call(engine, "c1", DAY, answered("sales", 5))
    await add_call(engine, "c2", DAY + timedelta(hours=1), abandoned("repair"))
    await add_call(engine, "old", DAY - timedelta(days=30), answered("old-queue", 5))
    await engine.dispose()


def test_a_period_is_reported_and_one_over_92_days_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = replace(Config(), state_dir=tmp_path, reports=ReportsConfig(timezone="UTC"))
    asyncio.run(history(config))
    assert report(config, since=DAY - timedelta(days=1), until=DAY + timedelta(days=1)) == 0
    printed = capsys.readouterr().out
    assert "sales" in printed and "repair" in printed and "old-queue" not in printed

    until = DAY + timedelta(days=1)
    assert report(config, since=until - timedelta(days=92, seconds=1), until=until) == 1
    err = capsys.readouterr().err
    assert "at most 92 days" in err and "--since" not in err.split("at most")[1]
