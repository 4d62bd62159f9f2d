"""The agents' and supervisors' API: authentication, roles, expiry, bad requests, the
OpenAPI document and live events over a WebSocket."""

from __future__ import annotations

import asyncio
import json
import stat
import time

import aiohttp
import pytest

from hotline.ari.errors import AriNotFound
from hotline.ari.rest import AriRest
from tests.harness.centre import EXTENSIONS, PASSWORD, Centre
from tests.harness.cli import hotline
from tests.harness.desk import ApiRefused, Desk


async def refused(desk: Desk, method: str, path: str, body: dict[str, object] | None = None) -> int:
    status, data = await desk.request(method, path, body)
    assert status >= 400 and data["error_id"] and data["message"], data
    return status


async def test_wrong_password_unknown_agent_and_no_token_are_refused(centre: Centre) -> None:
    anonymous = Desk(centre.base_url, "")
    for agent, password in (("1001", "not-the-password"), ("4242", PASSWORD)):
        status, body = await anonymous.request(
            "POST", "/api/login", {"agent": agent, "extension": "7101", "password": password}
        )
        assert (status, body["error_id"]) == (401, "unauthorized")
        assert body["message"] == "wrong agent number or password"  # says not which
    assert await refused(anonymous, "GET", "/api/me") == 401
    assert await refused(Desk(centre.base_url, "x", token="forged"), "GET", "/api/me") == 401
    status, body = await anonymous.request("POST", "/api/login", {"agent": "1001"})
    assert (status, body["details"]) == (400, {"field": "extension"})


async def test_an_agent_cannot_use_supervisor_actions(centre: Centre) -> None:
    agent = await centre.agent("1001", ready=False)
    assert await refused(agent, "GET", "/api/live") == 403
    assert await refused(agent, "POST", "/api/agents/1003/state", {"state": "ready"}) == 403
    supervisor = await centre.agent("9001", ready=False)
    live = await supervisor.get("/api/live")
    states = {a["agent"]: a["state"] for a in live["agents"]}
    assert states["1001"] == "not-ready" and states["9001"] == "not-ready"
    # 强制示闲 / 强制注销 by the supervisor
    await supervisor.post("/api/agents/1001/state", {"state": "ready"})
    assert (await agent.me())["state"] == "ready"
    await supervisor.post("/api/agents/1001/state", {"state": "logged-out"})
    assert await refused(agent, "GET", "/api/me") == 401  # its tokens went with it
    assert await refused(supervisor, "POST", "/api/agents/1001/state", {"state": "dancing"}) == 400
    assert await refused(supervisor, "POST", "/api/agents/4242/state", {"state": "ready"}) == 404


async def test_tokens_expire(centre: Centre) -> None:
    desk = await Desk.login(centre.base_url, "1002", EXTENSIONS["1002"], PASSWORD, lifetime=1)
    centre.desks["1002"] = desk
    issued = time.monotonic()
    assert (await desk.me())["agent"] == "1002"
    deadline = issued + 5
    while time.monotonic() < deadline:
        status, _ = await desk.request("GET", "/api/me")
        if status == 401:
            break
        await asyncio.sleep(0.2)
    assert status == 401
    assert time.monotonic() - issued >= 1.0
    status, body = await desk.request(
        "POST",
        "/api/login",
        {"agent": "1002", "extension": "7102", "password": PASSWORD, "lifetime": 10**9},
    )
    assert status == 400 and body["details"] == {"field": "lifetime"}


async def test_state_changes_and_skill_groups_are_checked(centre: Centre) -> None:
    desk = await centre.agent("1001", ready=False)
    assert await refused(desk, "POST", "/api/me/state", {"state": "asleep"}) == 400
    assert await refused(desk, "POST", "/api/me/state", "not an object") == 400  # type: ignore[arg-type]
    me = await desk.post("/api/me/queues/complaints", {"signed_in": False})
    assert "complaints" not in me["queues"] and "repair" in me["queues"]
    assert await refused(desk, "POST", "/api/me/queues/account", {"signed_in": True}) == 409
    assert await refused(desk, "POST", "/api/me/queues/nowhere", {"signed_in": True}) == 404
    me = await desk.post("/api/me/queues/complaints", {"signed_in": True})
    assert "complaints" in me["queues"]
    me = await desk.post("/api/me/mute", {"muted": True})
    assert me["muted"] is True
    await desk.post("/api/me/password", {"old": PASSWORD, "new": "another-pass-1"})
    try:
        again = await Desk.login(centre.base_url, "1001", "7101", "another-pass-1")
        assert (await again.me())["agent"] == "1001"
    finally:
        await desk.post("/api/me/password", {"old": "another-pass-1", "new": PASSWORD})


async def test_the_openapi_document_and_live_events(centre: Centre) -> None:
    supervisor = await centre.agent("9001", ready=False)
    async with aiohttp.ClientSession() as http:
        async with http.get(centre.base_url + "/api/openapi.json") as resp:
            doc = await resp.json()
        assert doc["openapi"].startswith("3.")
        assert {"/api/login", "/api/live", "/api/me/state"} <= set(doc["paths"])
        assert {"/api/recordings/{call}/audio", "/api/reports"} <= set(doc["paths"])
        url = centre.base_url.replace("http", "ws") + f"/api/events?token={supervisor.token}"
        async with http.ws_connect(url) as ws:
            hello = await ws.receive_json(timeout=5)
            assert hello["type"] == "hello" and "agents" in hello
            agent = await centre.agent("1003", ready=True)
            seen = []
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                event = await ws.receive_json(timeout=5)
                seen.append(event)
                if event == {**event, "type": "agent", "agent": "1003", "state": "ready"}:
                    break
            else:
                raise AssertionError(f"no ready event for 1003: {seen}")
            assert (await agent.me())["state"] == "ready"
    try:
        await Desk(centre.base_url, "x").get("/api/events")
    except ApiRefused as exc:
        assert exc.status == 401


async def test_agents_phones_are_pbx_endpoints_with_generated_passwords(centre: Centre) -> None:
    stack = centre.stack
    phones = json.loads((stack.state / "phones.json").read_text())
    assert set(phones) == set(EXTENSIONS.values())
    assert all(len(p) >= 20 for p in phones.values()) and len(set(phones.values())) == 4
    assert stat.S_IMODE((stack.state / "phones.json").stat().st_mode) == 0o600
    spec = stack.pbx.spec
    async with AriRest(spec.ari_url, spec.ari_user, spec.ari_password) as ari:
        endpoint = await ari.request("GET", "/endpoints/PJSIP/7101")
        assert endpoint["resource"] == "7101"
        with pytest.raises(AriNotFound):
            await ari.request("GET", "/endpoints/PJSIP/7199")  # nobody's phone
    code, out, err = await hotline("--config", str(stack.config_file), "agent", "phone", "1001")
    assert code == 0, err
    assert f"as user 7101, password {phones['7101']}" in out
