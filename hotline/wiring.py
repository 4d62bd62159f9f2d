"""How a feature plugs into the controller, without the core knowing any feature.

Each feature package (``ivr``, ``acd``, ``recordings``, ``reports``, ``prompts``) exposes one
``Feature``: its commands for the ``hotline`` command and an ``install`` that registers,
on the ``Wiring`` the composition root (``hotline.app``) hands it, what it brings to a
running controller: HTTP routes and their OpenAPI paths, long-running tasks, start-up
steps, what it shows on /health and /metrics, and the services other features use.
Its tables register themselves by being imported (``hotline.db.Base``).

A feature that needs another's service asks for it by its typed ``Key`` (declared in the
providing feature's ``install`` module), so the dependency is explicit and checked by
mypy; the composition root installs features in dependency order.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline.ari.rest import AriRest
from hotline.calls.journey import PhaseTable, start_or_resume
from hotline.calls.legs import LegPlan
from hotline.calls.registry import CallRegistry
from hotline.calls.store import CallStore
from hotline.commands import Subparsers
from hotline.config import Config
from hotline.secrets import Secrets
from hotline.writes import Writes

if TYPE_CHECKING:
    from hotline.calls.models import CallRecord
    from hotline.calls.session import CallChannel

log = logging.getLogger(__name__)

T = TypeVar("T")
RouteAdder = Callable[[web.Application], None]


class Key(Generic[T]):
    """The name of a service one feature provides and others need."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Key({self.name!r})"


@dataclass(frozen=True)
class BackgroundTask:
    name: str
    run: Callable[[], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class PbxControl:
    """What features may ask of the PBX the controller runs against."""

    # The menu was reloaded: rewrite the carrier context (its hotline numbers) and the
    # fallback menu, and reload the dialplan.
    menu_changed: Callable[[Sequence[str]], Awaitable[None]]


@dataclass
class Wiring:
    config: Config
    secrets: Secrets
    engine: AsyncEngine
    ari: AriRest
    calls: CallStore
    pbx: PbxControl
    # Where features' stores send writes the call path need not wait for.
    writes: Writes
    routes: list[RouteAdder] = field(default_factory=list)
    openapi: dict[str, Any] = field(default_factory=dict)
    tasks: list[BackgroundTask] = field(default_factory=list)
    # Run in install order once the schema exists, before the first call is taken.
    startup: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # /health sections, by name; more /metrics lines (Prometheus text), by source.
    health: dict[str, Callable[[], Any]] = field(default_factory=dict)
    metrics: list[Callable[[], Sequence[str]]] = field(default_factory=list)
    # Told each call id whose record was closed (what they return is awaited, if anything).
    call_closed: list[Callable[[str], Awaitable[None] | None]] = field(default_factory=list)
    # Every phase a call can be in, by name; features add theirs at install.
    phases: PhaseTable = field(default_factory=PhaseTable)
    entry: str = ""
    _services: dict[str, Any] = field(default_factory=dict)
    registry: CallRegistry | None = None

    # --- services ---------------------------------------------------------------------
    def provide(self, key: Key[T], service: T) -> None:
        if key.name in self._services:
            raise RuntimeError(f"{key!r} is provided twice")
        self._services[key.name] = service

    def need(self, key: Key[T]) -> T:
        try:
            service: T = self._services[key.name]
        except KeyError:
            raise RuntimeError(
                f"{key!r} is needed before any feature provides it: check the install order"
            ) from None
        return service

    # --- the call's journey -------------------------------------------------------------
    def set_entry(self, phase: str) -> None:
        """The phase every new call starts in (the voice menu's answering)."""
        if self.entry:
            raise RuntimeError("two features claim the calls' entry")
        self.entry = phase

    async def run_call(
        self, call_id: str, channel: CallChannel, dialled: str, resume: CallRecord | None
    ) -> str:
        """A call's journey, from the entry phase or, after a restart, its stored one."""
        if not self.entry:
            raise RuntimeError("no feature runs calls")
        registry = self.legs()
        plan = LegPlan(self.config.ari.app, registry.attach_leg, registry.detach_leg)
        return await start_or_resume(
            self.phases, self.calls, plan, self.entry, call_id, channel, dialled, resume
        )

    async def closed(self, call_id: str) -> None:
        for listener in self.call_closed:
            told = listener(call_id)
            if inspect.isawaitable(told):
                await told

    def legs(self) -> CallRegistry:
        """The registry, whose ``attach_leg`` routes a call's second channels' events."""
        if self.registry is None:
            raise RuntimeError("the call registry is made before features are installed")
        return self.registry


@dataclass(frozen=True)
class Feature:
    name: str
    install: Callable[[Wiring], None] = lambda _wiring: None
    # Adds the feature's subcommands to the ``hotline`` command's parser.
    commands: Callable[[Subparsers], None] = lambda _sub: None
    # What ``hotline run`` and ``hotline pbx up`` do for it before the PBX starts.
    before_pbx_up: Callable[[Config], None] = lambda _config: None
