"""The real features wired as the composition root wires them, against the fake ARI and
a SQLite file: a call's journey through its phases with no PBX.

``Journey`` holds the wiring, the fake and a small menu and contact centre written for
these tests (every wait short, nothing left to the clock), and helpers that drive a
caller and read back what was stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.agents import Status
from acd.engine import Acd
from acd.install import ACD
from hotline.app import FEATURES, provide_services
from hotline.calls.models import CallEvent, CallRecord
from hotline.calls.registry import LEG_PREFIX, CallRegistry
from hotline.calls.store import CallStore
from hotline.config import Config, load_config
from hotline.db import create_schema, make_engine, session_factory
from hotline.secrets import Secrets
from hotline.supervisor import Supervisor
from hotline.wiring import PbxControl, Wiring
from hotline.writes import DirectWrites
from tests.fakes.ari import FakeAri
from tests.unit import http_fixtures
from tests.unit.http_fixtures import Client as Client

CALLER = "13800138000"
NUMBER = "4008001234"

MENU = """\
hotline:
  name: {zh: XX, en: XX}
  language: zh
  start: main
  numbers: {"4008001234": {priority: 5}}
  hours: {timezone: Asia/Shanghai, weekly: {mon-sun: "00:00-23:59"}}
defaults: {timeout: 5, tries: 2, agent: person}
line_check:
  nodes: []
  sequences:
    silent: [{prompt: line-silent-hello, wait: 0}, {prompt: line-silent-bye, wait: 0}]
nodes:
  main:
    kind: menu
    prompt: main-menu
    keys: {"1": repair, "2": bye, "3": message, "4": nobody, "5": person, "6": short}
    on_fail: bye
  repair: {kind: queue, queue: repair, skills: [repair], fallback: person}
  nobody: {kind: queue, queue: install, skills: [install], fallback: person}
  short: {kind: queue, queue: short, skills: [short], fallback: bye}
  person: {kind: transfer, to: "agent:8000", prompt: transferring, on_fail: bye}
  message: {kind: leave-message, prompt: leave-message, max_seconds: 30, next: bye}
  bye: {kind: hangup, prompt: goodbye}
"""

ACD_FILE = """\
queue_defaults:
  ring_seconds: 5
  wrapup_seconds: 30
  max_wait: 300
  announce: {first_after: 300, every: 300}
  steps: [{after: 0, scope: any}]
queues:
  repair: {skills: [repair]}
  install: {skills: [install]}
  short: {skills: [short], max_wait: 10}
  general: {skills: []}
agents:
  "1001": {name: 一号, extension: "7101", desks: ["7201"], skills: {repair: 3}}
  "1002": {name: 二号, extension: "7102", desks: ["7201"], skills: {repair: 5, short: 1}}
  "9001": {name: 班长, extension: "7109", role: supervisor, skills: {repair: 1}}
