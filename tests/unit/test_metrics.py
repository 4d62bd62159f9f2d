"""/metrics: the exact exposition text, label escaping, figures that do not apply left out,
and the endpoint serving it from its callables."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from acd.agents import Activity, AgentSession, Status
from recordings.recorder import RecorderMetrics
from reports.kpis import Kpis
from reports.metrics import (
    AGENT_STATES,
    MetricsEndpoint,
    agents_by_state,
    escape_label,
    render_metrics,
    waiting_by_queue,
)
from tests.unit.http_fixtures import serving

SALES = Kpis(
    threshold=20,
    offered=4,
    answered=3,
    abandoned=1,
    callbacks=0,
    service_level=0.5,
    asa=12.5,
    aht=180.0,
    satisfaction=None,  # nothing rated: no sample
)
RECORDER = RecorderMetrics(started=7, stored=5, failures=Counter({"store": 2}), backlog=1)

EXPECTED = """\
# HELP hotline_queue_offered Queue visits today.
# TYPE hotline_queue_offered gauge
hotline_queue_offered{queue="sales"} 4
# HELP hotline_queue_answered Queue visits answered today.
# TYPE hotline_queue_answered gauge
hotline_queue_answered{queue="sales"} 3
# HELP hotline_queue_abandoned Queue visits abandoned today (caller hung up waiting).
# TYPE hotline_queue_abandoned gauge
hotline_queue_abandoned{queue="sales"} 1
# HELP hotline_queue_callbacks Queue visits that became callbacks today.
# TYPE hotline_queue_callbacks gauge
hotline_queue_callbacks{queue="sales"} 0
# HELP hotline_queue_service_level Share of today's visits answered within the threshold, \
callbacks excluded (0-1).
# TYPE hotline_queue_service_level gauge
hotline_queue_service_level{queue="sales"} 0.5
# HELP hotline_queue_asa_seconds Average speed of answer today, seconds.
# TYPE hotline_queue_asa_seconds gauge
hotline_queue_asa_seconds{queue="sales"} 12.5
# HELP hotline_queue_aht_seconds Average handle time today, seconds.
# TYPE hotline_queue_aht_seconds gauge
hotline_queue_aht_seconds{queue="sales"} 180.0
# HELP hotline_queue_satisfaction Share of today's rated surveys answered satisfied (0-1).
# TYPE hotline_queue_satisfaction gauge
# HELP hotline_agents Agents by state.
# TYPE hotline_agents gauge
hotline_agents{state="on-call"} 1
hotline_agents{state="ready"} 2
# HELP hotline_waiting_calls Calls waiting in each queue now.
# TYPE hotline_waiting_calls gauge
hotline_waiting_calls{queue="sales"} 3
hotline_waiting_calls{queue="support"} 0
# HELP hotline_recordings_started_total Whole-call recordings started.
# TYPE hotline_recordings_started_total counter
hotline_recordings_started_total 7
# HELP hotline_recordings_stored_total Whole-call recordings stored.
# TYPE hotline_recordings_stored_total counter
hotline_recordings_stored_total 5
# HELP hotline_recording_failures_total Recording failures by stage.
# TYPE hotline_recording_failures_total counter
hotline_recording_failures_total{stage="start"} 0
hotline_recording_failures_total{stage="store"} 2
# HELP hotline_recordings_backlog Recordings waiting on the PBX to be stored.
# TYPE hotline_recordings_backlog gauge
hotline_recordings_backlog 1
"""


def test_the_exposition_text() -> None:
    text = render_metrics(
        {"sales": SALES},
        {"ready": 2, "on-call": 1},
        {"support": 0, "sales": 3},
        RECORDER,
    )
    assert text == EXPECTED


def test_label_values_are_escaped() -> None:
    assert escape_label('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    text = render_metrics({'q"1\\\n': SALES}, {}, {"电话": 1}, RecorderMetrics())
    assert 'hotline_queue_offered{queue="q\\"1\\\\\\n"} 4' in text.splitlines()
    assert 'hotline_waiting_calls{queue="电话"} 1' in text.splitlines()


def test_figures_that_do_not_apply_have_no_sample() -> None:
    idle = Kpis(threshold=20)  # nothing offered: no rates, no averages
    lines = render_metrics({"night": idle}, {}, {}, RecorderMetrics()).splitlines()
    samples = [line for line in lines if not line.startswith("#")]
    assert [s for s in samples if s.startswith("hotline_queue_")] == [
        'hotline_queue_offered{queue="night"} 0',
        'hotline_queue_answered{queue="night"} 0',
        'hotline_queue_abandoned{queue="night"} 0',
        'hotline_queue_callbacks{queue="night"} 0',
    ]
    assert not any("None" in line or "nan" in line.lower() for line in lines)
    # A family without samples still says what it is.
    assert "# TYPE hotline_queue_asa_seconds gauge" in lines


def fake_acd() -> Any:
    agents = {"1001": SimpleNamespace(), "1002": SimpleNamespace(), "1003": SimpleNamespace()}
    sessions = {
        "1001": AgentSession("1001", status=Status.READY),
        "1002": AgentSession("1002", status=Status.READY, activity=Activity.ON_CALL),
        "1003": AgentSession("1003"),
    }
    waiting = {
        "c1": SimpleNamespace(call=SimpleNamespace(queue="sales")),
        "c2": SimpleNamespace(call=SimpleNamespace(queue="sales")),
        "c3": SimpleNamespace(call=SimpleNamespace(queue="gone")),
    }
    return SimpleNamespace(
        setup=SimpleNamespace(agents=agents, queues={"sales": None, "support": None}),
        session=sessions.__getitem__,
        waiting=waiting,
    )


def test_counts_from_the_acd() -> None:
    acd = fake_acd()
    assert agents_by_state(acd) == {
        **dict.fromkeys(AGENT_STATES, 0),
        "ready": 1,
        "on-call": 1,
        "logged-out": 1,
    }
    assert waiting_by_queue(acd) == {"sales": 2, "support": 0, "gone": 1}


async def test_the_endpoint_serves_what_its_callables_give() -> None:
    async def queues() -> Mapping[str, Kpis]:
        return {"sales": SALES}

    endpoint = MetricsEndpoint(
        queues=queues,
        agents=lambda: {"ready": 2, "on-call": 1},
        waiting=lambda: {"support": 0, "sales": 3},
        recorder=lambda: RECORDER,
    )
    async with serving(endpoint.routes) as client:
        response = await client.get("/metrics")  # no token
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert await response.text() == EXPECTED
