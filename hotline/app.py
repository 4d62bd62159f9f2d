"""The composition root: the one place that builds and wires every part.

Nothing below this module reads the environment, opens a database or creates an ARI
client on its own; each part receives what it needs through its constructor.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import zoneinfo
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from acd.callbacks import Callbacks
from acd.engine import Acd
from acd.http import AgentApi, LiveEvents
from acd.library import AcdLibrary
from acd.loader import load_acd
from acd.model import AcdSetup
from acd.screen import screen_pop
from acd.store import AcdStore
from hotline.ari.errors import ApplicationReplaced, AriError
from hotline.ari.events import EventStream
from hotline.ari.rest import AriRest
from hotline.calls.models import CallRecord
from hotline.calls.registry import CallRegistry
from hotline.calls.session import CallChannel
from hotline.calls.store import CallStore
from hotline.config import Config
from hotline.db import create_schema, make_engine
from hotline.errors import SetupError
from hotline.http import AdminActions, make_http_app
from hotline.pbx.instance import PROMPTS_IN_CONTAINER, InstanceSpec, write_includes
from hotline.secrets import Secrets, phone_passwords
from ivr import model
from ivr.accounts import Accounts
from ivr.blacklist import Blacklist
from ivr.call import CallServices, DialPlan, MenuCall
from ivr.library import MenuLibrary
from ivr.line.listener import forget_stale_listening
from ivr.loader import load_menu
from ivr.survey import Surveys
from prompts.build import load_catalogue
from recordings.http import RecordingsApi
from recordings.http import openapi_paths as recordings_paths
from recordings.index import RecordingIndex
from recordings.messages import VoiceMessages
from recordings.recorder import Recorder
from recordings.retention import PurgeResult, purge
from reports.http import ReportsApi
from reports.http import openapi_paths as reports_paths
from reports.metrics import MetricsEndpoint, agents_by_state, waiting_by_queue
from reports.store import today_by_queue

log = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parents[1]
ASTERISK_CONF = PROJECT_DIR / "asterisk-conf"


def pbx_spec(
    config: Config, secrets: Secrets, numbers: Sequence[str] | None = None
) -> InstanceSpec:
    """The PBX container as configured. The numbers it accepts from the carrier are the
    menu's (read from the menu file unless given)."""
    pbx = config.pbx
    if numbers is None:
        numbers = list(load_menu(config.menu.file).numbers)
    extensions = sorted({a.extension for a in load_acd(config.acd.file).agents.values()})
    return InstanceSpec(
        container=pbx.container,
        image=pbx.image,
        conf_dir=ASTERISK_CONF,
        state_dir=config.pbx_dir,
        bind_address=pbx.bind_address,
        sip_port=pbx.sip_port,
        ari_port=config.ari.port,
        rtp_start=pbx.rtp_start,
        rtp_end=pbx.rtp_end,
        ari_user=config.ari.username,
        ari_password=secrets.ari_password,
        trunk_name="carrier",
        trunk_match=pbx.carrier_match,
        trunk_contact=pbx.carrier_contact,
        app=config.ari.app,
        numbers=tuple(numbers),
        phones=phone_passwords(config.state_dir, extensions),
        max_call_seconds=pbx.max_call_seconds,
        extra_mounts={config.prompts_dir: PROMPTS_IN_CONTAINER},
    )


def make_clock(local_start: str, timezone: str) -> Callable[[], dt.datetime]:
    """The menu's clock: real time, or (menu.clock) a chosen local time moving on from
    the moment the controller starts."""
    if not local_start:
        return lambda: dt.datetime.now(dt.UTC)
    start = dt.datetime.fromisoformat(local_start)
    if start.tzinfo is None:
        start = start.replace(tzinfo=zoneinfo.ZoneInfo(timezone))
    began = time.monotonic()
    return lambda: start + dt.timedelta(seconds=time.monotonic() - began)


