"""The ARI client against a fake ARI server (aiohttp): reconnects, ApplicationReplaced,
REST error mapping. The real Asterisk is exercised by the integration tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from hotline.ari import ApplicationReplaced, AriNotFound, AriRest, AriUnavailable, Event
from hotline.ari.events import EventStream


@asynccontextmanager
async def listening(app: web.Application, port: int) -> AsyncIterator[None]:
    """A fake ARI server on ``port`` for as long as the block runs."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield
    finally:
        await runner.cleanup()


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
    async with listening(app, unused_tcp_port):
        yield fake


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


@dataclass
class DeafAri:
    """A fake ARI whose first connection stops getting events while it stays open (as
    when Asterisk deactivates an app under a live socket); later ones hear fine."""

    url: str = ""
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    echoed: list[str] = field(default_factory=list)
    echoed_three: asyncio.Event = field(default_factory=asyncio.Event)


@pytest.fixture
async def deaf_ari(unused_tcp_port: int) -> AsyncIterator[DeafAri]:
    fake = DeafAri(url=f"http://127.0.0.1:{unused_tcp_port}")

    async def events(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        fake.sockets.append(ws)
        async for _ in ws:
            pass
        return ws

    async def user_event(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if request.query.get("application") != "hotline":
            return web.json_response({"message": "Application not found"}, status=404)
        if len(fake.sockets) > 1:  # the first socket is deaf
            fake.echoed.append(name)
            if len(fake.echoed) == 3:
                fake.echoed_three.set()
            await fake.sockets[-1].send_json(
                {"type": "ChannelUserevent", "eventname": name, "application": "hotline"}
            )
            await fake.sockets[-1].send_json({"type": "StasisStart", "channel": {"id": "c1"}})
        return web.Response(status=204)

    app = web.Application()
    app.router.add_get("/ari/events", events)
    app.router.add_post("/ari/events/user/{name}", user_event)
    async with listening(app, unused_tcp_port):
        yield fake


async def test_a_socket_that_stops_getting_events_is_reopened(deaf_ari: DeafAri) -> None:
    got: list[Event] = []
    connects = asyncio.Queue[int]()
    stream = EventStream(
        deaf_ari.url,
        "hotline",
        "u",
        "p",
        got.append,
        lambda: connects.put(stream.status.connects),
        max_delay=0.2,
        echo_every=0.2,
        echo_timeout=0.3,
    )
    task = asyncio.create_task(stream.run())
    try:
        async with asyncio.timeout(10):
            assert [await connects.get() for _ in range(2)] == [1, 2]
            await deaf_ari.echoed_three.wait()  # the reopened socket hears its echoes
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert stream.status.echoes_lost == 1 and stream.status.connects == 2
    assert stream.status.echoes_heard >= 2
    # Only the echoes are kept back; other events reach the handler.
    assert {e.type for e in got} == {"StasisStart"}
