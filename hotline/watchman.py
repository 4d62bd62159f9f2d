"""The watchman: no caller is left in dead air because the controller is gone.

``hotline run`` runs it in its own process, beside the controller it keeps
(``hotline.keeper``); ``hotline watch`` runs it on its own, beside a ``hotline serve``
started some other way (the test stack, a service manager).

Every ``watchman.every`` seconds it asks the controller's ``/health``. Any answer, even a
503 (ARI down: the controller reconnects and reconciles by itself), means the controller
is there and its calls are its own. Asterisk 22 cannot tell us instead: ``GET
/applications/{app}`` looks the same with and without the app's websocket (it lists the
channels held in Stasis either way; only an app with no channel and no socket is a 404),
and a user event sent to an app whose socket is gone is still a 204.

Once the controller has not answered for more than ``watchman.grace`` seconds, each check
looks at what its application still holds (``lone_channels``):

- every caller on their own (in the menu, waiting in a queue, hearing a phone ring, left
  after the agent hung up) is continued into the dialplan's ``[fallback]`` (the apology,
  then hang-up). ARI lets any connection continue a channel of an app whose socket is gone;
- every leg on its own (an agent's phone or an outside number ringing for a caller nobody
  will connect, or left alone when the caller hung up; a snoop) is hung up;
- channels that share a bridge with another of the app's channels are left alone: a caller
  and an agent talking (a supervisor listening in) go on talking, and when one side hangs
  up the other is on their own at the next check.

The caller's open call record gets the state ``fallback`` and a ``fallback`` event; the
controller, when it is back, finds the caller gone from its app and closes the call with
that disposition, freeing its agent as for any call that ended while it was away.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from hotline.ari.errors import AriError, AriNotFound
from hotline.ari.rest import AriRest
from hotline.calls.registry import (
    BRIDGE_PREFIX,
    FALLBACK_CONTEXT,
    HANDED_TO_FALLBACK,
    LEG_PREFIX,
)
from hotline.calls.store import CallStore
from hotline.calls.timeline import Kind
from hotline.config import Config, WatchmanConfig
from hotline.db import make_engine

log = logging.getLogger(__name__)

# The controller's /health answers in well under this; no answer in time is no answer.
HEALTH_TIMEOUT = 1.0


class Move(enum.StrEnum):
    FALLBACK = "fallback"  # a caller on their own: into the dialplan fallback
    HANG_UP = "hang-up"  # a leg on its own: nobody is left to connect it to anyone


@dataclass(frozen=True)
class Action:
    move: Move
    channel_id: str


def lone_channels(held: Sequence[str], bridges: Iterable[Collection[str]]) -> list[Action]:
    """What to do with the channels the app holds (``held``, from ``GET
    /applications/{app}``), given the members of every bridge on the PBX: callers first
    (a person is waiting), then legs. Only the app's own channels count as company (a
    bridge's recorder is not)."""
    ours = set(held)
    company: set[str] = set()
    for members in bridges:
        present = ours.intersection(members)
        if len(present) >= 2:
            company |= present
    alone = [channel for channel in held if channel not in company]
    callers = [Action(Move.FALLBACK, c) for c in alone if not c.startswith(LEG_PREFIX)]
    legs = [Action(Move.HANG_UP, c) for c in alone if c.startswith(LEG_PREFIX)]
    return callers + legs


def local_url(host: str, port: int, path: str) -> str:
    """``path`` on a listener of this machine bound to ``host`` (any address: loopback)."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}{path}"


def health_url(config: Config) -> str:
    """Where the controller's /health answers, from this machine."""
    return local_url(config.http.host, config.http.port, "/health")


class HealthProbe:
    """The controller's /health: its body (whatever the status), or None when nobody
    answers in time. Owns its HTTP session; ``close`` it."""

    def __init__(self, url: str, timeout: float = HEALTH_TIMEOUT) -> None:
        self.url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __call__(self) -> dict[str, Any] | None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.get(self.url) as resp:
                body = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None
        return body if isinstance(body, dict) else {}

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


Probe = Callable[[], Awaitable[dict[str, Any] | None]]