class Controller:
    """The running service: ARI event stream, call registry, menu, database, HTTP."""

    def __init__(self, config: Config, secrets: Secrets) -> None:
        self.config = config
        self.secrets = secrets

    async def run(
        self,
        stop: asyncio.Event,
        keep_calls: bool = False,
        on_ready: Callable[[], None] = lambda: None,
    ) -> None:
        config = self.config
        engine = make_engine(config.db_url)
        ari = AriRest(config.ari_url, config.ari.username, self.secrets.ari_password)
        store = CallStore(engine)
        names = {"name_zh": config.service.name_zh, "name_en": config.service.name_en}
        menus = MenuLibrary(config.menu.file, load_catalogue(names), engine)
        registry: CallRegistry
        recording_index = RecordingIndex(engine)
        acd_files = AcdLibrary(config.acd.file)
        acd_store = AcdStore(engine)
        live_events = LiveEvents()

        async def wrapped_up(agent: str, call_id: str, seconds: float) -> None:
            await store.log(call_id, "wrap-up", agent=agent, seconds=round(seconds, 2))

        acd = Acd(lambda: acd_files.current, acd_store, live_events.publish, on_wrapup=wrapped_up)
        agent_api = AgentApi(
            acd,
            acd_store,
            live_events,
            config.acd.token_lifetime,
            history=lambda call_id: screen_pop(store, acd_files.current, call_id),
            blacklist=Blacklist(engine),
            outside_transfer=config.acd.outside_transfer,
            more_paths=recordings_paths() | reports_paths(),
        )

        async def run_flow(
            call_id: str, channel: CallChannel, dialled: str, resume: CallRecord | None
        ) -> str:
            return await MenuCall(call_id, channel, services, dialled).run(resume)

        async def purge_recordings() -> PurgeResult:
            result = await purge(
                recording_index,
                config.recordings_store,
                config.recordings.retention_days,
                dt.datetime.now(dt.UTC),
                dry_run=False,
            )
            if result.calls:
                log.info("purged %d recordings past retention", len(result.calls))
            return result

        recorder = Recorder(
            ari,
            recording_index,
            store,
            config.recordings,
            config.recordings_store,
            purge=purge_recordings,
        )
        registry = CallRegistry(
            ari,
            config.ari.app,
            store,
            run_flow,
            on_closed=recorder.call_ended,
        )

        async def on_connected() -> None:
            await registry.reconcile()
            if stream.status.connects == 1:
                on_ready()  # the hotline answers calls from now on

        stream = EventStream(
            config.ari_url,
            config.ari.app,
            config.ari.username,
            self.secrets.ari_password,
            on_event=registry.on_event,
            on_connected=on_connected,
            heartbeat=config.ari.heartbeat,
            max_delay=config.ari.reconnect_max_delay,
            echo_every=config.ari.echo_every,
        )
        admin = AdminActions(
            reload_menu=lambda: self._reload(menus),
            menu_info=lambda: {"version": menus.current.version, "file": str(menus.path)},
        )
        runner = web.AppRunner(
            make_http_app(
                lambda: self._health(stream, registry, menus),
                self.secrets.admin_token,
                admin,
                [
                    agent_api.routes,
                    RecordingsApi(
                        recording_index, config.recordings_store, agent_api.identity
                    ).routes,
                    ReportsApi(engine, config.reports, agent_api.identity).routes,
                    MetricsEndpoint(
                        queues=lambda: today_by_queue(
                            engine, config.reports, dt.datetime.now(dt.UTC)
                        ),
                        agents=lambda: agents_by_state(acd),
                        waiting=lambda: waiting_by_queue(acd),
                        recorder=lambda: recorder.metrics,
                    ).routes,
                ],
            )
        )
        tasks: list[asyncio.Task[Any]] = []
        try:
            await create_schema(engine)
            forget_stale_listening(config.recordings_dir)
            await menus.load()
            acd_files.load()
            self._check_queues(menus.current, acd_files.current)
            menus.on_change.append(
                lambda _old, new: self._async_check_queues(new, acd_files.current)
            )
            await acd.load(r.id for r in await store.open_calls())
            menus.on_change.append(lambda old, new: self._sync_numbers(ari, old, new))
            services = CallServices(
                store=store,
                menus=menus,
                screen=Blacklist(engine).screen,
                accounts=Accounts(engine),
                messages=VoiceMessages(engine),
                callbacks=Callbacks(engine),
                attach_leg=registry.attach_leg,
                detach_leg=registry.detach_leg,
                clock=make_clock(config.menu.clock, menus.current.hours.timezone),
                recordings_dir=config.recordings_dir,
                acd=acd,
                start_recording=recorder.start,
                surveys=Surveys(engine),
                survey=config.survey,
                dialplan=DialPlan(
                    app=config.ari.app,
                    agent=config.pbx.agent_dial,
                    outside=config.pbx.outside_dial,
                    message_max_silence=config.menu.message_silence,
                ),
            )
            await runner.setup()
            await self._listen(runner)
            stream_task = asyncio.create_task(stream.run(), name="ari-events")
            stop_task = asyncio.create_task(stop.wait(), name="stop")
            tasks = [
                stream_task,
                stop_task,
                asyncio.create_task(acd.run(), name="acd"),
                asyncio.create_task(recorder.run(), name="recorder"),
            ]
            if config.menu.watch:
                tasks.append(asyncio.create_task(menus.watch(), name="menu-watch"))
            if config.acd.watch:
                tasks.append(asyncio.create_task(acd_files.watch(), name="acd-watch"))
            try:
                await asyncio.wait({stream_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.wait(tasks)
            failure = None if stream_task.cancelled() else stream_task.exception()
            if isinstance(failure, ApplicationReplaced):
                raise SetupError(
                    f"another controller took over the ARI application '{config.ari.app}'; "
                    "this one stops rather than fight over it"
                )
            if failure is not None:
                raise failure
        finally:
            with contextlib.suppress(TimeoutError):
                await registry.aclose(hand_over=not keep_calls)
            await runner.cleanup()
            await ari.close()
            await engine.dispose()

    @staticmethod
    async def _reload(menus: MenuLibrary) -> dict[str, Any]:
        result = await menus.load()
        return result.as_json()

    @staticmethod
    def _check_queues(menu: model.Menu, setup: AcdSetup) -> None:
        """A menu queue node naming a queue the ACD file lacks sends callers to its
        fallback; say so when either file is loaded, not when a caller finds out."""
        wanted = {n.queue for n in menu.nodes.values() if isinstance(n, model.QueueNode)}
        for queue in sorted(wanted - set(setup.queues)):
            log.warning(
                "menu %s names queue '%s', which %s lacks: its callers get the fallback",
                menu.path,
                queue,
                setup.path,
            )

    async def _async_check_queues(self, menu: model.Menu, setup: AcdSetup) -> None:
        self._check_queues(menu, setup)

    async def _sync_numbers(self, ari: AriRest, old: model.Menu, new: model.Menu) -> None:
        """A reload that adds or drops hotline numbers updates the PBX's carrier context."""
        if set(old.numbers) == set(new.numbers):
            return
        write_includes(pbx_spec(self.config, self.secrets, list(new.numbers)))
        try:
            await ari.reload_module("pbx_config.so")
            log.info("the PBX now accepts %s", ", ".join(new.numbers))
        except AriError as exc:
            log.error("numbers changed but the dialplan reload failed: %s", exc.message)

    async def _listen(self, runner: web.AppRunner) -> None:
        http = self.config.http
        try:
            await web.TCPSite(runner, http.host, http.port).start()
        except OSError:
            raise SetupError(
                f"port {http.port}/tcp on {http.host} (controller HTTP) is already in use; "
                "stop the other program or set http.port"
            ) from None

    @staticmethod
    def _health(stream: EventStream, registry: CallRegistry, menus: MenuLibrary) -> dict[str, Any]:
        return {
            "menu": menus.current.version if menus.loaded else "",
            "ari": {
                "connected": stream.status.connected,
                "connects": stream.status.connects,
                "last_error": stream.status.last_error,
                "echoes_heard": stream.status.echoes_heard,
                "echoes_lost": stream.status.echoes_lost,
            },
            "calls": len(registry.calls),
        }
