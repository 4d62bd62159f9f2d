"""The streamed report (report_rows, the worker's and the CLI's) gives what the KPIs give
over the calls read whole (call_facts), for every grouping: the kinds it leaves undecoded
change nothing, and a conversation still going ends at the call's last event of any kind."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from reports.kpis import DIMENSIONS, kpis
from reports.store import call_facts, report_rows
from tests.unit.test_reports_store import DAY, Event, S, abandoned, add_call, answered
from tests.unit.test_reports_store import engine as engine  # the fixture: a file database


async def test_the_streamed_report_is_the_report_over_whole_calls(engine: AsyncEngine) -> None:
    await add_call(engine, "c1", DAY, answered("sales", 5))
    await add_call(engine, "c2", DAY + timedelta(hours=1), abandoned("sales"), "4008002")
    await add_call(engine, "quiet", DAY + timedelta(hours=2), [])
    talking: list[Event] = [
        (1 * S, "waiting", {"queue": "repair", "region": "beijing"}),
        (3 * S, "answered", {"agent": "1002", "queue": "repair", "wait": 2.0}),
        (40 * S, "prompt", {"ids": ["x"]}),  # not read by the KPIs, but the talk runs to it
    ]
    await add_call(engine, "talking", DAY + timedelta(hours=3), talking)
    since, until = DAY - timedelta(days=1), DAY + timedelta(days=1)
    whole = await call_facts(engine, since, until)
    url = str(engine.url)
    for by in DIMENSIONS:
        streamed = report_rows(url, since, until, by, 20, "Asia/Shanghai")
        assert streamed == kpis(whole, by, 20, "Asia/Shanghai"), by
    repair = report_rows(url, since, until, "queue", 20, "UTC")["repair"]
    assert repair.talk == 37.0
