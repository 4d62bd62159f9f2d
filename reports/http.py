"""Call-centre KPIs over the agents' API (R-8), for supervisors.

``GET /api/reports?by=queue&since=ISO&until=ISO``: the calls that started in
[since, until) (a naive time is UTC), grouped ``by`` one of ``reports.kpis.DIMENSIONS``.
Without ``until`` the period ends now, without ``since`` it is the 7 days before ``until``;
longer than 92 days is 400 (``reports.period``). The rows are groups, so their number is
bounded by the period (at most 92 x 24 hours) or the ACD file: they come in one page. The
report is made in the report worker's process (``reports.worker``), off the event loop.
Agents get 403: a report shows every agent's figures.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from hotline.api import BadRequest, Identify, json_response, query_instant, supervisor_of
from hotline.config import ReportsConfig
from reports.grouping import Kpis
from reports.kpis import DIMENSIONS
from reports.period import DEFAULT_DAYS, MAX_DAYS, report_period

# The report's rows for [since, until) grouped by ``by`` (ReportWorker.rows).
Rows = Callable[[datetime, datetime, str], Awaitable[dict[str, Kpis]]]

DEFAULT_BY = "queue"


class ReportsApi:
    def __init__(
        self,
        rows: Rows,
        config: ReportsConfig,
        identify: Identify,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.rows = rows
        self.config = config
        self.identify = identify
        self.clock = clock

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/api/reports", self.report)

    async def report(self, request: web.Request) -> web.Response:
        await supervisor_of(self.identify, request)
        query = request.query
        by = query.get("by", DEFAULT_BY)
        if by not in DIMENSIONS:
            raise BadRequest(
                f"by: one of {', '.join(DIMENSIONS)}, got {by!r}",
                field="by",
                allowed=list(DIMENSIONS),
            )
        since, until = report_period(
            query_instant(query, "since"), query_instant(query, "until"), self.clock()
        )
        rows = await self.rows(since, until, by)
        threshold, tz = self.config.service_level_seconds, self.config.timezone
        return json_response(
            {
                "by": by,
                "since": since.isoformat(),
                "until": until.isoformat(),
                "threshold_s": threshold,
                "timezone": tz,
                "rows": {key: row.as_dict() for key, row in rows.items()},
            }
        )


def openapi_paths() -> dict[str, Any]:
    """This route as OpenAPI 3.1 ``paths``, like ``recordings.http.openapi_paths``."""
    error = {"$ref": "#/components/responses/Error"}
    instant = {"type": "string", "format": "date-time"}

    def query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "in": "query", "description": description, "schema": schema}

    return {
        "/api/reports": {
            "get": {
                "summary": "call-centre KPIs grouped by one dimension (supervisors only)",
                "security": [{"token": []}],
                "parameters": [
                    query(
                        "by",
                        f"the grouping (default {DEFAULT_BY})",
                        {"enum": list(DIMENSIONS)},
                    ),
                    query(
                        "since",
                        "calls started at or after (ISO; naive is UTC; "
                        f"default {DEFAULT_DAYS} days before until)",
                        instant,
                    ),
                    query(
                        "until",
                        "calls started before (ISO; naive is UTC; default now); "
                        f"until - since at most {MAX_DAYS} days",
                        instant,
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "by, since, until, threshold_s, timezone, rows {key: KPIs}"
                    },
                    "400": error,
                    "401": error,
                    "403": error,
                    "503": error,
                },
            }
        }
    }
