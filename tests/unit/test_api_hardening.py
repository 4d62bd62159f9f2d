"""The agents' API refuses what it should, says nothing of the PBX's insides, keeps tokens
out of the access log, bounds password guessing, and ends tokens that should end."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from acd.logins import LoginGuard, TooManyLogins
from acd.store import AcdStore
from hotline.ari.errors import AriNotFound
from hotline.http import AccessLog
from tests.unit.journey_fixtures import Client, journey, serving

PASSWORD = "desk-pass-1"


async def login(client: Client, agent: str, password: str = PASSWORD, **more: Any) -> Any:
    body = {"agent": agent, "extension": "7101", "password": password, **more}
    return await client.post("/api/login", json=body)


async def test_a_login_is_refused_for_bad_numbers_and_non_ascii_digits(tmp_path: Path) -> None:
    async with journey(tmp_path) as trip, serving(trip) as client:
        await AcdStore(trip.wiring.engine).set_password("1001", PASSWORD)
        for more, field in (
            ({"lifetime": "forever"}, "lifetime"),
            ({"lifetime": True}, "lifetime"),
            ({"extension": "７１０１"}, "extension"),  # full-width digits are digits to Python
            ({"extension": "٧١٠١"}, "extension"),
        ):
            response = await login(client, "1001", **more)
            body = await response.json()
            assert (response.status, body["details"]) == (400, {"field": field}), more
        assert (await login(client, "1001")).status == 200


async def test_a_not_ready_reason_is_bounded(tmp_path: Path) -> None:
    async with journey(tmp_path) as trip, serving(trip) as client:
        await AcdStore(trip.wiring.engine).set_password("1001", PASSWORD)
        token = (await (await login(client, "1001")).json())["token"]
        headers = {"Authorization": f"Bearer {token}"}
        long = {"state": "not-ready", "reason": "午" * 101}
        response = await client.post("/api/me/state", json=long, headers=headers)
        assert (response.status, (await response.json())["details"]) == (400, {"field": "reason"})
        fine = {"state": "not-ready", "reason": "午餐"}
        assert (await client.post("/api/me/state", json=fine, headers=headers)).status == 200


async def test_a_password_change_ends_the_other_tokens(tmp_path: Path) -> None:
    async with journey(tmp_path) as trip, serving(trip) as client:
        await AcdStore(trip.wiring.engine).set_password("1001", PASSWORD)
        here = (await (await login(client, "1001")).json())["token"]
        elsewhere = (await (await login(client, "1001")).json())["token"]
        change = {"old": PASSWORD, "new": "another-pass-2"}
        mine = {"Authorization": f"Bearer {here}"}
        assert (await client.post("/api/me/password", json=change, headers=mine)).status == 200
        assert (await client.get("/api/me", headers=mine)).status == 200
        other = {"Authorization": f"Bearer {elsewhere}"}
        assert (await client.get("/api/me", headers=other)).status == 401


async def test_a_token_in_the_query_counts_only_for_the_websocket(tmp_path: Path) -> None:
    async with journey(tmp_path) as trip, serving(trip) as client:
        await AcdStore(trip.wiring.engine).set_password("1001", PASSWORD)
        token = (await (await login(client, "1001")).json())["token"]
        assert (await client.get(f"/api/me?token={token}")).status == 401
        socket = await client.ws_connect(f"/api/events?token={token}")
        assert (await socket.receive_json(timeout=3))["type"] == "hello"
        await socket.close()


async def test_the_websocket_closes_when_its_token_expires(tmp_path: Path) -> None:
    async with journey(tmp_path) as trip, serving(trip) as client:
        issued = await AcdStore(trip.wiring.engine).issue_token("1001", "agent", 1.0)
        socket = await client.ws_connect(f"/api/events?token={issued.token}")
        assert (await socket.receive_json(timeout=3))["type"] == "hello"
        closing = await socket.receive(timeout=5)  # no event comes: the expiry closes it
        assert closing.type.name in ("CLOSE", "CLOSED", "CLOSING")
        assert socket.close_code == 1008


async def test_ari_errors_reach_the_asker_without_the_pbx_insides(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def fails(_request: web.Request) -> web.Response:
        raise AriNotFound("GET /channels/leg-5f2a/variable: Channel not found", path="/x")

    def boom(app: web.Application) -> None:
        app.router.add_get("/api/boom", fails)

    async with journey(tmp_path) as trip:
        trip.wiring.routes.append(boom)
        async with serving(trip) as client:
            with caplog.at_level(logging.WARNING):
                response = await client.get("/api/boom")
            body = await response.json()
    assert (response.status, body["error_id"]) == (502, "pbx-error")
    assert "leg-5f2a" not in str(body) and "/channels" not in str(body)
    assert "leg-5f2a" in caplog.text  # the log keeps it


def test_the_access_log_hides_tokens(caplog: pytest.LogCaptureFixture) -> None:
    request = make_mocked_request("GET", "/api/events?token=s3cret-token&x=1")
    logger = logging.getLogger("test.access")
    with caplog.at_level(logging.INFO, "test.access"):
        AccessLog(logger, "").log(request, web.Response(status=101), 0.01)
    assert "s3cret-token" not in caplog.text
    assert "/api/events?token=***&x=1" in caplog.text


def test_wrong_logins_lock_the_agent_then_the_source_out_for_a_while() -> None:
    now = [0.0]
    guard = LoginGuard(agent_failures=3, source_failures=5, lockout=60, clock=lambda: now[0])
    for _ in range(3):
        guard.check("1001", "10.0.0.9")
        guard.failed("1001", "10.0.0.9")
    with pytest.raises(TooManyLogins) as locked:
        guard.check("1001", "10.0.0.8")  # the agent, from anywhere
    assert locked.value.details == {"retry_after": 60}
    guard.check("1002", "10.0.0.8")  # another agent from elsewhere: fine
    for number in ("1002", "1003"):
        guard.failed(number, "10.0.0.9")  # five from this source in all
    with pytest.raises(TooManyLogins):
        guard.check("1004", "10.0.0.9")
    now[0] = 61.0
    guard.check("1001", "10.0.0.9")  # the lockout is over


async def test_the_api_answers_429_to_a_guesser(tmp_path: Path) -> None:
    async with journey(tmp_path) as trip, serving(trip) as client:
        await AcdStore(trip.wiring.engine).set_password("1001", PASSWORD)
        statuses = [(await login(client, "1001", "guess")).status for _ in range(6)]
        assert statuses == [401] * 5 + [429]
        right = await login(client, "1001")  # even the right password, for now
        assert (right.status, (await right.json())["error_id"]) == (429, "too-many-logins")
