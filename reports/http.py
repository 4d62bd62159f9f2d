"""Call-centre KPIs over the agents' API (R-8), for supervisors.

``GET /api/reports?by=queue&since=ISO&until=ISO``: the calls that started in
[since, until) (either end open when left out; a naive time is UTC), grouped ``by`` one of
``reports.kpis.DIMENSIONS``. Agents get 403: a report shows every agent's figures.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline.api import BadRequest, Identify, json_response, query_instant, supervisor_of
from hotline.config import ReportsConfig
from reports.kpis import DIMENSIONS, kpis
from reports.store import call_facts

DEFAULT_BY = "queue"


class ReportsApi:
    def __init__(self, engine: AsyncEngine, config: ReportsConfig, identify: Identify) -> None:
        self.engine = engine
        self.config = config
        self.identify = identify

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
        since, until = query_instant(query, "since"), query_instant(query, "until")
        if since is not None and until is not None and since >= until:
            raise BadRequest("since: must be before until", field="since")
        calls = await call_facts(self.engine, since, until)
        threshold, tz = self.config.service_level_seconds, self.config.timezone
        # Pure but not free over a month of calls: off the loop that serves live calls.
        rows = await asyncio.to_thread(kpis, calls, by, threshold, tz)
        return json_response(
            {
                "by": by,
                "since": since.isoformat() if since is not None else None,
                "until": until.isoformat() if until is not None else None,
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
                    query("since", "calls started at or after (ISO; naive is UTC)", instant),
                    query("until", "calls started before (ISO; naive is UTC)", instant),
                ],
                "responses": {
                    "200": {
                        "description": "by, since, until, threshold_s, timezone, rows {key: KPIs}"
                    },
                    "400": error,
                    "401": error,
                    "403": error,
                },
            }
        }
    }
