"""``/metrics``: the hotline in Prometheus text exposition format 0.0.4.

``render_metrics`` is pure: today's per-queue KPIs, agents by state, waiting calls per
queue and the recorder's counters in, the exposition text out. ``MetricsEndpoint`` serves
it, gathering its inputs through the callables it is given, so neither needs a PBX.

Every metric is a gauge except the recorder's ``*_total`` counters. A figure that does
not apply (a rate with nothing to divide by, see ``reports.kpis``) has no sample.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from acd.agents import Activity, Status
from reports.kpis import Kpis

if TYPE_CHECKING:
    from acd.engine import Acd
    from recordings.recorder import RecorderMetrics

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Every state an agent can show (AgentSession.state), so each has a series, 0 or not.
AGENT_STATES = tuple(
    [s.value for s in Status] + [a.value for a in Activity if a is not Activity.IDLE]
)
# The recorder's failure stages, so a failure's first occurrence is a rise from 0.
FAILURE_STAGES = ("start", "store")

Sample = tuple[Mapping[str, str], float | int | None]


@dataclass(frozen=True)
class _QueueGauge:
    name: str
    help: str
    value: Callable[[Kpis], float | int | None]


QUEUE_GAUGES = (
    _QueueGauge("offered", "Queue visits today.", lambda k: k.offered),
    _QueueGauge("answered", "Queue visits answered today.", lambda k: k.answered),
    _QueueGauge(
        "abandoned", "Queue visits abandoned today (caller hung up waiting).", lambda k: k.abandoned
    ),
    _QueueGauge("callbacks", "Queue visits that became callbacks today.", lambda k: k.callbacks),
    _QueueGauge(
        "service_level",
        "Share of today's visits answered within the threshold, callbacks excluded (0-1).",
        lambda k: k.service_level,
    ),
    _QueueGauge("asa_seconds", "Average speed of answer today, seconds.", lambda k: k.asa),
    _QueueGauge("aht_seconds", "Average handle time today, seconds.", lambda k: k.aht),
    _QueueGauge(
        "satisfaction",
        "Share of today's rated surveys answered satisfied (0-1).",
        lambda k: k.satisfaction,
    ),
)


def render_metrics(
    queues: Mapping[str, Kpis],
    agents: Mapping[str, int],
    waiting: Mapping[str, int],
    recorder: RecorderMetrics,
) -> str:
    """The exposition text: ``queues`` are today's KPIs by queue, ``agents`` counts by
    state, ``waiting`` the calls waiting per queue."""
    lines: list[str] = []
    for gauge in QUEUE_GAUGES:
        samples = [({"queue": q}, gauge.value(kpis)) for q, kpis in sorted(queues.items())]
        _family(lines, f"hotline_queue_{gauge.name}", "gauge", gauge.help, samples)
    _family(
        lines,
        "hotline_agents",
        "gauge",
        "Agents by state.",
        [({"state": state}, n) for state, n in sorted(agents.items())],
    )
    _family(
        lines,
        "hotline_waiting_calls",
        "gauge",
        "Calls waiting in each queue now.",
        [({"queue": queue}, n) for queue, n in sorted(waiting.items())],
    )
    _family(
        lines,
        "hotline_recordings_started_total",
        "counter",
        "Whole-call recordings started.",
        [({}, recorder.started)],
    )
    _family(
        lines,
        "hotline_recordings_stored_total",
        "counter",
        "Whole-call recordings stored.",
        [({}, recorder.stored)],
    )
    failures = {stage: 0 for stage in FAILURE_STAGES} | dict(recorder.failures)
    _family(
        lines,
        "hotline_recording_failures_total",
        "counter",
        "Recording failures by stage.",
        [({"stage": stage}, n) for stage, n in sorted(failures.items())],
    )
    _family(
        lines,
        "hotline_recordings_backlog",
        "gauge",
        "Recordings waiting on the PBX to be stored.",
        [({}, recorder.backlog)],
    )
    return "\n".join(lines) + "\n"


def agents_by_state(acd: Acd) -> dict[str, int]:
    """How many of the ACD file's agents show each state (as /api/live shows them)."""
    counts = dict.fromkeys(AGENT_STATES, 0)
    for number in acd.setup.agents:
        state = acd.session(number).state
        counts[state] = counts.get(state, 0) + 1
    return counts


def waiting_by_queue(acd: Acd) -> dict[str, int]:
    """The calls waiting in each queue of the ACD file (and in any queue a waiting call
    still names after the file dropped it)."""
    counts = dict.fromkeys(acd.setup.queues, 0)
    for waiter in acd.waiting.values():
        counts[waiter.call.queue] = counts.get(waiter.call.queue, 0) + 1
    return counts


class MetricsEndpoint:
    """``GET /metrics`` for Prometheus.

    It asks for no token, as scrapers expect: it lives on the controller's HTTP listener,
    which binds to loopback (``http.host`` 127.0.0.1) by default. Bind it wider only where
    a firewall or proxy decides who may scrape: the figures are business data.
    """

    def __init__(
        self,
        queues: Callable[[], Awaitable[Mapping[str, Kpis]]],
        agents: Callable[[], Mapping[str, int]],
        waiting: Callable[[], Mapping[str, int]],
        recorder: Callable[[], RecorderMetrics],
        more: Callable[[], Iterable[str]] = lambda: (),
    ) -> None:
        self.more = more  # other parts' lines (the task supervisor's), already formatted
        self.queues = queues
        self.agents = agents
        self.waiting = waiting
        self.recorder = recorder

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/metrics", self.metrics)

    async def metrics(self, _request: web.Request) -> web.Response:
        text = render_metrics(await self.queues(), self.agents(), self.waiting(), self.recorder())
        text += "".join(f"{line}\n" for line in self.more())
        return web.Response(body=text.encode("utf-8"), headers={"Content-Type": CONTENT_TYPE})


# --- the text format -----------------------------------------------------------------------


def _family(lines: list[str], name: str, kind: str, help: str, samples: Iterable[Sample]) -> None:
    lines.append(f"# HELP {name} {_escape_help(help)}")
    lines.append(f"# TYPE {name} {kind}")
    for labels, value in samples:
        if value is not None:
            lines.append(f"{name}{_labels(labels)} {_value(value)}")


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{escape_label(v)}"' for k, v in labels.items()) + "}"


def escape_label(value: str) -> str:
    """A label value as the text format wants it: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _value(value: float | int) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))
