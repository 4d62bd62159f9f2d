"""The ARI event websocket: heartbeat, reconnect with backoff, reconciliation hook.

Asterisk drops (does not queue) events while our socket is down and never replays
StasisStart, so after every (re)connect the owner's ``on_connected`` hook runs before
any event of the new connection is dispatched; it reconciles through REST.
After ``ApplicationReplaced`` another controller owns the app: we stop for good.

A socket can be open and answer pings while Asterisk sends it nothing: Asterisk 22 may
deactivate an app just as a new socket replaces the old one (the old session's clean-up
runs after the replacement; seen in a PBX log as "Replacing", "Deactivating", then "missed
message" for every event). Events are then dropped for good and calls fall through to the
fallback while the controller looks healthy. With ``echo_every`` the stream sends itself
a user event that often; when it does not come back in ``echo_timeout`` the socket is
reopened, which activates the app again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from hotline.ari.errors import ApplicationReplaced, AriError
from hotline.ari.models import Event
from hotline.ari.rest import basic_auth_header

log = logging.getLogger(__name__)

EventHandler = Callable[[Event], None]
ConnectHook = Callable[[], Awaitable[None]]


ECHO_PREFIX = "hotline-echo-"  # our own user events; never passed on


@dataclass
class StreamStatus:
    connected: bool = False
    connects: int = 0
    last_error: str = ""
    echoes_heard: int = 0  # our own events that came back: the app gets its events
    echoes_lost: int = 0  # times one did not come back: the app had gone deaf


class EventStream:
    def __init__(
        self,
        base_url: str,
        app: str,
        username: str,
        password: str,
        on_event: EventHandler,
        on_connected: ConnectHook,
        heartbeat: float = 5.0,
        max_delay: float = 10.0,
        echo_every: float = 0.0,
        echo_timeout: float = 5.0,
    ) -> None:
        scheme_url = base_url.rstrip("/").replace("http://", "ws://").replace("https://", "wss://")
        self._url = f"{scheme_url}/ari/events"
        self._rest_url = f"{base_url.rstrip('/')}/ari"
        self._app = app
        self._params = {"app": app, "subscribeAll": "false"}
        self._headers = basic_auth_header(username, password)
        self._on_event = on_event
        self._on_connected = on_connected
        self._heartbeat = heartbeat
        self._max_delay = max_delay
        self._echo_every = echo_every
        self._echo_timeout = echo_timeout
        self._echo_wanted = ""
        self._echo_back = asyncio.Event()
        self.status = StreamStatus()

    async def run(self) -> None:
        """Stay connected until cancelled; raise ApplicationReplaced if we lose the app."""
        attempt = 0
        async with aiohttp.ClientSession(headers=self._headers) as http:
            while True:
                try:
                    await self._session(http)
                    attempt = 0
                except ApplicationReplaced:
                    self.status.connected = False
                    raise
                except (aiohttp.ClientError, OSError, TimeoutError, AriError) as exc:
                    self.status.last_error = str(exc) or type(exc).__name__
                    log.warning("ARI event socket: %s", self.status.last_error)
                self.status.connected = False
                attempt += 1
                delay = min(self._max_delay, 0.25 * 2**attempt) * random.uniform(0.8, 1.2)
                log.info("ARI event socket: reconnecting in %.1f s", delay)
                await asyncio.sleep(delay)

    async def _session(self, http: aiohttp.ClientSession) -> None:
        async with http.ws_connect(
            self._url, params=self._params, heartbeat=self._heartbeat, autoping=True
        ) as ws:
            self.status.connected = True
            self.status.connects += 1
            log.info("ARI event socket connected (%d)", self.status.connects)
            await self._on_connected()
            echo = asyncio.create_task(self._echoes(http, ws)) if self._echo_every else None
            try:
                async for message in ws:
                    if message.type == aiohttp.WSMsgType.TEXT:
                        self._dispatch(message.data)
                    elif message.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSED):
                        break
            finally:
                if echo is not None:
                    echo.cancel()
                    await asyncio.gather(echo, return_exceptions=True)
            log.warning("ARI event socket closed (code %s)", ws.close_code)

    async def _echoes(
        self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse
    ) -> None:
        """Send ourselves a user event every ``echo_every`` seconds; close the socket (to be
        reopened) when one does not come back."""
        sent = 0
        while True:
            await asyncio.sleep(self._echo_every)
            sent += 1
            self._echo_wanted = f"{ECHO_PREFIX}{sent}"
            self._echo_back.clear()
            url = f"{self._rest_url}/events/user/{self._echo_wanted}"
            limit = aiohttp.ClientTimeout(total=self._echo_timeout)
            try:
                async with http.post(url, params={"application": self._app}, timeout=limit) as r:
                    status = r.status
            except (aiohttp.ClientError, TimeoutError):
                continue  # REST unreachable or slow: the socket's own heartbeat deals with that
            if status >= 500:
                continue  # Asterisk is in trouble; the heartbeat will tell
            if status < 400:  # (404: the app is not registered at all)
                try:
                    async with asyncio.timeout(self._echo_timeout):
                        await self._echo_back.wait()
                    continue
                except TimeoutError:
                    pass
            self.status.echoes_lost += 1
            log.warning(
                "ARI event socket: our own event did not come back in %.0f s (Asterisk "
                "stopped sending app %s its events); reopening the socket",
                self._echo_timeout,
                self._app,
            )
            await ws.close()
            return

    def _dispatch(self, text: str) -> None:
        try:
            event = Event.from_json(json.loads(text))
        except (ValueError, TypeError):
            log.error("ARI event socket: undecodable message %r", text[:200])
            return
        if event.type == "ApplicationReplaced":
            raise ApplicationReplaced("another connection took over the Stasis application")
        if event.type == "ChannelUserevent":
            name = str(event.raw.get("eventname", ""))
            if name.startswith(ECHO_PREFIX):
                if name == self._echo_wanted:
                    self.status.echoes_heard += 1
                    self._echo_back.set()
                return
        try:
            self._on_event(event)
        except Exception:  # one bad event must not cost us the socket
            log.exception("ARI event handler failed on %s", event.type)


class EventLog:
    """Every event of an application, kept so a wait never misses one that came before it
    started waiting (for short-lived clients: the scenario runner, the test harness)."""

    def __init__(self) -> None:
        self.history: list[Event] = []
        self._changed = asyncio.Event()

    def add(self, event: Event) -> None:
        self.history.append(event)
        self._changed.set()

    def first(self, predicate: Callable[[Event], bool], since: int) -> Event | None:
        return next((e for e in self.history[since:] if predicate(e)), None)

    async def wait_for(
        self, predicate: Callable[[Event], bool], timeout: float, since: int
    ) -> Event | None:
        """The first event from history index ``since`` on that matches; None on timeout."""
        try:
            async with asyncio.timeout(timeout):
                while (event := self.first(predicate, since)) is None:
                    self._changed.clear()
                    await self._changed.wait()
                return event
        except TimeoutError:
            return None
