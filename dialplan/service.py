"""``hotline fallback``: the process that answers the fallback dialplan's FastAGI requests
while the controller is away, with its own /health and /metrics.

It is a process of its own, not a part of the controller, because it must be up exactly
when the controller is not: a controller that crashed, hangs or is being restarted takes
nothing of this with it (``hotline run`` keeps both, each with its own keeper).

It reads the hotline's database and never creates its schema: the controller owns the
schema (``hotline.db.create_schema`` at its start), and two processes creating tables at
once on one SQLite file can fail either. A request whose table is not there yet fails,
and the dialplan serves the caller without its answer (``dialplan.requests``).

Both listeners are on ``fallback.host`` (loopback by default): the PBX, on the host
network, asks FastAGI there, and monitoring asks /health and /metrics.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from dialplan.agi import OUTCOMES, UNKNOWN_REQUEST, FastAgiServer
from dialplan.requests import FallbackRequests
from hotline.config import Config
from hotline.db import make_engine
from hotline.errors import SetupError
from hotline.prometheus import header, unlabelled

log = logging.getLogger(__name__)

STOP_GRACE = 2.0  # seconds for each step of the teardown: a caller's exchange is ~ms
DATABASE_CHECK = 0.5  # /health must answer fast even when the database does not


class FallbackService:
    """The FastAGI server, its requests' chores task and the HTTP listener. ``start``,
    then ``close`` (also after a failed ``start``)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._engine: AsyncEngine | None = None
        self._agi: FastAgiServer | None = None
        self._chores: asyncio.Task[None] | None = None
        self._http: web.AppRunner | None = None
        self.agi_port = 0  # the bound ports (the configured ones, unless those are 0)
        self.http_port = 0

    @property
    def agi(self) -> FastAgiServer | None:
        """The FastAGI server, once started."""
        return self._agi

    @property
    def agi_address(self) -> str:
        return f"{self.config.fallback.host}:{self.agi_port}"

    @property
    def http_address(self) -> str:
        return f"{self.config.fallback.host}:{self.http_port}"

    async def start(self) -> None:
        settings = self.config.fallback
        try:
            self._engine = make_engine(self.config.db_url)
            requests = FallbackRequests(self.config, self._engine)
            self._agi = FastAgiServer(
                requests.handlers, settings.host, settings.port, settings.request_timeout
            )
            try:
                await self._agi.start()
            except OSError as exc:
                raise _cannot_listen("FastAGI", settings.host, settings.port, "port", exc) from None
            self.agi_port = self._agi.port
            self._chores = asyncio.create_task(requests.run(), name="fallback-chores")
            self._chores.add_done_callback(_chores_ended)
            await self._start_http()
        except BaseException:
            await self.close()
            raise

    async def _start_http(self) -> None:
        host, port = self.config.fallback.host, self.config.fallback.http_port
        app = web.Application()
        app.router.add_get("/health", self._get_health)
        app.router.add_get("/metrics", self._get_metrics)
        self._http = web.AppRunner(app, access_log=None, shutdown_timeout=STOP_GRACE)
        await self._http.setup()
        try:
            await web.TCPSite(self._http, host, port).start()
        except OSError as exc:
            raise _cannot_listen("HTTP", host, port, "http_port", exc) from None
        self.http_port = int(self._http.addresses[0][1])

    async def close(self, grace: float = STOP_GRACE) -> None:
        """Stop listening, end every exchange and the chores; bounded by a few ``grace``."""
        if self._http is not None:
            await self._http.cleanup()
            self._http = None
        if self._agi is not None:
            await self._agi.close(grace)
        if self._chores is not None:
            self._chores.cancel()
            # wait(), not await: the task's own cancellation is expected and not ours.
            await asyncio.wait({self._chores}, timeout=grace)
            self._chores = None
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    # --- /health and /metrics -----------------------------------------------------------
    async def health(self) -> dict[str, Any]:
        agi = self._agi
        listening = agi is not None and agi.listening
        database = await self._database()
        chores = self._chores
        return {
            "service": "fallback",
            "status": ("ok" if database["ok"] else "degraded") if listening else "down",
            "agi": {
                "listening": listening,
                "address": self.agi_address,
                "connections": agi.connections if agi else 0,
                "served": agi.served if agi else 0,
            },
            "database": database,
            "chores": "running" if chores is not None and not chores.done() else "stopped",
        }

    async def _database(self) -> dict[str, Any]:
        if self._engine is None:
            return {"ok": False, "error": "not open"}
        try:
            async with asyncio.timeout(DATABASE_CHECK), self._engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except TimeoutError:
            return {"ok": False, "error": f"no answer in {DATABASE_CHECK:g} s"}
        except (SQLAlchemyError, OSError) as exc:
            return {"ok": False, "error": str(exc).splitlines()[0][:200]}
        return {"ok": True}

    def metrics_lines(self) -> list[str]:
        agi = self._agi
        metric = "hotline_fallback_agi_requests_total"
        lines = header(metric, "counter", "FastAGI requests of the fallback dialplan, by outcome.")
        if agi is not None:
            counted = {request for request, _ in agi.outcomes}
            for request in [*agi.requests, *sorted(counted - set(agi.requests))]:
                for outcome in OUTCOMES:
                    value = agi.outcomes[(request, outcome)]
                    if request != UNKNOWN_REQUEST or value:
                        lines.append(f'{metric}{{request="{request}",outcome="{outcome}"}} {value}')
        listening = agi is not None and agi.listening
        return lines + unlabelled(
            [
                ("hotline_fallback_agi_up", "gauge", "1 while FastAGI listens.", int(listening)),
                (
                    "hotline_fallback_agi_connections",
                    "gauge",
                    "FastAGI connections open now.",
                    agi.connections if agi else 0,
                ),
            ]
        )

    async def _get_health(self, _request: web.Request) -> web.Response:
        body = await self.health()
        return web.json_response(body, status=200 if body["agi"]["listening"] else 503)

    async def _get_metrics(self, _request: web.Request) -> web.Response:
        return web.Response(text="\n".join(self.metrics_lines()) + "\n", content_type="text/plain")


async def serve_fallback(
    config: Config, stop: asyncio.Event, on_listening: Callable[[str, str], None]
) -> None:
    """Run the fallback until ``stop`` is set; ``on_listening(agi_address, http_address)``
    once both listeners are up."""
    service = FallbackService(config)
    try:
        await service.start()
        on_listening(service.agi_address, service.http_address)
        await stop.wait()
    finally:
        await service.close()


def _cannot_listen(what: str, host: str, port: int, key: str, exc: OSError) -> SetupError:
    taken = "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc})"
    return SetupError(
        f"port {port}/tcp on {host} (fallback {what}) {taken}; "
        f"stop the other program or set fallback.{key}",
        port=port,
        key=f"fallback.{key}",
    )


def _chores_ended(task: asyncio.Task[None]) -> None:
    """The chores run until cancelled; one that ends otherwise is a fault to log (the
    FastAGI server goes on: answering callers matters more than the chores)."""
    if not task.cancelled() and task.exception() is not None:
        log.error("the fallback's chores failed", exc_info=task.exception())
