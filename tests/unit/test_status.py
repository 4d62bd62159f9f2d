"""``hotline status`` (hotline.status): which layer serves, from the two /health bodies and
the PBX's state; and how each process's health reads on one line."""

from __future__ import annotations

from typing import Any

import pytest

from hotline.config import Config
from hotline.status import (
    CONTROLLER,
    FALLBACK,
    NOTHING,
    STATIC,
    controller_summary,
    fallback_health_url,
    fallback_summary,
    render,
    serving_layer,
)
from hotline.watchman import local_url

UP: dict[str, Any] = {"status": "ok", "ari": {"connected": True}, "calls": 3, "reasons": []}
ARI_DOWN: dict[str, Any] = {"status": "down", "ari": {"connected": False}, "calls": 1}
FALLBACK_UP: dict[str, Any] = {
    "service": "fallback",
    "status": "ok",
    "agi": {"listening": True, "address": "127.0.0.1:4573", "connections": 2, "served": 17},
    "database": {"ok": True},
}
FALLBACK_DEAF: dict[str, Any] = {**FALLBACK_UP, "status": "down", "agi": {"listening": False}}


@pytest.mark.parametrize(
    ("controller", "fallback", "pbx", "layer"),
    [
        (UP, FALLBACK_UP, "running", CONTROLLER),
        # A controller whose ARI is down still answers: its calls are its own (the
        # watchman counts it so too), so it is the layer, not the fallback.
        (ARI_DOWN, FALLBACK_UP, "running", CONTROLLER),
        (None, FALLBACK_UP, "running", FALLBACK),
        (None, FALLBACK_DEAF, "running", STATIC),  # /health answers, FastAGI does not
        (None, None, "running", STATIC),
        (UP, FALLBACK_UP, "exited", NOTHING),  # no PBX, no call reaches anyone
        (None, None, "absent", NOTHING),
    ],
)
def test_the_serving_layer_is_the_highest_one_that_answers(
    controller: dict[str, Any] | None, fallback: dict[str, Any] | None, pbx: str, layer: str
) -> None:
    assert serving_layer(controller, fallback, pbx) == layer


def test_summaries_say_what_each_health_says() -> None:
    assert controller_summary(UP) == "ok, ARI connected, 3 calls"
    degraded = {**UP, "status": "degraded", "reasons": ["database locked"]}
    assert controller_summary(degraded) == "degraded, ARI connected, 3 calls (database locked)"
    assert controller_summary(ARI_DOWN) == "down, ARI down, 1 calls"
    assert controller_summary(None) == "not answering"
    assert fallback_summary(FALLBACK_UP) == (
        "ok, FastAGI 127.0.0.1:4573 listening, 2 connections, 17 served, database ok"
    )
    no_db = {**FALLBACK_UP, "status": "degraded", "database": {"ok": False, "error": "locked"}}
    assert fallback_summary(no_db).endswith("17 served, database: locked")
    assert fallback_summary(None) == "not answering"


def test_render_puts_the_layer_first() -> None:
    status = {
        "serving": FALLBACK,
        "pbx": {"container": "hotline-pbx", "state": "running"},
        "controller": {"url": "http://127.0.0.1:8080/health", "health": None},
        "fallback": {"url": "http://127.0.0.1:8082/health", "health": FALLBACK_UP},
    }
    lines = render(status).splitlines()
    assert lines[0] == f"serving:    {FALLBACK}"
    assert lines[2] == "controller: not answering  (http://127.0.0.1:8080/health)"
    assert lines[3].startswith("fallback:   ok, FastAGI 127.0.0.1:4573 listening")


def test_urls_reach_a_listener_on_any_address_by_loopback() -> None:
    assert fallback_health_url(Config()) == "http://127.0.0.1:8082/health"
    assert local_url("0.0.0.0", 8082, "/health") == "http://127.0.0.1:8082/health"
    assert local_url("::", 8082, "/metrics") == "http://[::1]:8082/metrics"
    assert local_url("192.0.2.7", 1, "/") == "http://192.0.2.7:1/"
