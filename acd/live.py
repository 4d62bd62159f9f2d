"""Live events for desktops and wallboards: the ACD publishes, each WebSocket subscribes.

``GET /api/events`` sends a ``hello`` with the live snapshot, then every event, each as
the asker may see it (a supervisor everything; an agent their own state and their queues'
counts: ``acd.views``). The socket closes when the token it was opened with expires. A
slow subscriber loses its oldest events rather than holding anyone up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from hotline.api import Identify, Identity


class LiveEvents:
    def __init__(self, backlog: int = 256) -> None:
        self.backlog = backlog
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()

    def publish(self, event: dict[str, Any]) -> None:
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self.backlog)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(queue)


class LiveApi:
    """The WebSocket route."""

    def __init__(
        self,
        identify: Identify,
        events: LiveEvents,
        snapshot: Callable[[Identity], dict[str, Any]],
        visible: Callable[[Identity, dict[str, Any]], dict[str, Any] | None],
    ) -> None:
        self.identify = identify
        self.events = events
        self.snapshot = snapshot
        self.visible = visible

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/api/events", self.websocket)

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        who = await self.identify(request)
        ws = web.WebSocketResponse(heartbeat=20)
        await ws.prepare(request)
        queue = self.events.subscribe()
        await ws.send_json({"type": "hello", "agent": who.agent, **self.snapshot(who)})
        reader = asyncio.create_task(self._drain(ws), name=f"ws-read-{who.agent}")
        try:
            async with asyncio.timeout_at(self._deadline(who)):
                while not reader.done():
                    getter = asyncio.create_task(queue.get())
                    done, _ = await asyncio.wait(
                        {getter, reader}, return_when=asyncio.FIRST_COMPLETED
                    )
                    if getter not in done:
                        getter.cancel()
                        break
                    event = self.visible(who, getter.result())
                    if event is not None:
                        await ws.send_json(event)
        except TimeoutError:  # the token expired: the desk logs in again
            await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"token expired")
        finally:
            self.events.unsubscribe(queue)
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await ws.close()
        return ws

    @staticmethod
    def _deadline(who: Identity) -> float | None:
        """The loop time the asker's token expires (None: it does not)."""
        if who.expires_at is None:
            return None
        left = (who.expires_at - datetime.now(UTC)).total_seconds()
        return asyncio.get_running_loop().time() + max(0.0, left)

    @staticmethod
    async def _drain(ws: web.WebSocketResponse) -> None:
        """Read (and ignore) what the client sends until it goes."""
        async for message in ws:
            if message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                return
