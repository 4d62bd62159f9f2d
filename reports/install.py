"""Reports' entry into the controller: the KPI report API and Prometheus ``/metrics``."""

from __future__ import annotations

from acd.install import ACD, IDENTIFY
from hotline.wiring import BackgroundTask, Feature, Wiring
from recordings.install import RECORDER
from reports import cli
from reports.http import ReportsApi, openapi_paths
from reports.live import LiveKpis
from reports.metrics import MetricsEndpoint, agents_by_state, waiting_by_queue
from reports.tap import watch_call_events
from reports.worker import ReportWorker


def install(wiring: Wiring) -> None:
    config, engine = wiring.config, wiring.engine
    acd, recorder = wiring.need(ACD), wiring.need(RECORDER)
    threshold, tz = config.reports.service_level_seconds, config.reports.timezone
    # /metrics reads counters that follow the call log; they read today once at start-up.
    today = LiveKpis(threshold, tz)
    watch_call_events(engine, today.written)

    async def rebuild_today() -> None:
        await today.rebuild(engine)

    wiring.startup.append(rebuild_today)
    worker = ReportWorker(config.db_url, threshold, tz)
    wiring.tasks.append(BackgroundTask("report-worker", worker.run))
    metrics = MetricsEndpoint(
        queues=today.by_queue,
        agents=lambda: agents_by_state(acd),
        waiting=lambda: waiting_by_queue(acd),
        recorder=lambda: recorder.metrics,
        more=lambda: [line for source in wiring.metrics for line in source()],
    )
    reports = ReportsApi(worker.rows, config.reports, wiring.need(IDENTIFY))
    wiring.routes += [reports.routes, metrics.routes]
    wiring.openapi.update(openapi_paths())


FEATURE = Feature("reports", install=install, commands=cli.add_commands)