"""


@dataclass
class Journey:
    fake: FakeAri
    wiring: Wiring
    registry: CallRegistry
    state: Path
    seen: dict[str, list[str]]  # every call's phases, in the order stored
    supervisor: Supervisor

    @property
    def acd(self) -> Acd:
        return self.wiring.need(ACD)

    @property
    def store(self) -> CallStore:
        return self.wiring.calls

    # --- the caller -----------------------------------------------------------------------
    async def call_in(self, channel: str = "caller-1", caller: str = CALLER) -> None:
        self.fake.caller_arrives(channel, caller=caller, exten=NUMBER)
        await self.until(lambda: channel in self.registry.calls, f"{channel} taken")

    async def record(self, channel: str = "caller-1") -> CallRecord:
        found = await self.store.by_channel(channel)
        assert found is not None, f"no call record for {channel}"
        return found

    async def wait_phase(self, name: str, channel: str = "caller-1", timeout: float = 10) -> None:
        """Until the call's stored phase is ``name``."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            record = await self.store.by_channel(channel)
            if record is not None and record.state == name:
                return
            if asyncio.get_running_loop().time() > deadline:
                seen = record.state if record is not None else "no record"
                raise AssertionError(f"{channel} never reached phase {name!r} (it is {seen!r})")
            await asyncio.sleep(0.01)

    async def ended(self, channel: str = "caller-1", timeout: float = 10) -> CallRecord:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            record = await self.store.by_channel(channel)
            if record is not None and record.ended_at is not None:
                await self.fake.settle()
                return record
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{channel} did not end: {record and record.state}")
            await asyncio.sleep(0.01)

    async def kinds(self, call_id: str) -> list[str]:
        return [e.kind for e in await self.store.events(call_id)]

    async def phases(self, call_id: str) -> list[str]:
        """The phases the call went through, in order (each is stored as it starts)."""
        return list(self.seen.get(call_id, []))

    async def until(self, condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not condition():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for: {what}")
            await asyncio.sleep(0.005)

    async def until_async(
        self, condition: Callable[[], Awaitable[bool]], what: str, timeout: float = 10
    ) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not await condition():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for: {what}")
            await asyncio.sleep(0.01)

    async def playing(self, prompt: str, timeout: float = 10) -> str:
        """Until ``prompt`` plays (to the caller or into the call's bridge); its id."""
        found: list[str] = []

        def started() -> bool:
            found[:] = [p.id for p in self.fake.playing() if any(prompt in m for m in p.media)]
            return bool(found)

        await self.until(started, f"{prompt} playing", timeout)
        return found[0]

    async def hear_out(self, prompt: str) -> None:
        """``prompt`` plays to its end."""
        self.fake.finish_playback(await self.playing(prompt))

    async def events(self, call_id: str) -> list[CallEvent]:
        sessions = session_factory(self.wiring.engine)
        async with sessions() as db:
            rows = await db.scalars(
                select(CallEvent).where(CallEvent.call_id == call_id).order_by(CallEvent.id)
            )
            return list(rows.all())

    async def stop(self, hand_over: bool = False) -> None:
        """The controller stops; without ``hand_over`` its calls stay on the PBX for the
        next one (as after a crash, but with the tasks' clean-up run)."""
        await self.supervisor.aclose(2)
        await self.registry.aclose(hand_over=hand_over, timeout=2)

    async def restart(self) -> None:
        """Another controller takes over the same PBX and database and reconciles."""
        await self.stop()
        self.fake.on_event = None
        await self.fake.settle()
        config, engine = self.wiring.config, self.wiring.engine
        new = await _controller(config, engine, self.fake, self.state, self.seen)
        self.wiring, self.registry, self.supervisor = new.wiring, new.registry, new.supervisor
        await self.registry.reconcile()

    # --- agents ----------------------------------------------------------------------------
    async def agent_ready(self, number: str, extension: str) -> None:
        """An agent logged in at ``extension`` and ready; their phone answers when rung."""
        self.fake.script_endpoint(f"PJSIP/{extension}", answer=True)
        await self.acd.log_in(number, extension)
        await self.acd.set_status(number, Status.READY)

    def legs(self) -> list[str]:
        """Channels the calls placed (agents' phones, outside numbers), alive now."""
        return sorted(c for c in self.fake.pbx.channels if c.startswith(LEG_PREFIX))


@asynccontextmanager
async def journey(tmp: Path, environ: dict[str, str] | None = None) -> AsyncIterator[Journey]:
    """The features installed on a fresh database, the fake PBX wired to the registry."""
    (tmp / "menu.yaml").write_text(MENU, encoding="utf-8")
    (tmp / "acd.yaml").write_text(ACD_FILE, encoding="utf-8")
    env = {
        "HOTLINE_STATE_DIR": str(tmp / "var"),
        "HOTLINE_MENU_FILE": str(tmp / "menu.yaml"),
        "HOTLINE_MENU_WATCH": "false",
        "HOTLINE_ACD_FILE": str(tmp / "acd.yaml"),
        "HOTLINE_ACD_WATCH": "false",
        "HOTLINE_SURVEY_TIMEOUT": "2",
        **(environ or {}),
    }
    config = load_config(None, env)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.db_url)
    fake = FakeAri(config.ari.app)
    trip = await _controller(config, engine, fake, tmp, seen={})
    try:
        yield trip
    finally:
        await trip.stop()
        await engine.dispose()


async def _controller(
    config: Config, engine: AsyncEngine, fake: FakeAri, tmp: Path, seen: dict[str, list[str]]
) -> Journey:
    """One controller's wiring, as ``hotline.app`` makes it, started."""

    async def no_pbx_dialplan(_numbers: Sequence[str]) -> None:
        return None

    calls = _Watched(engine, seen)
    wiring = Wiring(
        config=config,
        secrets=Secrets(ari_password="x", admin_token="y"),
        engine=engine,
        ari=fake,
        calls=calls,
        pbx=PbxControl(menu_changed=no_pbx_dialplan),
        writes=DirectWrites(engine),
    )
    registry = CallRegistry(fake, config.ari.app, calls, wiring.run_call, wiring.closed)
    wiring.registry = registry
    provide_services(wiring)
    for feature in FEATURES:
        feature.install(wiring)
    await create_schema(engine)
    for step in wiring.startup:
        await step()
    supervisor = Supervisor(backoff=0.01, settle=1.0)
    for task in wiring.tasks:
        supervisor.add(task.name, task.run)
    supervisor.start()
    fake.on_event = registry.on_event
    return Journey(fake, wiring, registry, tmp, seen, supervisor)


def serving(trip: Journey) -> AbstractAsyncContextManager[Client]:
    """The controller's HTTP app with every feature's routes, as a test client."""
    return http_fixtures.serving(*trip.wiring.routes, openapi=trip.wiring.openapi)


class _Watched(CallStore):
    """The call store, noting every phase name a call is stored in, in order."""

    def __init__(self, engine: AsyncEngine, seen: dict[str, list[str]]) -> None:
        super().__init__(engine)
        self.seen = seen

    async def update(self, call_id: str, **fields: Any) -> None:
        state = fields.get("state")
        if state:
            names = self.seen.setdefault(call_id, [])
            if not names or names[-1] != state:
                names.append(state)
        await super().update(call_id, **fields)
