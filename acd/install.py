"""The ACD's entry into the controller: its tables, the dispatcher, the agents' API and
live events, and the services the voice menu and the reports use."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from acd import cli
from acd.callbacks import Callbacks
from acd.engine import Acd
from acd.fallback import SnapshotWriter
from acd.http import AgentApi
from acd.http_calls import CallsApi
from acd.library import AcdLibrary
from acd.live import LiveApi, LiveEvents
from acd.openapi import openapi_paths
from acd.phases import AcdKit, add_phases
from acd.screen import screen_pop
from acd.store import AcdStore
from acd.views import event_for, snapshot_for
from hotline.api import Identify
from hotline.calls.timeline import Kind
from hotline.services import OUTBOUND
from hotline.wiring import BackgroundTask, Feature, Key, Wiring

ACD = Key[Acd]("acd")
ACD_FILES = Key[AcdLibrary]("acd-files")
CALLBACKS = Key[Callbacks]("callbacks")
# Who sent a request: every feature's routes authenticate through it.
IDENTIFY = Key[Identify]("identify")
# An agent -> their current call and its caller (404 when on no call).
CURRENT_CALLER = Key[Callable[[str], Awaitable[tuple[str, str]]]]("current-caller")


def install(wiring: Wiring) -> None:
    config, calls = wiring.config, wiring.calls
    files = AcdLibrary(config.acd.file)
    store = AcdStore(wiring.engine, wiring.writes)
    live = LiveEvents()

    async def wrapped_up(agent: str, call_id: str, seconds: float) -> None:
        await calls.log(call_id, Kind.WRAP_UP, agent=agent, seconds=round(seconds, 2))

    acd = Acd(lambda: files.current, store, live.publish, on_wrapup=wrapped_up)
    agents = AgentApi(acd, store, config.acd.token_lifetime)
    calls_api = CallsApi(
        acd,
        agents.identity,
        history=lambda call_id: screen_pop(calls, files.current, call_id),
        outbound=wiring.need(OUTBOUND),
    )
    wiring.provide(ACD, acd)
    wiring.provide(ACD_FILES, files)
    callbacks = Callbacks(wiring.engine, wiring.writes)
    wiring.provide(CALLBACKS, callbacks)
    add_phases(wiring.phases, AcdKit(acd, callbacks, config.pbx.agent_dial))
    wiring.provide(IDENTIFY, agents.identity)
    wiring.provide(CURRENT_CALLER, calls_api.current_caller)
    live_api = LiveApi(
        agents.identity,
        live,
        snapshot=lambda who: snapshot_for(acd, who),
        visible=lambda who, event: event_for(acd, who, event),
    )
    wiring.routes += [agents.routes, calls_api.routes, live_api.routes]
    wiring.openapi.update(openapi_paths())

    async def call_closed(call_id: str) -> None:
        record = await calls.get(call_id)
        await acd.call_gone(call_id, (record.queue or "") if record is not None else "")

    wiring.call_closed.append(call_closed)

    async def start() -> None:
        files.load()
        await acd.load(r.id for r in await calls.open_calls())

    wiring.startup.append(start)
    wiring.tasks.append(BackgroundTask("acd", acd.run))
    # Who was ready, for the FastAGI fallback while the controller is away.
    snapshots = SnapshotWriter(
        config.fallback_dir, lambda: files.current, acd, config.pbx.agent_dial
    )
    wiring.tasks.append(BackgroundTask("fallback-snapshot", snapshots.run))
    if config.acd.watch:
        wiring.tasks.append(BackgroundTask("acd-watch", files.watch))


FEATURE = Feature("acd", install=install, commands=cli.add_commands)
