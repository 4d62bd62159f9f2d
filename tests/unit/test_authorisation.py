"""Who may call what: every route the controller serves (read from its router, so a new
route is in the matrix the moment it exists) against every kind of asker, with the
controller's real wiring and API, over the fake ARI.

    asker                  public   agent route   supervisor route   admin route
    no token               any      401           401                401
    expired token          any      401           401                401
    removed agent          any      401           401                401
    agent                  any      allowed       403                401
    demoted supervisor     any      allowed       403                401
    supervisor             any      allowed       allowed            401

"allowed" means neither 401 nor 403 (the request may still be refused for what it asks:
400, 404, 409). Supervisor routes are those the OpenAPI document marks "(supervisors
only)"; a route missing from the document fails the test, and so does one that serves an
asker with no token (a route added without a role check).
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSServerHandshakeError, web

from acd.store import AcdStore
from hotline.openapi import document
from tests.unit.journey_fixtures import journey, serving

PUBLIC = {("GET", "/health"), ("GET", "/api/openapi.json"), ("POST", "/api/login")}
PUBLIC |= {("GET", "/metrics")}  # for scrapers, on the loopback listener (README: /metrics)
ASKERS = ("none", "expired", "removed", "agent", "demoted", "supervisor")
FILLED = {"call": str(uuid.uuid4()), "agent": "1001", "queue": "repair", "action": "hold"}
FILLED |= {"request": "1"}


def routes_of(app: web.Application) -> list[tuple[str, str]]:
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = str(info.get("path") or info.get("formatter") or "")
        if route.method != "HEAD" and path:
            found.add((route.method, path))
    return sorted(found)


def supervisor_routes(paths: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, operations in paths.items()
        for method, operation in operations.items()
        if "(supervisors only)" in str(operation.get("summary", ""))
    }


async def token_for(store: AcdStore, asker: str) -> str:
    """A fresh token of that kind (fresh for every request: some routes end tokens)."""
    if asker == "none":
        return ""
    agent, role, lifetime = {
        "expired": ("1001", "agent", -1.0),
        "removed": ("4242", "agent", 3600.0),  # a token from before 4242 left the file
        "agent": ("1001", "agent", 3600.0),
        "demoted": ("1002", "supervisor", 3600.0),  # the file says 1002 is an agent now
        "supervisor": ("9001", "supervisor", 3600.0),
    }[asker]
    return (await store.issue_token(agent, role, lifetime)).token


def expected(asker: str, route: tuple[str, str], supervised: set[tuple[str, str]]) -> str:
    if route in PUBLIC:
        return "any"
    if asker in ("none", "expired", "removed") or route[1].startswith("/admin/"):
        return "401"
    if route in supervised and asker in ("agent", "demoted"):
        return "403"
    return "allowed"


async def test_every_route_checks_who_asks(tmp_path: Path) -> None:
    async with journey(tmp_path) as trip, serving(trip) as client:
        app = client.app
        supervised = supervisor_routes(document(trip.wiring.openapi)["paths"])
        routes = routes_of(app)
        documented = (
            {(m.upper(), p) for p, ops in trip.wiring.openapi.items() for m in ops}
            | PUBLIC
            | {r for r in routes if r[1].startswith("/admin/")}
        )
        assert [r for r in routes if r not in documented] == []
        assert len(supervised) >= 8  # the marker is really there to be found
        store = AcdStore(trip.wiring.engine)
        wrong = []
        for method, path in routes:
            if path == "/api/events":
                continue  # a WebSocket: below
            url = re.sub(r"\{(\w+)\}", lambda m: FILLED[m.group(1)], path)
            for asker in ASKERS:
                token = await token_for(store, asker)
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                response = await client.request(method, url, json={}, headers=headers)
                status = response.status
                want = expected(asker, (method, path), supervised)
                ok = {"any": True, "401": status == 401, "403": status == 403}.get(
                    want, status not in (401, 403)
                )
                if not ok:
                    wrong.append(f"{asker} {method} {path}: {status}, wanted {want}")
        assert wrong == []


@pytest.mark.parametrize("asker", ["none", "expired", "removed"])
async def test_the_live_events_socket_refuses_a_stranger(asker: str, tmp_path: Path) -> None:
    async with journey(tmp_path) as trip, serving(trip) as client:
        token = await token_for(AcdStore(trip.wiring.engine), asker)
        with pytest.raises(WSServerHandshakeError) as refused:
            await client.ws_connect(f"/api/events?token={token}")
        assert refused.value.status == 401


async def test_the_live_events_socket_shows_an_agent_only_their_own(tmp_path: Path) -> None:
    async with journey(tmp_path) as trip, serving(trip) as client:
        await trip.acd.log_in("1001", "7101")  # logged in, not ready: the caller waits
        await trip.call_in()
        await trip.playing("main-menu")
        trip.fake.press("caller-1", "1")
        await trip.until(lambda: bool(trip.acd.waiting), "a caller waits in repair")
        store = AcdStore(trip.wiring.engine)
        seen = {}
        for asker in ("agent", "demoted", "supervisor"):
            socket = await client.ws_connect(f"/api/events?token={await token_for(store, asker)}")
            seen[asker] = await socket.receive_json(timeout=3)
            await socket.close()
        supervisor = seen["supervisor"]
        assert [c["caller"] for c in supervisor["calls"]] == ["13800138000"]
        assert {a["agent"] for a in supervisor["agents"]} == {"1001", "1002", "9001"}
        agent = seen["agent"]
        assert agent["calls"] == [] and [a["agent"] for a in agent["agents"]] == ["1001"]
        repair = [q for q in agent["queues"] if q["queue"] == "repair"]
        assert [q["waiting"] for q in repair] == [1]
        assert "13800138000" not in str(agent)
        assert seen["demoted"]["calls"] == [] and len(seen["demoted"]["agents"]) == 1
        trip.fake.caller_hangs_up("caller-1")
        await trip.ended()
