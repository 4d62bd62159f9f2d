"""The ARI client against a fake ARI server (aiohttp): reconnects, ApplicationReplaced,
REST error mapping. The real Asterisk is exercised by the integration tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from hotline.ari import ApplicationReplaced, AriNotFound, AriRest, AriUnavailable, Event
from hotline.ari.events import EventStream


@dataclass
class FakeAri:
    url: str = ""
    connects: int = 0
    script: list[list[dict[str, object]]] = field(default_factory=list)  # per connection
    auth: list[str] = field(default_factory=list)


@pytest.fixture
async def fake_ari(unused_tcp_port: int) -> AsyncIterator[FakeAri]:
    fake = FakeAri(url=f"http://127.0.0.1:{unused_tcp_port}")

    async def events(request: web.Request) -> web.WebSocketResponse:
        fake.auth.append(request.headers.get("Authorization", ""))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        messages = fake.script[fake.connects] if fake.connects < len(fake.script) else []
        fake.connects += 1
        for message in messages:
            await ws.send_json(message)
        if fake.connects < len(fake.script):
            await ws.close()  # cut: the client must come back
        else:
            async for _ in ws:  # stay open until the client leaves
                pass
        return ws

    async def channel(request: web.Request) -> web.Response:
        return web.json_response({"message": "Channel not found"}, status=404)

    app = web.Application()
    app.router.add_get("/ari/events", events)
    app.router.add_get("/ari/channels/{id}", channel)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    yield fake
    await runner.cleanup()


async def test_reconnects_and_reconciles_after_every_connect(fake_ari: FakeAri) -> None:
    fake_ari.script = [[{"type": "StasisStart", "channel": {"id": "c1"}}], [], []]
    got: list[Event] = []
    reconciled = asyncio.Queue[int]()
    stream = EventStream(
        fake_ari.url,
        "hotline",
        "u",
        "p",
        got.append,
        lambda: reconciled.put(stream.status.connects),
        max_delay=0.2,
    )
    task = asyncio.create_task(stream.run())
    try:
        async with asyncio.timeout(10):
            assert [await reconciled.get() for _ in range(3)] == [1, 2, 3]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert [e.type for e in got] == ["StasisStart"]
    assert got[0].channel_ids() == ["c1"]
    assert got[0].about("c1") and not got[0].about("c2")
    assert fake_ari.auth[0].startswith("Basic ")


async def test_application_replaced_stops_without_reconnecting(fake_ari: FakeAri) -> None:
    fake_ari.script = [[{"type": "ApplicationReplaced", "application": "hotline"}], []]

    async def nothing() -> None:
        pass

    stream = EventStream(fake_ari.url, "hotline", "u", "p", lambda e: None, nothing, max_delay=0.1)
    with pytest.raises(ApplicationReplaced):
        async with asyncio.timeout(10):
            await stream.run()
    assert fake_ari.connects == 1


async def test_rest_maps_404_with_asterisks_reason(fake_ari: FakeAri) -> None:
    async with AriRest(fake_ari.url, "u", "p") as ari:
        with pytest.raises(AriNotFound, match="GET /channels/c9: 404 Channel not found"):
            await ari.channel("c9")


async def test_rest_unreachable_after_retries(unused_tcp_port: int) -> None:
    async with AriRest(f"http://127.0.0.1:{unused_tcp_port}", "u", "p") as ari:
        ari.retry_delays = (0.01, 0.01)
        with pytest.raises(AriUnavailable, match="cannot reach Asterisk"):
            await ari.ping()