class Watchman:
    def __init__(
        self,
        settings: WatchmanConfig,
        app: str,
        probe: Probe,
        ari: AriRest,
        store: CallStore | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.app = app
        self.probe = probe
        self.ari = ari
        self.store = store
        self.clock = clock
        self.last_seen = clock()  # a controller starting up has the grace too
        self.away = False
        self.handed: list[str] = []  # callers continued into the fallback, in order
        self.hung_up: list[str] = []  # legs hung up

    async def run(self, stop: asyncio.Event) -> None:
        """Check every ``watchman.every`` seconds until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.check(stop)
            except AriError as exc:
                log.warning("watchman: the PBX did not answer: %s", exc.message)
            except Exception:  # a fault in one check must not end the watch
                log.exception("watchman: the check failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.every)

    async def check(self, stop: asyncio.Event) -> None:
        """One look: is the controller there; if it has been away too long, hand over."""
        if await self.probe() is not None:
            if self.away:
                log.warning("watchman: the controller answers again; its calls are its own")
            self.away = False
            self.last_seen = self.clock()
            return
        away_for = self.clock() - self.last_seen
        if away_for <= self.settings.grace:
            return
        if not self.away:
            log.warning(
                "watchman: the controller has not answered for %.1f s: callers on their own "
                "go to the fallback",
                away_for,
            )
            self.away = True
        await self.sweep(stop, away_for)

    async def sweep(self, stop: asyncio.Event, away_for: float) -> None:
        try:
            held = (await self.ari.application(self.app)).channel_ids
        except AriNotFound:
            return  # the app holds no channel (and has no socket)
        if not held:
            return
        # Every bridge with its members; ARI lists them all in one request.
        bridges = [b.get("channels", []) for b in await self.ari.request("GET", "/bridges")]
        actions = lone_channels(held, bridges)
        # The controller may have come back while we looked: then the calls are its own.
        if not actions or stop.is_set() or await self.probe() is not None:
            return
        for action in actions:
            if stop.is_set():
                return
            await self._do(action, away_for)

    async def _do(self, action: Action, away_for: float) -> None:
        channel = action.channel_id
        try:
            if action.move is Move.FALLBACK:
                await self._tell_fallback(channel)
                await self.ari.continue_in_dialplan(channel, FALLBACK_CONTEXT, "s", 1)
            else:
                await self.ari.hangup(channel)
        except AriNotFound:
            return  # it hung up meanwhile
        except AriError as exc:
            log.warning("watchman: %s %s failed: %s", action.move, channel, exc.message)
            return
        if action.move is Move.FALLBACK:
            log.warning("watchman: caller %s handed to the fallback", channel)
            self.handed.append(channel)
            await self._record(channel, away_for)
        else:
            log.warning("watchman: leg %s hung up (on its own, no controller)", channel)
            self.hung_up.append(channel)

    async def _tell_fallback(self, channel_id: str) -> None:
        """The FastAGI fallback goes on with the caller's record (``HOTLINE_CALL``) in their
        language; the call's bridge goes (its recording ends there: the fallback records
        the rest), else nobody would ever remove it once the fallback closes the call."""
        if self.store is None:
            return
        try:
            record = await self.store.by_channel(channel_id)
        except Exception as exc:  # the caller goes all the same, as a new fallback call
            log.warning("watchman: no record of %s for the fallback: %r", channel_id, exc)
            return
        if record is None or record.ended_at is not None:
            return
        with contextlib.suppress(AriError):
            await self.ari.set_variable(channel_id, "HOTLINE_CALL", record.id)
            await self.ari.set_variable(channel_id, "HOTLINE_LANG", record.language or "")
        with contextlib.suppress(AriError):
            await self.ari.destroy_bridge(f"{BRIDGE_PREFIX}{record.id}")

    async def _record(self, channel_id: str, away_for: float) -> None:
        """Mark the caller's open call record; the controller closes it when back."""
        if self.store is None:
            return
        try:
            record = await self.store.by_channel(channel_id)
            if record is None or record.ended_at is not None:
                return
            await self.store.update(record.id, state=HANDED_TO_FALLBACK)
            await self.store.log(record.id, Kind.FALLBACK, away=round(away_for, 1))
        except Exception as exc:  # whatever the database says, the next caller goes too
            # This caller is in the fallback all the same; the call then closes as "lost".
            log.warning("watchman: could not record the hand-over of %s: %r", channel_id, exc)


@contextlib.asynccontextmanager
async def open_watchman(config: Config, ari_password: str) -> AsyncIterator[Watchman]:
    """The watchman of this configuration's controller, with its connections (ARI, the
    controller's /health, the call records), closed on leaving."""
    probe = HealthProbe(health_url(config))
    ari = AriRest(config.ari_url, config.ari.username, ari_password)
    engine = make_engine(config.db_url)
    try:
        yield Watchman(config.watchman, config.ari.app, probe, ari, CallStore(engine))
    finally:
        await probe.close()
        await ari.close()
        await engine.dispose()
