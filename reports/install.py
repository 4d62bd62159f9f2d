"""Reports' entry into the controller: the KPI report API and Prometheus ``/metrics``."""

from __future__ import annotations

import datetime as dt

from acd.install import ACD, IDENTIFY
from hotline.wiring import Feature, Wiring
from recordings.install import RECORDER
from reports import cli
from reports.http import ReportsApi, openapi_paths
from reports.metrics import MetricsEndpoint, agents_by_state, waiting_by_queue
from reports.store import today_by_queue


def install(wiring: Wiring) -> None:
    config, engine = wiring.config, wiring.engine
    acd, recorder = wiring.need(ACD), wiring.need(RECORDER)
    metrics = MetricsEndpoint(
        queues=lambda: today_by_queue(engine, config.reports, dt.datetime.now(dt.UTC)),
        agents=lambda: agents_by_state(acd),
        waiting=lambda: waiting_by_queue(acd),
        recorder=lambda: recorder.metrics,
        more=lambda: [line for source in wiring.metrics for line in source()],
    )
    reports = ReportsApi(engine, config.reports, wiring.need(IDENTIFY))
    wiring.routes += [reports.routes, metrics.routes]
    wiring.openapi.update(openapi_paths())


FEATURE = Feature("reports", install=install, commands=cli.add_commands)
