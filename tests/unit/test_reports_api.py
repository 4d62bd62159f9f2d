"""The reports API: supervisors only, checked parameters, and KPI rows over the call log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from hotline.config import ReportsConfig
from hotline.db import create_schema, make_engine
from reports.http import ReportsApi, openapi_paths
from reports.kpis import DIMENSIONS
from reports.worker import ReportWorker
from tests.unit.http_fixtures import AGENT, SUPERVISOR, Client, get_json, identify, serving
from tests.unit.test_reports_store import DAY, abandoned, add_call, answered

NOW = DAY + timedelta(hours=5)  # the API's clock: the calls are all in the last 7 days


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}")
    await create_schema(engine)
    await add_call(engine, "c1", DAY, answered("sales", 5))
    await add_call(engine, "c2", DAY + timedelta(hours=1), abandoned("sales"))
    await add_call(engine, "c3", DAY + timedelta(hours=2), answered("support", 30), "4008002")
    config = ReportsConfig(service_level_seconds=10, timezone="UTC")
    worker = ReportWorker(str(engine.url), config.service_level_seconds, config.timezone)
    api = ReportsApi(worker.rows, config, identify, clock=lambda: NOW)
    try:
        async with serving(api.routes) as client:
            yield client
    finally:
        worker.close()
        await engine.dispose()


async def test_agents_may_not_see_reports(client: Client) -> None:
    body = await get_json(client, "/api/reports", AGENT, status=403)
    assert body["error_id"] == "forbidden"
    await get_json(client, "/api/reports", {}, status=401)


async def test_a_report_by_queue(client: Client) -> None:
    # No period asked: the 7 days up to now (no longer the whole history, which made a
    # report without a range read every call ever logged).
    body = await get_json(client, "/api/reports", SUPERVISOR)
    assert body["by"] == "queue"
    assert (body["since"], body["until"]) == (
        (NOW - timedelta(days=7)).isoformat(),
        NOW.isoformat(),
    )
    assert body["threshold_s"] == 10 and body["timezone"] == "UTC"
    assert sorted(body["rows"]) == ["sales", "support"]
    sales = body["rows"]["sales"]
    assert (sales["offered"], sales["answered"], sales["abandoned"]) == (2, 1, 1)
    assert sales["service_level"] == 0.5 and sales["asa"] == 5.0
    assert body["rows"]["support"]["service_level"] == 0.0  # 30 s > the 10 s threshold


async def test_a_report_over_a_period_and_other_groupings(client: Client) -> None:
    since = (DAY + timedelta(minutes=30)).isoformat().replace("+", "%2B")
    until = (DAY + timedelta(hours=2)).replace(tzinfo=None).isoformat()  # naive: UTC
    body = await get_json(client, f"/api/reports?by=hour&since={since}&until={until}", SUPERVISOR)
    assert body["since"] == "2026-11-22T01:30:00+00:00"
    assert body["until"] == "2026-11-22T03:00:00+00:00"
    assert list(body["rows"]) == ["2026-11-22 02"]  # only c2, in UTC hours
    assert body["rows"]["2026-11-22 02"]["abandoned"] == 1

    body = await get_json(client, "/api/reports?by=all", SUPERVISOR)
    assert body["rows"]["all"]["calls"] == 3 and body["rows"]["all"]["offered"] == 3


async def test_bad_parameters_are_400_naming_the_field(client: Client) -> None:
    body = await get_json(client, "/api/reports?by=weather", SUPERVISOR, status=400)
    assert body["error_id"] == "bad-request"
    assert body["details"] == {"field": "by", "allowed": list(DIMENSIONS)}
    assert all(name in body["message"] for name in DIMENSIONS)
    for name in ("since", "until"):
        body = await get_json(client, f"/api/reports?{name}=yesterday", SUPERVISOR, status=400)
        assert body["details"]["field"] == name
    same = "2026-11-22T01:00:00"
    body = await get_json(client, f"/api/reports?since={same}&until={same}", SUPERVISOR, status=400)
    assert body["details"]["field"] == "since"


async def test_a_period_longer_than_92_days_is_refused_with_the_reason(client: Client) -> None:
    until = "until=2026-11-22T03:00:00"  # c1 and c2, in sales
    body = await get_json(client, f"/api/reports?since=2026-08-22T03:00:00&{until}", SUPERVISOR)
    assert body["rows"]["sales"]["offered"] == 2  # 92 days exactly: served
    over = f"/api/reports?since=2026-08-22T02:59:59&{until}"
    body = await get_json(client, over, SUPERVISOR, status=400)
    assert body["error_id"] == "bad-request"
    assert body["details"] == {"field": "since", "max_days": 92}
    assert "at most 92 days" in body["message"]
    # An until alone: the 7 days before it, never the history before that.
    body = await get_json(client, "/api/reports?by=all&until=2026-11-22T02:30:00", SUPERVISOR)
    assert body["since"] == "2026-11-15T02:30:00+00:00" and body["rows"]["all"]["calls"] == 2


def test_the_openapi_paths_describe_the_route() -> None:
    operation = openapi_paths()["/api/reports"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"by", "since", "until"}
    assert "403" in operation["responses"]
